"""What the board shows: columns, their totals, cards, and the forecast strip.

The full page and every fragment (a column's next cards, the headers after a
move) are built from these functions, so they cannot drift apart.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from typing import NamedTuple
from urllib.parse import urlencode

from markupsafe import Markup, escape
from sqlalchemy import bindparam, false, func, null, tuple_, union_all
from sqlalchemy.orm import joinedload

from leadflow.accounts.models import User
from leadflow.accounts.services import menu_teams, menu_users
from leadflow.accounts.zones import user_zone
from leadflow.db import Alongside, beside, can_read_beside, parse_id, plan_limit, take_alongside
from leadflow.extensions import db
from leadflow.governance.models import AuditEntry
from leadflow.governance.money import MoneyTotal, Rates, current_rates, lead_value_in_base, total_in_base
from leadflow.governance.settings import get_setting
from leadflow.leads import store
from leadflow.leads.models import BOARD_ORDER, SOURCES, TEMPERATURES, Lead
from leadflow.leads.policy import can_edit_lead
from leadflow.leads.queries import amount_arg, filter_by_owner, filter_by_text, filter_by_value
from leadflow.pipeline.models import Pipeline, Stage, StageChange, StageCurrencyTotals, StageTotals
from leadflow.pipeline.cards import card_statement, keep_next_task, next_task_alongside, next_task_of, read_cards
from leadflow.pipeline.totals import live_currency_totals_query
from leadflow.web import refcache
from leadflow.web.formatting import due_text, local_today, money, url_pattern

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
    _rates: Rates | None = field(default=None, repr=False, compare=False)

    @classmethod
    def from_args(cls, args) -> "BoardFilters":
        filters = cls(
            q=" ".join((args.get("q") or "").split())[:100],
            owner=(args.get("owner") or "").strip()[:20],
            team=(args.get("team") or "").strip()[:20],
            source=(args.get("source") or "").strip()[:40],
            temperature=(args.get("temperature") or "").strip()[:10],
        )
        filters.value_min = amount_arg(args, "value_min", filters.problems)
        filters.value_max = amount_arg(args, "value_max", filters.problems)
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
        if self.value_min is not None or self.value_max is not None:
            # amounts in the base currency; a value without a rate matches no range (governance.money)
            if self._rates is None:
                self._rates = current_rates()
            query = filter_by_value(query, self.value_min, self.value_max, self._rates)
        return query


@dataclass
class Column:
    stage: Stage
    count: int
    total: MoneyTotal  # in the base currency, with what it leaves out
    cards: list[Lead]
    has_more: bool

    @property
    def weighted(self) -> MoneyTotal:
        return self.total.scaled(Decimal(self.stage.probability) / 100)


# The marks an open board's stamp is made of (``board_stamp``): the newest stage change and the
# newest audit entry, one of which every move and every change of a lead writes.
_CHANGE_MARKS = (db.select(func.max(StageChange.id)).scalar_subquery(),
                 db.select(func.max(AuditEntry.id)).scalar_subquery())


class LivePipelines(NamedTuple):
    pipelines: list[Pipeline]
    marks: tuple[int | None, int | None]  # what ``board_stamp`` makes a board's stamp of


def live_pipelines() -> LivePipelines:
    """The live pipelines in order, with their stages (the board draws one's columns), and the
    marks of the board's stamp: one query, where the stages and the marks on their own cost a
    round trip each. Read before the cards, so that a change made while they are read makes the
    next poll reload the board, never slips by."""
    rows = db.session.execute(
        db.select(Pipeline, *_CHANGE_MARKS).options(joinedload(Pipeline.stages)).where(Pipeline.archived_at.is_(None))
        .order_by(Pipeline.position, Pipeline.id)).unique().all()
    return LivePipelines([row[0] for row in rows], (rows[0][1], rows[0][2]) if rows else (None, None))


def pick_pipeline(pipelines: list[Pipeline], pipeline_id: int | None) -> Pipeline | None:
    """The live pipeline ``pipeline_id`` among ``pipelines`` (``live_pipelines``), or with no
    id the default one (as ``default_pipeline`` chooses): no query of its own."""
    if pipeline_id is not None:
        return next((p for p in pipelines if p.id == pipeline_id), None)
    return next((p for p in pipelines if p.is_default), pipelines[0] if pipelines else None)


class ColumnPipeline(NamedTuple):
    id: int


class ColumnStage(NamedTuple):
    """A stage as a column's next cards read it (the cards' rotting and stale flags, the next
    "load more" link): the names a ``Stage`` has, as plain kept data."""

    id: int
    pipeline_id: int
    kind: str
    rotting_days: int | None
    pipeline: ColumnPipeline


def column_stage(stage_id: int) -> ColumnStage | None:
    """The stage ``stage_id`` for its column's next cards, from the stages kept for the process
    while no pipeline or stage changes (``web.refcache``): no query, where reading the stage
    with its pipeline was a round trip of every "load more"."""
    return dict(refcache.cached(("pipelines",), "column stages", _load_column_stages)).get(stage_id)


def _load_column_stages() -> tuple[tuple[int, ColumnStage], ...]:
    rows = db.session.execute(db.select(Stage.id, Stage.pipeline_id, Stage.kind, Stage.rotting_days).order_by(Stage.id))
    return tuple((row.id, ColumnStage(row.id, row.pipeline_id, row.kind, row.rotting_days, ColumnPipeline(row.pipeline_id)))
                 for row in rows)


class ForecastStage(NamedTuple):
    id: int
    kind: str
    probability: int | None


class ForecastPipeline(NamedTuple):
    """A live pipeline as its forecast reads it (the forecast weighs each stage by its own
    probability): the names a ``Pipeline`` and its stages have, as plain kept data."""

    id: int
    stages: tuple[ForecastStage, ...]


def forecast_pipeline(pipeline_id: int) -> ForecastPipeline | None:
    """The live pipeline ``pipeline_id`` with its stages, from the pipelines kept for the process
    while no pipeline or stage changes (``web.refcache``): no query, where reading the pipeline
    with its stages was a round trip of every forecast. None when it is archived or not there."""
    return dict(refcache.cached(("pipelines",), "forecast pipelines", _load_forecast_pipelines)).get(pipeline_id)


def _load_forecast_pipelines() -> tuple[tuple[int, ForecastPipeline], ...]:
    stages: dict[int, list[ForecastStage]] = {}
    for pipeline_id, stage_id, kind, probability in db.session.execute(
            db.select(Pipeline.id, Stage.id, Stage.kind, Stage.probability).outerjoin(Pipeline.stages)
            .where(Pipeline.archived_at.is_(None)).order_by(Pipeline.id, Stage.position, Stage.id)):
        kept = stages.setdefault(pipeline_id, [])
        if stage_id is not None:
            kept.append(ForecastStage(stage_id, kind, probability))
    return tuple((pipeline_id, ForecastPipeline(pipeline_id, tuple(kept))) for pipeline_id, kept in stages.items())


def default_pipeline() -> Pipeline | None:
    return db.session.scalar(
        db.select(Pipeline).where(Pipeline.archived_at.is_(None))
        .order_by(Pipeline.is_default.desc(), Pipeline.position, Pipeline.id).limit(1))


def card_fields() -> list[str]:
    chosen = get_setting("board_card_fields") or []
    return [f for f in chosen if f in CARD_FIELD_CHOICES]


def stage_totals(stages: list[Stage], filters: BoardFilters, viewer, rates: Rates | None = None,
                 alongside: Alongside | None = None) -> dict[int, tuple[int, MoneyTotal]]:
    """{stage id: (lead count, total in the base currency)}: from the kept per-currency totals
    when unfiltered (with ``alongside``'s rows read in the same statement), counted when
    filtered; every total made by ``total_in_base``."""
    rates = rates or current_rates()
    ids = [s.id for s in stages]
    per_stage: dict[int, dict[str, tuple[int, int, int]]] = {i: {} for i in ids}
    if filters.active:
        rows = db.session.execute(filters.apply(live_currency_totals_query(ids), viewer)).all()
    else:
        rows, short = kept_currency_totals(ids, alongside)
        if short:  # currency rows that do not add up to their stage's (see pipeline.totals)
            rows += db.session.execute(live_currency_totals_query(short)).all()
    for stage_id, currency, count, valued, cents in rows:
        per_stage[stage_id][currency] = (count, valued, int(cents))
    return {stage_id: (sum(c for c, _, _ in by_currency.values()),
                       total_in_base({cur: (valued, cents) for cur, (_, valued, cents) in by_currency.items()}, rates))
            for stage_id, by_currency in per_stage.items()}


# Built once (the stages are an expanding parameter): making it anew cost a moved card's
# answer a good part of its two column headers.
_KEPT_TOTALS = (
    db.select(StageTotals.stage_id, StageTotals.lead_count, StageTotals.value_cents, StageCurrencyTotals.currency,
              StageCurrencyTotals.lead_count, StageCurrencyTotals.value_count, StageCurrencyTotals.value_cents)
    .outerjoin(StageCurrencyTotals, StageCurrencyTotals.stage_id == StageTotals.stage_id)
    .where(StageTotals.stage_id.in_(bindparam("stage_ids", expanding=True))))


@lru_cache(maxsize=4)
def _kept_totals_beside(alongside_statement):
    """``_KEPT_TOTALS`` with an ``Alongside``'s SELECT (each made once, at module level), built once."""
    return beside(_KEPT_TOTALS, alongside_statement)


def kept_currency_totals(ids: list[int], alongside: Alongside | None = None) -> tuple[list, list[int]]:
    """The kept (stage, currency) rows, and the stages whose rows do not add up to the stage's
    own count and value (they are counted from the leads instead): one query, which after a
    move on PostgreSQL is the one that adds the move's totals (``store.kept_totals_adding_pending``),
    and which reads ``alongside``'s rows too (where the database has FULL JOIN)."""
    kept: dict[int, list] = {}
    expected: dict[int, tuple[int, int]] = {}
    read = store.kept_totals_adding_pending(list(ids), alongside)
    if read is None:
        params = {"stage_ids": list(ids)}
        if alongside is None or not can_read_beside():
            rows = db.session.execute(_KEPT_TOTALS, params)
        else:
            rows = take_alongside(db.session.execute(_kept_totals_beside(alongside.statement),
                                                     {**params, **alongside.params}), 7, alongside)
        for stage_id, count, value, currency, n, valued, cents in rows:
            expected[stage_id] = (count, value)
            if currency is not None:
                kept.setdefault(stage_id, []).append((stage_id, currency, n, valued, cents))
    else:
        expected = {stage_id: (count, value) for stage_id, count, value in read.stages}
        for row in sorted(read.currencies, key=lambda row: (row[0], row[1])):
            kept.setdefault(row[0], []).append(row)
    short = [stage_id for stage_id, (count, value) in expected.items()
             if (sum(r[2] for r in kept.get(stage_id, ())), sum(r[4] for r in kept.get(stage_id, ()))) != (count, value)]
    return [r for stage_id, stage_rows in kept.items() if stage_id not in short for r in stage_rows], short


def column_cards(stage: Stage, filters: BoardFilters, viewer, *, after: tuple[float, int] | None = None,
                 limit: int = CARDS_PER_PAGE, fields: list[str] | None = None) -> tuple[list[Lead], bool]:
    """One page of a column's cards in board order, and whether more follow (for "load more"):
    the cards of the page's ids and one card more, picked inside the cards statement (a round
    trip less than reading the ids first: on PostgreSQL a round trip was a good part of a
    "load more")."""
    fields = card_fields() if fields is None else fields
    if filters.active:
        statement, params = card_statement(_column_page(stage.id, after, filters, viewer, limit)), None
    else:
        statement = _unfiltered_column_page(after is not None, limit)
        params = {"page_stage_id": stage.id}
        if after is not None:
            params["after_rank"], params["after_id"] = after
    by_id = read_cards(statement, {stage.id: stage}, params, with_tags="tags" in fields)
    cards = sorted(by_id.values(), key=lambda card: (card.board_rank, card.id))  # BOARD_ORDER within a column
    return cards[:limit], len(cards) > limit


def _column_page(stage_id, after, filters: BoardFilters, viewer, limit: int, *, written_limit: bool = False):
    """The ids of a column's page and one card more, in board order, after the card ``after``
    (rank, id) when given; ``stage_id`` and ``after`` are values or bound parameters."""
    query = db.select(Lead.id).where(Lead.stage_id == stage_id, Lead.deleted_at.is_(None))
    if after is not None:
        query = query.where(tuple_(Lead.board_rank, Lead.id) > tuple_(*after))
    return filters.apply(query, viewer).order_by(*BOARD_ORDER).limit(plan_limit(limit + 1, written_limit))


@lru_cache(maxsize=4)
def _unfiltered_column_page(after: bool, limit: int):
    """The cards statement of a column's page without filters, built once (the stage and the
    card it follows are parameters), as ``_unfiltered_first_cards`` is."""
    follows = (bindparam("after_rank", type_=Lead.board_rank.type), bindparam("after_id", type_=Lead.id.type))
    return card_statement(_column_page(bindparam("page_stage_id", type_=Lead.stage_id.type),
                                       follows if after else None, BoardFilters(), None, limit, written_limit=True))


def first_cards(stages: list[Stage], filters: BoardFilters, viewer, fields: list[str],
                limit: int = CARDS_PER_PAGE) -> dict[int, tuple[list[Lead], bool]]:
    """Every column's first page in one query: the cards of a UNION ALL of per-stage index
    scans (each a page and one card more, which says whether "load more" follows)."""
    if not stages:
        return {}
    stage_ids = tuple(stage.id for stage in stages)
    statement = (card_statement(_first_pages(stage_ids, filters, viewer, limit)) if filters.active
                 else _unfiltered_first_cards(stage_ids, limit))
    by_id = read_cards(statement, {stage.id: stage for stage in stages}, with_tags="tags" in fields)
    per_stage: dict[int, list] = {}
    for card in sorted(by_id.values(), key=lambda c: (c.board_rank, c.id)):
        per_stage.setdefault(card.stage_id, []).append(card)
    return {stage.id: (per_stage.get(stage.id, [])[:limit], len(per_stage.get(stage.id, ())) > limit)
            for stage in stages}


def _first_pages(stage_ids: tuple[int, ...], filters: BoardFilters, viewer, limit: int, *,
                 written_limit: bool = False):
    """The ids of every column's first page and one card more, a UNION ALL of index scans."""
    parts = []
    for stage_id in stage_ids:
        inner = (filters.apply(db.select(Lead.id).where(Lead.stage_id == stage_id, Lead.deleted_at.is_(None)), viewer)
                 .order_by(*BOARD_ORDER).limit(plan_limit(limit + 1, written_limit)).subquery())
        parts.append(db.select(inner.c.id))
    return union_all(*parts)


@lru_cache(maxsize=16)
def _unfiltered_first_cards(stage_ids: tuple[int, ...], limit: int):
    """The cards statement of a board without filters, built once per pipeline's columns (the
    stages' ids): making it anew cost every default board more than 1 ms."""
    return card_statement(_first_pages(stage_ids, BoardFilters(), None, limit, written_limit=True))


def build_columns(pipeline: Pipeline, filters: BoardFilters, viewer, fields: list[str],
                  rates: Rates | None = None) -> list[Column]:
    stages = list(pipeline.stages)
    totals = stage_totals(stages, filters, viewer, rates)
    cards = first_cards(stages, filters, viewer, fields)
    columns = []
    for stage in stages:
        count, total = totals[stage.id]
        stage_cards, has_more = cards[stage.id]
        columns.append(Column(stage, count, total, stage_cards, has_more))
    return columns


def column_headers(stages: list[Stage], filters: BoardFilters, viewer, rates: Rates | None = None,
                   card: Lead | None = None) -> list[Column]:
    """The headers of some columns alone (after a move): counts and totals, no cards; with
    ``card`` (the moved lead, drawn with them) its next task read in the same statement as the
    totals where it can be, a round trip less (else the card reads it when drawn)."""
    alongside = next_task_alongside(card) if card is not None else None
    totals = stage_totals(stages, filters, viewer, rates, alongside)
    if alongside is not None:
        keep_next_task(card, alongside)
    return [Column(stage, *totals[stage.id], [], False) for stage in stages]




def card_links(filters: BoardFilters) -> dict[str, str]:
    """A card's addresses as ``str.format`` patterns ({} is the lead id), built once per render:
    three ``url_for`` calls per card were a tenth of the board's time."""
    query = filters.query_string()

    return {
        "detail": url_pattern("leads.detail"),
        "pick": url_pattern("pipeline.move_control") + (f"?{query}&pick=1" if query else "?pick=1"),
        "next_step": url_pattern("activities.next_step") + (
            f"?place=card&{query}&open=1" if query else "?place=card&open=1"),
    }


def board_context_light(pipeline: Pipeline, filters: BoardFilters, viewer, fields: list[str] | None = None,
                        rates: Rates | None = None) -> dict:
    """What a card needs to render: shared by the board, a column's next cards and a move's answer."""
    user = getattr(viewer, "_get_current_object", lambda: viewer)()  # not a proxy lookup per card
    now, quiet_days, zone, links = datetime.now(timezone.utc), stale_days(), user_zone(viewer), card_links(filters)
    escaped_links = {key: str(escape(pattern)) for key, pattern in links.items()}  # "&" in a query: "&amp;"

    def card_states(leads, read_only: bool) -> list[CardState]:
        nonlocal rates
        if rates is None:  # read when a card first needs them (a move's headers have read them already)
            rates = current_rates()
        return [card_text(lead, read_only, user, rates, zone, now, quiet_days, escaped_links) for lead in leads]

    return {
        "pipeline": pipeline, "filters": filters,
        "card_fields": card_fields() if fields is None else fields, "now": now,
        "can_edit": lambda lead: can_edit_lead(user, lead), "card_states": card_states,
        "zone": zone, "card_links": links, "read_only": False,
    }


class CardState(NamedTuple):
    """Everything a card prints, worked out in Python (one call per column: ``card_states``)
    and unpacked by the template's loop into plain names (a template call, filter, macro or attribute
    lookup per card costs more than the work; see _card_macros.html). The card prints these
    with autoescape off, so every text here is escaped, once, as ``Markup`` (the addresses come
    from patterns escaped once per render); the rest are numbers, flags and fixed words."""

    lead: Lead                   # read only for the extra fields an admin may choose
    id: int
    version: int
    classes: str                 # "card temp-warm rotting"
    temperature: str
    editable: bool               # can be dragged and shows its two buttons
    name: Markup
    owner_label: Markup | None   # "Owner: Ann Lee" (None: unassigned)
    owner_initials: Markup
    organization: Markup | None
    value: str                   # "29,000 AUD"
    value_in_base: str | None    # "≈ $19,140 USD"
    value_title: str | None      # "Converted to USD, …"
    rot_limit: int               # the stage's rotting days; 0: the card is not rotting
    rot_days: int                # days in the stage when rotting
    next_class: str              # the next step: "rot-marker" when overdue, else "muted"
    next_title: Markup | None    # its title (None: no next step shown)
    next_text: Markup            # "Call · tomorrow"
    quiet: int | None            # days without activity when stale, else None
    detail_url: str
    pick_url: str
    next_step_url: str


def card_text(lead: Lead, read_only: bool, user, rates: Rates, zone, now: datetime, quiet_days: int,
              links: dict[str, str]) -> CardState:
    """One card's ``CardState``: read-only cards (a past board) show no next step, flags or buttons."""
    lead_id, owner, org, stage = lead.id, lead.owner, lead.organization, lead.stage
    in_base = lead_value_in_base(lead.value_cents, lead.currency, rates)
    upcoming = None if read_only else next_task_of(lead)
    rotting = not read_only and is_rotting(lead, stage, now)
    temperature = escape(lead.temperature)
    return CardState(
        lead, lead_id, lead.version, f"card temp-{temperature} rotting" if rotting else f"card temp-{temperature}",
        temperature, not read_only and can_edit_lead(user, lead), escape(lead.name),
        escape("Owner: " + owner.name) if owner else None, escape(owner.initials) if owner else None,
        escape(org.name) if org else None, escape(money(lead.value_cents, lead.currency)),
        in_base and escape(in_base.short_text()), in_base and escape(in_base.title(zone)),
        stage.rotting_days if rotting else 0, (now - lead.stage_entered_at).days if rotting else 0,
        "rot-marker" if upcoming and upcoming.due_at < now else "muted",
        escape(upcoming.title) if upcoming else None,
        escape(f"{upcoming.kind_label} · {due_text(upcoming.due_at, zone, now)}") if upcoming else "",
        None if read_only else is_stale(lead, now, quiet_days),
        links["detail"].format(lead_id), links["pick"].format(lead_id), links["next_step"].format(lead_id),
    )


# --- the next step and the stale flag on cards ------------------------------------------------

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


def filter_choices() -> dict:
    """What the board's filter form offers: active owners, teams, sources and temperatures."""
    return {"owners": menu_users(), "teams": menu_teams(), "sources": SOURCES, "temperatures": TEMPERATURES}


def board_context(pipeline: Pipeline, filters: BoardFilters, viewer, live: LivePipelines | None = None) -> dict:
    live = live or live_pipelines()
    fields = card_fields()
    rates = current_rates()
    if filters._rates is None:
        filters._rates = rates  # one read of the rates for the filter, the totals and the cards
    return {
        **board_context_light(pipeline, filters, viewer, fields, rates),
        "pipelines": live.pipelines, "columns": build_columns(pipeline, filters, viewer, fields, rates),
        "base_currency": rates.base, "money_rates": rates,
        **filter_choices(),
        "stamp": board_stamp(pipeline, live.marks),
    }


def is_rotting(lead: Lead, stage: Stage, now: datetime) -> bool:
    if stage.kind != "open" or not stage.rotting_days or lead.stage_entered_at is None:
        return False
    return now - lead.stage_entered_at > timedelta(days=stage.rotting_days)


def board_stamp(pipeline: Pipeline, marks: tuple[int | None, int | None] | None = None) -> str:
    """Changes whenever any lead moves or changes (both write a row): from ``marks`` as
    ``live_pipelines`` read them, else read here (two primary-key lookups, one query)."""
    last_move, last_change = marks if marks is not None else db.session.execute(db.select(*_CHANGE_MARKS)).one()
    return f"{pipeline.id}-{last_move or 0}-{last_change or 0}"


def _month_bucket(column):
    """The month of a date, cheaply: PostgreSQL's date_trunc (a timestamp), SQLite's first seven
    characters of the stored "YYYY-MM-DD" text ("YYYY-MM"); ``_month_key`` makes both a key."""
    if db.engine.dialect.name == "postgresql":
        return func.date_trunc("month", column)
    return func.substr(column, 1, 7)


def _month_key(bucket) -> str:
    return bucket if isinstance(bucket, str) else bucket.strftime("%Y-%m")


def forecast(pipeline: ForecastPipeline, filters: BoardFilters, viewer, today: date | None = None) -> dict:
    """Weighted value of open leads by expected close month (overdue, then the next months),
    each month's total in the base currency: {"base": code, "months": [...]}."""
    today = today or local_today(user_zone(viewer))  # the viewer's month, not the server's
    start = today.replace(day=1)
    months = []
    cursor = start
    for _ in range(FORECAST_MONTHS):
        months.append(cursor)
        cursor = (cursor + timedelta(days=32)).replace(day=1)
    end = cursor
    open_stage_ids = [s.id for s in pipeline.stages if s.kind == "open"]
    rates = current_rates()
    if not open_stage_ids:
        return {"base": rates.base, "months": []}
    # value × probability is whole cents × percent: summed exactly per currency, divided when
    # converted. Summed per stage in the database (the forecast index alone answers it: COUNT(*),
    # no join), each stage's sum times its probability here.
    probability = {s.id: s.probability or 0 for s in pipeline.stages}
    measures = (Lead.currency, Lead.stage_id, func.count(), func.count(Lead.value_cents),
                func.coalesce(func.sum(Lead.value_cents), 0))
    live_open = (Lead.stage_id.in_(open_stage_ids), Lead.deleted_at.is_(None))
    bucket = _month_bucket(Lead.expected_close_date)
    query = (db.select(bucket, *measures)
             .where(*live_open, Lead.expected_close_date.is_not(None), Lead.expected_close_date < end,
                    Lead.expected_close_date >= start)
             .group_by(bucket, Lead.currency, Lead.stage_id))
    # The overdue deals' rows come in the same statement, their month NULL (no month row has
    # one: those dates are not NULL): a round trip less than a query of their own.
    overdue_query = (db.select(null(), *measures)
                     .where(*live_open, Lead.expected_close_date < start).group_by(Lead.currency, Lead.stage_id))
    sums: dict[str, dict[str, list[int]]] = {}
    counts: dict[str, int] = {}
    both = union_all(filters.apply(query, viewer), filters.apply(overdue_query, viewer))
    for month, currency, stage_id, count, valued, cents in db.session.execute(both):
        month = "overdue" if month is None else _month_key(month)
        kept = sums.setdefault(month, {}).setdefault(currency, [0, 0])
        kept[0] += valued
        kept[1] += cents * probability.get(stage_id, 0)
        counts[month] = counts.get(month, 0) + count
    by_month = {month: {currency: (valued, Decimal(percent_cents) / 100)
                        for currency, (valued, percent_cents) in currencies.items()}
                for month, currencies in sums.items()}
    strip = [{"label": "Overdue", "key": "overdue", "overdue": True}]
    strip += [{"label": m.strftime("%b %Y"), "key": m.strftime("%Y-%m"), "overdue": False} for m in months]
    for m in strip:
        m["total"] = total_in_base(by_month.get(m["key"], {}), rates)
        m["count"] = counts.get(m["key"], 0)
    top = max((m["total"].cents for m in strip), default=0) or 1
    for m in strip:
        m["percent"] = round(100 * max(m["total"].cents, 0) / top)
    return {"base": rates.base, "months": strip}
