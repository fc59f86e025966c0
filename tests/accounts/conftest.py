"""Helpers for the accounts tests: sign a fresh client in the way a browser does."""

from __future__ import annotations

import pytest

from tests.conftest import TEST_PASSWORD, csrf_token


@pytest.fixture
def sign_in(app):
    """``sign_in(client, email, password=..., remember=False, next=None, addr=None)`` posts the
    sign-in form (with its CSRF token) from ``client`` and returns the response."""

    def _sign_in(client, email, password=TEST_PASSWORD, remember=False, next=None, addr=None):
        extra = {"environ_base": {"REMOTE_ADDR": addr}} if addr else {}
        token = csrf_token(client)
        data = {"email": email, "password": password}
        if remember:
            data["remember"] = "y"
        return client.post("/login", query_string={"next": next} if next else None, data=data,
                           headers={"X-CSRFToken": token}, **extra)

    return _sign_in


@pytest.fixture
def new_client(app):
    """Another browser: a client with its own cookies."""
    return app.test_client
