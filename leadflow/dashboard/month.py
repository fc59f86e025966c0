"""The "This month" half of the home page: three figures, each with its last six months.

Months are the viewer's own (their time zone): the boundaries are computed here once. The
current month is counted live, from indexes that hold what it reads; the five closed months
before it are kept figures (``dashboard.kept``), worked out once by the grouped queries below
(each puts every row in its month with a CASE over the boundaries, so the same SQL runs on
SQLite and PostgreSQL). Money is summed per currency in the database and made one total by
``governance.money.total_in_base`` when shown.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, time, timezone
from decimal import Decimal

from sqlalchemy import JSON, Date, Float, Integer, and_, case, cast, func, literal, literal_column, null, union_all
from sqlalchemy.orm import aliased

from leadflow.extensions import db
from leadflow.governance.money import Rates, total_in_base
from leadflow.leads.models import Lead
from leadflow.pipeline.board import kept_currency_totals
from leadflow.pipeline.models import Stage, StageChange
from leadflow.pipeline.stages import open_stage_weights
from leadflow.pipeline.totals import live_currency_totals_query

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
    """``end - start`` in seconds, as SQL on either database (on PostgreSQL a double, from
    ``date_part``: ``EXTRACT`` gives a numeric, four times slower to sort a month of)."""
    if db.session.get_bind().dialect.name == "postgresql":
        return func.date_part("epoch", end - start)
    return (func.julianday(end) - func.julianday(start)) * 86400.0


@dataclass(frozen=True)
class Figure:
    """One month figure: this month's value, last month's, and the six months for the chart."""

    current: object
    previous: object
    trend: list = field(default_factory=list)  # plain numbers, oldest first, for the sparkline


@dataclass(frozen=True)
class MonthAmounts:
    """What one month's figures are made of, before money is converted: ``won`` and
    ``pipeline`` map a currency to (leads, cents); the pipeline's cents are × the win
    probability in percent."""

    won_count: int
    won: dict
    response_seconds: int | None
    pipeline: dict


def won_amounts(scope, starts: list[datetime]) -> tuple[list[int], list[dict]]:
    """Leads won per month and their value per currency ({currency: (leads with a value,
    cents)}): leads in a won stage now, entered in that month, owned by the people in view;
    leads in the trash are left out. ``ix_leads_won_entered`` holds every column read."""
    months = len(starts) - 1
    bucket = month_bucket(Lead.stage_entered_at, starts)
    won_stages = db.select(Stage.id).where(Stage.kind == "won")
    rows = db.session.execute(
        db.select(bucket, Lead.currency, func.count(Lead.id), func.count(Lead.value_cents), func.sum(Lead.value_cents))
        .where(Lead.stage_id.in_(won_stages), Lead.deleted_at.is_(None), scope.people(Lead.owner_id),
               in_months(Lead.stage_entered_at, starts))
        .group_by(bucket, Lead.currency)).all()
    counts = [0] * months
    amounts: list[dict] = [{} for _ in range(months)]
    for month, currency, leads, valued, cents in rows:
        if 0 <= month < months:
            counts[month] += leads
            amounts[month][currency] = (valued, int(cents or 0))
    return counts, amounts


def median_responses(scope, starts: list[datetime]) -> list[int | None]:
    """Median seconds from arrival to first response of the leads that arrived in each month
    and were answered (None for a month with none). ROW_NUMBER and COUNT over the month: the
    middle row, or the mean of the middle two; SQLite has no percentile function.
    ``ix_leads_live_created_response`` holds every column read."""
    months = len(starts) - 1
    bucket = month_bucket(Lead.created_at, starts)
    answered = (db.select(bucket.label("month"), seconds_between(Lead.created_at, Lead.first_response_at).label("took"))
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
        if 0 <= month < months:
            medians[month] = max(0, round(float(seconds)))  # whole seconds: julianday() is a float
    return medians


def _live(scope):
    return (Lead.deleted_at.is_(None), scope.people(Lead.owner_id), Lead.value_cents.is_not(None))


def _per_stage_query(scope, weights: dict):
    """A person's or a team's open leads summed per stage and currency, from
    ``ix_leads_owner_stage`` alone: (stage, currency, leads with a value, cents)."""
    return (db.select(Lead.stage_id, Lead.currency, func.count(Lead.id), func.sum(Lead.value_cents))
            .where(Lead.stage_id.in_(list(weights)), *_live(scope))
            .group_by(Lead.stage_id, Lead.currency))


def _weighted(per_stage, weights: dict) -> dict:
    amounts: dict[str, tuple[int, int]] = {}
    for stage_id, currency, leads, cents in per_stage:
        if leads:
            held, weighted = amounts.get(currency, (0, 0))
            amounts[currency] = (held + leads, weighted + int(cents or 0) * (weights[stage_id] or 0))
    return amounts


def open_pipeline_now(scope) -> dict:
    """{currency: (leads with a value, cents × probability)} of the open leads in view. For
    everyone: the board's kept per-stage-and-currency totals (a stage whose totals do not add
    up is counted from its leads, as the board does). For a person or a team: summed per stage
    and currency from ``ix_leads_owner_stage`` alone. Weighted per stage after."""
    weights = open_stage_weights()
    if scope.view == "all":
        rows, short = kept_currency_totals(list(weights))
        if short:
            rows += db.session.execute(live_currency_totals_query(short)).all()
        per_stage = [(stage_id, currency, valued, cents) for stage_id, currency, _n, valued, cents in rows]
    else:
        per_stage = db.session.execute(_per_stage_query(scope, weights)).all()
    return _weighted(per_stage, weights)


def pipeline_at_month_ends(scope, starts: list[datetime], now: datetime) -> list[dict]:
    """The weighted open pipeline ({currency: (leads, cents × probability)}) at the end of
    each month but the current one, worked out back from now: what each stage change since
    the first month added to the weighted value (its lead's value × (weight of the new stage
    − weight of the old); a lead's first change comes from no stage), summed per month in one
    query; the pipeline at the end of a month is now's minus what the later changes added.
    It reads each lead's current value and owner (a value or owner change is not in the
    history)."""
    months = len(starts) - 1
    current = open_pipeline_now(scope)
    to_stage, from_stage = aliased(Stage), aliased(Stage)

    def weight(stage):
        return func.coalesce(case((stage.kind == "open", stage.probability), else_=literal(0)), 0)

    bucket = month_bucket(StageChange.at, starts)
    added = db.session.execute(
        db.select(bucket, Lead.currency, func.sum(Lead.value_cents * (weight(to_stage) - weight(from_stage))))
        .join(Lead, Lead.id == StageChange.lead_id)
        .outerjoin(to_stage, to_stage.id == StageChange.to_stage_id)
        .outerjoin(from_stage, from_stage.id == StageChange.from_stage_id)
        .where(*_live(scope), StageChange.at >= starts[0], StageChange.at <= now)
        .group_by(bucket, Lead.currency)).all()
    per_month: list[dict[str, int]] = [{} for _ in range(months)]
    for month, currency, cents in added:
        if 0 <= month < months:
            per_month[month][currency] = int(cents or 0)
    currencies = set(current) | {currency for added_in in per_month for currency in added_in}
    ends = []
    for month in range(months - 1):
        amounts = {}
        for currency in currencies:
            leads, cents = current.get(currency, (0, 0))
            later = sum(per_month[j].get(currency, 0) for j in range(month + 1, months))
            amounts[currency] = (leads, cents - later)
        ends.append(amounts)
    return ends


def closed_months(scope, starts: list[datetime], now: datetime) -> list[MonthAmounts]:
    """The figures of every month of ``starts`` but the current (last) one: what is kept."""
    counts, won = won_amounts(scope, starts[:-1])
    medians = median_responses(scope, starts[:-1])
    pipelines = pipeline_at_month_ends(scope, starts, now)
    return [MonthAmounts(counts[i], won[i], medians[i], pipelines[i]) for i in range(len(starts) - 2)]


WON, RESPONSE, PIPELINE = 0, 1, 2  # the parts of ``current_month``'s statement
# What each part's rows hold, in order (a part selects NULL for what it has not):
# part, stage, currency, leads, valued, cents, seconds, then three more for ``dashboard.kept``
# (the month, its won and its pipeline).
PART_COLUMNS = 10


def current_month_parts(scope, starts: list[datetime]) -> list:
    """The parts of ``current_month``'s statement (``UNION ALL``), each of ``PART_COLUMNS``
    columns; the first types them for PostgreSQL (whose UNION cannot type a column of NULLs)
    and for SQLAlchemy's reading of the rows."""
    start, end = starts[-2:]
    none = null()
    typed = (cast(null(), Integer), cast(null(), Float), cast(null(), Date), cast(null(), JSON), cast(null(), JSON))
    no_stage, no_seconds, no_month, no_won, no_pipeline = typed
    won = (db.select(literal_column(str(WON)).label("part"), no_stage.label("stage_id"), Lead.currency,
                     func.count(Lead.id), func.count(Lead.value_cents), func.sum(Lead.value_cents), no_seconds,
                     no_month, no_won, no_pipeline)
           .where(Lead.stage_id.in_(db.select(Stage.id).where(Stage.kind == "won")), Lead.deleted_at.is_(None),
                  scope.people(Lead.owner_id), Lead.stage_entered_at >= start, Lead.stage_entered_at < end)
           .group_by(Lead.currency))
    answered = (Lead.deleted_at.is_(None), scope.people(Lead.owner_id), Lead.first_response_at.is_not(None),
                Lead.created_at >= start, Lead.created_at < end)
    counted = db.select(func.count().label("n")).select_from(Lead).where(*answered).cte("answered")
    took = seconds_between(Lead.created_at, Lead.first_response_at)
    middle = (db.select(took.label("took")).where(*answered).order_by(took)
              .offset(db.select((counted.c.n - 1) // 2).scalar_subquery())
              .limit(db.select(2 - counted.c.n % 2).scalar_subquery())).subquery()
    parts = [won, db.select(literal_column(str(RESPONSE)), *[none] * 5, func.avg(middle.c.took), *[none] * 3)]
    if scope.view != "all":
        per_stage = _per_stage_query(scope, open_stage_weights()).subquery()
        stage_id, currency, leads, cents = per_stage.c
        parts.append(db.select(literal_column(str(PIPELINE)), stage_id, currency, leads, none, cents, *[none] * 4))
    return parts


def current_month_from(scope, rows) -> MonthAmounts:
    """This month's figures from the rows of ``current_month_parts``."""
    won_count, won_cents, median, per_stage = 0, {}, None, []
    for part, stage_id, currency, leads, valued, cents, seconds, *_kept in rows:
        if part == WON:
            won_count += leads
            won_cents[currency] = (valued, int(cents or 0))
        elif part == RESPONSE:
            median = None if seconds is None else max(0, round(float(seconds)))
        elif part == PIPELINE:
            per_stage.append((stage_id, currency, leads, cents))
    pipeline = open_pipeline_now(scope) if scope.view == "all" else _weighted(per_stage, open_stage_weights())
    return MonthAmounts(won_count, won_cents, median, pipeline)


def current_month(scope, starts: list[datetime]) -> MonthAmounts:
    """This month's figures, counted live: the month's won leads and answered arrivals, and
    the open pipeline now. One statement (``UNION ALL``) reads the won leads per currency,
    the median first response and, for a person or a team, the open leads per stage and
    currency (everyone's pipeline is the board's kept totals, ``open_pipeline_now``); the
    home page adds the kept months to it (``dashboard.kept``): on PostgreSQL each statement
    is a round trip and a plan, which cost this part more than what it reads. The median is
    ``median_responses``'s figure for one month: how many leads were answered (a CTE), then
    the middle one or two by time taken (``ORDER BY … LIMIT … OFFSET`` read from that
    count), which sorts the month's answered arrivals without numbering them. Counting the
    month into log-scale buckets first and sorting only the middle one was measured slower on
    both databases (a month-end at 100,000 leads: 1.7× on SQLite, 2.8× on PostgreSQL):
    counting costs a comparison per bucket for every row and the bucket's values a second
    read of the month, where one sort of 31,000 numbers is cheap."""
    return current_month_from(scope, db.session.execute(union_all(*current_month_parts(scope, starts))))


def figures(months: list[MonthAmounts], rates: Rates) -> dict:
    """The page's three figures (and the won count) from each month's amounts, oldest first."""
    won = [total_in_base(m.won, rates) for m in months]
    pipeline = [total_in_base(m.pipeline, rates).scaled(PERCENT) for m in months]
    counts = [m.won_count for m in months]
    medians = [m.response_seconds for m in months]
    return {
        "won_value": Figure(won[-1], won[-2], [float(t.cents) / 100 for t in won]),
        "won_count": Figure(counts[-1], counts[-2], counts),
        "response": Figure(medians[-1], medians[-2], medians),
        "pipeline": Figure(pipeline[-1], pipeline[-2], [float(t.cents) / 100 for t in pipeline]),
    }
