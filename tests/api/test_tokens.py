"""API tokens: made and revoked by admins (page and CLI), stored only as a hash, checked on every call."""

from __future__ import annotations

import hashlib
import logging
import re
import sqlite3
import time

import pytest

from leadflow.api.models import ApiToken
from leadflow.extensions import db


def _tokens():
    db.session.expire_all()
    return list(db.session.scalars(db.select(ApiToken).order_by(ApiToken.id)))


def test_admin_creates_a_token_shown_once_and_stored_only_as_a_hash(login_as, make_user, caplog):
    caplog.set_level(logging.DEBUG)
    admin, client = login_as("admin")
    rep = make_user(role="rep", name="Rita Rep")
    db.session.commit()
    response = client.post("/settings/api-tokens", data={
        "name": "Website", "user_id": str(rep.id), "scope_read": "y", "scope_write": "y"})
    assert response.status_code == 201
    assert response.headers["Cache-Control"] == "no-store"
    plain = re.search(r'value="(lf_[^"]+)"', response.text).group(1)
    assert "shown only this once" in response.text and "Copy" in response.text
    [token] = _tokens()
    assert (token.name, token.user_id, token.scope_list) == ("Website", rep.id, ["read", "write"])
    assert token.token_hash == hashlib.sha256(plain.encode()).hexdigest()
    row_text = " ".join(str(v) for v in db.session.execute(db.select(ApiToken.__table__)).one())
    assert plain not in row_text
    assert plain not in caplog.text
    # The list shows the prefix, never the token again.
    listing = client.get("/settings/api-tokens").text
    assert f"lf_{token.prefix}_" in listing and plain not in listing and "Never" in listing


def test_the_token_works_until_an_admin_revokes_it(login_as, make_token, client):
    token, plain, _ = make_token()
    bearer = {"Authorization": f"Bearer {plain}"}
    assert client.get("/api/v1/leads", headers=bearer).status_code == 200
    _, admin = login_as("admin")
    response = admin.post(f"/settings/api-tokens/{token.id}/revoke")
    assert response.status_code == 303
    assert "revoked" in admin.get("/settings/api-tokens").text
    refused = client.get("/api/v1/leads", headers=bearer)
    assert refused.status_code == 401 and "revoked" in refused.json["message"]


def test_token_form_errors_come_back_with_422(login_as):
    admin, client = login_as("admin")
    response = client.post("/settings/api-tokens", data={"name": "", "user_id": "1"})
    assert response.status_code == 422
    assert "Give the token a name" in response.text
    response = client.post("/settings/api-tokens", data={"name": "No scopes", "user_id": str(admin.id)})
    assert response.status_code == 422 and "at least one scope" in response.text
    assert _tokens() == []


@pytest.mark.parametrize("role", ["manager", "rep", "viewer"])
def test_only_admins_manage_tokens(login_as, make_token, role):
    token, _, _ = make_token()
    _, client = login_as(role)
    assert client.get("/settings/api-tokens").status_code == 403
    assert client.post("/settings/api-tokens", data={"name": "x", "user_id": "1", "scope_read": "y"}).status_code == 403
    assert client.post(f"/settings/api-tokens/{token.id}/revoke").status_code == 403
    assert _tokens()[0].revoked_at is None


@pytest.mark.parametrize("header, message", [
    (None, "Send an API token"),
    ("Bearer", "Send an API token"),
    ("Basic dXNlcjpwYXNz", "Send an API token"),
    ("Bearer lf_nothing", "not valid"),
    ("Bearer lf_12345678_wrongsecret", "not valid"),
    ("Bearer " + "x" * 5000, "not valid"),
])
def test_missing_or_invalid_tokens_get_401_json(client, make_token, header, message):
    make_token()
    headers = {"Authorization": header} if header else {}
    response = client.get("/api/v1/leads", headers=headers)
    assert response.status_code == 401
    assert response.is_json and message in response.json["message"]
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_a_right_prefix_with_a_wrong_secret_is_refused(client, make_token):
    token, plain, _ = make_token()
    forged = plain[:-4] + ("AAAA" if not plain.endswith("AAAA") else "BBBB")
    assert client.get("/api/v1/leads", headers={"Authorization": f"Bearer {forged}"}).status_code == 401


