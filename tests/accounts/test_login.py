"""Signing in: the right password opens the app, anything else gets one message that
tells nobody whether the account exists; attempts are rate limited; remember me."""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from http.cookies import SimpleCookie

import pytest

from leadflow.accounts.models import User
from leadflow.accounts.views import LOGIN_FAILED
from leadflow.extensions import db

GENERIC_FAILURE = "That email and password do not match an active account."


def _error_text(response) -> str:
    """The page with the parts that echo the request (token, typed email) taken out."""
    html = response.get_data(as_text=True)
    html = re.sub(r'value="[^"]*"', 'value=""', html)
    return re.sub(r'"X-CSRFToken": "[^"]+"', "", html)


def test_sign_in_with_the_right_password_opens_the_app(app, client, make_user, sign_in):
    user = make_user(role="rep", name="Rita Rep")
    db.session.commit()
    response = sign_in(client, user.email)
    assert response.status_code == 302
    assert response.headers["Location"] == "/"
    page = client.get("/")
    assert page.status_code == 200
    assert "Welcome back, Rita Rep." in page.get_data(as_text=True)
    assert db.session.get(User, user.id).last_login_at is not None


def test_email_is_matched_whatever_its_case_and_spaces(app, client, make_user, sign_in):
    make_user(role="rep", email="mixed.case@example.com")
    db.session.commit()
    response = sign_in(client, "  Mixed.Case@Example.COM ")
    assert response.status_code == 302


def test_wrong_password_and_unknown_account_get_the_same_answer(app, make_user, sign_in):
    user = make_user(role="rep", email="known@example.com")
    db.session.commit()
    wrong_password = sign_in(app.test_client(), "known@example.com", password="not the right password")
    unknown_account = sign_in(app.test_client(), "nobody@example.com", password="not the right password")
    for response in (wrong_password, unknown_account):
        assert response.status_code == 422
        assert GENERIC_FAILURE in response.get_data(as_text=True)
    assert LOGIN_FAILED == GENERIC_FAILURE
    assert _error_text(wrong_password) == _error_text(unknown_account)
    assert db.session.get(User, user.id).last_login_at is None


def test_deactivated_account_gets_the_same_answer_as_a_wrong_password(app, client, make_user, sign_in):
    user = make_user(role="rep", active=False)
    db.session.commit()
    response = sign_in(client, user.email)
    assert response.status_code == 422
    assert GENERIC_FAILURE in response.get_data(as_text=True)
    assert client.get("/").status_code == 302


@pytest.mark.parametrize("data, message", [
    ({"email": "", "password": "x"}, "Enter your email."),
    ({"email": "a@example.com", "password": ""}, "Enter your password."),
])
def test_empty_fields_say_what_is_missing(app, client, sign_in, data, message):
    response = sign_in(client, data["email"], password=data["password"])
    assert response.status_code == 422
    assert message in response.get_data(as_text=True)


def test_sign_in_page_is_labelled(app, client):
    html = client.get("/login").get_data(as_text=True)
    for field in ("email", "password", "remember"):
        assert f'for="{field}"' in html and f'id="{field}"' in html


def test_signed_in_user_visiting_sign_in_goes_to_the_start_page(app, login_as):
    _, client = login_as("rep")
    response = client.get("/login")
    assert response.status_code == 302 and response.headers["Location"] == "/"


# --- rate limits -------------------------------------------------------------------

def test_sign_in_attempts_from_one_address_are_rate_limited(app, make_user, make_app, sign_in):
    user = make_user(role="rep")
    db.session.commit()
    limited = make_app(RATELIMIT_ENABLED=True, LOGIN_RATE_LIMIT="3 per minute",
                       LOGIN_ACCOUNT_RATE_LIMIT="100 per hour")
    client = limited.test_client()
    for _ in range(3):
        assert sign_in(client, user.email, password="wrong password here").status_code == 422
    throttled = sign_in(client, user.email)  # even the right password now waits
    assert throttled.status_code == 429
    text = throttled.get_data(as_text=True)
    assert 1 <= int(throttled.headers["Retry-After"]) <= 60
    assert "Too many sign-in attempts from your network. Try again in " in text
    assert client.get("/").status_code == 302  # not signed in
    # Someone at another address is not affected.
    other = limited.test_client()
    assert sign_in(other, user.email, addr="10.9.8.7").status_code == 302


