"""Nurture e-mail: templates, sequences of steps, and the leads enrolled in them.

``Enrollment.next_run_at`` is when the enrolment's current step is due; the sequence sweep
claims due rows with a lease (``lease_until``) and runs one step per claim, so a step runs
once however many schedulers run and however long the app was down.
``SequenceMessage`` is one e-mail a step sent: what the open pixel and click links point at.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from leadflow.db import UTCDateTime, utcnow
from leadflow.extensions import db

STEP_KINDS = ("send", "wait", "task")
STEP_KIND_LABELS = {"send": "Send e-mail", "wait": "Wait", "task": "Create task for owner"}
WAIT_UNITS = ("days", "hours")
ENROLLMENT_STATES = ("active", "completed", "exited")
EXIT_REASONS = {
    "replied": "Replied",
    "stage_changed": "Stage changed",
    "score_reached": "Score reached",
    "unsubscribed": "Unsubscribed",
    "no_consent": "No marketing consent",
    "won_lost": "Won or lost",
    "lead_deleted": "Lead deleted",
    "no_email": "No e-mail address",
    "stopped": "Stopped by hand",
    "template_broken": "Its e-mail template cannot be rendered",
}


class EmailTemplate(db.Model):
    __tablename__ = "email_templates"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(120))
    subject: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text, default="")
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class Sequence(db.Model):
    __tablename__ = "sequences"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(120))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    # Exit triggers (an unsubscribe or lost consent always ends an enrolment).
    exit_on_reply: Mapped[bool] = mapped_column(Boolean, default=True)
    exit_on_stage_change: Mapped[bool] = mapped_column(Boolean, default=False)
    exit_on_won_lost: Mapped[bool] = mapped_column(Boolean, default=True)
    exit_score_at_least: Mapped[int | None] = mapped_column(Integer)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    steps: Mapped[list[SequenceStep]] = relationship(
        back_populates="sequence", order_by="SequenceStep.position", cascade="all, delete-orphan")


class SequenceStep(db.Model):
    __tablename__ = "sequence_steps"

    id: Mapped[int] = mapped_column(primary_key=True)
    sequence_id: Mapped[int] = mapped_column(ForeignKey("sequences.id", ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column(Integer, default=0)
    kind: Mapped[str] = mapped_column(String(8))
    template_id: Mapped[int | None] = mapped_column(ForeignKey("email_templates.id", ondelete="SET NULL"))
    wait_amount: Mapped[int | None] = mapped_column(Integer)
    wait_unit: Mapped[str | None] = mapped_column(String(8))
    task_title: Mapped[str | None] = mapped_column(String(200))

    sequence: Mapped[Sequence] = relationship(back_populates="steps")
    template = relationship("EmailTemplate")

    @property
    def summary(self) -> str:
        if self.kind == "send":
            return f"Send “{self.template.name}”" if self.template else "Send (template deleted: skipped)"
        if self.kind == "wait":
            return f"Wait {self.wait_amount} {self.wait_unit}"
        return f"Task for owner: {self.task_title}"


class Enrollment(db.Model):
    __tablename__ = "enrollments"
    __table_args__ = (
        # active_flag is True while active and NULL afterwards: one active enrolment per lead
        # per sequence, any number of finished ones (NULLs never collide).
        UniqueConstraint("sequence_id", "lead_id", "active_flag", name="uq_enrollments_active"),
        Index("ix_enrollments_due", "state", "next_run_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    sequence_id: Mapped[int] = mapped_column(ForeignKey("sequences.id", ondelete="CASCADE"))
    lead_id: Mapped[int] = mapped_column(ForeignKey("leads.id", ondelete="CASCADE"), index=True)
    state: Mapped[str] = mapped_column(String(12), default="active")
    active_flag: Mapped[bool | None] = mapped_column(Boolean, default=True)
    step_index: Mapped[int] = mapped_column(Integer, default=0)
    next_run_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    exit_reason: Mapped[str | None] = mapped_column(String(24))
    enrolled_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    enrolled_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    sequence: Mapped[Sequence] = relationship()
    lead = relationship("Lead")

    @property
    def exit_label(self) -> str:
        return EXIT_REASONS.get(self.exit_reason or "", self.exit_reason or "")


class SequenceMessage(db.Model):
    __tablename__ = "sequence_messages"
    __table_args__ = (UniqueConstraint("enrollment_id", "step_index", name="uq_sequence_messages_step"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    enrollment_id: Mapped[int] = mapped_column(ForeignKey("enrollments.id", ondelete="CASCADE"))
    lead_id: Mapped[int] = mapped_column(ForeignKey("leads.id", ondelete="CASCADE"), index=True)
    step_index: Mapped[int] = mapped_column(Integer)
    subject: Mapped[str] = mapped_column(String(255))
    sent_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    opened_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    clicked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
