"""Password rules: 12 or more characters, not a common or easily guessed one, argon2."""

from __future__ import annotations

import pytest

from leadflow.accounts import services
from leadflow.accounts.models import User
from leadflow.errors import ValidationFailed
from leadflow.extensions import db
from tests.conftest import TEST_PASSWORD

WEAK = [
    ("short pass", "Use at least 12 characters."),
    ("Xy7#qL2!mZp", "Use at least 12 characters."),  # 11 characters, however random
    ("password1234", "This password is too common or too easy to guess."),
    ("qwertyuiop123", "This password is too common or too easy to guess."),
    ("letmein12345", "This password is too common or too easy to guess."),
]


@pytest.mark.parametrize("password, message", WEAK)
def test_weak_passwords_are_refused_with_a_clear_message(app, password, message):
    with pytest.raises(ValidationFailed) as refused:
        services.create_user(email="new@example.com", password=password, role="rep")
    assert any(message in text for text in refused.value.errors["password"])
    assert db.session.scalar(db.select(User).where(User.email == "new@example.com")) is None


def test_twelve_characters_that_are_hard_to_guess_are_enough(app):
    user = services.create_user(email="new@example.com", password="Xy7#qL2!mZp9", role="rep")
    assert user.id is not None


def test_a_password_made_of_the_users_own_email_is_refused(app):
    with pytest.raises(ValidationFailed) as refused:
        services.create_user(email="margaret.hamilton@example.com", password="margaret.hamilton", role="rep")
    assert "password" in refused.value.errors


def test_very_long_passwords_are_refused_before_hashing(app):
    with pytest.raises(ValidationFailed) as refused:
        services.create_user(email="new@example.com", password="x" * 1025, role="rep")
    assert refused.value.errors["password"] == ["Use at most 1024 characters."]


# --- long pass phrases (73 to 1024 characters) ---------------------------------------------
# The strength checker refuses more than 72 characters; these once answered 500.

LONG_PHRASE = "copper lantern drifts over quiet orchards while seven herons argue about tide tables " * 2
TOO_LONG = "z" * 1025


def test_a_long_pass_phrase_is_accepted_and_signs_in(app, sign_in):
    assert 72 < len(LONG_PHRASE) <= 1024
    user = services.create_user(email="new@example.com", password=LONG_PHRASE, role="rep")
    db.session.commit()
    assert sign_in(app.test_client(), user.email, password=LONG_PHRASE).status_code == 302


def test_a_long_repetitive_password_is_still_judged_by_its_start(app):
    with pytest.raises(ValidationFailed) as refused:
        services.create_user(email="new@example.com", password="a" * 100, role="rep")
    assert "too common or too easy to guess" in refused.value.errors["password"][0]


def test_admin_creates_a_user_with_a_long_pass_phrase_or_gets_a_form_error(app, login_as):
    _, client = login_as("admin")
    fields = {"name": "Long Phrase", "email": "long@example.com", "role": "rep", "team": "", "timezone": "UTC"}
    refused = client.post("/settings/users/new", data={**fields, "password": TOO_LONG})
    assert refused.status_code == 422
    assert "Use at most 1024 characters." in refused.get_data(as_text=True)
    made = client.post("/settings/users/new", data={**fields, "password": LONG_PHRASE})
    assert made.status_code == 302


def test_admin_resets_a_password_to_a_long_pass_phrase(app, login_as, make_user, sign_in):
    _, client = login_as("admin")
    rep = make_user(role="rep")
    db.session.commit()
    fields = {"name": rep.name, "role": "rep", "team": "", "timezone": "UTC", "active": "y"}
    refused = client.post(f"/settings/users/{rep.id}", data={**fields, "new_password": TOO_LONG})
    assert refused.status_code == 422
    assert "Use at most 1024 characters." in refused.get_data(as_text=True)
    assert client.post(f"/settings/users/{rep.id}", data={**fields, "new_password": LONG_PHRASE}).status_code == 302
    assert sign_in(app.test_client(), rep.email, password=LONG_PHRASE).status_code == 302


def test_changing_ones_own_password_to_a_long_pass_phrase(app, login_as):
    _, client = login_as("rep")
    change = {"current_password": TEST_PASSWORD}
    refused = client.post("/account", data={**change, "new_password": TOO_LONG, "confirm_password": TOO_LONG})
    assert refused.status_code == 422
    assert "Use at most 1024 characters." in refused.get_data(as_text=True)
    done = client.post("/account", data={**change, "new_password": LONG_PHRASE, "confirm_password": LONG_PHRASE})
    assert done.status_code == 302


def test_create_user_command_takes_a_long_pass_phrase(app, runner):
    made = runner.invoke(args=["leadflow", "create-user", "--email", "cli@example.com", "--password", LONG_PHRASE])
    assert made.exit_code == 0, made.output
    refused = runner.invoke(args=["leadflow", "create-user", "--email", "cli2@example.com", "--password", TOO_LONG])
    assert refused.exit_code == 2
    assert "Use at most 1024 characters." in refused.output


@pytest.mark.parametrize("length", [100, 5000])
def test_signing_in_with_a_very_long_password_just_fails(app, make_user, sign_in, length):
    user = make_user(role="rep")
    db.session.commit()
    response = sign_in(app.test_client(), user.email, password="q" * length)
    assert response.status_code == 422
    assert "That email and password do not match an active account." in response.get_data(as_text=True)


def test_passwords_are_stored_as_argon2id_hashes(app):
    user = services.create_user(email="new@example.com", password=TEST_PASSWORD, role="rep")
    assert user.password_hash.startswith("$argon2id$")
    assert TEST_PASSWORD not in user.password_hash
    assert services.verify_password(user.password_hash, TEST_PASSWORD)
    assert not services.verify_password(user.password_hash, TEST_PASSWORD + "!")


def test_production_hashes_use_full_argon2_cost(app, monkeypatch):
    monkeypatch.setitem(app.config, "ARGON2_FAST", False)
    digest = services.hash_password(TEST_PASSWORD)
    params = dict(part.split("=") for part in digest.split("$")[3].split(","))
    assert int(params["m"]) >= 19 * 1024 and int(params["t"]) >= 2


def test_a_garbled_stored_hash_never_signs_in(app):
    assert services.verify_password("not-a-hash", "anything at all") is False


@pytest.mark.parametrize("password, message", WEAK[::2])
def test_change_password_form_shows_why_a_password_is_refused(app, login_as, password, message):
    user, client = login_as("rep")
    response = client.post("/account", data={
        "current_password": TEST_PASSWORD, "new_password": password, "confirm_password": password})
    assert response.status_code == 422
    assert message in response.get_data(as_text=True)
    assert services.verify_password(db.session.get(User, user.id).password_hash, TEST_PASSWORD)
    assert client.get("/").status_code == 200  # still signed in


def test_admin_user_form_refuses_a_common_password(app, login_as):
    _, client = login_as("admin")
    response = client.post("/settings/users/new", data={
        "name": "Weak Password", "email": "weak@example.com", "role": "rep", "team": "", "timezone": "UTC",
        "password": "password1234"})
    assert response.status_code == 422
    assert "This password is too common or too easy to guess." in response.get_data(as_text=True)
    assert db.session.scalar(db.select(User).where(User.email == "weak@example.com")) is None
