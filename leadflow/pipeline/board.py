"""What the board shows: columns, their totals, cards, and the forecast strip.

The full page and every fragment (a column's next cards, the headers after a
move) are built from these functions, so they cannot drift apart.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from urllib.parse import urlencode

from sqlalchemy import false, func, tuple_, union_all
from sqlalchemy.orm import joinedload, selectinload

from leadflow.accounts.models import Team, User
from leadflow.activities.queries import next_open_tasks, user_zone
from leadflow.db import parse_id
from leadflow.extensions import db
from leadflow.governance.settings import get_setting
from leadflow.leads.fields import FieldError, parse_money
from leadflow.leads.models import SOURCES, TEMPERATURES, Lead
from leadflow.leads.policy import can_edit_lead
from leadflow.leads.queries import filter_by_owner, filter_by_text
from leadflow.pipeline.models import Pipeline, Stage, StageChange, StageTotals

CARDS_PER_PAGE = 25
CARD_FIELD_CHOICES = {
    "tags": "Tags", "source": "Source", "expected_close_date": "Expected close date", "score": "Score",
    "lifecycle": "Lifecycle stage",
}
FORECAST_MONTHS = 6


@dataclass
class BoardFilters:
    q: str = ""
    owner: str = ""
    team: str = ""
    source: str = ""
    temperature: str = ""
    value_min: int | None = None
    value_max: int | None = None
    problems: list[str] = field(default_factory=list)

    @classmethod
    def from_args(cls, args) -> "BoardFilters":
        filters = cls(
            q=" ".join((args.get("q") or "").split())[:100],
            owner=(args.get("owner") or "").strip()[:20],
            team=(args.get("team") or "").strip()[:20],
            source=(args.get("source") or "").strip()[:40],
            temperature=(args.get("temperature") or "").strip()[:10],
        )
        for key in ("value_min", "value_max"):
            raw = (args.get(key) or "").strip()
            if raw:
                try:
                    setattr(filters, key, parse_money(raw))
                except FieldError:
                    filters.problems.append(f"Ignored the value “{raw[:20]}”: enter a number such as 5000.")
        return filters

    @property
    def active(self) -> bool:
        return bool(self.q or self.owner or self.team or self.source or self.temperature
                    or self.value_min is not None or self.value_max is not None)

    def query_args(self) -> dict:
        args = {"q": self.q, "owner": self.owner, "team": self.team, "source": self.source,
                "temperature": self.temperature,
                "value_min": "" if self.value_min is None else f"{self.value_min / 100:g}",
                "value_max": "" if self.value_max is None else f"{self.value_max / 100:g}"}
        return {k: v for k, v in args.items() if v}

    def query_string(self) -> str:
        return urlencode(self.query_args())

    def apply(self, query, viewer):
        query = filter_by_owner(filter_by_text(query, self.q), self.owner, viewer)
        if self.team.isdigit():
            team_id = parse_id(self.team)  # an id no row can have matches nothing
            query = query.where(Lead.owner_id.in_(db.select(User.id).where(User.team_id == team_id))
                                if team_id else false())
        if self.source:
            query = query.where(Lead.source == self.source)
        if self.temperature in TEMPERATURES:
            query = query.where(Lead.temperature == self.temperature)
        if self.value_min is not None:
            query = query.where(Lead.value_cents >= self.value_min)
        if self.value_max is not None:
            query = query.where(Lead.value_cents <= self.value_max)
        return query


@dataclass
class Column:
    stage: Stage
    count: int
    value_cents: int
    cards: list[Lead]
    has_more: bool

    @property
    def weighted_cents(self) -> int:
        return round(self.value_cents * self.stage.probability / 100)


def live_pipelines() -> list[Pipeline]:
    return list(db.session.scalars(
        db.select(Pipeline).where(Pipeline.archived_at.is_(None)).order_by(Pipeline.position, Pipeline.id)))


def default_pipeline() -> Pipeline | None:
    return db.session.scalar(
        db.select(Pipeline).where(Pipeline.archived_at.is_(None))
        .order_by(Pipeline.is_default.desc(), Pipeline.position, Pipeline.id).limit(1))


def card_fields() -> list[str]:
    chosen = get_setting("board_card_fields") or []
    return [f for f in chosen if f in CARD_FIELD_CHOICES]


def stage_totals(stages: list[Stage], filters: BoardFilters, viewer) -> dict[int, tuple[int, int]]:
    """{stage id: (lead count, value cents)}: kept totals when unfiltered, counted when filtered."""
    ids = [s.id for s in stages]
    if not filters.active:
        rows = db.session.execute(db.select(StageTotals.stage_id, StageTotals.lead_count, StageTotals.value_cents)
                                  .where(StageTotals.stage_id.in_(ids)))
        return {r[0]: (r[1], r[2]) for r in rows}
    query = (db.select(Lead.stage_id, func.count(Lead.id), func.coalesce(func.sum(Lead.value_cents), 0))
             .where(Lead.stage_id.in_(ids), Lead.deleted_at.is_(None)).group_by(Lead.stage_id))
    return {r[0]: (r[1], int(r[2])) for r in db.session.execute(filters.apply(query, viewer))}


def _card_query(ids, fields: list[str]):
    query = (db.select(Lead).options(joinedload(Lead.owner), joinedload(Lead.organization))
             .where(Lead.id.in_(ids)))
    if "tags" in fields:
        query = query.options(selectinload(Lead.tags))
    return query


def column_cards(stage: Stage, filters: BoardFilters, viewer, *, after: tuple[float, int] | None = None,
                 limit: int = CARDS_PER_PAGE, fields: list[str] | None = None) -> tuple[list[Lead], bool]:
    """One page of a column's cards in board order, and whether more follow (for "load more")."""
    query = db.select(Lead.id).where(Lead.stage_id == stage.id, Lead.deleted_at.is_(None))
    if after is not None:
        rank, lead_id = after
        query = query.where(tuple_(Lead.board_rank, Lead.id) > tuple_(rank, lead_id))
    ids = list(db.session.scalars(filters.apply(query, viewer).order_by(Lead.board_rank, Lead.id).limit(limit + 1)))
    fields = card_fields() if fields is None else fields
    by_id = {lead.id: lead for lead in db.session.scalars(_card_query(ids[:limit], fields)).unique()}
    attach_next_tasks(by_id.values())
    return [by_id[i] for i in ids[:limit] if i in by_id], len(ids) > limit


