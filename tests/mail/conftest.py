"""A real SMTP server on loopback (aiosmtpd) that tests can stop and start again."""

from __future__ import annotations

import pytest

from leadflow.extensions import db
from leadflow.mail.models import OutboxMessage
from leadflow.mail.services import RenderedMail, enqueue_mail
from tests.servers import LoopbackSmtp

MAIL = RenderedMail(subject="Call Ada back", text_body="Ada is waiting.\nhttps://crm.example.com/leads/1",
                    html_body="<p>Ada is waiting.</p>")


def queue_message(key="task-due:1:2026-01-01T09:00:00+00:00", to="rep@example.com", now=None) -> int:
    """One message in the outbox, committed; its id."""
    message_id = enqueue_mail(to=to, kind="task_reminder", mail=MAIL, idempotency_key=key, now=now)
    db.session.commit()
    return message_id


def reloaded(message_id) -> OutboxMessage:
    """The message as the database has it now (what other sessions wrote included)."""
    db.session.expire_all()
    return db.session.get(OutboxMessage, message_id)


@pytest.fixture
def smtp_server(app):
    """A running loopback SMTP server, and the app configured to send through it."""
    server = LoopbackSmtp()
    server.start()
    # For another app on the same database (``make_app(**smtp_server.app_config)``).
    server.app_config = dict(SMTP_HOST="127.0.0.1", SMTP_PORT=server.port, SMTP_STARTTLS=False,
                             SMTP_USER=None, SMTP_PASSWORD=None, SMTP_TIMEOUT_SECONDS=5,
                             MAIL_FROM="LeadFlow <alerts@leadflow.example>", BASE_URL="https://crm.example.com")
    app.config.update(server.app_config)
    try:
        yield server
    finally:
        server.stop()
