"""Signing out, changing the password and being deactivated end a user's other sessions
(each session carries the user's session version; bumping it ends them all)."""

from __future__ import annotations

import re

from leadflow.accounts.models import User
from leadflow.accounts.services import verify_password
from leadflow.extensions import db
from tests.conftest import TEST_PASSWORD, CsrfClient

NEW_PASSWORD = "violet tractor umbrella 42"


def _signed_in(client) -> bool:
    response = client.get("/")
    if response.status_code == 200:
        return True
    assert response.status_code == 302 and "/login" in response.headers["Location"]
    return False


def _two_browsers(app, user, sign_in, remember_second=False):
    first, second = app.test_client(), app.test_client()
    assert sign_in(first, user.email).status_code == 302
    assert sign_in(second, user.email, remember=remember_second).status_code == 302
    assert _signed_in(first) and _signed_in(second)
    return CsrfClient(first), CsrfClient(second)


def test_sign_out_ends_every_session_of_that_user(app, make_user, sign_in):
    user = make_user(role="rep")
    other_user = make_user(role="rep")
    db.session.commit()
    first, second = _two_browsers(app, user, sign_in, remember_second=True)
    bystander = app.test_client()
    assert sign_in(bystander, other_user.email).status_code == 302

    response = first.post("/logout")
    assert response.status_code in (302, 303)
    assert response.headers["Location"] == "/login"
    page = first.client.get("/login")
    assert "You are signed out on every device." in page.get_data(as_text=True)

    assert not _signed_in(first.client)
    assert not _signed_in(second.client)  # its session and its remember-me cookie are both dead
    assert _signed_in(bystander)  # other people stay signed in


def test_signing_in_again_after_sign_out_works(app, make_user, sign_in):
    user = make_user(role="rep")
    db.session.commit()
    first, _ = _two_browsers(app, user, sign_in)
    first.post("/logout")
    assert sign_in(first.client, user.email).status_code == 302
    assert _signed_in(first.client)


def test_sign_out_over_htmx_redirects_the_whole_page(app, login_as):
    _, client = login_as("rep", htmx=True)
    response = client.post("/logout")
    assert response.status_code == 204
    assert response.headers["HX-Redirect"] == "/login"


def test_sign_out_is_post_only(app, login_as):
    _, client = login_as("rep")
    assert client.get("/logout").status_code == 405
    assert _signed_in(client.client)


def test_changing_the_password_ends_other_sessions_but_keeps_this_one(app, make_user, sign_in):
    user = make_user(role="manager")
    db.session.commit()
    first, second = _two_browsers(app, user, sign_in, remember_second=True)
    response = first.post("/account", data={
        "current_password": TEST_PASSWORD, "new_password": NEW_PASSWORD, "confirm_password": NEW_PASSWORD})
    assert response.status_code == 302
    page = first.client.get("/account")
    assert page.status_code == 200
    assert "Password changed. Every other session has been signed out." in page.get_data(as_text=True)
    assert not _signed_in(second.client)

    stored = db.session.get(User, user.id)
    assert verify_password(stored.password_hash, NEW_PASSWORD)
    assert not verify_password(stored.password_hash, TEST_PASSWORD)
    assert sign_in(app.test_client(), user.email, password=TEST_PASSWORD).status_code == 422
    assert sign_in(app.test_client(), user.email, password=NEW_PASSWORD).status_code == 302


def test_changing_the_password_keeps_a_remembered_browser_remembered(app, make_user, sign_in):
    user = make_user(role="rep")
    db.session.commit()
    browser = app.test_client()
    assert sign_in(browser, user.email, remember=True).status_code == 302
    response = CsrfClient(browser).post("/account", data={
        "current_password": TEST_PASSWORD, "new_password": NEW_PASSWORD, "confirm_password": NEW_PASSWORD})
    assert response.status_code == 302
    remember = browser.get_cookie("remember_token")
    assert remember is not None
    reopened = app.test_client()
    reopened.set_cookie("remember_token", remember.value)
    assert _signed_in(reopened)


def test_a_wrong_current_password_changes_nothing(app, make_user, sign_in):
    user = make_user(role="rep")
    db.session.commit()
    first, second = _two_browsers(app, user, sign_in)
    response = first.post("/account", data={
        "current_password": "not my password at all", "new_password": NEW_PASSWORD,
        "confirm_password": NEW_PASSWORD})
    assert response.status_code == 422
    assert "The current password is not correct." in response.get_data(as_text=True)
    assert verify_password(db.session.get(User, user.id).password_hash, TEST_PASSWORD)
    assert _signed_in(first.client) and _signed_in(second.client)