def test_scopes_are_enforced(client, make_token):
    _, reader, _ = make_token(scopes="read")
    _, writer, _ = make_token(scopes="write")
    lead = {"first_name": "Ada", "email": "ada@example.com"}
    refused = client.post("/api/v1/leads", json=lead, headers={"Authorization": f"Bearer {reader}"})
    assert refused.status_code == 403 and "write scope" in refused.json["message"]
    assert client.post("/api/v1/leads", json=lead, headers={"Authorization": f"Bearer {writer}"}).status_code == 201
    refused = client.get("/api/v1/leads", headers={"Authorization": f"Bearer {writer}"})
    assert refused.status_code == 403 and "read scope" in refused.json["message"]


def test_a_deactivated_users_token_gets_403(client, make_token):
    _, plain, user = make_token()
    user.active = False
    db.session.commit()
    response = client.get("/api/v1/leads", headers={"Authorization": f"Bearer {plain}"})
    assert response.status_code == 403 and "deactivated" in response.json["message"]


def test_a_write_token_for_a_viewer_is_refused_with_the_reason(login_as, make_user):
    _, client = login_as("admin")
    viewer = make_user(role="viewer", name="Val Viewer")
    response = client.post("/settings/api-tokens", data={
        "name": "Reports", "user_id": str(viewer.id), "scope_read": "y", "scope_write": "y"})
    assert response.status_code == 422
    assert "Val Viewer is a viewer, who may only read leads" in response.text
    assert _tokens() == []
    response = client.post("/settings/api-tokens", data={"name": "Reports", "user_id": str(viewer.id), "scope_read": "y"})
    assert response.status_code == 201 and [t.scopes for t in _tokens()] == ["read"]


def test_a_token_of_someone_who_became_a_viewer_reads_but_cannot_write(client, make_token):
    _, plain, user = make_token(role="rep")
    user.role = "viewer"
    db.session.commit()
    bearer = {"Authorization": f"Bearer {plain}"}
    assert client.get("/api/v1/leads", headers=bearer).status_code == 200
    response = client.post("/api/v1/leads", json={"first_name": "A", "email": "a@example.com"}, headers=bearer)
    assert response.status_code == 403 and "cannot create" in response.json["message"]


@pytest.mark.real_commits  # a read records the use on a connection of its own
def test_last_used_is_recorded(client, make_token):
    token, plain, _ = make_token()
    assert token.last_used_at is None
    client.get("/api/v1/leads", headers={"Authorization": f"Bearer {plain}"})
    assert _tokens()[0].last_used_at is not None


