"""App-wide security properties, checked over every route the app has (so new routes
are covered the day they are added): CSRF on every state change, cookies, headers,
no open redirect after sign-in, and every page for every role."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from werkzeug.routing import AnyConverter, IntegerConverter

from leadflow.accounts.views import safe_next_url
from leadflow.extensions import db
from tests.conftest import TEST_PASSWORD, csrf_token

UNSAFE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}
ROLES = ("admin", "manager", "rep", "viewer")

# Routes that take no session CSRF token by design, each with its reason. Keep short.
CSRF_EXEMPT_PREFIXES = {
    "/f/": "public capture forms are posted from other sites; honeypot, timing and rate limits defend them",
    "/api/": "the REST API authenticates with bearer tokens, never with the session cookie",
    "/m/": "links inside sent e-mails (one-click unsubscribe) carry a signed token, never the session cookie",
}
# Pages anyone may open without signing in.
PUBLIC_PREFIXES = ("/login", "/static/", "/f/", "/api/", "/calendar/", "/m/", "/healthz")  # /calendar/: the secret address is the key; /healthz: no data

# Query strings that fragment endpoints need (without one they answer 400 by design).
# A new endpoint that needs arguments gets its sample here.
QUERY_SAMPLES = {
    "pipeline.more_cards": {"after": "0:0"},
    "leads.custom_field": {"key": "plan"},
    "leads.edit_custom_field": {"key": "plan"},
}

# Every route field set so a request reaches something real. Rows are made per test.
FORM_PAYLOAD = {
    "name": "Changed by a forged request", "workspace_name": "Forged", "first_name": "Forged",
    "last_name": "Forged", "email": "forged@example.com", "value": "Forged", "role": "admin",
    "password": "a forged password phrase", "new_password": "a forged password phrase",
    "default_phone_region": "GB", "default_currency": "EUR", "active": "", "confirm": "y",
}


@pytest.fixture
def sample_rows(app, make_user, make_lead, make_org):
    """One row of each kind a URL can point at, made before the request under test."""

    def _make(owner):
        from leadflow.pipeline.services import ensure_default_pipeline

        pipeline = ensure_default_pipeline()
        org = make_org("Sample Org")
        lead = make_lead(actor=None, owner_id=owner.id, organization="Sample Org")
        lead.custom_fields = {"plan": "Gold"}
        other = make_user(role="rep")
        db.session.commit()
        return {
            "lead_id": lead.id, "org_id": org.id, "organization_id": org.id, "user_id": other.id,
            "pipeline_id": pipeline.id, "stage_id": pipeline.stages[0].id, "name": "email",
            "field": "email",
        }

    return _make


def _url_for_rule(app, rule, samples) -> tuple[str, bool]:
    """The rule's URL filled with sample values; the flag says every value was a real one."""
    values, known = {}, True
    for arg in rule.arguments:
        if arg in samples:
            values[arg] = samples[arg]
        else:
            known = False
            converter = rule._converters.get(arg)
            if isinstance(converter, AnyConverter):  # one of a fixed set of words: the first
                values[arg] = sorted(converter.items)[0]
            else:
                values[arg] = 1 if isinstance(converter, IntegerConverter) else "x"
    values.update(QUERY_SAMPLES.get(rule.endpoint, {}))
    with app.test_request_context():
        from flask import url_for

        return url_for(rule.endpoint, **values), known


def _snapshot() -> dict:
    """Every row of every table, to prove a refused request changed nothing."""
    db.session.expire_all()
    state = {}
    for table in db.metadata.sorted_tables:
        rows = db.session.execute(select(table)).all()
        state[table.name] = sorted(map(repr, rows))
    db.session.rollback()
    return state


def _unsafe_rules(app):
    return sorted(
        (r for r in app.url_map.iter_rules()
         if r.methods & UNSAFE_METHODS and not r.rule.startswith(tuple(CSRF_EXEMPT_PREFIXES))),
        key=lambda r: r.rule,
    )


def _page_rules(app):
    return sorted(
        (r for r in app.url_map.iter_rules()
         if "GET" in r.methods and r.endpoint != "static" and not r.rule.startswith(("/f/", "/api/", "/m/"))),
        key=lambda r: r.rule,
    )


