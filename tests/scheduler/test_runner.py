"""The scheduler runner: one job per sweep, catch-up at start, errors logged without
stopping it, started in servers but not in other commands, and `leadflow scheduler`."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy.exc import OperationalError

from leadflow.extensions import db
from leadflow.mail.models import OutboxMessage
from leadflow.mail.services import RenderedMail, enqueue_mail
from leadflow.scheduler import registry, runner
from leadflow.scheduler.registry import SWEEPS, Sweep

from tests.factories import TEST_SETUP

REPO_ROOT = Path(__file__).resolve().parents[2]


def test_every_sweep_is_an_interval_job_that_first_runs_at_start(app):
    app.config["SCHEDULER_TICK_SECONDS"] = 30
    scheduler = runner.build_scheduler(app)
    scheduler.start(paused=True)
    try:
        jobs = {job.id: job for job in scheduler.get_jobs()}
        assert {"outbox", "task_reminders", "lead_alerts", "digests"} <= set(jobs)
        assert set(jobs) == set(SWEEPS)
        for job in jobs.values():
            assert job.coalesce is True and job.max_instances == 1 and job.misfire_grace_time is None
            assert job.trigger.interval <= timedelta(seconds=30)
            assert job.next_run_time <= datetime.now(timezone.utc) + timedelta(seconds=1)  # catch-up at once
        assert jobs["outbox"].trigger.interval <= timedelta(seconds=15)
    finally:
        scheduler.shutdown(wait=False)


def test_a_failing_sweep_is_logged_and_does_not_stop_the_others(app, monkeypatch, caplog):
    def broken(now):
        raise RuntimeError("the database went away")

    monkeypatch.setitem(SWEEPS, "broken", Sweep("broken", broken, 10))
    # Alembic's logging set-up (run by the schema fixture) disables loggers that existed before it.
    monkeypatch.setattr(logging.getLogger("leadflow.scheduler.runner"), "disabled", False)
    with caplog.at_level(logging.ERROR, logger="leadflow.scheduler.runner"):
        assert runner.run_sweep(app, "broken") is None
    assert "The broken sweep failed" in caplog.text
    assert runner.run_sweep(app, "outbox") == 0


def test_a_sweep_run_commits_its_work(app, monkeypatch):
    def queue_one(now):
        enqueue_mail(to="rep@example.com", kind="digest", idempotency_key="commit-check",
                     mail=RenderedMail("Hello", "Hello", "<p>Hello</p>"), now=now)
        return 1

    monkeypatch.setitem(SWEEPS, "queue_one", Sweep("queue_one", queue_one, 10))
    assert runner.run_sweep(app, "queue_one") == 1
    db.session.rollback()
    assert db.session.scalar(db.select(OutboxMessage.subject)) == "Hello"


def test_a_sweep_that_meets_a_locked_database_runs_again_instead_of_failing(app, monkeypatch, caplog):
    calls = []

    def queue_one(now):
        calls.append(now)
        enqueue_mail(to="rep@example.com", kind="digest", idempotency_key="locked-once",
                     mail=RenderedMail("Hello", "Hello", "<p>Hello</p>"), now=now)
        if len(calls) == 1:
            raise OperationalError("UPDATE outbox", {}, Exception("database is locked"))
        return 1

    monkeypatch.setitem(SWEEPS, "queue_one", Sweep("queue_one", queue_one, 10))
    monkeypatch.setattr(logging.getLogger("leadflow.scheduler.runner"), "disabled", False)
    with caplog.at_level(logging.ERROR, logger="leadflow.scheduler.runner"):
        assert runner.run_sweep(app, "queue_one") == 1
    assert len(calls) == 2 and "failed" not in caplog.text
    db.session.rollback()
    assert db.session.scalars(db.select(OutboxMessage.subject)).all() == ["Hello"]


def test_the_scheduler_starts_in_servers_but_not_in_other_flask_commands(app, monkeypatch):
    app.config["SCHEDULER_ENABLED"] = True
    monkeypatch.delenv("FLASK_RUN_FROM_CLI", raising=False)
    assert runner.should_run_in_process(app) is True  # waitress, gunicorn
    monkeypatch.setenv("FLASK_RUN_FROM_CLI", "true")
    assert runner.should_run_in_process(app) is False  # `flask db upgrade`, `flask leadflow scheduler`, …
    monkeypatch.delenv("FLASK_RUN_FROM_CLI")
    app.config["SCHEDULER_ENABLED"] = False
    assert runner.should_run_in_process(app) is False


def test_under_flask_run_only_the_serving_process_starts_it_never_the_reloaders_watcher(app, monkeypatch):
    import click

    app.config["SCHEDULER_ENABLED"] = True
    monkeypatch.setenv("FLASK_RUN_FROM_CLI", "true")
    run = click.Command("run", params=[click.Option(["--reload/--no-reload"], default=None)])
    with click.Context(run, info_name="run") as context:
        context.params["reload"] = True
        monkeypatch.delenv("WERKZEUG_RUN_MAIN", raising=False)
        assert runner.should_run_in_process(app) is False  # the watcher
        monkeypatch.setenv("WERKZEUG_RUN_MAIN", "true")
        assert runner.should_run_in_process(app) is True  # the child that serves
        context.params["reload"] = False
        monkeypatch.delenv("WERKZEUG_RUN_MAIN")
        assert runner.should_run_in_process(app) is True


@pytest.mark.real_commits  # the scheduler it starts runs its first sweeps in threads, each on its own connection
def test_leadflow_serve_starts_the_scheduler_although_it_is_a_flask_command(app, monkeypatch):
    monkeypatch.setenv("FLASK_RUN_FROM_CLI", "true")
    app.config["SCHEDULER_ENABLED"] = False
    assert runner.start_in_process(app, serving=True) is None
    app.config["SCHEDULER_ENABLED"] = True
    assert runner.start_in_process(app) is None  # any other flask command
    try:
        assert runner.start_in_process(app, serving=True).running
    finally:
        runner.stop_scheduler(app)


@pytest.mark.real_commits  # the scheduler's sweeps run in threads, each on its own connection
def test_a_form_lead_reaches_its_owner_by_smtp_within_a_minute(app, make_user, smtp_server):
    """Submit → SMTP delivery with the real scheduler running (the outbox sweep is nudged on commit)."""
    from leadflow.leads.services import create_lead
    from leadflow.pipeline.services import ensure_default_pipeline

    owner = make_user(role="rep")
    owner_email = owner.email
    ensure_default_pipeline()
    db.session.commit()  # from here the test reads no rows: its session holds no lock the sweeps wait on
    scheduler = runner.start_scheduler(app)
    try:
        time.sleep(0.5)  # the start-up catch-up run is over
        started = time.monotonic()
        create_lead(TEST_SETUP, {"first_name": "Web", "last_name": "Visitor", "email": "visitor@example.com",
                           "owner_id": owner.id}, region="US", channel="form")
        db.session.commit()
        arrived = smtp_server.wait_for(1, 60)
        assert arrived is not None, "no alert reached the SMTP server within a minute"
        assert arrived - started < 60
        assert smtp_server.recipients() == [owner_email]
        assert smtp_server.messages[0]["Subject"] == "New lead: Web Visitor"
    finally:
        runner.stop_scheduler(app)
    assert not scheduler.running


@pytest.mark.real_commits  # the scheduler's sweeps run in threads, each on its own connection
def test_when_the_mail_server_comes_back_waiting_mail_goes_within_a_minute_not_after_its_back_off(app, smtp_server):
    """The real scheduler running: SMTP was down for hours, so the message's next attempt is
    hours away; a probe on the next sweep notices the server is back."""
    from leadflow.db import utcnow
    from tests.mail.conftest import queue_message

    smtp_server.stop()
    message_id = queue_message(key="alert:while-down")
    db.session.execute(db.update(OutboxMessage).where(OutboxMessage.id == message_id).values(
        state="failing", attempts=9, server_unreachable=True, next_attempt_at=utcnow() + timedelta(hours=6)))
    db.session.commit()  # from here the test reads no rows: its session holds no lock the sweeps wait on
    scheduler = runner.start_scheduler(app)
    try:
        time.sleep(1)  # the start-up run probes a server that is still down
        smtp_server.start()
        started = time.monotonic()
        arrived = smtp_server.wait_for(1, 60)
        assert arrived is not None, "the waiting message did not go within a minute of the server's return"
        assert arrived - started < 60
        assert smtp_server.recipients() == ["rep@example.com"]
    finally:
        runner.stop_scheduler(app)


@pytest.mark.real_commits  # the scheduler's sweeps run in threads, each on its own connection
def test_on_start_the_scheduler_catches_up_on_what_fell_due_while_it_was_stopped(app, make_user, make_lead,
                                                                                 smtp_server):
    from leadflow.activities.models import Task
    from leadflow.db import utcnow

    rep = make_user(role="rep")
    lead = make_lead()
    subject = f"Due: Missed while down ({lead.name})"
    db.session.add(Task(lead_id=lead.id, title="Missed while down", due_at=utcnow() - timedelta(hours=3),
                        remind_at=utcnow() - timedelta(hours=3), assignee_id=rep.id))
    db.session.commit()
    runner.start_scheduler(app)
    try:
        deadline = time.monotonic() + 20
        while not any(m["Subject"].startswith("Due:") for m in smtp_server.messages) and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(1)  # room for a second copy, were there one
    finally:
        runner.stop_scheduler(app)
    reminders = [m["Subject"] for m in smtp_server.messages if m["Subject"].startswith("Due:")]
    assert reminders == [subject]


def test_scheduler_command_once_runs_every_sweep(app, runner_cli):
    result = runner_cli.invoke(args=["leadflow", "scheduler", "--once"])
    assert result.exit_code == 0, result.output
    for name in ("outbox", "task_reminders", "lead_alerts", "digests"):
        assert f"{name}: " in result.output


@pytest.fixture
def runner_cli(app):
    return app.test_cli_runner()


def test_scheduler_command_runs_in_the_foreground_until_ctrl_c(tmp_path):
    # A database of its own: the test process's open connections never stand in its way.
    env = {k: v for k, v in os.environ.items() if k not in ("SMTP_HOST", "FLASK_RUN_FROM_CLI", "TEST_DATABASE_URL")}
    env.update({"LEADFLOW_CONFIG": "production", "SECRET_KEY": "test-only-" + "k" * 40,
                "DATABASE_URL": f"sqlite:///{tmp_path / 'scheduler.sqlite3'}",
                "PYTHONUNBUFFERED": "1", "LEADFLOW_INSTANCE": str(tmp_path)})
    upgraded = subprocess.run([sys.executable, "-m", "flask", "--app", "wsgi", "db", "upgrade"], cwd=REPO_ROOT,
                              env=env, capture_output=True, text=True, timeout=120)
    assert upgraded.returncode == 0, upgraded.stderr
    process = subprocess.Popen([sys.executable, "-m", "flask", "--app", "wsgi", "leadflow", "scheduler"],
                               cwd=REPO_ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        first_line = process.stdout.readline()
        assert "Scheduler running the sweeps" in first_line, first_line
        time.sleep(1)
        process.send_signal(signal.SIGINT)
        # A sweep running at that moment finishes first; on a loaded machine that can take a while.
        output, _ = process.communicate(timeout=120)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        process.stdout.close()
    assert process.returncode == 0, output
    assert "Scheduler stopped." in output


def test_the_outbox_is_asked_to_run_after_the_commit_not_when_a_savepoint_is_released(app, monkeypatch):
    nudged = []
    monkeypatch.setattr(registry, "nudge", lambda app_, name: nudged.append(name))
    with db.session.begin_nested():
        enqueue_mail(to="rep@example.com", kind="digest", idempotency_key="nudge-check",
                     mail=RenderedMail("Hello", "Hello", "<p>Hello</p>"))
    assert nudged == []  # the message is not visible to other sessions yet
    db.session.commit()
    assert nudged == ["outbox"]
    db.session.commit()
    assert nudged == ["outbox"]  # once per transaction that queued mail


def test_a_sweep_that_finds_the_database_busy_throughout_waits_for_the_next_tick_quietly(make_app, monkeypatch, caplog):
    other = make_app(DB_BUSY_RETRY_ATTEMPTS=3, DB_BUSY_RETRY_SECONDS=5)
    calls = []

    def always_locked(now):
        calls.append(now)
        raise OperationalError("BEGIN IMMEDIATE", {}, Exception("database is locked"))

    monkeypatch.setitem(SWEEPS, "always_locked", Sweep("always_locked", always_locked, 10))
    monkeypatch.setattr(logging.getLogger("leadflow.scheduler.runner"), "disabled", False)
    with caplog.at_level(logging.WARNING, logger="leadflow.scheduler.runner"):
        assert runner.run_sweep(other, "always_locked") is None
    assert len(calls) == 3, "run again as a whole until the attempts ran out"
    assert "found the database busy" in caplog.text and "Traceback" not in caplog.text
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
