"""What the home page keeps: the figures of closed months ("This month"'s sparklines).

A closed month's figures are facts of that month: worked out once, the first time a home page
needs them, and read back after (``dashboard.kept``). One row per whose figures (a person, a
team, everyone), month and time zone (a month starts at the viewer's midnight): the database
keeps that unique, so two requests working out the same month at once leave one row.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import JSON, Date, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from leadflow.db import UTCDateTime, utcnow
from leadflow.extensions import db


class MonthlyFigures(db.Model):
    """One closed month's figures for one scope. Money is kept per currency (converted to the
    base currency when shown, as the live month is): ``won`` {currency: [leads with a value,
    cents]}, ``pipeline`` {currency: [leads, cents × win probability in percent]}."""

    __tablename__ = "monthly_figures"
    __table_args__ = (
        UniqueConstraint("scope_kind", "scope_id", "zone", "month", name="uq_monthly_figures_scope_zone_month"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    scope_kind: Mapped[str] = mapped_column(String(8))  # person | team | everyone
    scope_id: Mapped[int] = mapped_column(Integer)  # the user's or team's id; 0 for everyone
    zone: Mapped[str] = mapped_column(String(64))  # the time zone the month's bounds are in
    month: Mapped[date] = mapped_column(Date)  # its first day, in that zone
    won_count: Mapped[int] = mapped_column(Integer)
    won: Mapped[dict] = mapped_column(JSON)
    response_seconds: Mapped[int | None] = mapped_column(Integer)  # the median; None: none answered
    pipeline: Mapped[dict] = mapped_column(JSON)  # open pipeline at the month's end
    computed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