# --- CSRF ---------------------------------------------------------------------------

def test_every_state_changing_route_refuses_a_request_without_csrf_token(app, login_as, sample_rows):
    admin, client = login_as("admin")
    samples = sample_rows(admin)
    rules = _unsafe_rules(app)
    assert len(rules) >= 5, "the route list looks wrong"
    failures = []
    for rule in rules:
        url, _ = _url_for_rule(app, rule, samples)
        for method in sorted(rule.methods & UNSAFE_METHODS):
            before = _snapshot()
            response = client.client.open(url, method=method, data=FORM_PAYLOAD)
            after = _snapshot()
            if response.status_code != 400:
                failures.append(f"{method} {url}: {response.status_code}, expected 400")
            if before != after:
                changed = [t for t in before if before[t] != after[t]]
                failures.append(f"{method} {url}: changed tables {changed} without a CSRF token")
    assert not failures, "\n".join(failures)
    # Still signed in: none of the refused requests (sign-out included) took effect.
    assert client.get("/").status_code == 200


def test_a_refused_request_says_the_form_expired(app, login_as):
    _, client = login_as("admin")
    response = client.client.post("/settings", data=FORM_PAYLOAD)
    assert response.status_code == 400
    assert "security token" in response.get_data(as_text=True)


def test_the_same_request_with_the_token_goes_through(app, login_as):
    """The control for the test above: with the header htmx sends, the change is made."""
    _, client = login_as("admin")
    response = client.post("/settings", data={"workspace_name": "Acme", "default_phone_region": "GB",
                                              "default_currency": "EUR"})
    assert response.status_code == 302
    from leadflow.governance.settings import get_setting

    assert get_setting("workspace_name") == "Acme"


def test_csrf_token_in_the_form_field_works_too(app, login_as):
    _, client = login_as("admin")
    token = client.token()
    response = client.client.post("/settings", data={"csrf_token": token, "workspace_name": "Acme",
                                                     "default_phone_region": "US", "default_currency": "USD"})
    assert response.status_code == 302


def test_a_token_from_another_session_is_refused(app, login_as):
    _, client = login_as("admin")
    stranger = app.test_client()
    foreign_token = csrf_token(stranger)
    response = client.client.post("/settings", data=FORM_PAYLOAD, headers={"X-CSRFToken": foreign_token})
    assert response.status_code == 400


def test_csrf_exemptions_are_only_the_documented_ones(app):
    """Nothing is exempted from CSRF except the public areas named above."""
    csrf = app.extensions["csrf"]
    exempt_views = set(getattr(csrf, "_exempt_views", set()))
    exempt_blueprints = set(getattr(csrf, "_exempt_blueprints", set()))
    for rule in app.url_map.iter_rules():
        view = app.view_functions[rule.endpoint]
        location = f"{view.__module__}.{view.__name__}"
        blueprint = rule.endpoint.rsplit(".", 1)[0] if "." in rule.endpoint else None
        if location in exempt_views or blueprint in exempt_blueprints:
            assert rule.rule.startswith(tuple(CSRF_EXEMPT_PREFIXES)), f"{rule.rule} is CSRF-exempt"


# --- cookies and headers -------------------------------------------------------------

def _sign_in(client, email, remember=False):
    data = {"email": email, "password": TEST_PASSWORD}
    if remember:
        data["remember"] = "y"
    return client.post("/login", data=data, headers={"X-CSRFToken": csrf_token(client)})


def _set_cookie(response, name) -> str:
    for header in response.headers.getlist("Set-Cookie"):
        if header.startswith(name + "="):
            return header
    raise AssertionError(f"no {name} cookie set; got {response.headers.getlist('Set-Cookie')}")


def test_session_cookie_is_httponly_and_samesite_lax(app, make_user):
    user = make_user(role="rep")
    db.session.commit()
    response = _sign_in(app.test_client(), user.email, remember=True)
    assert response.status_code == 302
    for name in ("session", "remember_token"):
        cookie = _set_cookie(response, name)
        assert "HttpOnly" in cookie
        assert "SameSite=Lax" in cookie
        assert "Secure" not in cookie  # plain HTTP in development


