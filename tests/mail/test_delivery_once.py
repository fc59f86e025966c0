"""Each outbox row is delivered, over a real SMTP server on loopback, on SQLite and
PostgreSQL: when recording "sent" fails after the server accepted the message (the write is
retried, the scheduler keeps beating, nothing is sent twice); when the sender dies mid-attempt
(sent again once, with the same Message-ID); when a live scheduler's attempt outlives its lease
or the connection breaks while the server answers (left "unknown", not sent again). Also: a
dead scheduler's claims are taken over once its heartbeat stops, a probe notices a recovered
server, and ``sent_at`` is when the server accepted the message."""

from __future__ import annotations

import smtplib
import threading
import time
import unittest.mock
from datetime import timedelta

import pytest
from sqlalchemy import event
from sqlalchemy.exc import OperationalError

from leadflow.db import utcnow
from leadflow.extensions import db
from leadflow.mail import delivery
from leadflow.mail.delivery import INTERRUPTED, LEASE_SECONDS, build_email, deliver_outbox, mail_domain, open_smtp
from leadflow.mail.models import OutboxMessage
from leadflow.mail.services import retry_now
from leadflow.scheduler import heartbeat
from leadflow.scheduler.claims import claim_due
from leadflow.scheduler.heartbeat import STALE_AFTER_SECONDS, beat
from leadflow.scheduler.runner import run_sweep
from tests.mail.conftest import queue_message as _enqueue
from tests.mail.conftest import reloaded as _message


def _sweep(app, at):
    """The outbox sweep as the scheduler runs it (its own session, run again when the database
    is busy); the test's session holds no lock meanwhile."""
    db.session.commit()
    return run_sweep(app, "outbox", at)


def _claimed_by_a_scheduler_that_dies(now, who="scheduler-that-dies"):
    """Another scheduler beats, claims every due message and is killed before it sends."""
    beat(now, who)
    claim = claim_due(OutboxMessage, due=OutboxMessage.state == "queued", lease_column=OutboxMessage.lease_until,
                      now=now, lease_seconds=LEASE_SECONDS, limit=10, values={"claimed_by": who})
    db.session.commit()
    return claim


def _start_attempt_and_die(claim, now, who="scheduler-that-dies", handed_over=False):
    """…or it got as far as marking the first message "sending", and with ``handed_over`` the
    server even accepted it (the scheduler died before it could record "sent")."""
    run = delivery._Batch(claim, who, now, delivery._Clock(now))
    attempt_id = delivery._start_attempt(claim.ids[0], run)
    assert attempt_id is not None
    if handed_over:
        [outgoing] = delivery._load(delivery.Claim(claim.ids[:1], claim.lease_until))
        smtp = open_smtp()
        smtp.send_message(build_email(outgoing, now, attempt_id))
        smtp.quit()
    return attempt_id


@pytest.fixture
def locked_sent_writes(app):
    """The database refuses the write that records a message as sent ("database is locked"),
    ``failures[0]`` times (-1: always); counts the refusals in ``failures[1]``."""
    failures = [0, 0]

    def refuse(conn, cursor, statement, parameters, context, executemany):
        if (failures[0] and statement.lstrip().upper().startswith("UPDATE OUTBOX_MESSAGES")
                and "sent" in (parameters.values() if isinstance(parameters, dict) else parameters)):
            failures[0] -= 1
            failures[1] += 1
            raise OperationalError(statement, parameters, Exception("database is locked"))

    event.listen(db.engine, "before_cursor_execute", refuse)
    try:
        yield failures
    finally:
        event.remove(db.engine, "before_cursor_execute", refuse)


def test_when_recording_sent_fails_after_the_server_accepted_the_write_is_retried_and_nothing_is_resent(
        app, smtp_server, locked_sent_writes):
    start = utcnow()
    message_id = _enqueue(key="alert:1", now=start)
    locked_sent_writes[0] = 3  # the first three "sent" writes meet a locked database

    _sweep(app, start)
    message = _message(message_id)
    assert message.state == "sent" and message.attempts == 1 and message.lease_until is None
    assert locked_sent_writes[1] == 3
    for later in (LEASE_SECONDS + 1, 3600, 7 * 3600):  # long after any lease or back-off
        _sweep(app, start + timedelta(seconds=later))
    assert smtp_server.wait_for(1, 5)
    time.sleep(0.2)
    assert smtp_server.recipients() == ["rep@example.com"]
    assert _message(message_id).state == "sent"