def first_cards(stages: list[Stage], filters: BoardFilters, viewer, fields: list[str],
                limit: int = CARDS_PER_PAGE) -> dict[int, tuple[list[Lead], bool]]:
    """Every column's first page in two queries: one UNION ALL of per-stage index scans, one load."""
    if not stages:
        return {}
    parts = []
    for stage in stages:
        inner = (filters.apply(db.select(Lead.id, Lead.stage_id, Lead.board_rank)
                               .where(Lead.stage_id == stage.id, Lead.deleted_at.is_(None)), viewer)
                 .order_by(Lead.board_rank, Lead.id).limit(limit + 1).subquery())
        parts.append(db.select(inner.c.id, inner.c.stage_id, inner.c.board_rank))
    rows = db.session.execute(union_all(*parts)).all()
    per_stage: dict[int, list] = {}
    for row in rows:
        per_stage.setdefault(row.stage_id, []).append(row)
    for stage_rows in per_stage.values():
        stage_rows.sort(key=lambda r: (r.board_rank, r.id))
    wanted = [row.id for stage_rows in per_stage.values() for row in stage_rows[:limit]]
    by_id = {lead.id: lead for lead in db.session.scalars(_card_query(wanted, fields)).unique()}
    attach_next_tasks(by_id.values())
    result = {}
    for stage in stages:
        stage_rows = per_stage.get(stage.id, [])
        result[stage.id] = ([by_id[r.id] for r in stage_rows[:limit] if r.id in by_id], len(stage_rows) > limit)
    return result


def build_columns(pipeline: Pipeline, filters: BoardFilters, viewer, fields: list[str]) -> list[Column]:
    stages = list(pipeline.stages)
    totals = stage_totals(stages, filters, viewer)
    cards = first_cards(stages, filters, viewer, fields)
    columns = []
    for stage in stages:
        count, value = totals.get(stage.id, (0, 0))
        stage_cards, has_more = cards[stage.id]
        columns.append(Column(stage, count, value, stage_cards, has_more))
    return columns


def column_header(stage: Stage, filters: BoardFilters, viewer) -> Column:
    count, value = stage_totals([stage], filters, viewer).get(stage.id, (0, 0))
    return Column(stage, count, value, [], False)


def board_context_light(pipeline: Pipeline, filters: BoardFilters, viewer, fields: list[str] | None = None) -> dict:
    """What a card needs to render: shared by the board, a column's next cards and a move's answer."""
    return {
        "pipeline": pipeline, "stages": list(pipeline.stages), "filters": filters,
        "card_fields": card_fields() if fields is None else fields, "now": datetime.now(timezone.utc),
        "is_rotting": is_rotting,
        "can_edit": lambda lead: can_edit_lead(viewer, lead),
        "next_task": next_task_of, "card_zone": user_zone(viewer), "stale_days": stale_days(),
        "is_stale": is_stale,
    }


# --- the next step and the stale flag on cards ------------------------------------------------