def test_cookies_are_secure_when_configured(app, make_user, make_app):
    user = make_user(role="rep")
    db.session.commit()
    secure = make_app(SESSION_COOKIE_SECURE=True, REMEMBER_COOKIE_SECURE=True)
    client = secure.test_client()
    response = _sign_in(client, user.email, remember=True)
    assert response.status_code == 302
    for name in ("session", "remember_token"):
        cookie = _set_cookie(response, name)
        assert "; Secure" in cookie and "HttpOnly" in cookie and "SameSite=Lax" in cookie


def test_cookies_are_secure_whenever_the_request_came_over_https(app, make_user):
    user = make_user(role="rep")
    db.session.commit()
    client = app.test_client()
    token = csrf_token(client)
    # Over HTTPS the CSRF check also wants a same-site Referer, as browsers send.
    response = client.post("/login", base_url="https://localhost",
                           headers={"X-CSRFToken": token, "Referer": "https://localhost/login"},
                           data={"email": user.email, "password": TEST_PASSWORD, "remember": "y"})
    assert response.status_code == 302
    for name in ("session", "remember_token"):
        assert "; Secure" in _set_cookie(response, name)


def test_behind_a_trusted_proxy_forwarded_https_makes_cookies_secure(app, make_user, make_app):
    user = make_user(role="rep")
    db.session.commit()
    proxied = make_app(TRUST_PROXY=True)
    client = proxied.test_client()
    token = csrf_token(client)
    response = client.post("/login", headers={"X-CSRFToken": token, "X-Forwarded-Proto": "https",
                                              "Referer": "https://localhost/login"},
                           data={"email": user.email, "password": TEST_PASSWORD, "remember": "y"})
    assert response.status_code == 302
    for name in ("session", "remember_token"):
        assert "; Secure" in _set_cookie(response, name)
    # Without TRUST_PROXY the same header is ignored: anyone could send it.
    plain = app.test_client()
    token = csrf_token(plain)
    response = plain.post("/login", headers={"X-CSRFToken": token, "X-Forwarded-Proto": "https"},
                          data={"email": user.email, "password": TEST_PASSWORD})
    assert "Secure" not in _set_cookie(response, "session")


def test_session_cookie_secure_setting_comes_from_the_environment(monkeypatch):
    import importlib

    import config

    monkeypatch.setenv("SESSION_COOKIE_SECURE", "1")
    try:
        reloaded = importlib.reload(config)
        assert reloaded.ProductionConfig.SESSION_COOKIE_SECURE is True
        assert reloaded.ProductionConfig.REMEMBER_COOKIE_SECURE is True
    finally:
        monkeypatch.delenv("SESSION_COOKIE_SECURE")
        importlib.reload(config)


@pytest.mark.parametrize("path", ["/login", "/"])
def test_security_headers_on_every_response(app, login_as, path):
    _, client = login_as("rep")
    response = client.get(path)
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["Referrer-Policy"] == "strict-origin-when-cross-origin"
    csp = [part.strip() for part in response.headers["Content-Security-Policy"].split(";")]
    for directive in ("default-src 'self'", "script-src 'self'", "object-src 'none'", "base-uri 'none'",
                      "frame-ancestors 'none'", "form-action 'self'"):
        assert directive in csp
    assert "Strict-Transport-Security" not in response.headers  # plain HTTP: a browser would ignore it


def test_https_responses_carry_hsts(app, client):
    assert client.get("/login", base_url="https://localhost").headers["Strict-Transport-Security"] == (
        "max-age=31536000")


def test_hsts_behind_a_trusted_proxy_only(app, make_app):
    proxied = make_app(TRUST_PROXY=True).test_client()
    response = proxied.get("/login", headers={"X-Forwarded-Proto": "https"})
    assert response.headers["Strict-Transport-Security"] == "max-age=31536000"
    spoofed = app.test_client().get("/login", headers={"X-Forwarded-Proto": "https"})
    assert "Strict-Transport-Security" not in spoofed.headers


def test_security_headers_on_error_pages(app, client):
    response = client.get("/no-such-page")
    assert response.status_code == 404
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert "Content-Security-Policy" in response.headers