def test_when_the_sent_write_never_lands_the_message_is_left_unknown_and_never_sent_again(
        app, smtp_server, locked_sent_writes):
    app.config["OUTBOX_RECORD_RETRY_SECONDS"] = 0.3
    app.config["DB_BUSY_RETRY_SECONDS"] = 0.5
    start = utcnow()
    message_id = _enqueue(key="alert:1", now=start)
    locked_sent_writes[0] = -1

    _sweep(app, start)
    assert smtp_server.wait_for(1, 5)
    assert _message(message_id).state == "sending"  # the send happened; its outcome is not recorded
    locked_sent_writes[0] = 0

    # This scheduler is alive (it sweeps again): its attempt outlived the lease, it did not die.
    _sweep(app, start + timedelta(seconds=LEASE_SECONDS + 1))
    message = _message(message_id)
    assert message.state == "unknown" and message.state_label == "Not confirmed, check before resending"
    assert "not sent again by itself" in message.last_error
    for later in (3600, 7 * 3600, 48 * 3600):
        _sweep(app, start + timedelta(seconds=later))
    time.sleep(0.2)
    assert len(smtp_server.messages) == 1 and _message(message_id).state == "unknown"


@pytest.mark.parametrize("handed_over", [False, True], ids=["died-before-the-server-had-it", "died-after"])
def test_a_message_left_sending_by_a_dead_scheduler_is_sent_again_once_with_the_same_message_id(
        app, smtp_server, handed_over):
    start = utcnow()
    message_id = _enqueue(key="alert:1", now=start)
    claim = _claimed_by_a_scheduler_that_dies(start)
    attempt_id = _start_attempt_and_die(claim, start, handed_over=handed_over)
    copies_before = 1 if handed_over else 0
    assert (_message(message_id).state, len(smtp_server.messages)) == ("sending", copies_before)

    assert deliver_outbox(start + timedelta(seconds=5)) == 0  # its heartbeat is fresh: it may still be at it
    assert _message(message_id).state == "sending"
    assert deliver_outbox(start + timedelta(seconds=STALE_AFTER_SECONDS + 1)) == 1  # it is gone: sent again
    assert smtp_server.wait_for(copies_before + 1, 5)
    for later in (LEASE_SECONDS + 1, 3600, 7 * 3600):
        assert deliver_outbox(start + timedelta(seconds=later)) == 0
    time.sleep(0.2)

    message = _message(message_id)
    assert (message.state, message.attempts, message.last_error) == ("sent", 2, INTERRUPTED)
    copies = smtp_server.messages
    assert len(copies) == copies_before + 1
    assert {copy["Message-ID"] for copy in copies} == {message.message_id(mail_domain())}
    assert copies[-1]["X-LeadFlow-Attempt"] == message.attempt_id != attempt_id


def test_a_live_scheduler_whose_attempt_outlived_its_lease_leaves_the_message_unknown_not_resent(app, smtp_server):
    start = utcnow()
    message_id = _enqueue(key="alert:1", now=start)
    claim = _claimed_by_a_scheduler_that_dies(start, who="stuck-scheduler")
    run = delivery._Batch(claim, "stuck-scheduler", start, delivery._Clock(start))
    attempt_id = delivery._start_attempt(message_id, run)

    after_the_lease = start + timedelta(seconds=LEASE_SECONDS + 1)
    beat(after_the_lease, "stuck-scheduler")  # it still beats: stuck, not dead
    db.session.commit()
    assert deliver_outbox(after_the_lease) == 0
    message = _message(message_id)
    assert message.state == "unknown" and "not sent again by itself" in message.last_error
    for later in (3600, 7 * 3600):
        assert deliver_outbox(start + timedelta(seconds=later)) == 0
    time.sleep(0.2)
    assert smtp_server.messages == []

    # It was only slow: its "sent" write lands at last, and counts.
    delivery._record_sent(attempt_id, run)
    assert _message(message_id).state == "sent"


def test_a_late_sent_write_of_a_scheduler_taken_for_dead_still_counts_and_nothing_goes_twice(app, smtp_server):
    start = utcnow()
    message_id = _enqueue(key="alert:1", now=start)
    claim = _claimed_by_a_scheduler_that_dies(start, who="slow-scheduler")
    attempt_id = _start_attempt_and_die(claim, start, who="slow-scheduler", handed_over=True)
    taken_for_dead = start + timedelta(seconds=STALE_AFTER_SECONDS + 1)
    assert delivery.settle_interrupted(taken_for_dead) == (1, 0)
    db.session.commit()
    assert _message(message_id).state == "queued"

    # Before another attempt starts, the slow scheduler records what the server accepted.
    delivery._record_sent(attempt_id, delivery._Batch(claim, "slow-scheduler", start, delivery._Clock(start)))
    assert deliver_outbox(taken_for_dead) == 0
    time.sleep(0.2)
    assert len(smtp_server.messages) == 1 and _message(message_id).state == "sent"


