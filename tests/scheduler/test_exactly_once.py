"""Several schedulers at once (threads with their own app context and session, as separate
processes would have) still send each reminder exactly once, on SQLite and PostgreSQL."""

from __future__ import annotations

import threading
import time
from datetime import timedelta

import pytest

from leadflow.activities.models import Task
from leadflow.db import utcnow
from leadflow.extensions import db
from leadflow.mail.models import OutboxMessage
from leadflow.scheduler.runner import run_sweep

# Several schedulers in threads, each on its own connection, claiming rows the others must see.
pytestmark = pytest.mark.real_commits

SCHEDULERS = 3
ROUNDS = 6
TASKS = 25


def _sweep_concurrently(app, names, now_for_round):
    db.session.commit()  # the test's own session holds no lock while the schedulers run
    barrier = threading.Barrier(SCHEDULERS)
    results: list[tuple[str, int | None]] = []
    lock = threading.Lock()

    def scheduler():
        with app.app_context():  # its own app context, so its own session and connection
            barrier.wait()
            for round_number in range(ROUNDS):
                for name in names:
                    handled = run_sweep(app, name, now_for_round(round_number))
                    with lock:
                        results.append((name, handled))

    threads = [threading.Thread(target=scheduler) for _ in range(SCHEDULERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(thread.is_alive() for thread in threads), "a scheduler thread hung"
    return results


def test_due_tasks_are_reminded_and_delivered_exactly_once_with_three_schedulers(app, make_user, make_lead,
                                                                                  smtp_server):
    reps = [make_user(role="rep") for _ in range(3)]
    now = utcnow()
    for n in range(TASKS):
        lead = make_lead()
        db.session.add(Task(lead_id=lead.id, title=f"Follow-up {n}", due_at=now - timedelta(minutes=n),
                            remind_at=now - timedelta(minutes=n), assignee_id=reps[n % 3].id))
    db.session.commit()

    results = _sweep_concurrently(app, ("task_reminders", "outbox"), lambda r: now + timedelta(seconds=r))

    assert all(handled is not None for _, handled in results), "a sweep failed: see the log"
    assert sum(handled for name, handled in results if name == "task_reminders") == TASKS
    assert sum(handled for name, handled in results if name == "outbox") == TASKS
    assert smtp_server.wait_for(TASKS, 10) is not None
    subjects = [m["Subject"] for m in smtp_server.messages]
    assert len(subjects) == TASKS and len(set(subjects)) == TASKS  # each task once, none twice
    db.session.expire_all()
    states = db.session.scalars(db.select(OutboxMessage.state)).all()
    assert states == ["sent"] * TASKS


def test_lead_alerts_fire_once_with_three_schedulers(app, make_user, make_lead):
    owner = make_user(role="rep")
    make_user(role="manager")
    leads = [make_lead(owner_id=owner.id) for _ in range(10)]
    db.session.commit()
    later = max(lead.created_at for lead in leads) + timedelta(hours=1)

    results = _sweep_concurrently(app, ("lead_alerts",), lambda r: later)

    assert all(handled is not None for _, handled in results)
    db.session.expire_all()
    kinds = db.session.scalars(db.select(OutboxMessage.kind)).all()
    assert sorted(kinds) == ["escalation"] * 10 + ["speed_to_lead"] * 10


def test_mail_goes_out_once_while_another_writer_keeps_the_sqlite_database_locked(make_app, smtp_server):
    """The failure seen under load: the server accepts a message, then "database is locked"
    when the sender records it. Three schedulers, a busy timeout far shorter than the other
    writer's transactions, and sweeps long after every lease: each message once at the sink."""
    import sqlite3

    import pytest

    from leadflow.mail.delivery import LEASE_SECONDS
    from tests.mail.conftest import queue_message

    if db.engine.dialect.name != "sqlite":
        pytest.skip("SQLite's write lock; PostgreSQL writers wait for row locks instead")
    impatient = make_app(SQLITE_BUSY_TIMEOUT_MS=20, **smtp_server.app_config)
    messages = 40
    now = utcnow()
    for n in range(messages):
        queue_message(key=f"alert:{n}", to=f"rep{n}@example.com", now=now)
    db.session.commit()

    stop, holding, locks, path = threading.Event(), threading.Event(), [], db.engine.url.database

    def other_writer():  # holds the write lock for 80 ms at a time, with short gaps
        conn = sqlite3.connect(path, isolation_level=None, timeout=5)
        while not stop.is_set():
            conn.execute("BEGIN IMMEDIATE")
            locks.append(1)
            holding.set()
            time.sleep(0.08)
            conn.execute("COMMIT")
            time.sleep(0.04)
        conn.close()

    locker = threading.Thread(target=other_writer)
    locker.start()
    # The schedulers start while the other writer holds the lock, however fast their sweeps
    # then run: the first of them meets "database is locked" for sure.
    assert holding.wait(5), "the other writer never took the lock"
    try:
        _sweep_concurrently(impatient, ("outbox",), lambda r: now + timedelta(seconds=r))
    finally:
        stop.set()
        locker.join(timeout=10)
    for later in (LEASE_SECONDS + 1, 7 * 3600):  # long after every lease and back-off
        run_sweep(impatient, "outbox", now + timedelta(seconds=later))

    smtp_server.wait_for(messages, 10)
    time.sleep(0.3)
    recipients = smtp_server.recipients()
    assert len(recipients) == len(set(recipients)), "a message went out twice"
    db.session.expire_all()
    states = db.session.scalars(db.select(OutboxMessage.state)).all()
    assert len(recipients) == messages and states == ["sent"] * messages
    assert len(locks) >= 2, "the other writer did not keep taking the lock while the schedulers ran"
