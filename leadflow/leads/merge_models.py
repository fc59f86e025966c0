"""Records of lead merges (so they can be undone) and of pairs people said are not duplicates."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, CheckConstraint, ForeignKey, Index, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from leadflow.db import UTCDateTime, utcnow
from leadflow.extensions import db


class LeadMerge(db.Model):
    """One merge: ``absorbed`` was folded into ``survivor``.

    ``survivor_before`` holds the survivor's field values before the merge and
    ``moved`` the ids of every row that changed hands (per table), so an undo
    restores exactly what the merge changed. While ``undone_at`` is empty the
    absorbed lead stays in the trash, marked as merged.
    """

    __tablename__ = "lead_merges"
    __table_args__ = (Index("ix_lead_merges_absorbed_undone", "absorbed_id", "undone_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    survivor_id: Mapped[int | None] = mapped_column(ForeignKey("leads.id", ondelete="SET NULL"), index=True)
    absorbed_id: Mapped[int | None] = mapped_column(ForeignKey("leads.id", ondelete="SET NULL"))
    survivor_before: Mapped[dict] = mapped_column(JSON)
    moved: Mapped[dict] = mapped_column(JSON)
    audit_entry_id: Mapped[int | None] = mapped_column(
        ForeignKey("audit_entries.id", ondelete="SET NULL"), index=True)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    merged_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    undone_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    undone_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))

    survivor = relationship("Lead", foreign_keys=[survivor_id])
    absorbed = relationship("Lead", foreign_keys=[absorbed_id])
    actor = relationship("User", foreign_keys=[actor_id])


class DuplicateDismissal(db.Model):
    """Someone looked at two leads and said they are different people: the queue hides the pair."""

    __tablename__ = "duplicate_dismissals"
    __table_args__ = (
        UniqueConstraint("lead_low_id", "lead_high_id", name="uq_duplicate_dismissals_pair"),
        CheckConstraint("lead_low_id < lead_high_id", name="ordered_pair"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    lead_low_id: Mapped[int] = mapped_column(ForeignKey("leads.id", ondelete="CASCADE"))
    lead_high_id: Mapped[int] = mapped_column(ForeignKey("leads.id", ondelete="CASCADE"), index=True)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
