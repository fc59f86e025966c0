"""What reports keep of their own: what an admin says each source cost per month, and the
monthly targets the forecast compares won value with."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import BigInteger, CheckConstraint, Date, ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from leadflow.db import UTCDateTime, partial_index, utcnow
from leadflow.extensions import db


class SourceCost(db.Model):
    """The cost of one lead source in one month (``month`` is the first day of it), in its
    own currency; the sources report divides it by the leads and customers the source brought."""

    __tablename__ = "source_costs"
    __table_args__ = (
        UniqueConstraint("source", "month", name="uq_source_costs_source_month"),
        CheckConstraint("amount_cents >= 0", name="amount_not_negative"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    source: Mapped[str] = mapped_column(String(40))
    month: Mapped[date] = mapped_column(Date)
    amount_cents: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    updated_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))


# One target a month for the whole workspace (no pipeline), and one a month per pipeline: two
# partial unique indexes, because a unique key over a NULL pipeline would let any number in.
TARGET_FOR_ALL = "pipeline_id IS NULL"
TARGET_FOR_PIPELINE = "pipeline_id IS NOT NULL"


class MonthlyTarget(db.Model):
    """The won value a team aims for in a month (``month`` is its first day), for every
    pipeline or one. ``amount_cents`` is in ``currency``, the base currency when it was set:
    the forecast converts it like any amount if the base has changed since."""

    __tablename__ = "monthly_targets"
    __table_args__ = (
        partial_index("uq_monthly_targets_month_all", "month", unique=True, where=TARGET_FOR_ALL),
        partial_index("uq_monthly_targets_month_pipeline", "month", "pipeline_id", unique=True,
                      where=TARGET_FOR_PIPELINE),
        CheckConstraint("amount_cents >= 0", name="amount_not_negative"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    month: Mapped[date] = mapped_column(Date)
    pipeline_id: Mapped[int | None] = mapped_column(ForeignKey("pipelines.id", ondelete="CASCADE"))
    amount_cents: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    set_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    set_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))

    pipeline = relationship("Pipeline")
    set_by = relationship("User")
