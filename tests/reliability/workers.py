"""Real worker processes for the reliability run, and what the tests read meanwhile.

``start_scheduler`` starts ``flask --app wsgi leadflow scheduler`` (a scheduler process of
its own, as an operator runs beside the web server); ``run_in_app`` runs a Python snippet in
an app context of its own process, on the test's database; ``Reader`` reads that database
from the test (a connection of its own, no lock held between reads); ``wait_until`` polls.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from sqlalchemy import text

from tests.reliability.load import database_engine
from tests.servers import REPO_ROOT

T = TypeVar("T")


def start_scheduler(env: dict, log_path: Path) -> subprocess.Popen:
    """``flask --app wsgi leadflow scheduler`` in a process of its own, logging to ``log_path``."""
    with open(log_path, "w") as log:
        return subprocess.Popen([sys.executable, "-m", "flask", "--app", "wsgi", "leadflow", "scheduler"],
                                cwd=REPO_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)


def kill_9(process: subprocess.Popen) -> None:
    """``kill -9``: no clean-up of any kind in the process."""
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=10)


APP_PRELUDE = """
import sys
from leadflow import create_app
from leadflow.extensions import db
app = create_app()
with app.app_context():
"""


def run_in_app(env: dict, body: str, *args: str) -> str:
    """Run ``body`` (Python, indented by four spaces) inside ``with app.app_context():`` of a
    production app on ``env``'s database, in a process of its own; its standard output."""
    made = subprocess.run([sys.executable, "-c", APP_PRELUDE + body, *args], cwd=REPO_ROOT, env=env,
                          capture_output=True, text=True, timeout=180)
    assert made.returncode == 0, made.stderr[-3000:]
    return made.stdout


class Reader:
    """Reads the database under test from the test process."""

    def __init__(self, url: str):
        self.engine = database_engine(url)

    def rows(self, sql: str, **params) -> list:
        with self.engine.connect() as connection:
            return list(connection.execute(text(sql), params))

    def scalar(self, sql: str, **params):
        with self.engine.connect() as connection:
            return connection.execute(text(sql), params).scalar()

    def close(self) -> None:
        self.engine.dispose()


def wait_until(condition: Callable[[], T], timeout: float, what: str, interval: float = 0.1) -> T:
    """Poll ``condition`` until it returns something true; that value. Fails after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(interval)


def copies_by_outbox_row(messages, reader: Reader, domain: str = "localhost") -> tuple[Counter, list[str]]:
    """How many copies of each outbox row's message arrived, counted by its Message-ID, and
    the Message-IDs that arrived but belong to no outbox row."""
    from leadflow.mail.models import OutboxMessage

    rows = {OutboxMessage(id=row_id, idempotency_key=key).message_id(domain): row_id
            for row_id, key in reader.rows("SELECT id, idempotency_key FROM outbox_messages")}
    arrived = Counter(message["Message-ID"] for message in messages)
    return Counter({rows[mid]: n for mid, n in arrived.items() if mid in rows}), sorted(set(arrived) - set(rows))


ADD_DUE_TASKS = """
    from datetime import datetime, timedelta
    from leadflow.accounts.models import User
    from leadflow.accounts.zones import user_zone
    from leadflow.activities.services import create_task
    from leadflow.leads.services import create_lead
    user = db.session.scalar(db.select(User).where(User.email == sys.argv[1]))
    count, first_in, every = int(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4])
    lead = create_lead(user, {"first_name": "Reminded", "last_name": "Lead", "email": "reminded@example.com"})
    first = datetime.now(user_zone(user)) + timedelta(seconds=first_in)
    for n in range(count):
        due = first + timedelta(seconds=n * every)
        create_task(user, lead, {"title": f"Follow-up {n}", "due": due.strftime("%Y-%m-%dT%H:%M:%S")})
    db.session.commit()
"""


def add_due_tasks(env: dict, assignee: str, count: int, first_in: float = 0, every: float = 0) -> None:
    """``count`` tasks of ``assignee`` on a new lead, the first due in ``first_in`` seconds and
    one more every ``every`` seconds: each makes a reminder e-mail when it falls due."""
    run_in_app(env, ADD_DUE_TASKS, assignee, str(count), str(first_in), str(every))


def unsent_messages(reader: Reader, messages) -> str:
    """The outbox rows not "sent", with how many copies of each the mail server got, for a failure message."""
    copies, _ = copies_by_outbox_row(messages, reader)
    return "; ".join(f"row {row_id} {state} (the mail server got {copies[row_id]} copies): {error}"
                     for row_id, state, error in reader.rows(
                         "SELECT id, state, last_error FROM outbox_messages WHERE state <> 'sent'")) or "none"


def machine_row() -> str:
    """A figures row: the CPUs every process of the run shared, and how busy the machine was."""
    return (f"| machine | {os.cpu_count()} CPUs for the test, the servers and the database; load average "
            f"{os.getloadavg()[0]:.1f} at the end |")


def assert_logs_clean(*log_paths: Path) -> None:
    """No traceback and no failed sweep in the logs of the processes that lived to the end."""
    for path in log_paths:
        log = path.read_text(encoding="utf-8", errors="replace")
        assert "Traceback" not in log and "sweep failed" not in log, f"{path.name}:\n{log[-5000:]}"


# Every lead from outside goes to the admin (sys.argv[1]); a director scores 15.
RULES = """
    from leadflow.accounts.models import User
    from leadflow.routing.models import RoutingRule
    from leadflow.scoring.models import ScoringRule
    admin = db.session.scalar(db.select(User).where(User.email == sys.argv[1]))
    db.session.add(RoutingRule(name="All to the admin", position=1, conditions={}, target_kind="user",
                               target_user_id=admin.id))
    db.session.add(ScoringRule(name="Director", category="fit", active=True, points=15, position=1,
                               field="title", operator="contains", value="director"))
    db.session.commit()
"""


def add_rules(env: dict, admin_email: str) -> None:
    run_in_app(env, RULES, admin_email)


def arrivals_done(reader: Reader, pattern: str) -> list:
    """Per lead whose email matches: (email, owner, score, "Assigned to" entries, alert timers,
    new-lead e-mails, and its first history, written with its arrival: first stage changes,
    first lifecycle changes, "Lead created" entries, audit entries of its create), once no
    arrival is left queued; else None."""
    if reader.scalar("SELECT count(*) FROM lead_arrivals"):
        return []
    return reader.rows(
        "SELECT l.email, l.owner_id, l.score,"
        " (SELECT count(*) FROM activities a WHERE a.lead_id = l.id AND a.kind = 'assignment'),"
        " (SELECT count(*) FROM lead_alerts t WHERE t.lead_id = l.id),"
        " (SELECT count(*) FROM outbox_messages m WHERE m.lead_id = l.id AND m.kind = 'new_lead_alert'),"
        " (SELECT count(*) FROM stage_changes c WHERE c.lead_id = l.id AND c.from_stage_id IS NULL),"
        " (SELECT count(*) FROM lifecycle_changes c WHERE c.lead_id = l.id AND c.from_lifecycle IS NULL),"
        " (SELECT count(*) FROM activities a WHERE a.lead_id = l.id AND a.subject = 'Lead created'),"
        " (SELECT count(*) FROM audit_entries e WHERE e.entity_type = 'lead' AND e.entity_id = l.id"
        "  AND e.action = 'create')"
        " FROM leads l WHERE l.email LIKE :pattern AND l.deleted_at IS NULL ORDER BY l.email", pattern=pattern)
