from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import BigInteger, CheckConstraint, Date, ForeignKey, Index, String, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from leadflow.db import UTCDateTime, utcnow
from leadflow.extensions import db

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
        Index("uq_monthly_targets_month_all", "month", unique=True,
              sqlite_where=text(TARGET_FOR_ALL), postgresql_where=text(TARGET_FOR_ALL)),
        Index("uq_monthly_targets_month_pipeline", "month", "pipeline_id", unique=True,
              sqlite_where=text(TARGET_FOR_PIPELINE), postgresql_where=text(TARGET_FOR_PIPELINE)),
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