def test_pages_are_not_cached_by_shared_caches(app, login_as):
    """A signed-in page is never stored by a proxy and shown to someone else."""
    _, client = login_as("rep")
    response = client.get("/")
    assert "private" in response.headers.get("Cache-Control", "") or "no-store" in response.headers.get(
        "Cache-Control", "")


# --- redirects after sign-in -----------------------------------------------------------

EVIL_TARGETS = [
    "//evil.com", "https://evil.com", "http://evil.com/", "/\\evil.com", "\\\\evil.com", "/\t/evil.com",
    "/\n/evil.com", "javascript:alert(1)", "evil.com", "///evil.com", " //evil.com", "https:/evil.com",
]


@pytest.mark.parametrize("target", EVIL_TARGETS)
def test_safe_next_url_refuses_other_sites(app, target):
    with app.test_request_context():
        assert safe_next_url(target) == "/"


@pytest.mark.parametrize("target", ["/leads?owner=3&sort=name", "/leads/12", "/settings/users"])
def test_safe_next_url_keeps_local_paths(app, target):
    with app.test_request_context():
        assert safe_next_url(target) == target


@pytest.mark.parametrize("target", ["//evil.com", "https://evil.com", "/\\evil.com"])
def test_sign_in_never_redirects_to_another_site(app, make_user, target):
    user = make_user(role="rep")
    db.session.commit()
    client = app.test_client()
    token = csrf_token(client)
    response = client.post("/login", query_string={"next": target},
                           data={"email": user.email, "password": TEST_PASSWORD}, headers={"X-CSRFToken": token})
    assert response.status_code == 302
    assert response.headers["Location"] == "/"


def test_sign_in_returns_to_the_page_asked_for(app, make_user):
    user = make_user(role="rep")
    db.session.commit()
    client = app.test_client()
    first = client.get("/leads?sort=name")
    assert first.status_code == 302 and "/login" in first.headers["Location"]
    login_page = first.headers["Location"]
    token = csrf_token(client)
    response = client.post(login_page, data={"email": user.email, "password": TEST_PASSWORD},
                           headers={"X-CSRFToken": token})
    assert response.status_code == 302
    assert response.headers["Location"] == "/leads?sort=name"


# --- every page, every role ---------------------------------------------------------

def test_every_page_needs_sign_in(app, client, sample_rows, make_user):
    samples = sample_rows(make_user(role="admin"))
    failures = []
    for rule in _page_rules(app):
        if rule.rule.startswith(PUBLIC_PREFIXES):
            continue
        url, _ = _url_for_rule(app, rule, samples)
        response = client.get(url)
        if response.status_code not in (302, 401) or (
                response.status_code == 302 and "/login" not in response.headers["Location"]):
            failures.append(f"GET {url}: {response.status_code} for a visitor who is not signed in")
    assert not failures, "\n".join(failures)


@pytest.mark.parametrize("role", ROLES)
def test_every_page_renders_for_every_role(app, login_as, sample_rows, role):
    """No page answers 500. A page limited to some roles answers 403 to the others; the
    rest answer 200 (the sample lead is the user's own, so a rep may edit it)."""
    user, client = login_as(role)
    samples = sample_rows(user)
    failures = []
    checked = 0
    for rule in _page_rules(app):
        url, known = _url_for_rule(app, rule, samples)
        allowed = getattr(app.view_functions[rule.endpoint], "allowed_roles", None)
        for htmx in (False, True):
            headers = {"HX-Request": "true"} if htmx else {}
            response = client.get(url, headers=headers)
            status = response.status_code
            checked += 1
            if rule.endpoint == "accounts.login":
                expected = {302}  # a signed-in user is sent on to the start page
            elif allowed is not None and role not in allowed:
                expected = {403}
            elif role == "admin":
                expected = {200} if known else {200, 404}
            else:
                expected = {200, 403} if known else {200, 403, 404}
            if status not in expected:
                failures.append(f"{'htmx ' if htmx else ''}GET {url} as {role}: {status}, expected {sorted(expected)}"
                                + (" (needs a QUERY_SAMPLES entry?)" if status == 400 else ""))
    assert checked >= 10
    assert not failures, "\n".join(failures)