@pytest.mark.real_commits  # a scheduler thread on its own connection
def test_a_scheduler_retrying_its_sent_write_keeps_beating_so_nobody_sends_the_message_again(
        app, smtp_server, monkeypatch):
    """The "sent" write is refused for several stale-after periods; another scheduler sweeps
    all along, and must not take the first one for dead."""
    monkeypatch.setattr(heartbeat, "STALE_AFTER_SECONDS", 2 * delivery.RECORD_RETRY_MAX_DELAY)
    monkeypatch.setattr(heartbeat, "scheduler_id", lambda: f"scheduler-in-thread-{threading.get_ident()}")
    refused_for, refusals, sender = 8.0, [0], {}

    def refuse(conn, cursor, statement, parameters, context, executemany):
        if (threading.current_thread() is sender.get("thread") and time.monotonic() < sender["until"]
                and statement.lstrip().upper().startswith("UPDATE OUTBOX_MESSAGES")
                and "sent" in (parameters.values() if isinstance(parameters, dict) else parameters)):
            refusals[0] += 1
            raise OperationalError(statement, parameters, Exception("database is locked"))

    message_id = _enqueue(key="alert:1")
    db.session.commit()
    sender["thread"] = threading.Thread(target=lambda: sender.setdefault("sent", run_sweep(app, "outbox")))
    sender["until"] = time.monotonic() + refused_for
    event.listen(db.engine, "before_cursor_execute", refuse)
    try:
        sender["thread"].start()
        assert smtp_server.wait_for(1, 5)
        while sender["thread"].is_alive():
            assert deliver_outbox(utcnow()) == 0  # the other scheduler, at the real time
            time.sleep(0.3)
    finally:
        sender["thread"].join(timeout=30)
        event.remove(db.engine, "before_cursor_execute", refuse)
    assert sender["sent"] == 1 and refusals[0] >= 5
    time.sleep(0.2)
    assert len(smtp_server.messages) == 1
    message = _message(message_id)
    assert message.state == "sent" and message.attempts == 1 and message.last_error is None


def test_a_connection_that_breaks_while_the_server_answers_leaves_the_message_unknown(app, smtp_server):
    message_id = _enqueue(key="alert:1")
    original = smtplib.SMTP.getreply

    def reply_lost(self):
        reply = original(self)
        if getattr(self, "handed_over", False):  # the server accepted it; its answer never arrives
            raise smtplib.SMTPServerDisconnected("Connection unexpectedly closed")
        return reply

    with unittest.mock.patch.object(smtplib.SMTP, "getreply", reply_lost):
        assert deliver_outbox(utcnow()) == 0
    assert smtp_server.wait_for(1, 5)
    message = _message(message_id)
    assert message.state == "unknown" and "may have accepted it" in message.last_error
    first_attempt = message.attempt_id
    deliver_outbox(utcnow() + timedelta(hours=7))
    assert len(smtp_server.messages) == 1

    # The admin found no trace of it and sends it again: the same Message-ID, so it is recognisable.
    assert retry_now(_message(message_id), utcnow() + timedelta(hours=8)) is True
    db.session.commit()
    assert deliver_outbox(utcnow() + timedelta(hours=8)) == 1
    assert smtp_server.wait_for(2, 5)
    first, again = smtp_server.messages
    assert first["Message-ID"] == again["Message-ID"] == _message(message_id).message_id(mail_domain())
    assert again["X-LeadFlow-Attempt"] == _message(message_id).attempt_id != first_attempt


def test_a_dead_schedulers_claims_are_taken_over_once_its_heartbeat_stops_not_after_the_lease(app, smtp_server):
    start = utcnow()
    ids = [_enqueue(key=f"alert:{n}", to=f"rep{n}@example.com", now=start) for n in range(3)]
    claim = _claimed_by_a_scheduler_that_dies(start)
    assert claim.ids == ids

    assert deliver_outbox(start + timedelta(seconds=10)) == 0  # its heartbeat is fresh: its claims stand
    assert smtp_server.messages == []
    # Three sweep intervals without a beat: taken over, minutes before the lease runs out.
    assert STALE_AFTER_SECONDS + 1 < LEASE_SECONDS
    assert deliver_outbox(start + timedelta(seconds=STALE_AFTER_SECONDS + 1)) == 3
    assert smtp_server.wait_for(3, 5)
    assert sorted(smtp_server.recipients()) == ["rep0@example.com", "rep1@example.com", "rep2@example.com"]
    assert all(_message(i).state == "sent" for i in ids)


