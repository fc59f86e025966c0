"""What the app sends, and what is due to be sent.

``OutboxMessage``: every e-mail is a row first; the delivery sweep sends it. (What is due
to be sent lives with its area: ``leads.alert_models.LeadAlert``, the alerts for new leads;
``activities.models.DigestSchedule``, each user's next morning digest.)

Each due row carries a lease (``lease_until``): a sweep claims rows by setting it, so
several schedulers never work on the same row, and a crashed one's rows come back when
the lease runs out. Outbox rows also name their claimant (``claimed_by``, a scheduler's
heartbeat row): when its heartbeat stops, another scheduler takes the rows over
at once instead of waiting for the lease.
"""

from __future__ import annotations

import hashlib
from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from leadflow.db import UTCDateTime, utcnow
from leadflow.extensions import db

MAIL_KINDS = ("task_reminder", "new_lead_alert", "speed_to_lead", "escalation", "digest", "sequence", "workflow_notice", "workflow_email")
MAIL_KIND_LABELS = {
    "task_reminder": "Task reminder", "new_lead_alert": "New lead alert", "speed_to_lead": "Speed-to-lead alert",
    "escalation": "Escalation", "digest": "Morning digest",
    "workflow_notice": "Workflow notice", "workflow_email": "Workflow e-mail", "sequence": "Nurture sequence",
}

# queued: waits for its next attempt (a sweep claims it with a lease, the state stays);
# sending: an attempt (``attempt_id``) is talking to the SMTP server right now, or stopped
# before it could record the outcome; if its scheduler died, the next sweep queues it again
# (same Message-ID); sent: the SMTP server accepted it; failing: the last attempt failed for
# sure, retried with back-off, never dropped; held: no SMTP server is configured, kept here
# until one is; unknown: the server may have the message but LeadFlow could not confirm it
# (the connection broke while the server was answering, or the attempt outlived its lease
# while its scheduler still ran): an admin checks, then sends it again or marks it sent
# (see docs/RELIABILITY.md, "E-mail delivery").
MAIL_STATES = ("queued", "sending", "sent", "failing", "held", "unknown")
MAIL_STATE_LABELS = {
    "queued": "Queued", "sending": "Sending", "sent": "Sent", "failing": "Failing, will retry",
    "held": "Held (no mail server)", "unknown": "Not confirmed, check before resending",
}

ALERT_KINDS = ("speed_to_lead", "escalation")


class OutboxMessage(db.Model):
    __tablename__ = "outbox_messages"
    __table_args__ = (
        Index("ix_outbox_messages_state_due", "state", "next_attempt_at"),
        Index("ix_outbox_messages_created", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    to_address: Mapped[str] = mapped_column(String(254))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    lead_id: Mapped[int | None] = mapped_column(ForeignKey("leads.id", ondelete="SET NULL"))
    kind: Mapped[str] = mapped_column(String(32))
    subject: Mapped[str] = mapped_column(String(255))
    text_body: Mapped[str] = mapped_column(Text)
    html_body: Mapped[str | None] = mapped_column(Text)
    list_unsubscribe: Mapped[str | None] = mapped_column(String(2000))  # marketing mail: one-click opt-out URL
    # The database keeps one message per key: enqueueing the same key again does nothing.
    idempotency_key: Mapped[str] = mapped_column(String(200), unique=True)
    state: Mapped[str] = mapped_column(String(16), default="queued")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    claimed_by: Mapped[str | None] = mapped_column(String(64))  # the scheduler holding the lease (leadflow.scheduler.heartbeat)
    # The attempt that talks to the SMTP server, recorded (committed) before it does.
    attempt_id: Mapped[str | None] = mapped_column(String(32))
    attempt_started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The last attempt could not reach the server: a probe that reaches it makes the message due at once.
    server_unreachable: Mapped[bool] = mapped_column(Boolean, default=False)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # when the SMTP server accepted it
    last_error: Mapped[str | None] = mapped_column(String(1000))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    user = relationship("User")
    lead = relationship("Lead")

    def message_id(self, domain: str) -> str:
        """The Message-ID header: the same for every attempt, so a resend after a crash
        mid-send is recognisable as the same message."""
        digest = hashlib.sha256(self.idempotency_key.encode()).hexdigest()[:16]
        return f"<outbox-{self.id}.{digest}@{domain}>"

    @property
    def state_label(self) -> str:
        return MAIL_STATE_LABELS.get(self.state, self.state)

    @property
    def kind_label(self) -> str:
        return MAIL_KIND_LABELS.get(self.kind, self.kind)
