"""The board as of a past day: where every lead stood at the end of that day, from stage history.

Where a lead stood at an instant is decided in SQL, for all leads at once (a window function,
the same on SQLite and PostgreSQL):

* its latest stage change before the instant says where it went (``to_stage_id``);
* with none before (it was created before the instant, but the history of its first stage
  is missing: leads from before stage history was kept, some imports), its first change after
  the instant says where it came from (``from_stage_id``);
* with no change at all, it has never moved: its stage is its present one.

Creating a lead writes its first change (from no stage to its initial stage) at its
``created_at``, so a lead normally takes the first rule. Leads created after the day are
absent. A lead in the trash now shows if it was trashed after the day (its ``deleted_at``);
a lead purged since is gone with its history and cannot show, and a trash spell that ended
in a restore is not kept, so such a lead shows as live. A stage deleted since has no column
(its history rows lost their stage), so leads that stood in it that day show nowhere.

What a card shows, the filters and the totals use the leads' present values (name, owner,
value, currency, temperature): only the stage has a history. Totals are converted to the
base currency at today's rates.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone

from sqlalchemy import func, literal, or_, select, text, union_all

from leadflow.extensions import db
from leadflow.governance.money import current_rates, total_in_base
from leadflow.leads.models import Lead
from leadflow.pipeline.board import (CARDS_PER_PAGE, BoardFilters, Column, board_context_light, card_fields,
                                     filter_choices)
from leadflow.pipeline.cards import load_cards
from leadflow.pipeline.models import Pipeline, StageChange

EARLIEST = date(2000, 1, 1)


@dataclass
class AsOfDay:
    """The day a past board shows, or why there is none (``problem``, for the page to say)."""

    raw: str
    day: date | None = None
    problem: str | None = None


def parse_as_of(raw: str | None, today: date) -> AsOfDay:
    """``YYYY-MM-DD`` from the address; no later than ``today`` (the viewer's)."""
    raw = (raw or "").strip()[:40]
    if not raw:
        return AsOfDay(raw, problem="Pick a day to see the board as it stood at the end of that day.")
    try:
        day = date.fromisoformat(raw)
    except ValueError:
        return AsOfDay(raw, problem=f"“{raw}” is not a date. Pick a day, or type it as YYYY-MM-DD (e.g. 2026-10-01).")
    if day > today:
        return AsOfDay(raw, problem=f"{day.isoformat()} is in the future. Pick today ({today.isoformat()}) or an earlier day.")
    if day < EARLIEST:
        return AsOfDay(raw, problem=f"Pick a day from {EARLIEST.isoformat()} on.")
    return AsOfDay(raw, day=day)


def end_of_day(day: date, zone) -> datetime:
    """The instant the day ends in ``zone`` (its next midnight), in UTC."""
    return datetime.combine(day + timedelta(days=1), time.min).replace(tzinfo=zone).astimezone(timezone.utc)


_GONE = -1  # the stage of a lead whose history says it stood in no stage (or in one deleted since)


def stages_then(at: datetime):
    """SELECT (id, stage_id, entered_at, currency, value_cents) of every lead that existed and was not in the trash at
    ``at``, with the stage it stood in then and since when (see the module's docstring): per
    lead, the latest change before ``at`` and the first after it, each a correlated subquery
    that walks the lead's few history rows through the index on ``lead_id`` (a window over the
    whole history table took seconds on SQLite at 300,000 changes)."""
    sc = StageChange.__table__
    mine = sc.c.lead_id == Lead.id
    stage_id = func.coalesce(
        select(func.coalesce(sc.c.to_stage_id, _GONE)).where(mine, sc.c.at < at)
        .order_by(sc.c.at.desc(), sc.c.id.desc()).limit(1).scalar_subquery(),
        select(func.coalesce(sc.c.from_stage_id, _GONE)).where(mine, sc.c.at >= at)
        .order_by(sc.c.at, sc.c.id).limit(1).scalar_subquery(),
        Lead.stage_id)
    entered_at = func.coalesce(
        select(sc.c.at).where(mine, sc.c.at < at).order_by(sc.c.at.desc(), sc.c.id.desc()).limit(1).scalar_subquery(),
        Lead.created_at)
    return (select(Lead.id, stage_id.label("stage_id"), entered_at.label("entered_at"), Lead.currency, Lead.value_cents)
            .where(Lead.created_at < at, or_(Lead.deleted_at.is_(None), Lead.deleted_at >= at)))


def columns_as_of(pipeline: Pipeline, at: datetime, filters: BoardFilters, viewer, *,
                  fields: list[str], limit: int = CARDS_PER_PAGE) -> list[Column]:
    """The pipeline's columns as they stood at ``at``: each stage's lead count and total in the
    base currency (GROUP BY), and its first ``limit`` cards, latest arrivals first (a window
    per stage): one query, and the cards' own."""
    stages = list(pipeline.stages)
    ids = [s.id for s in stages]
    rates = current_rates()
    if filters._rates is None:
        filters._rates = rates
    # One statement: where each lead stood is worked out once (a materialized CTE), then both
    # the totals (GROUP BY stage and currency) and each stage's latest arrivals (a window) read it.
    then = filters.apply(stages_then(at), viewer).cte("then").prefix_with("MATERIALIZED")
    in_pipeline = then.c.stage_id.in_(ids)
    totals = (select(literal(0).label("card"), then.c.stage_id, then.c.currency, func.count().label("n"),
                     func.count(then.c.value_cents).label("valued"),
                     func.coalesce(func.sum(then.c.value_cents), 0).label("cents"), literal(0).label("id"))
              .where(in_pipeline).group_by(then.c.stage_id, then.c.currency))
    ranked = select(then.c.id, then.c.stage_id,
                    func.row_number().over(partition_by=then.c.stage_id,
                                           order_by=(then.c.entered_at.desc(), then.c.id.desc())).label("n")
                    ).where(in_pipeline).subquery("ranked")
    firsts = select(literal(1), ranked.c.stage_id, literal(""), ranked.c.n, literal(0), literal(0), ranked.c.id
                    ).where(ranked.c.n <= limit)
    per_stage: dict[int, dict[str, tuple[int, int]]] = {i: {} for i in ids}
    counts = dict.fromkeys(ids, 0)
    rows = []
    if db.engine.dialect.name == "postgresql":
        # Its cost estimate (a seek per lead and change) makes PostgreSQL JIT-compile the query:
        # 2.2 s of compiling for 0.8 s of work at 100,000 leads. Off for this read-only transaction.
        db.session.execute(text("SET LOCAL jit = off"))
    for is_card, stage_id, currency, n, valued, cents, lead_id in db.session.execute(union_all(totals, firsts)):
        if is_card:
            rows.append((n, stage_id, lead_id))
        else:
            counts[stage_id] += n
            per_stage[stage_id][currency] = (valued, int(cents))
    rows.sort()
    cards = load_cards([lead_id for _, _, lead_id in rows], {s.id: s for s in stages}, with_tags="tags" in fields,
                       with_next_tasks=False)
    return [Column(stage, counts[stage.id], total_in_base(per_stage[stage.id], rates),
                   [cards[lead_id] for _, stage_id, lead_id in rows if stage_id == stage.id and lead_id in cards],
                   counts[stage.id] > limit)
            for stage in stages]


def as_of_context(pipeline: Pipeline, as_of: AsOfDay, zone, filters: BoardFilters, viewer) -> dict:
    """What the past board's page shows: its day and the columns then (none when the day is not
    one it can show), with the cards drawn read-only."""
    fields = card_fields()
    columns = []
    if as_of.day is not None:
        columns = columns_as_of(pipeline, end_of_day(as_of.day, zone), filters, viewer, fields=fields)
    return {**board_context_light(pipeline, filters, viewer, fields), **filter_choices(), "read_only": True,
            "as_of": as_of, "columns": columns, "base_currency": (filters._rates or current_rates()).base}


def stage_names_then(pipeline: Pipeline, at: datetime) -> dict[str, list[int]]:
    """{stage name: sorted lead ids} at ``at``, every lead of the pipeline (for checks and tests)."""
    then = stages_then(at).subquery()
    names = {s.id: s.name for s in pipeline.stages}
    out: dict[str, list[int]] = {name: [] for name in names.values()}
    for lead_id, stage_id in db.session.execute(
            select(then.c.id, then.c.stage_id).where(then.c.stage_id.in_(list(names))).order_by(then.c.id)):
        out[names[stage_id]].append(lead_id)
    return out