def test_viewers_get_403_on_writer_pages(app, login_as, sample_rows):
    viewer, client = login_as("viewer")
    samples = sample_rows(viewer)
    writer_pages = [r for r in _page_rules(app)
                    if "viewer" not in (getattr(app.view_functions[r.endpoint], "allowed_roles", None) or ROLES)]
    endpoints = {r.endpoint for r in writer_pages}
    assert {"leads.new", "accounts.users", "governance.settings"} <= endpoints
    for rule in writer_pages:
        url, _ = _url_for_rule(app, rule, samples)
        response = client.get(url)
        assert response.status_code == 403, f"GET {url}: {response.status_code}"
        assert "Not allowed" in response.get_data(as_text=True)


# --- the key that signs sessions ------------------------------------------------------------

def _dev_app(monkeypatch, instance_dir, database_url, **overrides):
    import config as config_module
    from leadflow import create_app

    monkeypatch.setattr(config_module, "INSTANCE_DIR", instance_dir)
    dev = type("DevForTest", (config_module.DevelopmentConfig,),
               {"SECRET_KEY": None, "SQLALCHEMY_DATABASE_URI": database_url, **overrides})
    made = create_app(dev)
    with made.app_context():
        db.engine.dispose()
    return made


def test_development_makes_a_random_key_once_and_keeps_it(app, monkeypatch, tmp_path, database_url):
    first = _dev_app(monkeypatch, tmp_path, database_url)
    key_file = tmp_path / "secret_key"
    assert key_file.exists()
    assert (key_file.stat().st_mode & 0o777) == 0o600
    assert first.config["SECRET_KEY"] != "dev-only-not-secret-change-me"
    assert len(first.config["SECRET_KEY"]) >= 64
    again = _dev_app(monkeypatch, tmp_path, database_url)
    assert again.config["SECRET_KEY"] == first.config["SECRET_KEY"]  # sessions survive a restart
    elsewhere = _dev_app(monkeypatch, tmp_path / "other", database_url)
    assert elsewhere.config["SECRET_KEY"] != first.config["SECRET_KEY"]  # no two installs share one


def test_an_explicit_secret_key_wins_in_development(app, monkeypatch, tmp_path, database_url):
    chosen = "an explicit key from the environment, long enough"
    made = _dev_app(monkeypatch, tmp_path, database_url, SECRET_KEY=chosen)
    assert made.config["SECRET_KEY"] == chosen
    assert not (tmp_path / "secret_key").exists()


@pytest.mark.parametrize("key, message", [
    ("dev-only-not-secret-change-me", "published example key"),
    ("test-secret-key", "published example key"),
    ("short-but-random-Xq93", "use at least 32"),
    (None, "SECRET_KEY is not set"),
])
def test_production_refuses_a_missing_short_or_published_key(database_url, key, message):
    from config import ProductionConfig
    from leadflow import create_app
    from leadflow.secret_key import SecretKeyError

    prod = type("ProdForTest", (ProductionConfig,), {"SECRET_KEY": key, "SQLALCHEMY_DATABASE_URI": database_url})
    with pytest.raises(SecretKeyError, match=message):
        create_app(prod)


def test_production_starts_with_a_long_random_key(database_url):
    import secrets

    from config import ProductionConfig
    from leadflow import create_app

    key = secrets.token_hex(32)
    prod = type("ProdForTest", (ProductionConfig,), {"SECRET_KEY": key, "SQLALCHEMY_DATABASE_URI": database_url})
    made = create_app(prod)
    assert made.config["SECRET_KEY"] == key
    with made.app_context():
        db.engine.dispose()