def test_sign_in_attempts_on_one_account_are_limited_across_addresses(app, make_user, make_app, sign_in):
    user = make_user(role="rep")
    db.session.commit()
    limited = make_app(RATELIMIT_ENABLED=True, LOGIN_RATE_LIMIT="100 per minute",
                       LOGIN_ACCOUNT_RATE_LIMIT="3 per hour")
    for n in range(3):
        response = sign_in(limited.test_client(), user.email, password="wrong password here", addr=f"10.0.0.{n}")
        assert response.status_code == 422
    response = sign_in(limited.test_client(), user.email.upper(), addr="10.0.0.99")
    assert response.status_code == 429
    # The account's window is an hour: the message and Retry-After say so, not "a minute".
    retry_after = int(response.headers["Retry-After"])
    assert 59 * 60 <= retry_after <= 3600
    minutes = -(-retry_after // 60)
    assert (f"Too many sign-in attempts for this account. Try again in {minutes} minutes."
            in response.get_data(as_text=True))
    # The limit is per account: another account signs in from the same address.
    other = make_user(role="rep")
    db.session.commit()
    assert sign_in(limited.test_client(), other.email, addr="10.0.0.99").status_code == 302


def test_unknown_accounts_are_rate_limited_like_real_ones(app, make_app, sign_in):
    limited = make_app(RATELIMIT_ENABLED=True, LOGIN_RATE_LIMIT="2 per minute")
    client = limited.test_client()
    assert sign_in(client, "ghost@example.com", password="whatever it is").status_code == 422
    assert sign_in(client, "ghost@example.com", password="whatever it is").status_code == 422
    assert sign_in(client, "ghost@example.com", password="whatever it is").status_code == 429


def test_the_wait_is_told_in_seconds_or_rounded_up_minutes():
    from leadflow.web.ratelimits import wait_phrase

    assert [wait_phrase(s) for s in (1, 45, 60, 61, 2820, 3600)] == [
        "1 second", "45 seconds", "1 minute", "2 minutes", "47 minutes", "60 minutes"]


def test_viewing_the_sign_in_page_is_not_rate_limited(app, make_app):
    limited = make_app(RATELIMIT_ENABLED=True, LOGIN_RATE_LIMIT="2 per minute")
    client = limited.test_client()
    for _ in range(5):
        assert client.get("/login").status_code == 200


# --- remember me ---------------------------------------------------------------------

def _cookie(response, name):
    for header in response.headers.getlist("Set-Cookie"):
        parsed = SimpleCookie()
        parsed.load(header)
        if name in parsed:
            return parsed[name]
    return None


def test_remember_me_sets_a_long_lived_cookie_that_signs_in_again(app, make_user, sign_in):
    user = make_user(role="rep")
    db.session.commit()
    browser = app.test_client()
    response = sign_in(browser, user.email, remember=True)
    assert response.status_code == 302
    remember = _cookie(response, "remember_token")
    assert remember is not None and remember.value
    expires = datetime.strptime(remember["expires"], "%a, %d %b %Y %H:%M:%S GMT").replace(tzinfo=timezone.utc)
    assert expires > datetime.now(timezone.utc) + timedelta(days=25)
    assert remember["httponly"]

    # The browser is closed (the session cookie is gone) and opened again later.
    reopened = app.test_client()
    reopened.set_cookie("remember_token", remember.value)
    page = reopened.get("/")
    assert page.status_code == 200
    assert user.name in page.get_data(as_text=True)


def test_without_remember_me_no_remember_cookie_is_set(app, make_user, sign_in):
    user = make_user(role="rep")
    db.session.commit()
    response = sign_in(app.test_client(), user.email)
    assert response.status_code == 302
    assert _cookie(response, "remember_token") is None


def test_a_forged_remember_cookie_signs_nobody_in(app, make_user):
    user = make_user(role="admin")
    db.session.commit()
    browser = app.test_client()
    browser.set_cookie("remember_token", f"{user.id}:{user.session_version}|{'0' * 128}")
    assert browser.get("/").status_code == 302
