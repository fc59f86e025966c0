from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from leadflow.db import UTCDateTime, utcnow
from leadflow.extensions import db

ACTIVITY_KINDS = (
    "call", "email", "meeting", "note", "form_submission", "website_visit",
    "stage_change", "assignment", "system",
    # Written by other areas as they arrive: merges, scoring, nurture e-mail, task events.
    "merge", "score_change", "sequence_email", "task_completed", "task_reopened",
    "email_opened", "email_clicked", "unsubscribed",
)
HUMAN_TOUCH_KINDS = ("call", "email", "meeting")
# What a person logs by hand on the lead page; every other kind is written by the app.
LOGGED_KINDS = ("call", "email", "meeting", "note")
# Label and icon of each kind on the timeline. The icon is decoration: the label is always shown.
KIND_LABELS = {
    "call": ("Call", "\N{TELEPHONE RECEIVER}"),
    "email": ("Email", "\N{ENVELOPE}"),
    "meeting": ("Meeting", "\N{BUSTS IN SILHOUETTE}"),
    "note": ("Note", "\N{MEMO}"),
    "form_submission": ("Form submission", "\N{CLIPBOARD}"),
    "website_visit": ("Website visit", "\N{GLOBE WITH MERIDIANS}"),
    "stage_change": ("Stage change", "\N{BLACK RIGHTWARDS ARROW}"),
    "assignment": ("Assignment", "\N{BUST IN SILHOUETTE}"),
    "system": ("System", "\N{GEAR}"),
    "merge": ("Merge", "\N{LINK SYMBOL}"),
    "score_change": ("Score change", "\N{CHART WITH UPWARDS TREND}"),
    "sequence_email": ("Sequence email", "\N{INCOMING ENVELOPE}"),
    "task_completed": ("Task done", "\N{HEAVY CHECK MARK}"),
    "task_reopened": ("Task reopened", "\N{ANTICLOCKWISE DOWNWARDS AND UPWARDS OPEN CIRCLE ARROWS}"),
    "email_opened": ("Email opened", "\N{OPEN MAILBOX WITH RAISED FLAG}"),
    "email_clicked": ("Email link clicked", "\N{LINK SYMBOL}"),
    "unsubscribed": ("Unsubscribed", "\N{NO ENTRY SIGN}"),
}
CALL_OUTCOMES = {
    "connected": "Connected", "left_voicemail": "Left voicemail", "no_answer": "No answer",
    "wrong_number": "Wrong number", "busy": "Busy",
}


def kind_label(kind: str) -> tuple[str, str]:
    """(label, icon) of a timeline kind; kinds this version does not know still read sensibly."""
    return KIND_LABELS.get(kind, (kind.replace("_", " ").capitalize(), "\N{BULLET}"))


class Activity(db.Model):
    """A timeline entry on a lead."""

    __tablename__ = "activities"
    __table_args__ = (Index("ix_activities_lead_occurred", "lead_id", "occurred_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    lead_id: Mapped[int] = mapped_column(ForeignKey("leads.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(24))
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    subject: Mapped[str | None] = mapped_column(String(200))
    body: Mapped[str | None] = mapped_column(Text)
    outcome: Mapped[str | None] = mapped_column(String(64))
    duration_seconds: Mapped[int | None] = mapped_column(Integer)
    details: Mapped[dict | None] = mapped_column(JSON(none_as_null=True))  # None is SQL NULL, not 'null'
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    actor = relationship("User")


TASK_KINDS = ("call", "email", "meeting", "todo")
TASK_KIND_LABELS = {"call": "Call", "email": "Email", "meeting": "Meeting", "todo": "To-do"}


class Task(db.Model):
    """A next step on a lead: what to do, by whom, by when.

    ``remind_at`` is when the due-reminder e-mail should go: the task service sets it
    to ``due_at`` on create, reschedule and reopen, and clears it on completion. The
    reminder sweep claims rows with ``remind_at <= now`` (taking a lease in
    ``reminder_lease_until``) and clears ``remind_at`` in the same transaction that
    queues the message, so each due time is reminded once.
    """

    __tablename__ = "tasks"
    __table_args__ = (
        Index("ix_tasks_assignee_open_due", "assignee_id", "done_at", "due_at"),
        Index("ix_tasks_lead_open_due", "lead_id", "done_at", "due_at"),
        Index("ix_tasks_remind_at", "remind_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    lead_id: Mapped[int] = mapped_column(ForeignKey("leads.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(16), default="todo")
    title: Mapped[str] = mapped_column(String(200))
    notes: Mapped[str | None] = mapped_column(Text)
    due_at: Mapped[datetime] = mapped_column(UTCDateTime)
    assignee_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    done_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    done_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    remind_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    reminder_lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    version: Mapped[int] = mapped_column(Integer, default=1)

    lead = relationship("Lead")
    assignee = relationship("User", foreign_keys=[assignee_id])
    created_by = relationship("User", foreign_keys=[created_by_id])

    __mapper_args__ = {"version_id_col": version}

    @property
    def is_done(self) -> bool:
        return self.done_at is not None


class CalendarFeed(db.Model):
    """A user's secret calendar address. Only the sha256 of the token is kept: the full
    address is shown once, when it is made, and a new one replaces (revokes) the old."""

    __tablename__ = "calendar_feeds"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), unique=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    user = relationship("User")


class DigestSchedule(db.Model):
    """When a user's next morning digest is due (their digest hour, in their time zone)."""

    __tablename__ = "digest_schedules"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    next_due_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_sent_on: Mapped[str | None] = mapped_column(String(10))  # the local date of the last digest