def test_the_new_password_must_be_typed_twice_the_same(app, login_as):
    user, client = login_as("rep")
    response = client.post("/account", data={
        "current_password": TEST_PASSWORD, "new_password": NEW_PASSWORD, "confirm_password": NEW_PASSWORD + "x"})
    assert response.status_code == 422
    assert "The two passwords do not match." in response.get_data(as_text=True)
    assert verify_password(db.session.get(User, user.id).password_hash, TEST_PASSWORD)


def _edit_form(client, user_id) -> dict:
    """The edit-user form as the page fills it, ready to change and post back."""
    html = client.get(f"/settings/users/{user_id}").get_data(as_text=True)
    data = {}
    for name in ("name", "team", "timezone"):
        match = re.search(rf'id="{name}" name="{name}"[^>]*value="([^"]*)"', html) or re.search(
            rf'name="{name}"[^>]*value="([^"]*)"', html)
        data[name] = match.group(1) if match else ""
    role = re.search(r'<option selected value="([^"]+)"|<option value="([^"]+)" selected', html)
    data["role"] = next(g for g in role.groups() if g)
    if re.search(r'id="active"[^>]*checked|checked[^>]*id="active"', html):
        data["active"] = "y"
    return data


def test_an_admin_deactivating_a_user_ends_their_sessions_and_blocks_sign_in(app, make_user, sign_in, login_as):
    rep = make_user(role="rep", name="Dee Activated")
    db.session.commit()
    rep_browser = app.test_client()
    assert sign_in(rep_browser, rep.email, remember=True).status_code == 302
    admin, admin_client = login_as("admin")

    data = _edit_form(admin_client, rep.id)
    assert data["active"] == "y" and data["role"] == "rep"
    data.pop("active")
    response = admin_client.post(f"/settings/users/{rep.id}", data=data)
    assert response.status_code == 302

    assert db.session.get(User, rep.id).active is False
    assert not _signed_in(rep_browser)
    refused = sign_in(app.test_client(), rep.email)
    assert refused.status_code == 422
    assert "That email and password do not match an active account." in refused.get_data(as_text=True)
    listing = admin_client.get("/settings/users").get_data(as_text=True)
    assert "Deactivated" in listing

    # Reactivated, the user signs in again.
    data["active"] = "y"
    assert admin_client.post(f"/settings/users/{rep.id}", data=data).status_code == 302
    assert sign_in(app.test_client(), rep.email).status_code == 302


def test_an_admin_setting_a_new_password_signs_the_user_out(app, make_user, sign_in, login_as):
    rep = make_user(role="rep")
    db.session.commit()
    rep_browser = app.test_client()
    assert sign_in(rep_browser, rep.email).status_code == 302
    _, admin_client = login_as("admin")
    data = _edit_form(admin_client, rep.id)
    data["new_password"] = NEW_PASSWORD
    assert admin_client.post(f"/settings/users/{rep.id}", data=data).status_code == 302
    assert not _signed_in(rep_browser)
    assert sign_in(app.test_client(), rep.email, password=NEW_PASSWORD).status_code == 302


def test_changing_a_role_takes_effect_on_the_next_request(app, make_user, sign_in, login_as):
    """Roles are read from the database on every request, not kept in the session."""
    manager = make_user(role="manager")
    db.session.commit()
    manager_browser = app.test_client()
    assert sign_in(manager_browser, manager.email).status_code == 302
    assert manager_browser.get("/leads/new").status_code == 200
    _, admin_client = login_as("admin")
    data = _edit_form(admin_client, manager.id)
    data["role"] = "viewer"
    assert admin_client.post(f"/settings/users/{manager.id}", data=data).status_code == 302
    assert manager_browser.get("/leads/new").status_code == 403


def test_an_admin_resetting_their_own_password_stays_signed_in_here_only(app, make_user, sign_in):
    admin = make_user(role="admin")
    db.session.commit()
    first, second = _two_browsers(app, admin, sign_in)
    data = _edit_form(first, admin.id)
    data["new_password"] = NEW_PASSWORD
    assert first.post(f"/settings/users/{admin.id}", data=data).status_code == 302
    assert _signed_in(first.client)
    assert not _signed_in(second.client)
