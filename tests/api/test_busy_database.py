"""A busy database never costs a lead, never doubles one and never answers 500.

The in-process test shows the API running a request again when its very first query (the
token check) meets a locked database. The load test starts real servers: four waitress
processes on one SQLite file, with a short busy timeout so that writers really run out of
patience, and sends them concurrent API creates and capture submissions.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from sqlalchemy.exc import OperationalError

from leadflow.api import auth, services
from leadflow.extensions import db
from leadflow.leads.models import Lead
from tests.servers import free_port, stop_processes

ROOT = Path(__file__).resolve().parents[2]
SERVERS = 4
API_PER_SERVER = 50
CAPTURE_PER_SERVER = 10
BUSY_TIMEOUT_MS = 200


def test_a_locked_database_at_the_token_check_is_retried_and_the_lead_saved_once(api, monkeypatch):
    real_authenticate, calls = auth.authenticate, []

    def authenticate(header, scope):
        calls.append(scope)
        if len(calls) == 1:
            raise OperationalError("BEGIN IMMEDIATE", {}, Exception("database is locked"))
        return real_authenticate(header, scope)

    monkeypatch.setattr(auth, "authenticate", authenticate)
    response = api.post("/api/v1/leads", json={"first_name": "Ada", "email": "ada@example.com"})
    assert response.status_code == 201, response.get_json()
    assert len(calls) == 2
    assert db.session.scalar(db.select(db.func.count(Lead.id))) == 1


def test_a_lock_after_the_body_was_read_runs_the_view_again_with_the_same_body(api, monkeypatch):
    real_intake_one, calls = services.intake_one, []

    def intake_one(token, payload):
        calls.append(payload)
        if len(calls) == 1:
            raise OperationalError("INSERT INTO leads", {}, Exception("database is locked"))
        return real_intake_one(token, payload)

    monkeypatch.setattr(services, "intake_one", intake_one)
    response = api.post("/api/v1/leads", json={"first_name": "Bo", "email": "bo@example.com"},
                        headers={"Idempotency-Key": "bo-1"})
    assert response.status_code == 201, response.get_json()
    assert calls == [{"first_name": "Bo", "email": "bo@example.com"}] * 2
    assert db.session.scalar(db.select(db.func.count(Lead.id))) == 1


# --- real servers ------------------------------------------------------------------------

def _run(env: dict, *args: str) -> str:
    result = subprocess.run([sys.executable, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout


# The README's commands (create-user, create-token) and a capture form, in one process.
SET_UP = """
from leadflow import create_app
from leadflow.accounts.models import User
from leadflow.capture import services
from leadflow.capture.forms import blank_builder_input
from leadflow.extensions import db

app = create_app()
cli = app.test_cli_runner()
for args in (["create-user", "--email", "ana@example.com", "--password", "a long pass phrase for ana",
              "--role", "admin"], ["create-token", "--user", "ana@example.com", "--scopes", "read,write"]):
    result = cli.invoke(args=["leadflow", *args])
    assert result.exit_code == 0, result.output
print(result.stdout.strip())
with app.app_context():
    data = blank_builder_input()
    data.update(name="Contact us", slug="contact-us")
    for row in data["standard"]:
        row["include"] = row["key"] in ("first_name", "email")
    services.create_form(db.session.scalar(db.select(User)), data)
    db.session.commit()
