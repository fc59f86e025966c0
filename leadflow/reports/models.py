"""What reports keep of their own: what an admin says each source cost per month."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import BigInteger, CheckConstraint, Date, ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from leadflow.db import UTCDateTime, utcnow
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
