"""Scoring rules and the background job that rescores every lead after they change."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from leadflow.db import UTCDateTime, utcnow
from leadflow.extensions import db

CATEGORIES = ("fit", "engagement", "inactivity")
CATEGORY_LABELS = {
    "fit": "Fit (a lead field)",
    "engagement": "Engagement (activities)",
    "inactivity": "No activity for a number of days",
}
FIELDS = ("title", "size_band", "country", "source", "lifecycle", "value", "email_domain", "tags", "custom")
FIELD_LABELS = {
    "title": "Job title", "size_band": "Organization size band", "country": "Country", "source": "Source",
    "lifecycle": "Lifecycle stage", "value": "Deal value", "email_domain": "E-mail domain", "tags": "Tags",
    "custom": "Custom field",
}
OPERATORS = ("contains", "equals", "in", "gte", "lte", "is_set")
OPERATOR_LABELS = {
    "contains": "contains", "equals": "equals", "in": "is one of (comma-separated)",
    "gte": "is at least", "lte": "is at most", "is_set": "is filled in",
}
NUMERIC_OPERATORS = ("gte", "lte")


class ScoringRule(db.Model):
    """One rule of the lead score.

    * ``fit``: ``points`` when the lead's ``field`` (``custom_key`` for a custom field)
      matches ``operator`` and ``value``.
    * ``engagement``: ``points`` for each activity of ``activity_kind`` (whose subject or
      details contain ``contains``, when set), up to ``cap`` in total.
    * ``inactivity``: ``points`` (usually negative) when the lead has had no activity for
      ``days`` days.
    """

    __tablename__ = "scoring_rules"
    __table_args__ = (Index("ix_scoring_rules_active_position", "active", "position"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(120))
    category: Mapped[str] = mapped_column(String(12), default="fit")
    active: Mapped[bool] = mapped_column(default=True)
    points: Mapped[int] = mapped_column(Integer, default=0)
    position: Mapped[int] = mapped_column(Integer, default=0)
    field: Mapped[str | None] = mapped_column(String(16))
    custom_key: Mapped[str | None] = mapped_column(String(64))
    operator: Mapped[str | None] = mapped_column(String(8))
    value: Mapped[str | None] = mapped_column(Text)
    activity_kind: Mapped[str | None] = mapped_column(String(24))
    contains: Mapped[str | None] = mapped_column(String(200))
    cap: Mapped[int | None] = mapped_column(Integer)
    days: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


JOB_STATUSES = ("queued", "running", "done", "failed")
ACTIVE_JOB_STATUSES = ("queued", "running")


class RescoreJob(db.Model):
    """Rescoring every live lead, in batches by id, under a lease.

    ``last_lead_id`` is the cursor: each batch commits its leads' new scores with the new
    cursor, so a job whose worker died goes on after the last committed batch. ``dedupe_key``
    keeps the daily time-based rescore to one job a day however many schedulers run.
    """

    __tablename__ = "rescore_jobs"
    __table_args__ = (Index("ix_rescore_jobs_status_lease", "status", "lease_until"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    reason: Mapped[str] = mapped_column(String(12), default="rules")  # rules | daily
    dedupe_key: Mapped[str | None] = mapped_column(String(40), unique=True)
    status: Mapped[str] = mapped_column(String(8), default="queued")
    total: Mapped[int] = mapped_column(Integer, default=0)
    done: Mapped[int] = mapped_column(Integer, default=0)
    changed: Mapped[int] = mapped_column(Integer, default=0)
    last_lead_id: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(Text)
    lease_owner: Mapped[str | None] = mapped_column(String(64))
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    created_by = relationship("User")

    @property
    def is_active(self) -> bool:
        return self.status in ACTIVE_JOB_STATUSES

    @property
    def percent(self) -> int:
        if self.status == "done":
            return 100
        return min(100, int(self.done * 100 / self.total)) if self.total else 0