def test_a_slow_scheduler_whose_claims_were_taken_over_sends_nothing_twice(app, smtp_server):
    start = utcnow()
    message_id = _enqueue(key="alert:1", now=start)
    claim = _claimed_by_a_scheduler_that_dies(start, who="slow-scheduler")
    assert deliver_outbox(start + timedelta(seconds=STALE_AFTER_SECONDS + 1)) == 1
    # The slow one wakes up and goes on with its batch: its claim is no longer valid.
    run = delivery._Batch(claim, "slow-scheduler", start, delivery._Clock(start))
    assert delivery._start_attempt(message_id, run) is None
    assert smtp_server.wait_for(1, 5) and len(smtp_server.messages) == 1


def test_a_recovered_server_is_noticed_by_a_probe_and_waiting_messages_go_on_the_next_sweep(app, smtp_server):
    smtp_server.stop()
    start = utcnow()
    waiting = _enqueue(key="alert:down", now=start)
    refused = _enqueue(key="alert:refused", to="nobody@example.com", now=start)
    deliver_outbox(start)
    # After hours down the back-off is long: the next attempt would be hours away.
    db.session.execute(db.update(OutboxMessage).values(attempts=9, next_attempt_at=start + timedelta(hours=6)))
    # This one was refused by the server, not kept from it by a connection failure.
    db.session.execute(db.update(OutboxMessage).where(OutboxMessage.id == refused).values(server_unreachable=False))
    db.session.commit()
    assert _message(waiting).server_unreachable is True

    deliver_outbox(start + timedelta(seconds=10))  # still down: the probe fails, nothing changes
    assert _message(waiting).next_attempt_at == start + timedelta(hours=6)

    smtp_server.start()
    assert deliver_outbox(start + timedelta(seconds=20)) == 1  # the next sweep: probe, then send
    assert smtp_server.wait_for(1, 5) and smtp_server.recipients() == ["rep@example.com"]
    assert _message(waiting).state == "sent" and _message(waiting).server_unreachable is False
    assert _message(refused).next_attempt_at == start + timedelta(hours=6)  # its back-off stands


def test_sent_at_is_when_the_server_accepted_the_message_not_when_it_was_claimed(app, smtp_server):
    start = utcnow()
    message_id = _enqueue(key="alert:1", now=start)
    original = smtplib.SMTP.send_message

    def slow_send(self, msg, *args, **kwargs):
        time.sleep(1.2)  # a slow server, or messages ahead of it in the batch
        return original(self, msg, *args, **kwargs)

    with unittest.mock.patch.object(smtplib.SMTP, "send_message", slow_send):
        assert deliver_outbox(start) == 1
    message = _message(message_id)
    assert message.sent_at - start >= timedelta(seconds=1.2)
    assert message.sent_at - start < timedelta(seconds=30)


def test_the_migration_keeps_the_outbox_and_an_old_sending_row_is_sent_again_after_its_lease(tmp_path):
    """On a database of the release before, with messages in it (SQLite rebuilds the table)."""
    from flask_migrate import downgrade, upgrade
    from sqlalchemy import text

    from leadflow.mail.delivery import settle_interrupted
    from tests.databases import own_sqlite_app

    with own_sqlite_app(tmp_path, revision="c3e91a7d5b20"):
        with db.engine.begin() as conn:
            conn.execute(text(
                "INSERT INTO outbox_messages (id, to_address, kind, subject, text_body, idempotency_key, state, "
                "attempts, next_attempt_at, lease_until, created_at) VALUES "
                "(1, 'a@example.com', 'digest', 'Old, claimed', 'x', 'k1', 'sending', 0, '2026-01-01 09:00:00', "
                "'2026-01-01 09:05:00', '2026-01-01 09:00:00'), "
                "(2, 'b@example.com', 'digest', 'Waiting', 'x', 'k2', 'queued', 0, '2026-01-01 09:00:00', NULL, "
                "'2026-01-01 09:00:00')"))
        upgrade()
        # No scheduler is named on the old row, and its lease ran out long ago: nobody is at it.
        assert settle_interrupted(utcnow()) == (1, 0)
        db.session.commit()
        rows = db.session.execute(db.select(OutboxMessage.id, OutboxMessage.state, OutboxMessage.server_unreachable)
                                  .order_by(OutboxMessage.id)).all()
        assert rows == [(1, "queued", False), (2, "queued", False)]
        db.session.remove()
        downgrade(revision="c3e91a7d5b20")
        upgrade()
        assert db.session.scalar(db.select(db.func.count(OutboxMessage.id))) == 2
