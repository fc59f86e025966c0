"""Kept figures of closed months: read back when there, worked out once when not.

A month is closed once the viewer's next month has begun; its won leads, median first
response and open pipeline at its end are then kept in ``monthly_figures`` for the scope (a
person, a team, everyone) and time zone, so a home page reads five small rows instead of
months of leads. The first page that needs a month works out every closed month at once
(the grouped queries of ``dashboard.month``) and adds the missing rows with ``INSERT … ON
CONFLICT DO NOTHING``: two pages doing it at once leave one row each, and both show the row
that was kept.

What the kept figures mean: leads won in the month that were still won, live and owned by
the scope's people when the month was first kept; the open pipeline at the month's end as
worked out then from the stage history (from each lead's value and owner at that time). A
later change to an old lead does not rewrite a closed month.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import literal_column, null, union_all

from leadflow.dashboard.models import MonthlyFigures
from leadflow.dashboard.month import (
    MonthAmounts, closed_months, current_month_from, current_month_parts,
)
from leadflow.db import dialect_insert
from leadflow.extensions import db

SCOPE_KINDS = {"me": "person", "team": "team", "all": "everyone"}
UNIQUE_KEY = ["scope_kind", "scope_id", "zone", "month"]


def scope_key(scope) -> tuple[str, int]:
    """(kind, id) of whose figures ``scope`` shows: the viewer's, their team's or everyone's."""
    if scope.view == "team":
        return "team", scope.team_id
    if scope.view == "all":
        return "everyone", 0
    return "person", scope.viewer_id


def zone_name(zone) -> str:
    return getattr(zone, "key", None) or str(zone)


def _amounts(row: MonthlyFigures) -> MonthAmounts:
    return _month_amounts(row.won_count, row.won, row.response_seconds, row.pipeline)


def _month_amounts(won_count: int, won: dict, response_seconds: int | None, pipeline: dict) -> MonthAmounts:
    """A kept month's figures from its columns (JSON keeps the amounts as lists)."""
    return MonthAmounts(won_count, {c: tuple(v) for c, v in won.items()}, response_seconds,
                        {c: tuple(v) for c, v in pipeline.items()})


def _where(kind: str, scope_id: int, zone: str, months: list[date]) -> tuple:
    return (MonthlyFigures.scope_kind == kind, MonthlyFigures.scope_id == scope_id, MonthlyFigures.zone == zone,
            MonthlyFigures.month.in_(months))


def _read(kind: str, scope_id: int, zone: str, months: list[date]) -> dict[date, MonthlyFigures]:
    rows = db.session.scalars(db.select(MonthlyFigures).where(*_where(kind, scope_id, zone, months)))
    return {row.month: row for row in rows}


def keep(kind: str, scope_id: int, zone: str, figures: dict[date, MonthAmounts], at: datetime) -> None:
    """Add a row per month of ``figures``; a month kept already (by another page meanwhile)
    keeps its row. Committed at once: a kept month is a fact, not part of the request."""
    rows = [{"scope_kind": kind, "scope_id": scope_id, "zone": zone, "month": month,
             "won_count": amounts.won_count, "won": {c: list(v) for c, v in amounts.won.items()},
             "response_seconds": amounts.response_seconds,
             "pipeline": {c: list(v) for c, v in amounts.pipeline.items()}, "computed_at": at}
            for month, amounts in figures.items()]
    insert = dialect_insert(db.session.get_bind().dialect.name)
    db.session.execute(insert(MonthlyFigures).values(rows).on_conflict_do_nothing(index_elements=UNIQUE_KEY))
    db.session.commit()


def keep_missing(scope, zone, starts: list[datetime], now: datetime) -> tuple[list[date], dict[date, MonthlyFigures], int]:
    """The closed months of ``starts`` (all but the last, current one) and their kept rows,
    after working out and keeping any that are missing; and how many were missing."""
    kind, scope_id = scope_key(scope)
    name = zone_name(zone)
    months = [start.astimezone(zone).date() for start in starts[:-2]]
    kept = _read(kind, scope_id, name, months)
    missing = len(months) - len(kept)
    if missing:
        worked_out = dict(zip(months, closed_months(scope, starts, now)))
        keep(kind, scope_id, name, {m: a for m, a in worked_out.items() if m not in kept}, now)
        kept = _read(kind, scope_id, name, months)
    return months, kept, missing


def kept_months(scope, zone, starts: list[datetime], now: datetime) -> list[MonthAmounts]:
    """The figures of the closed months of ``starts``, oldest first: the kept rows, after
    working out and keeping any that are missing (``dashboard.jobs`` keeps them for the home
    page's scopes soon after a month starts, so a viewer seldom does)."""
    months, kept, _missing = keep_missing(scope, zone, starts, now)
    return [_amounts(kept[month]) for month in months]


KEPT = 3  # the kept months' part of ``months_with_this_one``'s statement


def months_with_this_one(scope, zone, starts: list[datetime], now: datetime) -> list[MonthAmounts]:
    """Every month of ``starts``, oldest first: the kept closed months and the current one
    counted live (``month.current_month``), read in one statement, its parts and the kept
    rows one ``UNION ALL`` (on PostgreSQL a statement is a round trip, a good part of this
    page). A closed month not kept yet is worked out and kept (``keep_missing``) after it."""
    kind, scope_id = scope_key(scope)
    months = [start.astimezone(zone).date() for start in starts[:-2]]
    none = null()
    kept_rows = db.select(literal_column(str(KEPT)), *[none] * 2, MonthlyFigures.won_count,
                          MonthlyFigures.response_seconds, *[none] * 2, MonthlyFigures.month, MonthlyFigures.won,
                          MonthlyFigures.pipeline).where(*_where(kind, scope_id, zone_name(zone), months))
    parts = current_month_parts(scope, starts) + [kept_rows]
    rows = db.session.execute(union_all(*parts)).all()
    kept = {row[7]: _month_amounts(row[3], row[8], row[4], row[9]) for row in rows if row[0] == KEPT}
    current = current_month_from(scope, [row for row in rows if row[0] != KEPT])
    if len(kept) < len(months):
        return kept_months(scope, zone, starts, now) + [current]
    return [kept[month] for month in months] + [current]
