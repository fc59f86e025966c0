"""Past one machine: two web nodes and two scheduler processes, each with an instance folder
of its own (no shared disk), against one PostgreSQL database and one Redis.

Each due reminder makes one outbox row; an import whose process is killed with kill -9 on
node A is finished by the scheduler on node B (the job names it), which never had the
uploaded file on its disk, every row imported exactly once;
failed sign-ins counted on both nodes together hit the limit. Skipped (saying why) when the
run is not on PostgreSQL or Redis does not answer on 127.0.0.1:6379."""

from __future__ import annotations

import re
import socket
import subprocess
import sys
import time

import pytest
import requests
from sqlalchemy import text

from leadflow.imports.runner import CHUNK_ROWS
from tests.reliability.load import ADMIN_EMAIL, create_admin
from tests.reliability.workers import Reader, add_due_tasks, kill_9, run_in_app, start_scheduler, wait_until
from tests.servers import REPO_ROOT, production_env, start_leadflow, stop_processes

REDIS = ("127.0.0.1", 6379)
NEW_LEAD = """
    from leadflow.accounts.models import User
    from leadflow.leads.services import create_lead
    user = db.session.scalar(db.select(User).where(User.email == sys.argv[1]))
    create_lead(user, {"first_name": "Waiting", "last_name": "Lead", "email": "waiting@example.com"})
    db.session.commit()
"""
LOGIN_LIMIT = 6


def redis_answers() -> bool:
    try:
        with socket.create_connection(REDIS, timeout=1) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
    except OSError:
        return False


@pytest.fixture
def two_nodes_env(tmp_path, fresh_database, database_kind):
    if database_kind != "postgresql":
        pytest.skip("several nodes need PostgreSQL: run with DATABASE_URL=postgresql://… (make test-reliability)")
    if not redis_answers():
        pytest.skip("Redis does not answer on 127.0.0.1:6379: shared rate limits cannot be tested")
    env = production_env(tmp_path / "node-a", fresh_database, SCHEDULER_ENABLED="0", SCHEDULER_TICK_SECONDS="1",
                         RATELIMIT_STORAGE_URI=f"redis://{REDIS[0]}:{REDIS[1]}/15",
                         LOGIN_RATE_LIMIT=f"{LOGIN_LIMIT} per minute", LOGIN_ACCOUNT_RATE_LIMIT="1000 per hour")
    subprocess.run(["redis-cli", "-n", "15", "FLUSHDB"], capture_output=True)  # limits of an earlier run
    return env


def on_node(env: dict, tmp_path, name: str) -> dict:
    """The same settings (one SECRET_KEY, one database, one Redis) with an instance folder of its own."""
    folder = tmp_path / name
    folder.mkdir(exist_ok=True)
    return {**env, "LEADFLOW_INSTANCE": str(folder)}


def failed_sign_in(session: requests.Session, port: int) -> int:
    page = session.get(f"http://127.0.0.1:{port}/login", timeout=10).text
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page) or \
        re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page)
    return session.post(f"http://127.0.0.1:{port}/login", timeout=10, allow_redirects=False,
                        data={"csrf_token": token.group(1) if token else "", "email": ADMIN_EMAIL,
                              "password": "not the password"}).status_code


def test_two_nodes_share_the_work_once_and_the_limits(tmp_path, two_nodes_env):
    env = two_nodes_env
    node_a, node_b = on_node(env, tmp_path, "node-a"), on_node(env, tmp_path, "node-b")
    create_admin(node_a)
    reader = Reader(env["DATABASE_URL"])
    processes = []
    try:
        web_a, port_a = start_leadflow(node_a, tmp_path / "web-a.log")
        web_b, port_b = start_leadflow(node_b, tmp_path / "web-b.log")
        processes += [web_a, web_b]

        # Sign-in limits: alternate nodes; the limit counts both together.
        statuses = [failed_sign_in(requests.Session(), port) for port in [port_a, port_b] * LOGIN_LIMIT]
        assert 429 not in statuses[:LOGIN_LIMIT], statuses
        assert statuses[LOGIN_LIMIT:].count(429) == LOGIN_LIMIT, statuses

        # An import started on node A, killed with kill -9 after its first chunk.
        rows = 3 * CHUNK_ROWS
        csv_file = tmp_path / "contacts.csv"
        csv_file.write_text("First name,Last name,Email\n" + "".join(
            f"Imported,Person {n},imp-{n}@example.com\n" for n in range(rows)), encoding="utf-8")
        importing = subprocess.Popen([sys.executable, "-m", "flask", "--app", "wsgi", "leadflow", "import-csv",
                                      str(csv_file), "--user", ADMIN_EMAIL], cwd=REPO_ROOT, env=node_a,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        processes.append(importing)
        wait_until(lambda: reader.scalar("SELECT rows_done FROM import_jobs"), 120, "the first chunk", interval=0.02)
        kill_9(importing)
        at_kill = reader.rows("SELECT status, rows_done FROM import_jobs")[0]
        for upload in (tmp_path / "node-a" / "imports").glob("*.csv"):
            upload.unlink()  # node A's disk is gone with it: only the database has the file

        # Node B's scheduler, which never had the file on its disk, finishes the import…
        scheduler_b = start_scheduler(node_b, tmp_path / "scheduler-b.log")
        processes.append(scheduler_b)
        finished = wait_until(lambda: (j := reader.rows("SELECT status, rows_done, created_count, finished_by "
                                                        "FROM import_jobs")[0])
                              .status in ("done", "failed") and j, 180, "the import to finish")

        # …then a scheduler on each node; a reminder falls due meanwhile.
        processes.append(start_scheduler(node_a, tmp_path / "scheduler-a.log"))
        add_due_tasks(node_b, ADMIN_EMAIL, 1, first_in=2)
        run_in_app(node_a, NEW_LEAD, ADMIN_EMAIL)  # a lead nobody answers: its escalation alert to the admin…
        with reader.engine.begin() as connection:  # …falls due now rather than in some minutes
            connection.execute(text("UPDATE lead_alerts SET due_at = due_at - interval '1 day' "
                                    "WHERE kind = 'escalation' AND lead_id = "
                                    "(SELECT id FROM leads WHERE email = 'waiting@example.com')"))
        wait_until(lambda: reader.scalar("SELECT count(DISTINCT kind) FROM outbox_messages "
                                         "WHERE kind IN ('task_reminder', 'escalation')") == 2, 90,
                   "the reminder and the alert")
        time.sleep(5)  # both schedulers sweep a few more times: a second copy would show now
        outbox = dict(reader.rows("SELECT kind, count(*) FROM outbox_messages GROUP BY kind"))
        emails = reader.scalar("SELECT count(DISTINCT email) FROM leads WHERE email LIKE 'imp-%'")
        leads = reader.scalar("SELECT count(*) FROM leads WHERE email LIKE 'imp-%'")
    finally:
        stop_processes([p for p in processes if p.poll() is None], timeout=20)
        reader.close()

    assert at_kill.status != "done" and at_kill.rows_done < rows, "the import ended before the kill"
    assert (finished.status, finished.rows_done, finished.created_count) == ("done", rows, rows)
    # Node B's scheduler did it: the worker that finished is named host:pid:… by its process.
    assert finished.finished_by.split(":")[1] == str(scheduler_b.pid), (finished.finished_by, scheduler_b.pid)
    assert emails == leads == rows  # every row imported exactly once
    # Each once, with two schedulers sweeping (the admin's morning digest too, when it falls due).
    assert outbox.get("task_reminder") == outbox.get("escalation") == 1, outbox
    assert set(outbox.values()) == {1}, outbox
