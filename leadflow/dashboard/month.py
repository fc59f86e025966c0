"""The "This month" half of the home page: three figures, each with its last six months.

Months are the viewer's own (their time zone): the boundaries are computed here once, and
each figure is ONE grouped query that puts every row in its month with a CASE over those
boundaries, so the same SQL runs on SQLite and PostgreSQL. Money is summed per currency in
the database and made one total by ``governance.money.total_in_base``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, time, timezone
from decimal import Decimal

from sqlalchemy import and_, case, func, literal
from sqlalchemy.orm import aliased

from leadflow.accounts.zones import user_zone
from leadflow.extensions import db
from leadflow.governance.money import MoneyTotal, Rates, current_rates, total_in_base
from leadflow.leads.models import Lead
from leadflow.pipeline.models import Stage, StageChange

MONTHS = 6
PERCENT = Decimal("0.01")


def month_starts(zone, now: datetime, months: int = MONTHS) -> list[datetime]:
    """UTC instants of the first moment of each of the last ``months`` months in ``zone``
    (the current one last), then of the next month: ``months + 1`` boundaries."""
    local = now.astimezone(zone)
    year, month = local.year, local.month - (months - 1)
    starts = []
    for _ in range(months + 1):
        while month < 1:
            year, month = year - 1, month + 12
        while month > 12:
            year, month = year + 1, month - 12
        starts.append(datetime.combine(datetime(year, month, 1).date(), time.min, tzinfo=zone).astimezone(timezone.utc))
        month += 1
    return starts


def month_bucket(column, starts: list[datetime]):
    """0 … len(starts) - 2: which month ``column`` falls in (rows outside are filtered out)."""
    whens = [(column >= start, index) for index, start in reversed(list(enumerate(starts[:-1])))]
    return case(*whens, else_=-1)


def in_months(column, starts: list[datetime]):
    return and_(column >= starts[0], column < starts[-1])


def seconds_between(start, end):
    """``end - start`` in seconds, as SQL on either database."""
    if db.session.get_bind().dialect.name == "postgresql":
        return func.extract("epoch", end - start)
    return (func.julianday(end) - func.julianday(start)) * 86400.0


@dataclass(frozen=True)
class Figure:
    """One month figure: this month's value, last month's, and the six months for the chart."""

    current: object
    previous: object
    trend: list = field(default_factory=list)  # plain numbers, oldest first, for the sparkline


def _money_by_month(rows, months: int, rates: Rates) -> list[MoneyTotal]:
    """[(month, currency, leads with a value, sum of cents)] → a total per month."""
    amounts: list[dict] = [{} for _ in range(months)]
    for month, currency, leads, cents in rows:
        if 0 <= month < months:
            amounts[month][currency] = (leads, cents or 0)
    return [total_in_base(per_currency, rates) for per_currency in amounts]


def won(scope, starts: list[datetime], rates: Rates) -> tuple[Figure, Figure]:
    """Value and number of leads won per month: leads in a won stage now, entered in that
    month, owned by the people in view; leads in the trash are left out."""
    months = len(starts) - 1
    bucket = month_bucket(Lead.stage_entered_at, starts)
    won_stages = db.select(Stage.id).where(Stage.kind == "won")  # an IN list: the owner-and-stage index
    rows = db.session.execute(
        db.select(bucket, Lead.currency, func.count(Lead.id), func.count(Lead.value_cents), func.sum(Lead.value_cents))
        .where(Lead.stage_id.in_(won_stages), Lead.deleted_at.is_(None), scope.people(Lead.owner_id),
               in_months(Lead.stage_entered_at, starts))
        .group_by(bucket, Lead.currency)).all()
    counts = [0] * months
    for month, _currency, leads, _valued, _cents in rows:
        counts[month] += leads
    values = _money_by_month([(m, c, v, s) for m, c, _n, v, s in rows], months, rates)
    value = Figure(values[-1], values[-2], [float(t.cents) / 100 for t in values])
    count = Figure(counts[-1], counts[-2], counts)
    return value, count


def median_first_response(scope, starts: list[datetime]) -> Figure:
    """Median seconds from arrival to first response of the leads that arrived in each month
    and were answered (None for a month with none). ROW_NUMBER and COUNT over the month: the
    middle row, or the mean of the middle two; SQLite has no percentile function."""
    months = len(starts) - 1
    answered = (db.select(month_bucket(Lead.created_at, starts).label("month"),
                          seconds_between(Lead.created_at, Lead.first_response_at).label("took"))
                .where(Lead.deleted_at.is_(None), scope.people(Lead.owner_id), Lead.first_response_at.is_not(None),
                       in_months(Lead.created_at, starts))).subquery()
    ranked = db.select(
        answered.c.month, answered.c.took,
        func.row_number().over(partition_by=answered.c.month, order_by=answered.c.took).label("rn"),
        func.count().over(partition_by=answered.c.month).label("n")).subquery()
    rows = db.session.execute(
        db.select(ranked.c.month, func.avg(ranked.c.took))
        .where(ranked.c.rn >= (ranked.c.n + 1) // 2, ranked.c.rn <= (ranked.c.n + 2) // 2)
        .group_by(ranked.c.month)).all()
    medians: list[int | None] = [None] * months
    for month, seconds in rows:
        medians[month] = max(0, round(float(seconds)))  # whole seconds: julianday() is a float
    return Figure(medians[-1], medians[-2], medians)


def weighted_pipeline(scope, starts: list[datetime], now: datetime, rates: Rates) -> Figure:
    """Open value of the leads in view, each weighted by its stage's win probability, now and
    at the end of each earlier month.

    Now: one grouped sum over the open leads. Earlier: what each stage change since the first
    month added to the weighted value (its lead's value × (weight of the new stage − weight of
    the old); a lead's first change comes from no stage), summed per month in one query; the
    pipeline at the end of a month is today's minus what the later changes added. It reads
    each lead's current value and owner (a value or owner change is not in the history)."""
    months = len(starts) - 1
    live = (Lead.deleted_at.is_(None), scope.people(Lead.owner_id), Lead.value_cents.is_not(None))
    # Summed per stage and currency first (the owner-and-stage index covers it), then weighted.
    per_stage = (db.select(Lead.stage_id, Lead.currency, func.count(Lead.id).label("leads"),
                           func.sum(Lead.value_cents).label("cents"))
                 .where(Lead.stage_id.in_(db.select(Stage.id).where(Stage.kind == "open")), *live)
                 .group_by(Lead.stage_id, Lead.currency)).subquery()
    current = {currency: (leads, cents) for currency, leads, cents in db.session.execute(
        db.select(per_stage.c.currency, func.sum(per_stage.c.leads), func.sum(per_stage.c.cents * Stage.probability))
        .join(Stage, Stage.id == per_stage.c.stage_id).group_by(per_stage.c.currency))}
    to_stage, from_stage = aliased(Stage), aliased(Stage)

    def weight(stage):
        return func.coalesce(case((stage.kind == "open", stage.probability), else_=literal(0)), 0)

    bucket = month_bucket(StageChange.at, starts)
    added = db.session.execute(
        db.select(bucket, Lead.currency, func.count(StageChange.id),
                  func.sum(Lead.value_cents * (weight(to_stage) - weight(from_stage))))
        .join(Lead, Lead.id == StageChange.lead_id)
        .outerjoin(to_stage, to_stage.id == StageChange.to_stage_id)
        .outerjoin(from_stage, from_stage.id == StageChange.from_stage_id)
        .where(*live, StageChange.at >= starts[0], StageChange.at <= now)
        .group_by(bucket, Lead.currency)).all()
    per_month: list[dict[str, Decimal]] = [{} for _ in range(months)]
    for month, currency, _changes, cents in added:
        if 0 <= month < months:
            per_month[month][currency] = Decimal(cents or 0)
    # At the end of month k: now, minus what months k+1 … last added (per currency, six sums).
    currencies = set(current) | {currency for added_in in per_month for currency in added_in}
    totals = []
    for month in range(months):
        amounts = {}
        for currency in currencies:
            leads, cents = current.get(currency, (0, 0))
            later = sum((per_month[j].get(currency, Decimal(0)) for j in range(month + 1, months)), Decimal(0))
            amounts[currency] = (leads, Decimal(cents or 0) - later)
        totals.append(total_in_base(amounts, rates).scaled(PERCENT))
    return Figure(totals[-1], totals[-2], [float(t.cents) / 100 for t in totals])


def month_context(scope, viewer, now: datetime) -> dict:
    zone = user_zone(viewer)
    starts = month_starts(zone, now)
    rates = current_rates()
    won_value, won_count = won(scope, starts, rates)
    return {
        "won_value": won_value, "won_count": won_count,
        "response": median_first_response(scope, starts),
        "pipeline": weighted_pipeline(scope, starts, now, rates),
        "month_names": [start.astimezone(zone).strftime("%b %Y") for start in starts[:-1]],
        "base_currency": rates.base,
    }
