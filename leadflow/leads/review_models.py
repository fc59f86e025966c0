"""Values a public form submitted that differ from what a lead already holds, kept for its owner to review."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, CheckConstraint, ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from leadflow.db import UTCDateTime, utcnow
from leadflow.extensions import db

RESOLUTIONS = ("kept", "applied")


class LeadFieldReview(db.Model):
    """One submitted value waiting for "Keep current" or "Use new".

    ``field`` is a lead field (``phone``), ``custom:<key>`` for a custom field, or
    ``marketing_consent`` for consent given again after a withdrawal. ``open_flag`` is True
    while open and NULL once resolved, so the database keeps one open review per lead, field
    and submitted value (``value_key``, a digest of the value) and any number of resolved ones.
    """

    __tablename__ = "lead_field_reviews"
    __table_args__ = (
        UniqueConstraint("lead_id", "field", "value_key", "open_flag", name="uq_lead_field_reviews_open"),
        CheckConstraint("resolution IS NULL OR resolution IN ('kept', 'applied')", name="resolution"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    lead_id: Mapped[int] = mapped_column(ForeignKey("leads.id", ondelete="CASCADE"))
    field: Mapped[str] = mapped_column(String(80))
    submitted_value: Mapped[str] = mapped_column(Text)
    value_key: Mapped[str] = mapped_column(String(64))
    current_value: Mapped[str | None] = mapped_column(Text)
    source: Mapped[str] = mapped_column(String(200))
    activity_id: Mapped[int | None] = mapped_column(ForeignKey("activities.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    resolved_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    resolution: Mapped[str | None] = mapped_column(String(8))
    open_flag: Mapped[bool | None] = mapped_column(Boolean, default=True)

    lead = relationship("Lead")
    activity = relationship("Activity")
    resolved_by = relationship("User")

    @property
    def is_open(self) -> bool:
        return self.resolved_at is None
