"""Fifty clients at once against a real server on SQLite: every answer is either a success
whose lead was saved once, or a 503 with Retry-After whose "nothing was saved" is true.
Never a 500, and never "nothing was saved" in front of a lead that was.

The server is ``flask --app wsgi leadflow serve`` in its own process (production config, a
migrated SQLite file, the scheduler's sweeps running beside the requests); the clients
post to the public capture form (after fetching a form token, as a site's own form does)
and to the REST API, each lead with an email of its own.

For measurements: ``LOAD_CLIENTS``, ``LOAD_POSTS`` (per client), ``LOAD_THREADS`` (the
server's) and ``LOAD_BUSY_TIMEOUT_MS`` (SQLite's busy timeout: a tiny one makes busy
answers happen) change the run; ``LOAD_KEEP_LOG=1`` prints the server's log (with ``-s``).
"""

from __future__ import annotations

import http.client
import json
import os
import sqlite3
import subprocess
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass

import pytest

from tests.servers import REPO_ROOT, flask_cli, production_env, start_leadflow, stop_processes

CLIENTS = int(os.environ.get("LOAD_CLIENTS", "50"))
POSTS_PER_CLIENT = int(os.environ.get("LOAD_POSTS", "6"))  # half to the capture form, half to the API

SETUP = """
from leadflow import create_app
from leadflow.accounts.system import system_actor
from leadflow.accounts.models import User
from leadflow.api.services import create_token
from leadflow.capture import forms, services
from leadflow.extensions import db
from leadflow.pipeline.services import ensure_default_pipeline

app = create_app()
with app.app_context():
    ensure_default_pipeline()
    admin = db.session.scalar(db.select(User).where(User.email == "load-admin@example.com"))
    data = forms.blank_builder_input()
    data.update(name="Load", slug="load")
    for row in data["standard"]:
        row["include"] = row["key"] in ("first_name", "last_name", "email")
        row["required"] = row["key"] in ("first_name", "email")
    form = services.create_form(admin, data)
    _, plain = create_token(system_actor("Load test"), user=admin, name="Load test", scopes="read,write")
    db.session.commit()
    print(form.slug, plain)
"""


@dataclass
class Answer:
    email: str
    status: int
    retry_after: str | None
    body: str


def _request(port: int, method: str, path: str, body: dict | None = None, headers: dict | None = None):
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    try:
        data = json.dumps(body) if body is not None else None
        connection.request(method, path, body=data, headers={"Content-Type": "application/json",
                                                             "Accept": "application/json", **(headers or {})})
        response = connection.getresponse()
        return response.status, response.getheader("Retry-After"), response.read().decode("utf-8", "replace")
    finally:
        connection.close()


def _client(port: int, slug: str, api_token: str, index: int, start: threading.Barrier, answers: list) -> None:
    start.wait()
    for n in range(POSTS_PER_CLIENT):
        email = f"load-{index}-{n}@example.com"
        try:
            if n % 2 == 0:
                status, _, text = _request(port, "GET", f"/f/{slug}/token")
                if status != 200:
                    answers.append(Answer(email, status, None, "token: " + text[:300]))
                    continue
                token = json.loads(text)["token"]
                status, retry_after, text = _request(port, "POST", f"/f/{slug}", {
                    "first_name": f"Form{index}", "last_name": f"N{n}", "email": email, "form_token": token})
            else:
                status, retry_after, text = _request(port, "POST", "/api/v1/leads", {
                    "first_name": f"Api{index}", "last_name": f"N{n}", "email": email},
                    {"Authorization": f"Bearer {api_token}"})
        except (OSError, http.client.HTTPException) as exc:
            status, retry_after, text = 0, None, repr(exc)
        answers.append(Answer(email, status, retry_after, text[:300]))


def run_load(port: int, slug: str, api_token: str) -> tuple[list[Answer], float]:
    answers: list[Answer] = []
    start = threading.Barrier(CLIENTS)
    threads = [threading.Thread(target=_client, args=(port, slug, api_token, i, start, answers))
               for i in range(CLIENTS)]
    began = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=600)
    return answers, time.monotonic() - began


def saved_emails(database) -> Counter:
    connection = sqlite3.connect(database)
    try:
        return Counter(row[0] for row in connection.execute("SELECT email FROM leads WHERE email LIKE 'load-%'"))
    finally:
        connection.close()


@pytest.fixture
def loaded_server(tmp_path):
    instance = tmp_path / "instance"
    instance.mkdir()
    env = production_env(instance, RATELIMIT_ENABLED="0", CAPTURE_MIN_FILL_SECONDS="0",
                         SCHEDULER_ENABLED="1", SCHEDULER_TICK_SECONDS="1",
                         SQLITE_BUSY_TIMEOUT_MS=os.environ.get("LOAD_BUSY_TIMEOUT_MS", "10000"))
    flask_cli(["db", "upgrade"], env)
    flask_cli(["leadflow", "create-user", "--email", "load-admin@example.com", "--password",
               "a sturdy pass phrase for the load test", "--role", "admin"], env)
    made = subprocess.run([sys.executable, "-c", SETUP], cwd=REPO_ROOT, env=env, capture_output=True,
                          text=True, timeout=120)
    assert made.returncode == 0, made.stderr
    slug, api_token = made.stdout.split()[-2:]
    server, port = start_leadflow(env, tmp_path / "server.log", threads=int(os.environ.get("LOAD_THREADS", "16")))
    yield port, slug, api_token, instance / "leadflow.sqlite3", tmp_path / "server.log"
    stop_processes([server], timeout=20)


def test_fifty_clients_at_once_get_a_saved_lead_or_a_true_busy_answer_never_a_500(loaded_server):
    port, slug, api_token, database, log = loaded_server
    answers, seconds = run_load(port, slug, api_token)
    saved = saved_emails(database)
    statuses = Counter(a.status for a in answers)
    print(f"{len(answers)} posts by {CLIENTS} clients in {seconds:.1f} s: {dict(statuses)}")

    assert len(answers) == CLIENTS * POSTS_PER_CLIENT
    assert all(count == 1 for count in saved.values()), "a lead saved twice"
    errors = [a for a in answers if a.status >= 500 and a.status != 503]
    assert not errors, f"{len(errors)} server errors, e.g. {errors[0]}\n{log.read_text()[-3000:]}"
    for answer in answers:
        if 200 <= answer.status < 300:
            assert saved[answer.email] == 1, f"answered {answer.status} but not saved: {answer}"
        elif answer.status == 503:
            assert answer.retry_after and answer.retry_after.isdigit(), answer
            assert saved[answer.email] == 0, f"told nothing was saved, yet the lead was: {answer}"
        else:
            pytest.fail(f"unexpected answer {answer}")
    assert sum(1 for a in answers if 200 <= a.status < 300) == sum(saved.values())
    server_log = log.read_text()
    if os.environ.get("LOAD_KEEP_LOG"):
        print(server_log)
    assert "Traceback" not in server_log and "sweep failed" not in server_log, server_log[-3000:]
