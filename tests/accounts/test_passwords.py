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
        services.create_user(email="new@example.com", password="x" * 257, role="rep")
    assert refused.value.errors["password"] == ["Use at most 256 characters."]


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
