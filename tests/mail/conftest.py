"""A real SMTP server on loopback (aiosmtpd) that tests can stop and start again."""

from __future__ import annotations

import threading
import time
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default as default_policy

import pytest

from leadflow.extensions import db
from leadflow.mail.models import OutboxMessage
from leadflow.mail.services import RenderedMail, enqueue_mail
from tests.servers import free_port

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


class _Recorder:
    def __init__(self):
        self.received: list[tuple[list[str], EmailMessage, float]] = []
        self.lock = threading.Lock()
        self.arrived = threading.Condition(self.lock)

    async def handle_DATA(self, server, session, envelope):
        message = message_from_bytes(envelope.content, policy=default_policy)
        with self.arrived:
            self.received.append((list(envelope.rcpt_tos), message, time.monotonic()))
            self.arrived.notify_all()
        return "250 Message accepted for delivery"


class LoopbackSmtp:
    """``messages`` are what the server accepted; ``stop()`` makes it refuse connections
    (SMTP down), ``start()`` brings it back on the same port."""

    def __init__(self):
        self.port = free_port()
        self.recorder = _Recorder()
        self.controller = None

    def start(self) -> None:
        from aiosmtpd.controller import Controller

        self.controller = Controller(self.recorder, hostname="127.0.0.1", port=self.port)
        self.controller.start()

    def stop(self) -> None:
        if self.controller is not None:
            self.controller.stop()
            self.controller = None

    @property
    def messages(self) -> list[EmailMessage]:
        with self.recorder.lock:
            return [message for _, message, _ in self.recorder.received]

    def recipients(self) -> list[str]:
        with self.recorder.lock:
            return [to for tos, _, _ in self.recorder.received for to in tos]

    def wait_for(self, count: int, timeout: float) -> float | None:
        """Wait until ``count`` messages arrived; the monotonic time the last one came, or None."""
        deadline = time.monotonic() + timeout
        with self.recorder.arrived:
            while len(self.recorder.received) < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                self.recorder.arrived.wait(left)
            return self.recorder.received[count - 1][2]


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