@pytest.mark.real_commits  # another connection holds SQLite's write lock
def test_a_read_while_another_writer_holds_sqlites_lock_is_answered_and_records_its_use_later(
        app, client, make_token, database_url):
    if not database_url.startswith("sqlite"):
        pytest.skip("the write lock is SQLite's")
    token, plain, _ = make_token()
    bearer = {"Authorization": f"Bearer {plain}"}
    holder = sqlite3.connect(database_url.removeprefix("sqlite:///"), isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        began = time.monotonic()
        response = client.get("/api/v1/leads", headers=bearer)
        waited = time.monotonic() - began
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert response.status_code == 200
    assert waited < 2, "the read waited for the writer"
    assert _tokens()[0].last_used_at is None, "skipped while the lock was taken"
    assert client.get("/api/v1/leads", headers=bearer).status_code == 200
    assert _tokens()[0].last_used_at is not None


# --- CLI -----------------------------------------------------------------------------------

def test_cli_create_token_prints_a_working_token_once(app, runner, make_user, client):
    from leadflow.pipeline.services import ensure_default_pipeline

    ensure_default_pipeline()
    make_user(role="manager", email="mia@example.com")
    db.session.commit()
    result = runner.invoke(args=["leadflow", "create-token", "--user", "mia@example.com",
                                 "--scopes", "read", "--name", "Nightly export"])
    assert result.exit_code == 0, result.output
    plain = result.stdout.strip()
    assert plain.startswith("lf_") and "\n" not in plain
    [token] = _tokens()
    assert (token.name, token.scope_list) == ("Nightly export", ["read"])
    assert client.get("/api/v1/leads", headers={"Authorization": f"Bearer {plain}"}).status_code == 200


@pytest.mark.parametrize("args, message", [
    (["--user", "nobody@example.com"], "no user"),
    (["--user", "mia@example.com", "--scopes", "admin"], "Unknown scope"),
    (["--user", "mia@example.com", "--scopes", ""], "at least one scope"),
    (["--user", "mia@example.com", "--name", "x" * 81], "at most 80"),
])
def test_cli_create_token_refuses_bad_input_with_exit_code_2(app, runner, make_user, args, message):
    make_user(role="rep", email="mia@example.com")
    db.session.commit()
    result = runner.invoke(args=["leadflow", "create-token", *args])
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert _tokens() == []


def test_cli_refuses_a_deactivated_user(app, runner, make_user):
    make_user(role="rep", email="gone@example.com", active=False)
    db.session.commit()
    result = runner.invoke(args=["leadflow", "create-token", "--user", "gone@example.com"])
    assert result.exit_code == 2 and "active user" in result.output


# --- guessing tokens ------------------------------------------------------------------------

def test_invalid_tokens_from_one_address_are_throttled_whatever_their_prefix(make_app, make_token):
    import secrets

    _, valid, _ = make_token()
    limited = make_app(RATELIMIT_ENABLED=True, API_AUTH_FAILURE_RATE_LIMIT="5 per minute").test_client()
    guesser = {"REMOTE_ADDR": "10.6.6.6"}
    statuses = []
    for _ in range(8):  # a fresh well-formed prefix each time: each would have had a budget of its own
        guess = f"lf_{secrets.token_hex(4)}_{secrets.token_urlsafe(16)}"
        statuses.append(limited.get("/api/v1/leads", headers={"Authorization": f"Bearer {guess}"},
                                    environ_base=guesser).status_code)
    assert statuses == [401] * 5 + [429] * 3
    refused = limited.get("/api/v1/leads", headers={"Authorization": "Bearer lf_nothing_here"}, environ_base=guesser)
    assert refused.status_code == 429 and refused.is_json
    assert "invalid API token" in refused.json["message"]
    assert 1 <= int(refused.headers["Retry-After"]) <= 60
    # A real token from another address is not affected.
    other = limited.get("/api/v1/leads", headers={"Authorization": f"Bearer {valid}"},
                        environ_base={"REMOTE_ADDR": "10.7.7.7"})
    assert other.status_code == 200


def test_valid_tokens_do_not_use_up_the_failure_budget(make_app, make_token):
    _, valid, _ = make_token()
    limited = make_app(RATELIMIT_ENABLED=True, API_AUTH_FAILURE_RATE_LIMIT="2 per minute").test_client()
    for _ in range(4):
        assert limited.get("/api/v1/leads", headers={"Authorization": f"Bearer {valid}"}).status_code == 200


def test_an_api_request_does_not_decode_the_browsers_session_cookie(app, client, login_as, make_token, monkeypatch):
    """Bearer tokens alone authenticate the API: a session cookie sent along costs nothing."""
    from leadflow.web import HttpsAwareSessionInterface

    _, plain, _ = make_token(role="admin")
    login_as("admin")  # the client now sends a signed-in session cookie with every request
    decoded = []
    original = HttpsAwareSessionInterface.get_signing_serializer
    monkeypatch.setattr(HttpsAwareSessionInterface, "get_signing_serializer",
                        lambda self, flask_app: decoded.append(1) or original(self, flask_app))

    response = client.get("/api/v1/leads", headers={"Authorization": f"Bearer {plain}"})
    assert response.status_code == 200
    assert "Set-Cookie" not in response.headers
    assert decoded == []
    assert client.get("/api/v1/leads").status_code == 401  # the cookie alone signs nobody in
    assert client.get("/leads").status_code == 200 and decoded  # pages read it as before