def attach_next_tasks(leads) -> None:
    """Give each card its earliest open task, for all of them in one query."""
    leads = list(leads)
    found = next_open_tasks(lead.id for lead in leads)
    for lead in leads:
        lead._next_task = found.get(lead.id)


def next_task_of(lead: Lead):
    """The card's next task; loaded here only for a card drawn alone (a move's answer)."""
    if not hasattr(lead, "_next_task"):
        attach_next_tasks([lead])
    return lead._next_task


def stale_days() -> int:
    """After how many days without activity an open lead is flagged stale (the workspace
    setting, which has its default and range in ``governance.settings``, as the digest reads it)."""
    return int(get_setting("stale_after_days"))


def is_stale(lead: Lead, now: datetime, days: int) -> int | None:
    """Days since the last activity (or arrival) when an open lead has gone quiet that long, else None."""
    if lead.stage is None or lead.stage.kind != "open":
        return None
    last = lead.last_activity_at or lead.created_at
    if last is None:
        return None
    quiet = (now - last).days
    return quiet if quiet >= days else None


def board_context(pipeline: Pipeline, filters: BoardFilters, viewer) -> dict:
    owners = db.session.execute(db.select(User.id, User.name).where(User.active.is_(True)).order_by(User.name)).all()
    teams = db.session.execute(db.select(Team.id, Team.name).order_by(Team.name)).all()
    fields = card_fields()
    return {
        **board_context_light(pipeline, filters, viewer, fields),
        "pipelines": live_pipelines(), "columns": build_columns(pipeline, filters, viewer, fields),
        "owners": owners, "teams": teams, "sources": SOURCES, "temperatures": TEMPERATURES,
        "stamp": board_stamp(pipeline),
    }


def is_rotting(lead: Lead, stage: Stage, now: datetime) -> bool:
    if stage.kind != "open" or not stage.rotting_days or lead.stage_entered_at is None:
        return False
    return now - lead.stage_entered_at > timedelta(days=stage.rotting_days)


def board_stamp(pipeline: Pipeline) -> str:
    """Changes whenever any lead moves or changes (both write a row): two primary-key lookups."""
    from leadflow.governance.models import AuditEntry

    last_move = db.session.scalar(db.select(func.max(StageChange.id))) or 0
    last_change = db.session.scalar(db.select(func.max(AuditEntry.id))) or 0
    return f"{pipeline.id}-{last_move}-{last_change}"


def _month_bucket(column):
    if db.engine.dialect.name == "postgresql":
        return func.to_char(column, "YYYY-MM")
    return func.strftime("%Y-%m", column)


def forecast(pipeline: Pipeline, filters: BoardFilters, viewer, today: date | None = None) -> list[dict]:
    """Weighted value of open leads by expected close month: overdue, then the next months."""
    today = today or date.today()
    start = today.replace(day=1)
    months = []
    cursor = start
    for _ in range(FORECAST_MONTHS):
        months.append(cursor)
        cursor = (cursor + timedelta(days=32)).replace(day=1)
    end = cursor
    open_stage_ids = [s.id for s in pipeline.stages if s.kind == "open"]
    if not open_stage_ids:
        return []
    weighted = func.sum(Lead.value_cents * Stage.probability / 100.0)
    bucket = _month_bucket(Lead.expected_close_date)
    query = (db.select(bucket, weighted, func.count(Lead.id))
             .join(Stage, Lead.stage_id == Stage.id)
             .where(Lead.stage_id.in_(open_stage_ids), Lead.deleted_at.is_(None),
                    Lead.expected_close_date.is_not(None), Lead.expected_close_date < end,
                    Lead.expected_close_date >= start)
             .group_by(bucket))
    by_month = {row[0]: (int(row[1] or 0), row[2]) for row in db.session.execute(filters.apply(query, viewer))}
    overdue_query = (db.select(weighted, func.count(Lead.id)).join(Stage, Lead.stage_id == Stage.id)
                     .where(Lead.stage_id.in_(open_stage_ids), Lead.deleted_at.is_(None),
                            Lead.expected_close_date < start))
    overdue = db.session.execute(filters.apply(overdue_query, viewer)).one()
    strip = [{"label": "Overdue", "weighted_cents": int(overdue[0] or 0), "count": overdue[1], "overdue": True}]
    for month in months:
        value, count = by_month.get(month.strftime("%Y-%m"), (0, 0))
        strip.append({"label": month.strftime("%b %Y"), "weighted_cents": value, "count": count, "overdue": False})
    top = max((m["weighted_cents"] for m in strip), default=0) or 1
    for m in strip:
        m["percent"] = round(100 * m["weighted_cents"] / top)
    return strip
