"""The outbox: one message per idempotency key, delivery over a real SMTP server on loopback,
held mail without a server, back-off while the server is down (each row once, and after a crash: test_delivery_once.py)."""

from __future__ import annotations

import smtplib
from datetime import timedelta

import pytest

from leadflow.db import utcnow
from leadflow.extensions import db
from leadflow.mail.delivery import BACKOFF_CAP_SECONDS, backoff_seconds, deliver_outbox
from leadflow.mail.models import OutboxMessage
from leadflow.mail.services import enqueue_mail, retry_now
from tests.mail.conftest import MAIL
from tests.mail.conftest import queue_message as _enqueue
from tests.mail.conftest import reloaded as _message

def test_the_same_key_queues_one_message_and_the_callers_transaction_goes_on(app, make_user):
    first = enqueue_mail(to="rep@example.com", kind="task_reminder", mail=MAIL, idempotency_key="k-1")
    again = enqueue_mail(to="rep@example.com", kind="task_reminder", mail=MAIL, idempotency_key="k-1")
    user = make_user(role="rep")  # the transaction is still usable after the duplicate
    db.session.commit()
    assert first is not None and again is None
    assert db.session.scalar(db.select(db.func.count(OutboxMessage.id))) == 1
    assert user.id is not None


def test_a_recipient_without_an_address_is_refused(app):
    from leadflow.errors import ValidationFailed

    for bad in ("", "no-at-sign", "rep@example.com\r\nBcc: all@example.com"):
        with pytest.raises(ValidationFailed):
            enqueue_mail(to=bad, kind="task_reminder", mail=MAIL, idempotency_key="k-2")


def test_without_a_mail_server_messages_are_held_then_sent_once_one_is_configured(app, smtp_server):
    app.config["SMTP_HOST"] = None
    message_id = _enqueue()
    assert _message(message_id).state == "held"
    assert deliver_outbox(utcnow()) == 0
    assert _message(message_id).state == "held" and smtp_server.messages == []

    app.config["SMTP_HOST"] = "127.0.0.1"  # an admin sets SMTP up later
    assert deliver_outbox(utcnow()) == 1
    message = _message(message_id)
    assert message.state == "sent" and message.attempts == 1 and message.sent_at is not None
    assert smtp_server.wait_for(1, 5) and smtp_server.recipients() == ["rep@example.com"]


def test_a_sent_message_has_text_and_html_parts_and_a_message_id_from_its_row(app, smtp_server):
    message_id = _enqueue()
    deliver_outbox(utcnow())
    smtp_server.wait_for(1, 5)
    received = smtp_server.messages[0]
    message = _message(message_id)
    assert received["Subject"] == "Call Ada back"
    assert received["From"] == "LeadFlow <alerts@leadflow.example>"
    assert received["Message-ID"] == message.message_id("leadflow.example")
    assert received["Message-ID"].startswith(f"<outbox-{message_id}.")
    assert received.get_body(("plain",)).get_content().startswith("Ada is waiting.")
    assert "<p>Ada is waiting.</p>" in received.get_body(("html",)).get_content()


def test_with_smtp_down_the_message_waits_backs_off_and_goes_out_once_smtp_returns(app, smtp_server):
    smtp_server.stop()
    start = utcnow()
    message_id = _enqueue(now=start)

    assert deliver_outbox(start) == 0
    message = _message(message_id)
    assert (message.state, message.attempts) == ("failing", 1)
    assert message.next_attempt_at == start + timedelta(seconds=60)
    assert "Connection refused" in message.last_error or "Errno" in message.last_error

    deliver_outbox(start + timedelta(seconds=30))  # not due again yet: no attempt
    assert _message(message_id).attempts == 1
    deliver_outbox(start + timedelta(seconds=61))
    message = _message(message_id)
    assert (message.state, message.attempts) == ("failing", 2)
    assert message.next_attempt_at == start + timedelta(seconds=61 + 120)

    smtp_server.start()
    assert deliver_outbox(start + timedelta(minutes=10)) == 1
    assert _message(message_id).state == "sent"
    assert smtp_server.wait_for(1, 5)
    deliver_outbox(start + timedelta(hours=1))
    assert len(smtp_server.messages) == 1


def test_back_off_doubles_up_to_a_cap_and_a_message_is_never_dropped(app, smtp_server):
    assert [backoff_seconds(n) for n in (1, 2, 3, 4)] == [60, 120, 240, 480]
    assert backoff_seconds(200) == BACKOFF_CAP_SECONDS
    message_id = _enqueue()
    message = _message(message_id)
    message.state, message.attempts, message.last_error = "failing", 75, "SMTPServerDisconnected: gone"
    db.session.commit()
    assert deliver_outbox(utcnow()) == 1
    assert (_message(message_id).state, _message(message_id).attempts) == ("sent", 76)


def test_the_error_shown_never_contains_the_smtp_password(app, smtp_server, monkeypatch):
    app.config.update(SMTP_USER="mailer", SMTP_PASSWORD="s3cret-pass-phrase")

    def refuse(self, user, password):
        raise smtplib.SMTPAuthenticationError(535, f"5.7.8 {user}/{password} rejected".encode())

    monkeypatch.setattr(smtplib.SMTP, "login", refuse)
    message_id = _enqueue()
    deliver_outbox(utcnow())
    message = _message(message_id)
    assert message.state == "failing"
    assert "rejected" in message.last_error and "s3cret-pass-phrase" not in message.last_error


def test_a_refused_recipient_fails_alone_and_the_rest_of_the_batch_goes_out(app, smtp_server):
    bad = _enqueue(key="k-bad", to="nobody@example.com")
    good = _enqueue(key="k-good", to="rep@example.com")
    original = smtplib.SMTP.send_message

    def send(self, msg, *args, **kwargs):
        if msg["To"] == "nobody@example.com":
            raise smtplib.SMTPRecipientsRefused({"nobody@example.com": (550, b"no such user")})
        return original(self, msg, *args, **kwargs)

    import unittest.mock

    with unittest.mock.patch.object(smtplib.SMTP, "send_message", send):
        assert deliver_outbox(utcnow()) == 1
    assert _message(bad).state == "failing" and "no such user" in _message(bad).last_error
    assert _message(good).state == "sent"


def test_retry_now_makes_a_failing_message_due_at_once(app, smtp_server):
    start = utcnow()
    message_id = _enqueue(now=start)
    message = _message(message_id)
    message.state, message.attempts, message.next_attempt_at = "failing", 5, start + timedelta(hours=2)
    db.session.commit()
    assert retry_now(_message(message_id), start) is True
    db.session.commit()
    assert deliver_outbox(start) == 1
    assert retry_now(_message(message_id), start) is False  # already sent: nothing to do


def test_a_malformed_message_fails_alone_and_does_not_hold_up_the_others(app, smtp_server):
    bad = _enqueue(key="k-malformed")
    good = _enqueue(key="k-fine", to="rep@example.com")
    _message(bad).to_address = "broken\r\nBcc: everyone@example.com"  # enqueue_mail refuses such; rows written otherwise
    db.session.commit()
    assert deliver_outbox(utcnow()) == 1
    assert _message(bad).state == "failing" and _message(good).state == "sent"
    assert smtp_server.wait_for(1, 5) and smtp_server.recipients() == ["rep@example.com"]
