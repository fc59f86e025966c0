"""The documented production server, for real: ``flask --app wsgi leadflow serve`` in its own
process on a free loopback port, production config, a migrated SQLite file and a user made
with the CLI. Requests arrive as a reverse proxy on 127.0.0.1 would send them.

Behind a trusted proxy each visitor has its own sign-in budget and HTTPS reaches the app;
without ``TRUST_PROXY`` (or from any address but ``TRUSTED_PROXY``) the same headers are
ignored, so a client cannot choose its own address.
"""

from __future__ import annotations

import http.client
import os
import re
import secrets
import socket
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlencode

import pytest

from tests.servers import free_port, stop_processes

REPO_ROOT = Path(__file__).resolve().parents[1]
EMAIL = "proxy-admin@example.com"
PASSWORD = "a sturdy pass phrase for the proxy test"
PUBLIC_HOST = "crm.example.test"  # the name people use; only the proxy knows it
START_TIMEOUT = 60
# The surrounding run's database and Flask settings must not reach the server.
SCRUBBED = ("DATABASE_URL", "TEST_DATABASE_URL", "SQLALCHEMY_DATABASE_URI", "FLASK_APP", "FLASK_DEBUG",
            "FLASK_RUN_FROM_CLI", "TRUST_PROXY", "TRUSTED_PROXY", "SESSION_COOKIE_SECURE", "SMTP_HOST")


def _flask(args: list[str], env: dict) -> subprocess.CompletedProcess:
    result = subprocess.run([sys.executable, "-m", "flask", "--app", "wsgi", *args], cwd=REPO_ROOT, env=env,
                            capture_output=True, text=True, timeout=180)
    assert result.returncode == 0, f"flask {' '.join(args)}:\n{result.stdout}\n{result.stderr}"
    return result


@pytest.fixture(scope="module")
def base_env(tmp_path_factory, sqlite_at_head):
    instance = tmp_path_factory.mktemp("proxy-instance")
    env = {k: v for k, v in os.environ.items() if k not in SCRUBBED}
    env.update({
        "LEADFLOW_CONFIG": "production",
        "SECRET_KEY": secrets.token_hex(32),
        "LEADFLOW_INSTANCE": str(instance),
        "DATABASE_URL": f"sqlite:///{instance / 'leadflow.sqlite3'}",
        "SCHEDULER_ENABLED": "0",
        "LOGIN_RATE_LIMIT": "3 per minute",
        "LOGIN_ACCOUNT_RATE_LIMIT": "100 per hour",
        "PYTHONUNBUFFERED": "1",
    })
    sqlite_at_head(instance / "leadflow.sqlite3")
    _flask(["leadflow", "create-user", "--email", EMAIL, "--password", PASSWORD, "--role", "admin"], env)
    return env


@pytest.fixture
def start_server(base_env, tmp_path):
    """``start_server(TRUST_PROXY="1")`` → the port of a running ``leadflow serve``; stopped after."""
    started: list[subprocess.Popen] = []
    logs = []

    def _start(**settings) -> int:
        port = free_port()
        log = open(tmp_path / f"server-{port}.log", "w+")
        logs.append(log)
        process = subprocess.Popen(
            [sys.executable, "-m", "flask", "--app", "wsgi", "leadflow", "serve",
             "--host", "127.0.0.1", "--port", str(port), "--threads", "4"],
            cwd=REPO_ROOT, env={**base_env, **settings}, stdout=log, stderr=subprocess.STDOUT)
        started.append(process)
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if process.poll() is not None:
                log.seek(0)
                pytest.fail(f"the server exited with {process.returncode}:\n{log.read()}")
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                return port
            except OSError:
                time.sleep(0.2)
        log.seek(0)
        pytest.fail(f"the server did not listen within {START_TIMEOUT}s:\n{log.read()}")

    yield _start
    stop_processes(started, timeout=20)
    for log in logs:
        log.close()


class Visitor:
    """One browser behind the proxy: its own cookies, and the headers the proxy adds for it."""

    def __init__(self, port: int, client_addr: str, https: bool = True):
        self.port = port
        self.cookies: dict[str, str] = {}
        self.forwarded = {"X-Forwarded-For": client_addr, "X-Forwarded-Host": PUBLIC_HOST,
                          "X-Forwarded-Proto": "https" if https else "http"}
        self.last_set_cookies: list[str] = []

    def request(self, method: str, path: str, body: dict | None = None) -> tuple[http.client.HTTPResponse, str]:
        headers = dict(self.forwarded)
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        data = None
        if body is not None:
            data = urlencode(body)
            headers["Content-Type"] = "application/x-www-form-urlencoded"
            # Browsers send it; over HTTPS the CSRF check wants a same-site Referer.
            headers["Referer"] = f"{self.forwarded['X-Forwarded-Proto']}://{PUBLIC_HOST}/login"
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            connection.request(method, path, body=data, headers=headers)
            response = connection.getresponse()
            text = response.read().decode("utf-8", "replace")
        finally:
            connection.close()
        self.last_set_cookies = response.headers.get_all("Set-Cookie") or []
        for cookie in self.last_set_cookies:
            name, _, rest = cookie.partition("=")
            self.cookies[name] = rest.split(";", 1)[0]
        return response, text

    def sign_in(self, password: str) -> http.client.HTTPResponse:
        _, page = self.request("GET", "/login")
        match = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page)
        assert match, page[:500]
        response, _ = self.request("POST", "/login", {"csrf_token": match.group(1), "email": EMAIL,
                                                      "password": password})
        return response

    def session_cookie(self) -> str:
        return next(c for c in self.last_set_cookies if c.startswith("session="))