"""


def _get(url: str, timeout: float = 5) -> tuple[int, dict, str]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.status, dict(response.headers), response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read().decode()


def _post(url: str, body: dict, headers: dict | None = None) -> tuple[int, dict, str]:
    request = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST",
                                     headers={"Content-Type": "application/json", **(headers or {})})
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, dict(response.headers), response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read().decode()


@pytest.fixture
def servers(tmp_path, sqlite_at_head):
    """Four waitress processes serving one SQLite file; yields (base URLs, token, db path)."""
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "TEST_DATABASE_URL")}
    env.update(LEADFLOW_CONFIG="production", SECRET_KEY="load-test-secret-key-of-more-than-32-chars",
               LEADFLOW_INSTANCE=str(tmp_path), SQLITE_BUSY_TIMEOUT_MS=str(BUSY_TIMEOUT_MS),
               API_RATE_LIMIT="100000 per minute", CAPTURE_RATE_LIMIT_PER_IP="100000 per minute",
               CAPTURE_RATE_LIMIT_PER_FORM="100000 per minute", CAPTURE_MIN_FILL_SECONDS="0",
               SCHEDULER_TICK_SECONDS="1", PYTHONWARNINGS="ignore")
    sqlite_at_head(tmp_path / "leadflow.sqlite3")
    token = _run(env, "-c", SET_UP).strip()
    processes, urls = [], []
    log = (tmp_path / "servers.log").open("w")
    try:
        for _ in range(SERVERS):
            port = free_port()
            processes.append(subprocess.Popen(
                [sys.executable, "-m", "waitress", "--threads", "8", "--listen", f"127.0.0.1:{port}", "wsgi:app"],
                cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT))
            urls.append(f"http://127.0.0.1:{port}")
        deadline = time.monotonic() + 90  # a loaded machine imports slowly
        for url in urls:
            while True:
                try:
                    if _get(f"{url}/api/v1/openapi.json", timeout=1)[0] == 200:
                        break
                except OSError:
                    pass
                assert time.monotonic() < deadline, "a server did not start within 90 s"
                time.sleep(0.2)
        yield urls, token, tmp_path / "leadflow.sqlite3"
    finally:
        stop_processes(processes)
        log.close()


def test_four_servers_on_one_sqlite_file_lose_and_double_nothing_under_load(servers):
    """SQLite only, whatever DATABASE_URL says: "database is locked" needs several processes
    writing one SQLite file. (PostgreSQL conflicts go through the same retry; see tests/test_retry.py.)"""
    urls, token, path = servers
    jobs = []
    for s, url in enumerate(urls):
        jobs += [("api", url, f"api-{s}-{i}@example.com") for i in range(API_PER_SERVER)]
        jobs += [("form", url, f"form-{s}-{i}@example.com") for i in range(CAPTURE_PER_SERVER)]
    jobs.sort(key=lambda job: job[2][-13:])  # interleave the servers and both channels

    def send(job):
        channel, url, email = job
        if channel == "api":
            return job, _post(f"{url}/api/v1/leads", {"first_name": "Load", "email": email},
                              {"Authorization": f"Bearer {token}"})
        form_token = json.loads(_get(f"{url}/f/contact-us/token", timeout=60)[2])["token"]
        return job, _post(f"{url}/f/contact-us", {"first_name": "Load", "email": email, "form_token": form_token})

    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=SERVERS * 8) as pool:
        results = list(pool.map(send, jobs))
    elapsed = time.monotonic() - started

    saved = {}
    with sqlite3.connect(path) as conn:
        for email, n in conn.execute("SELECT email, COUNT(*) FROM leads GROUP BY email"):
            saved[email] = n
    answers = {}
    for (channel, _url, email), (status, headers, body) in results:
        answers.setdefault(status, 0)
        answers[status] += 1
        assert status < 500 or status == 503, f"{channel} {email}: {status} {body[:300]}"
        if status == 503:
            assert headers.get("Retry-After", "").isdigit(), f"{email}: 503 without Retry-After"
            assert email not in saved, f"{email}: answered 503 although the lead was saved"
        else:
            expected = 201 if channel == "api" else 200
            assert status == expected, f"{channel} {email}: {status} {body[:300]}"
            assert saved.get(email) == 1, f"{email}: answered {status} but saved {saved.get(email, 0)} times"
    assert sum(saved.values()) == len(saved) == answers.get(201, 0) + answers.get(200, 0), answers
    # Each request may try for DB_BUSY_RETRY_SECONDS; on an idle machine none runs out (0 × 503),
    # a machine busy with other work may let the odd one run out: that one says so and saved nothing.
    assert answers.get(503, 0) <= len(jobs) // 50, f"the retries ran out too often: {answers} in {elapsed:.1f} s"
