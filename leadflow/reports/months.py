"""The calendar months of a report's period, as its reader counts them.

A month runs from its first day at 00:00 to the next month's first day in the reader's time
zone, clipped to the period (a period from 15 Sep to 10 Nov has three months, the first and the
last partial). ``month_key`` puts a stored moment in its month inside the database: a CASE over
the months' UTC bounds, so a deal won at 23:30 UTC on 30 Nov counts in December for a reader in
Berlin, on SQLite and PostgreSQL alike (SQLite knows no time zones).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone, tzinfo

from sqlalchemy import case, func, literal, null

from leadflow.db import UTCDateTime
from leadflow.extensions import db


@dataclass(frozen=True)
class Month:
    key: str  # "2026-11"
    label: str  # "Nov 2026"
    first_day: date  # the month's first day (not clipped)
    start_at: datetime  # UTC, clipped to the period
    end_at: datetime  # UTC, exclusive, clipped to the period


def _day_start(day: date, zone: tzinfo) -> datetime:
    return datetime.combine(day, time(), tzinfo=zone).astimezone(timezone.utc)


def next_month(day: date) -> date:
    return (day.replace(day=1) + timedelta(days=32)).replace(day=1)


def period_months(start: date, end: date, zone: tzinfo) -> list[Month]:
    """The months from ``start`` to ``end`` (both included) in ``zone``; none when end < start."""
    months: list[Month] = []
    if end < start:
        return months
    first = start.replace(day=1)
    while first <= end:
        following = next_month(first)
        months.append(Month(first.strftime("%Y-%m"), first.strftime("%b %Y"), first,
                            _day_start(max(first, start), zone),
                            _day_start(min(following, end + timedelta(days=1)), zone)))
        first = following
    return months


def month_key(column, months: list[Month]):
    """The key of the month ``column`` (a stored moment) falls in, NULL outside the months."""
    if not months:
        return null()
    whens = [(column < literal(m.end_at, UTCDateTime()), m.key) for m in months]
    return case((column < literal(months[0].start_at, UTCDateTime()), null()), *whens, else_=null())


def month_of_day(column):
    """"2026-11" for a date column (a close date has no time zone)."""
    if db.session.get_bind().dialect.name == "postgresql":
        return func.to_char(column, "YYYY-MM")
    return func.strftime("%Y-%m", column)