def _exhaust(visitor: Visitor) -> None:
    statuses = [visitor.sign_in("not the right password at all").status for _ in range(4)]
    assert statuses == [422, 422, 422, 429]


def test_behind_a_trusted_proxy_each_visitor_has_its_own_budget_and_https_counts(start_server):
    port = start_server(TRUST_PROXY="1")
    _exhaust(Visitor(port, "203.0.113.5"))
    # Another visitor signs in with the right password: the budget was A's, not everyone's.
    other = Visitor(port, "198.51.100.7")
    response = other.sign_in(PASSWORD)
    assert response.status == 302, response.status
    assert response.headers["Location"] in ("/", f"https://{PUBLIC_HOST}/")
    # The proxy said HTTPS: the session cookie is Secure and the browser is told to stay on HTTPS.
    assert "; Secure" in other.session_cookie()
    assert response.headers["Strict-Transport-Security"] == "max-age=31536000"
    # One hop is trusted: an address the client wrote in front of its own changes nothing.
    spoofing = Visitor(port, "192.0.2.99, 203.0.113.5")
    throttled = spoofing.sign_in(PASSWORD)
    assert throttled.status == 429
    assert 1 <= int(throttled.headers["Retry-After"]) <= 60


@pytest.mark.parametrize("settings", [{}, {"TRUST_PROXY": "1", "TRUSTED_PROXY": "127.0.0.2"}],
                         ids=["no-trust-proxy", "another-proxy-address"])
def test_forwarded_headers_from_an_untrusted_peer_are_ignored(start_server, settings):
    port = start_server(**settings)
    _exhaust(Visitor(port, "203.0.113.5", https=False))
    # A different X-Forwarded-For is no way out: every request here came from 127.0.0.1.
    other = Visitor(port, "198.51.100.7")
    assert other.sign_in(PASSWORD).status == 429
    # Nor does X-Forwarded-Proto make the cookie Secure or bring HSTS.
    fresh = Visitor(port, "198.51.100.8")
    response, _ = fresh.request("GET", "/login")
    assert "Secure" not in fresh.session_cookie()
    assert "Strict-Transport-Security" not in response.headers


# --- other WSGI servers (gunicorn): the app's own TrustedProxyFix ---------------------------------

def test_under_a_plain_wsgi_server_forwarded_headers_count_only_from_the_trusted_proxy(make_app, make_user):
    """gunicorn passes X-Forwarded-* through untouched: the app itself takes them from
    ``TRUSTED_PROXY`` only, so a client reaching the server directly cannot pick an address
    per request to escape a rate limit, nor claim HTTPS."""
    from leadflow.activities.services import issue_calendar_token
    from leadflow.extensions import db

    token = issue_calendar_token(make_user(role="rep"))
    db.session.commit()
    app = make_app(RATELIMIT_ENABLED=True, CALENDAR_FEED_RATE_LIMIT="2 per minute",
                   TRUST_PROXY=True, TRUSTED_PROXY="10.0.0.5")
    client = app.test_client()

    def fetch(peer: str, forwarded_for: str, proto: str = "http"):
        return client.get(f"/calendar/{token}.ics", environ_overrides={"REMOTE_ADDR": peer}, headers={
            "X-Forwarded-For": forwarded_for, "X-Forwarded-Proto": proto, "X-Forwarded-Host": "evil.example"})

    # A direct client naming a new address each time still spends its own budget.
    direct = [fetch("198.51.100.9", f"203.0.113.{n}").status_code for n in range(3)]
    assert direct == [200, 200, 429]
    # Through the proxy, each visitor it names has a budget of its own.
    assert [fetch("10.0.0.5", "203.0.113.1").status_code for _ in range(3)] == [200, 200, 429]
    assert fetch("10.0.0.5", "203.0.113.2").status_code == 200
    # HTTPS and the host count only when the proxy says so.
    spoofed = client.get("/login", environ_overrides={"REMOTE_ADDR": "198.51.100.10"},
                         headers={"X-Forwarded-Proto": "https", "X-Forwarded-Host": "evil.example"})
    assert "Secure" not in spoofed.headers.get("Set-Cookie", "") and "Strict-Transport-Security" not in spoofed.headers
    proxied = app.test_client().get("/login", environ_overrides={"REMOTE_ADDR": "10.0.0.5"},
                         headers={"X-Forwarded-For": "203.0.113.3", "X-Forwarded-Proto": "https"})
    assert "Secure" in proxied.headers["Set-Cookie"] and "Strict-Transport-Security" in proxied.headers