def test_command_help_works_without_a_key(tmp_path):
    import os
    import subprocess
    import sys
    from pathlib import Path

    env = {k: v for k, v in os.environ.items() if k not in ("SECRET_KEY", "FLASK_RUN_FROM_CLI", "LEADFLOW_CONFIG")}
    env.update({"LEADFLOW_INSTANCE": str(tmp_path), "DATABASE_URL": f"sqlite:///{tmp_path / 'help.sqlite3'}"})
    result = subprocess.run([sys.executable, "-m", "flask", "--app", "wsgi", "leadflow", "create-user", "--help"],
                            cwd=Path(__file__).resolve().parents[1], env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "--password" in result.stdout
    refused = subprocess.run([sys.executable, "-m", "flask", "--app", "wsgi", "leadflow", "purge-trash"],
                             cwd=Path(__file__).resolve().parents[1], env=env, capture_output=True, text=True, timeout=120)
    assert refused.returncode != 0 and "SECRET_KEY is not set" in refused.stderr


# --- the CSRF token is renewed at sign-in ---------------------------------------------------

def test_a_csrf_token_from_before_sign_in_does_not_work_after_it(app, make_user):
    user = make_user(role="rep")
    db.session.commit()
    client = app.test_client()
    before = csrf_token(client)
    response = client.post("/login?next=/leads", headers={"X-CSRFToken": before},
                           data={"email": user.email, "password": TEST_PASSWORD, "remember": "y"})
    assert response.status_code == 302 and response.headers["Location"] == "/leads"
    assert "remember_token" in _set_cookie(response, "remember_token")  # remember-me still set
    # Someone who planted or read the anonymous token cannot act for the signed-in user.
    stale = client.post("/logout", headers={"X-CSRFToken": before})
    assert stale.status_code == 400
    assert "Form expired" in stale.get_data(as_text=True)
    assert client.get("/").status_code == 200  # still signed in
    from tests.conftest import CsrfClient

    fresh = CsrfClient(client)
    assert fresh.token() != before
    assert fresh.post("/logout").status_code == 303
    assert client.get("/").status_code == 302  # signed out with the new token


# --- htmx history: no page of personal data kept in the browser's storage -------------------

def _htmx_config(page: str) -> dict:
    import json
    import re

    match = re.search(r"<meta name=\"htmx-config\" content='([^']+)'>", page)
    assert match, "base.html should carry htmx's config"
    return json.loads(match.group(1))


def test_htmx_keeps_no_history_snapshots_and_sign_out_forgets_its_state(app, login_as):
    _, client = login_as("rep")
    page = client.get("/leads").get_data(as_text=True)
    assert _htmx_config(page)["historyCacheSize"] == 0
    # static/js/app.js clears htmx's storage keys when this form is submitted.
    assert 'class="inline-form" data-sign-out>' in page
    client.post("/logout")
    login_page = client.get("/login").get_data(as_text=True)
    assert "data-signed-out" in login_page, "the sign-in page should tell app.js to forget htmx's state"


def test_a_history_restore_request_gets_the_whole_page(app, login_as, make_lead):
    """Going Back with no snapshot: htmx asks again (HX-Request and HX-History-Restore-Request)
    and swaps the answer for the whole body, so it must be the full page, never the fragment."""
    _, client = login_as("admin")
    make_lead(first_name="Ada", email="ada@example.com")
    db.session.commit()
    fragment = client.get("/leads?q=ada", headers={"HX-Request": "true"})
    assert "<html" not in fragment.get_data(as_text=True) and 'id="lead-results"' in fragment.get_data(as_text=True)
    restored = client.get("/leads?q=ada", headers={"HX-Request": "true", "HX-History-Restore-Request": "true"})
    body = restored.get_data(as_text=True)
    assert restored.status_code == 200
    assert body.lstrip().lower().startswith("<!doctype html>") and 'aria-label="Main"' in body
    assert "ada@example.com" in body.lower()
    # A browser that cached the fragment must not hand it to the restore: the answers vary on both.
    assert {"hx-request", "hx-history-restore-request"} <= {v.lower() for v in restored.vary}
    assert "hx-history-restore-request" in {v.lower() for v in fragment.vary}


def test_an_htmx_request_with_an_expired_token_gets_a_short_message_and_no_swap(app, login_as):
    """static/js/app.js shows this text in the page's flash area; htmx swaps nothing."""
    _, client = login_as("admin")
    response = client.client.post("/settings", data=FORM_PAYLOAD,
                                  headers={"HX-Request": "true", "X-CSRFToken": "expired"})
    assert response.status_code == 400
    assert response.mimetype == "text/plain"
    assert response.get_data(as_text=True) == "Your session expired — reload the page to continue."
    assert response.headers["HX-Reswap"] == "none"
    # A refused htmx request of another kind says its own message the same way.
    missing = client.get("/leads/999999", headers={"HX-Request": "true"})
    assert missing.status_code == 404 and missing.mimetype == "text/plain"
    assert "nothing at this address" in missing.get_data(as_text=True)
