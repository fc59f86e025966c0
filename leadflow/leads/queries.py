"""What the lead screens show. Full pages and their htmx fragments use the same context."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from decimal import Decimal
from typing import NamedTuple

from markupsafe import Markup, escape
from sqlalchemy import and_, column, false, func, literal_column, table, true
from sqlalchemy.orm import joinedload, selectinload

from leadflow.accounts.models import User
from leadflow.accounts.services import menu_users, user_names
from leadflow.db import parse_id, parse_page, plan_limit, unseen_by_planner
from leadflow.extensions import db
from leadflow.accounts.zones import user_zone
from leadflow.governance.money import Rates, cents_in_base_sql, current_rates, lead_value_in_base
from leadflow.leads.fields import FieldError, parse_money
from leadflow.leads.models import (
    LEAD_SEARCH_FTS, LIFECYCLES, SOURCES, TEMPERATURES, Lead, Tag, lead_search, lead_tags,
)
from leadflow.leads.policy import editable_leads_clause
from leadflow.organizations.models import Organization
from leadflow.pipeline.models import Stage, StageCurrencyTotals, StageTotals
from leadflow.pipeline.stages import stage_choices, stage_names
from leadflow.web import refcache
from leadflow.web.formatting import format_day, money

PAGE_SIZES = (25, 50, 100)
# The columns each sort orders by; "value" is the value in the base currency (see ``lead_order``).
SORTS = {
    "created": (Lead.created_at,),
    "name": (Lead.last_name, Lead.first_name),
    "value": (),
    "score": (Lead.score,),
    "activity": (Lead.last_activity_at,),
}
SORT_LABELS = {"created": "Created", "name": "Name", "value": "Value (in the base currency)", "score": "Score",
               "activity": "Last activity"}


def amount_arg(args, key: str, problems: list[str]) -> int | None:
    """An amount filter from the query string, in cents; a value that is not an amount is
    ignored, and ``problems`` says so."""
    raw = (args.get(key) or "").strip()
    if not raw:
        return None
    try:
        return parse_money(raw)
    except FieldError:
        problems.append(f"Ignored the value “{raw[:20]}”: enter an amount such as 5000 or 5000.50.")
        return None


@dataclass
class LeadFilters:
    q: str = ""
    owner: str = ""  # user id, "me" or "none"
    source: str = ""
    lifecycle: str = ""
    temperature: str = ""
    stage: str = ""
    tag: str = ""
    created_from: date | None = None
    created_to: date | None = None
    value_from: int | None = None  # cents in the base currency
    value_to: int | None = None
    sort: str = "created"
    direction: str = "desc"
    page: int = 1
    per_page: int = 50
    problems: list[str] = field(default_factory=list)

    @classmethod
    def from_args(cls, args) -> "LeadFilters":
        filters = cls()
        filters.q = " ".join((args.get("q") or "").split())[:100]
        for key in ("owner", "source", "lifecycle", "temperature", "stage", "tag"):
            setattr(filters, key, (args.get(key) or "").strip()[:80])
        for key in ("created_from", "created_to"):
            raw = (args.get(key) or "").strip()
            if raw:
                try:
                    setattr(filters, key, date.fromisoformat(raw))
                except ValueError:
                    filters.problems.append(f"Ignored the date “{raw[:20]}”: use YYYY-MM-DD.")
        filters.value_from = amount_arg(args, "value_from", filters.problems)
        filters.value_to = amount_arg(args, "value_to", filters.problems)
        if filters.value_from is not None and filters.value_to is not None and filters.value_from > filters.value_to:
            filters.problems.append("The value “from” is above the value “to”, so no lead can match: swap them.")
        filters.sort = args.get("sort") if args.get("sort") in SORTS else "created"
        filters.direction = "asc" if args.get("dir") == "asc" else "desc"
        filters.page = parse_page(args.get("page", 1))
        try:
            per_page = int(args.get("per_page", 50))
        except ValueError:
            per_page = 50
        filters.per_page = per_page if per_page in PAGE_SIZES else 50
        return filters

    @property
    def active(self) -> bool:
        return any((self.q, self.owner, self.source, self.lifecycle, self.temperature, self.stage,
                    self.tag, self.created_from, self.created_to,
                    self.value_from is not None, self.value_to is not None))

    @property
    def by_value(self) -> bool:
        """Whether values are compared (a value range or the value sort): then the list says
        which currencies have no rate and are left out or put last."""
        return self.value_from is not None or self.value_to is not None or self.sort == "value"

    def value_arg(self, key: str) -> str:
        cents = getattr(self, key)
        return "" if cents is None else f"{Decimal(cents) / 100:.2f}".removesuffix(".00")


def _day_start(d: date) -> datetime:
    return datetime.combine(d, time.min, tzinfo=timezone.utc)


TRIGRAM = 3  # a word this long or longer is looked up in the trigram index


def _like(word: str, text=lead_search.c.text, *, planned_alike: bool = False):
    """``text`` contains ``word``; ``planned_alike``: its pattern is out of the planner's sight
    (``unseen_by_planner``; see ``_contains``)."""
    escaped = word.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    pattern = f"%{escaped}%"
    if planned_alike:
        return text.like(unseen_by_planner(pattern), escape="\\")
    return text.like(pattern, escape="\\")


# PostgreSQL: a word longer than this is looked up in the trigram index by its start only,
# and the whole word is then checked on the rows found (``strpos``, which no index serves).
# pg_trgm reads the index entries of every trigram of a LIKE pattern, and a long word such
# as an email address has trigrams in nearly every row ("exa", "amp", "ple"): the start of
# the word picks the rows out (8 ms instead of 45 at 100,000 leads).
PG_INDEXED_PREFIX = 8


def _contains(word: str):
    """``lead_search``'s text contains ``word``. On PostgreSQL the pattern of a word the trigram
    index finds is out of the planner's sight (``unseen_by_planner``): the list's statement is
    then costed alike for every search and runs with its one generic plan (the bitmap scan of
    the index), where it was planned again on every search, for 0.4-0.8 ms at 100,000 leads (as
    long as running it for one lead's email). For a word in a few or some hundred rows the plan
    was the same (the planner took "%jones%" for 10 rows; 376 hold it). A word in nearly every
    row ("example") is now read through the index where the ids were merged (20 ms instead of
    7), on a page that then walks the list anyway (the page took no longer, measured
    alternately). A shorter word is a scan, planned for its pattern."""
    if db.engine.dialect.name != "postgresql":
        return _like(word)
    if len(word) > PG_INDEXED_PREFIX:
        return and_(_like(word[:PG_INDEXED_PREFIX], planned_alike=True), func.strpos(lead_search.c.text, word) > 0)
    return _like(word, planned_alike=len(word) >= TRIGRAM)


TRIGRAMS_PER_WORD = 4


def _trigrams(word: str) -> list[str]:
    """Some trigrams of ``word``: side by side from its start (the last one may overlap), at
    most TRIGRAMS_PER_WORD. A row holding the word holds them all; the LIKE rechecks the rest.
    Each trigram is one more doclist to read and intersect, and the end of a long word is
    often in nearly every row (an email's "exa", "amp", "ple"), while its start picks it out."""
    starts = list(range(0, len(word) - TRIGRAM + 1, TRIGRAM))
    if starts[-1] != len(word) - TRIGRAM:
        starts.append(len(word) - TRIGRAM)
    return [word[i:i + TRIGRAM] for i in starts[:TRIGRAMS_PER_WORD]]


def fts_trigram_query(words: list[str]) -> str:
    """The FTS5 MATCH query for rows holding trigrams of every word: each trigram a quoted
    string (quotes doubled), so user input is never FTS5 syntax. With ``detail=none`` a
    phrase longer than one trigram is not allowed, so the words are cut into trigrams here."""
    grams = dict.fromkeys(gram for word in words for gram in _trigrams(word))
    return " AND ".join('"' + gram.replace('"', '""') + '"' for gram in grams)


def filter_by_text(query, q: str, *, rows_read: bool = False, walked: bool = False):
    """Leads whose name, email, organization, phone or custom field values contain every word
    of ``q`` (see ``search_matches``).

    ``walked``: ``query`` walks the list in its order and stops at a page (a search matching
    many leads, see ``page_of_rows``): each word is checked on the lead row it reaches, and
    no index is read for the search.

    ``rows_read``: ``query`` reads the lead row of every candidate anyway (the list's, which
    checks that each is live and sorts them all). On SQLite each word the trigram index does
    not settle (``found_by_its_trigram``) is then checked on the row's own copy of the text
    (``Lead.search_text``, which triggers copy to ``lead_search``) rather than on
    ``lead_search``, whose row costs a page read more per candidate: 0.9 ms of the 2.2 ms that
    the 418 leads holding "williams" took to find and sort at 100,000 leads."""
    words = search_words(q)
    plain = not _holds_nul(words)  # otherwise ``search_matches`` finds nothing
    if walked and words and plain:
        return query.where(*[_like(word, Lead.search_text) for word in words])
    indexed = indexed_words(q)
    if not (rows_read and indexed and db.engine.dialect.name == "sqlite" and plain):
        matches = search_matches(q)
        return query if matches is None else query.where(Lead.id.in_(matches))
    query = query.where(Lead.id.in_(trigram_candidates(indexed)))
    for word in words:
        if not found_by_its_trigram(word):
            query = query.where(_like(word, Lead.search_text))
    return query


def _live(indexed_search: bool):
    """Live leads. Searching through the index, the matches are read by id: the condition is
    written so that the planner stays off the index of live leads, which it would otherwise
    walk through in full to probe each one against the matches (SQLite: ``+``, 15 ms instead
    of 1 at 100,000 leads; PostgreSQL: ``IS TRUE``, which the partial index of live leads
    ``ix_leads_live_order`` does not match, 95 ms instead of 4)."""
    if indexed_search and db.engine.dialect.name == "sqlite":
        return literal_column(f"+{Lead.__tablename__}.deleted_at").is_(None)
    if indexed_search and db.engine.dialect.name == "postgresql":
        return Lead.deleted_at.is_(None).is_(true())
    return Lead.deleted_at.is_(None)


def search_words(q: str) -> list[str]:
    """The words of a search (the first five), lower case."""
    return q.lower().split()[:5]


def indexed_words(q: str) -> list[str]:
    """The words of ``q`` that the trigram index finds."""
    return [word for word in search_words(q) if len(word) >= TRIGRAM]


def found_by_its_trigram(word: str) -> bool:
    """Whether the FTS5 trigram index alone finds exactly the texts holding ``word``: a word of
    one trigram is looked up as it is, while a longer one is matched by some of its trigrams,
    each anywhere in the text. ASCII only: there the index and the LIKE ignore case alike;
    outside ASCII the index folds case and the LIKE does not."""
    return len(word) == TRIGRAM and word.isascii()


def trigram_candidates(indexed: list[str]):
    """SQLite: the SELECT of the ids whose text holds trigrams of every one of the ``indexed``
    words (``indexed_words``), from the FTS5 table (see ``leads.models.LEAD_SEARCH_FTS``)."""
    fts = table(LEAD_SEARCH_FTS, column("rowid"))
    return db.select(fts.c.rowid).where(literal_column(LEAD_SEARCH_FTS).op("MATCH")(fts_trigram_query(indexed)))


def _holds_nul(words: list[str]) -> bool:
    """Whether a word holds a NUL character, which no search text holds (PostgreSQL cannot)."""
    return any("\x00" in word for word in words)


def search_matches(q: str):
    """The SELECT of the ids in ``lead_search`` (which triggers keep equal to
    ``Lead.search_text``) whose text contains every word of ``q`` (the first five), or None
    for no words. Each word is a case-insensitive substring match (the text and the words are
    lower case); words of three characters or more are found through the trigram index (see
    ``leads.models.LEAD_SEARCH_FTS``), shorter ones by reading every row."""
    words = search_words(q)
    if not words:
        return None
    if _holds_nul(words):
        return db.select(lead_search.c.lead_id).where(false())
    matches = db.select(lead_search.c.lead_id)
    for word in words:
        matches = matches.where(_contains(word))
    indexed = indexed_words(q)
    if indexed and db.engine.dialect.name == "sqlite":
        # The FTS5 table finds the rows holding the trigrams; the LIKE above keeps the exact
        # substring rule. On PostgreSQL the planner uses the GIN index for the LIKE itself.
        matches = matches.where(lead_search.c.lead_id.in_(trigram_candidates(indexed)))
    return matches


def filter_by_owner(query, owner: str, viewer: User):
    """``owner`` is a user id, "me" or "none" (unassigned); anything else filters nothing."""
    if owner == "me":
        return query.where(Lead.owner_id == viewer.id)
    if owner == "none":
        return query.where(Lead.owner_id.is_(None))
    if owner.isdigit():  # an id no row can have matches nothing, as any unknown id does
        return query.where(Lead.owner_id == parse_id(owner)) if parse_id(owner) else query.where(false())
    return query


def filtered_leads(filters: LeadFilters, viewer: User, rates: Rates | None = None, *, walked: bool = False):
    """The SELECT of live leads matching ``filters`` (no ordering, no paging); a value range
    is in the base currency, converted at ``rates`` (read when not given). ``walked``: for a
    walk of the list's order that stops at a page (see ``filter_by_text``)."""
    query = db.select(Lead).where(_live(indexed_search=bool(indexed_words(filters.q)) and not walked))
    query = filter_by_text(query, filters.q, rows_read=True, walked=walked)
    query = filter_by_owner(query, filters.owner, viewer)
    if filters.source:
        query = query.where(Lead.source == filters.source)
    if filters.lifecycle in LIFECYCLES:
        query = query.where(Lead.lifecycle == filters.lifecycle)
    if filters.temperature in TEMPERATURES:
        query = query.where(Lead.temperature == filters.temperature)
    if filters.stage.isdigit():
        stage_id = parse_id(filters.stage)
        query = query.where(Lead.stage_id == stage_id) if stage_id else query.where(false())
    if filters.tag:
        tag_ids = db.select(Tag.id).where(Tag.name_key == filters.tag.lower()).scalar_subquery()
        query = query.where(Lead.id.in_(db.select(lead_tags.c.lead_id).where(lead_tags.c.tag_id == tag_ids)))
    if filters.created_from:
        query = query.where(Lead.created_at >= _day_start(filters.created_from))
    if filters.created_to:
        query = query.where(Lead.created_at < _day_start(filters.created_to + timedelta(days=1)))
    if filters.value_from is not None or filters.value_to is not None:
        query = filter_by_value(query, filters.value_from, filters.value_to, rates or current_rates())
    return query


def filter_by_value(query, low: int | None, high: int | None, rates: Rates):
    """Leads whose value, in the base currency's cents, is within [low, high] (either may be
    None). A value in a currency without a rate matches no range (see governance.money)."""
    in_base = cents_in_base_sql(rates, Lead.value_cents, Lead.currency)
    if low is not None:
        query = query.where(in_base >= low)
    if high is not None:
        query = query.where(in_base <= high)
    return query


def lead_order(filters: LeadFilters, rates: Rates | None = None, *, reverse: bool = False, columns=None) -> list:
    """The ORDER BY of the list (and of its export): the sort's columns, then the id. By value,
    values are compared in the base currency; leads without a value or without a rate come
    last in either direction (on SQLite and PostgreSQL alike). The id makes the order total,
    so ``reverse`` gives exactly the same rows backwards (leads without a value first).
    ``columns``: a subquery's columns, named as the lead's, to order by instead."""
    def named(attribute):
        return attribute if columns is None else columns[attribute.key]

    desc = (filters.direction == "desc") != reverse
    if filters.sort == "value":
        in_base = cents_in_base_sql(rates or current_rates(), named(Lead.value_cents), named(Lead.currency))
        by_value = in_base.desc() if desc else in_base.asc()
        order = [by_value.nulls_first() if reverse else by_value.nulls_last()]
    else:
        order = [named(c).desc() if desc else named(c).asc() for c in SORTS[filters.sort]]
    order.append(named(Lead.id).desc() if desc else named(Lead.id).asc())
    return order


COUNT_CAP = 10_000


@dataclass
class LeadRow:
    """One row of the lead list: only what the table shows, read as plain columns."""

    id: int
    first_name: str
    last_name: str
    email: str | None
    phone: str | None
    source: str | None
    temperature: str
    value_cents: int | None
    currency: str
    created_at: datetime
    organization_name: str | None
    owner_name: str | None = None  # set by lead_rows from the kept names
    stage_name: str | None = None
    tags: list[str] = field(default_factory=list)

    @property
    def name(self) -> str:
        return " ".join(p for p in (self.first_name, self.last_name) if p) or "(no name)"


class ShownRow(NamedTuple):
    """What one row of the lead list prints, worked out and escaped once in Python by
    ``shown_rows``. The table's loop unpacks it into plain names and prints them with autoescape
    off (templates/leads/index.html): an escape call, attribute look-up or filter per value cost
    the page more than the row's other work. Every text here is ``Markup``, escaped once."""

    id: int
    name: Markup
    tags: list[Markup]
    organization: Markup        # "—" when none
    contact: Markup             # the email, else the phone, else "—"
    stage: Markup               # "—" when none
    owner: Markup               # "Unassigned" when none
    source: Markup              # "—" when none
    temperature: Markup
    value: Markup               # the lead_value macro's short form (templates/_money.html): "29,000 AUD"
    in_base: Markup | None      # "≈ $19,140 USD"
    in_base_title: Markup | None
    created_day: Markup         # the reader's day it was created


def shown_rows(rows: list[LeadRow], rates: Rates, zone) -> list[ShownRow]:
    """The rows as the table prints them (see ``ShownRow``). Stage, owner, source, temperature,
    tags and days repeat down a page: each is escaped once per page."""
    escaped: dict[str, Markup] = {}

    def once(text: str) -> Markup:
        kept = escaped.get(text)
        if kept is None:
            kept = escaped[text] = escape(text)
        return kept

    shown = []
    for row in rows:
        in_base = lead_value_in_base(row.value_cents, row.currency, rates)
        shown.append(ShownRow(
            row.id, escape(row.name), [once(tag) for tag in row.tags], escape(row.organization_name or "—"),
            escape(row.email or row.phone or "—"), once(row.stage_name or "—"), once(row.owner_name or "Unassigned"),
            once(row.source or "—"), once(row.temperature), escape(money(row.value_cents, row.currency)),
            in_base and escape(in_base.short_text()), in_base and escape(in_base.title(zone)),
            once(format_day(row.created_at, zone))))
    return shown


def count_leads(filters: LeadFilters, base) -> tuple[int, bool]:
    """(number of matching leads, whether it is exact).

    Filtered counts stop at COUNT_CAP (shown as "N+"). The whole list is counted exactly on
    both databases from the kept per-stage counts (``live_lead_count``), never from the leads."""
    if not filters.active:
        return live_lead_count(), True
    total = _capped_count(base)
    return min(total, COUNT_CAP), total <= COUNT_CAP


def _capped_count(base) -> int:
    """How many rows ``base`` has, counted no further than COUNT_CAP + 1."""
    capped = base.with_only_columns(Lead.id).order_by(None).limit(COUNT_CAP + 1).subquery()
    return db.session.scalar(db.select(func.count()).select_from(capped))


# The live leads: the kept per-stage counts (``pipeline.totals``, written by the lead store in
# every write's transaction, as the board's column headers read them) and the live leads in no
# stage (a range of ``ix_leads_board``). Counting the table cost PostgreSQL 5 to 9 ms at 100,000
# leads (its COUNT reads every row's visibility), which is why it used to show the planner's
# estimate ("about N") over 20,000 leads and count only for a page in the back half; SQLite
# 1 to 2 ms (the smallest index, page by page). Built once.
# The kept counts are read at the statement's top level: the lead store then writes what this
# transaction has yet to add to them before it runs (``store._totals_read``).
_LIVE_LEADS = db.select(
    func.coalesce(func.sum(StageTotals.lead_count), 0)
    + db.select(func.count()).select_from(Lead).where(Lead.stage_id.is_(None), Lead.deleted_at.is_(None))
    .scalar_subquery())


def live_lead_count() -> int:
    """How many live leads there are: one statement, whatever their number."""
    return db.session.scalar(_LIVE_LEADS)


def lead_rows(page, order: list) -> tuple[list[LeadRow], int | None]:
    """The rows of the leads ``page`` selects (a paged SELECT of lead ids, maybe with a window
    count after the id), in ``order`` (the list's), with their tags, and that count if there is
    one. One statement: ``page`` pages the ids alone in a subquery (an index walk) and only the
    rows it keeps are read whole; reading the ids first cost a statement more, and a bound
    parameter per id (PostgreSQL, a search: 0.6 ms). A row per tag (a lead has few). Owner and
    stage names come from the kept reference data, the organization's name from a subquery by
    its id: joining the three tables made PostgreSQL plan longer and hash the organizations
    (1.7 ms for 100 rows instead of 0.8)."""
    paged = page.subquery("page")
    organization = (db.select(Organization.name).where(Organization.id == Lead.organization_id)
                    .correlate(Lead).scalar_subquery())
    result = db.session.execute(
        db.select(Lead.id, Lead.first_name, Lead.last_name, Lead.email, Lead.phone, Lead.source,
                  Lead.temperature, Lead.value_cents, Lead.currency, Lead.created_at,
                  organization, Lead.owner_id, Lead.stage_id, Tag.name, *list(paged.c)[1:])
        .select_from(paged)
        .join(Lead, Lead.id == list(paged.c)[0])
        .outerjoin(lead_tags, lead_tags.c.lead_id == Lead.id)
        .outerjoin(Tag, Tag.id == lead_tags.c.tag_id)
        .order_by(*order, Tag.name_key)
    )
    rows, owner_ids, stage_ids, matched = {}, {}, {}, None
    for record in result:
        row = rows.get(record[0])
        if row is None:
            row = rows[record[0]] = LeadRow(*record[:11])
            owner_ids[row.id], stage_ids[row.id] = record[11], record[12]
        if record[13] is not None:
            row.tags.append(record[13])
        matched = record[14] if len(record) > 14 else None
    owners = _names(user_names(), owner_ids.values(), User)
    stages = _names(stage_names(), stage_ids.values(), Stage)
    for row in rows.values():
        row.owner_name, row.stage_name = owners.get(owner_ids[row.id]), stages.get(stage_ids[row.id])
    return list(rows.values()), matched


def paged(ids, page: int, per_page: int, *, written: bool):
    """``ids`` (an ordered SELECT of lead ids) at page ``page``, with one row more to tell
    whether a next page exists. ``written``: the first page's LIMIT is written into the
    statement and it has no OFFSET, so that PostgreSQL runs it with one generic plan instead of
    planning it again on every request (a bound LIMIT or OFFSET is costed as a tenth of the
    table, which rules the generic plan out: 0.25-0.3 ms of planning, most of running it)."""
    if page == 1 and written:
        return ids.limit(plan_limit(per_page + 1))
    return ids.limit(per_page + 1).offset((page - 1) * per_page)


def capped(ids, rows: int, most: int):
    """The first ``rows`` of ``ids`` (an ordered SELECT of lead ids; ``rows`` is ``most`` or
    fewer) in a statement that PostgreSQL plans alike whatever ``rows`` is, so that it runs with
    one generic plan (planning it on every request took 0.35-0.6 ms at 100,000 leads, as long as
    running it): ``rows`` is out of the planner's sight (``unseen_by_planner``) and a written
    LIMIT of ``most`` around it tells the planner how few rows can come (a LIMIT it cannot see is
    costed as a tenth of the table, whose plan would hash the table whole)."""
    inner = ids.limit(unseen_by_planner(rows)).subquery("capped")
    return db.select(inner.c.id).limit(plan_limit(most))


def _names(kept: dict[int, str], ids, model) -> dict[int, str]:
    """``kept`` names by id, and those of ``ids`` it lacks read from ``model``'s table: a user
    or stage made by another process after this request read the reference versions."""
    missing = {i for i in ids if i is not None and i not in kept}
    if not missing:
        return kept
    read = db.session.execute(db.select(model.id, model.name).where(model.id.in_(missing)))
    return {**kept, **{row.id: row.name for row in read}}


# A search through the index matching more live leads than this, in an order that an index of
# live leads walks (``WALKED_SORTS``: the list's own, newest or oldest first), shows "2,000+
# leads" and reads its page by walking the list in that order, checking each lead's text,
# until the page is full: reading and sorting every match cost more than the walk the more
# leads match. At 100,000 leads, "example" (in nearly every email) took 174 ms of CPU on
# SQLite and 690 ms on a loaded PostgreSQL, now 33 and 100; "son" (6,737 leads) 27 → 20 ms.
DENSE_SEARCH = 2_000
WALKED_SORTS = ("created",)


def page_of_rows(filters: LeadFilters, base, rates: Rates, viewer: User) -> tuple[int, list[LeadRow], int, bool]:
    """(the page shown, its rows and the next one if any, the number of matching leads,
    whether it is exact) for the list ``base`` (``filtered_leads``
    of ``filters`` for ``viewer``)."""
    per_page = filters.per_page
    order = lead_order(filters, rates)

    def page_rows(page: int, counted: bool = False) -> tuple[list[LeadRow], int | None]:
        ids = base.with_only_columns(Lead.id, *([func.count().over()] if counted else [])).order_by(*order)
        # The whole list's first page (the one most opened) writes its LIMIT. A filtered list's
        # plan depends on the filter's values (a rep's few leads, the busiest rep's many), and
        # a later page's on its OFFSET: both stay bound.
        return lead_rows(paged(ids, page, per_page, written=not filters.active), order)

    def back_page_rows(page: int, total: int) -> list[LeadRow]:
        # A page in the back half of an exactly counted list is paged from its end, in the
        # reverse order (lead_rows puts them back in the list's): the same rows as OFFSET would
        # give, without walking past every row before them (the last of 100,000 leads: 0.1 ms
        # instead of 4 to 7). The last page starts at the end: no OFFSET. Its LIMIT (the rows
        # left) changes with the list's length: the statement is planned alike for any (``capped``).
        start, end = (page - 1) * per_page, min(page * per_page + 1, total)
        ids = (base.with_only_columns(Lead.id).order_by(*lead_order(filters, rates, reverse=True))
               .offset((total - end) or None))
        return lead_rows(capped(ids, end - start, per_page + 1), order)[0]

    def searched_rows(page: int) -> tuple[list[LeadRow], int | None]:
        # page_rows(page, counted=True) for a sort of WALKED_SORTS, reading no more than
        # DENSE_SEARCH + 1 matches: the sort's columns are read in a subquery that stops there.
        found = (base.with_only_columns(*SORTS[filters.sort], Lead.id).limit(plan_limit(DENSE_SEARCH + 1))
                 .subquery("found"))
        ids = db.select(found.c.id, func.count().over()).order_by(*lead_order(filters, rates, columns=found.c))
        return lead_rows(paged(ids, page, per_page, written=True), order)

    if indexed_words(filters.q):
        # A search through the index reads every match before ordering them (see ``_live``):
        # the same statement counts them (a window count), rather than a second one reading
        # them all again. No row (past the last page, or no match) leaves the count unknown.
        walks = filters.sort in WALKED_SORTS
        if walks and (filters.page - 1) * per_page > DENSE_SEARCH:
            rows, matched = [], DENSE_SEARCH + 1  # only a search matching many leads has this page
        else:
            rows, matched = searched_rows(filters.page) if walks else page_rows(filters.page, counted=True)
        if walks and (matched or 0) > DENSE_SEARCH:
            walked = filtered_leads(filters, viewer, rates, walked=True)
            rows = lead_rows(walked.with_only_columns(Lead.id).order_by(*order).limit(per_page + 1)
                             .offset((filters.page - 1) * per_page), order)[0]
            if rows or filters.page == 1:
                return filters.page, rows, DENSE_SEARCH, False
        elif rows or filters.page == 1:
            matched = matched or 0
            return filters.page, rows, min(matched, COUNT_CAP), matched <= COUNT_CAP
    rows = page_rows(1)[0] if filters.page == 1 else None
    if rows is not None and len(rows) <= min(per_page, COUNT_CAP):
        total, exact = len(rows), True  # the whole list fits on its first page: no count
    else:
        total, exact = count_leads(filters, base)
    pages = max(1, math.ceil(total / per_page))
    page = min(filters.page, pages) if exact else filters.page
    if exact and 2 * (page - 1) * per_page > total:
        rows = back_page_rows(page, total)
    elif rows is None or page != 1:
        rows = page_rows(page)[0]
    return page, rows, total, exact


def lead_list_context(filters: LeadFilters, viewer: User) -> dict:
    rates = current_rates()
    base = filtered_leads(filters, viewer, rates)
    page, rows, total, exact = page_of_rows(filters, base, rates, viewer)
    pages = max(1, math.ceil(total / filters.per_page))
    has_next = len(rows) > filters.per_page
    leads = shown_rows(rows[:filters.per_page], rates, user_zone(viewer))
    first_row = (page - 1) * filters.per_page + 1 if leads else 0
    return {
        "leads": leads, "total": total, "exact": exact, "page": page, "pages": pages if exact else None,
        "has_next": has_next, "filters": filters, "base_currency": rates.base, "money_rates": rates,
        "unrated_currencies": currencies_without_rate(rates) if filters.by_value else [],
        "first_row": first_row, "last_row": first_row + len(leads) - 1 if leads else 0,
        **filter_options(),
    }


def currencies_without_rate(rates: Rates) -> list[str]:
    """Currencies live leads have a value in that no rate converts to the base: read from the
    kept per-stage totals, and from the leads without a stage (an index walk), never a scan."""
    kept = db.select(StageCurrencyTotals.currency).where(StageCurrencyTotals.value_count > 0)
    stageless = db.select(Lead.currency).where(Lead.stage_id.is_(None), Lead.deleted_at.is_(None),
                                               Lead.value_cents.is_not(None))
    used = set(db.session.scalars(kept.union(stageless)))
    return sorted(c for c in used if c and c != rates.base and rates.get(c) is None)


def filter_options() -> dict:
    tags = refcache.cached(("tags",), "tag names",
                           lambda: tuple(db.session.scalars(db.select(Tag.name).order_by(Tag.name_key))))
    return {
        "owners": menu_users(), "tags": tags, "stages": stage_choices(), "sources": SOURCES,
        "lifecycles": LIFECYCLES, "temperatures": TEMPERATURES, "sort_labels": SORT_LABELS,
        "page_sizes": PAGE_SIZES,
    }


def load_lead_for_page(lead_id: int) -> Lead | None:
    """The lead with what its page shows of it: owner, organization, stage and pipeline joined
    in one query. On PostgreSQL its tags are joined too (one round trip less; the planner walks
    the lead's tag rows by the lead's key). On SQLite they come in a second query by the lead's
    id: joined, SQLite builds the tag join for every tagged lead before picking this lead's rows
    (18 ms at 100,000 leads instead of 0.1 ms)."""
    tags = joinedload(Lead.tags) if db.engine.dialect.name == "postgresql" else selectinload(Lead.tags)
    return db.session.execute(
        db.select(Lead).options(joinedload(Lead.owner), joinedload(Lead.organization), joinedload(Lead.stage),
                                joinedload(Lead.pipeline), tags)
        .where(Lead.id == lead_id)
    ).unique().scalar_one_or_none()


def trash_context(viewer: User, page: int = 1, per_page: int = 50) -> dict:
    base = db.select(Lead).where(Lead.deleted_at.is_not(None), editable_leads_clause(viewer))
    total = db.session.scalar(base.with_only_columns(func.count(Lead.id)).order_by(None))
    leads = db.session.scalars(
        base.options(joinedload(Lead.organization)).order_by(Lead.deleted_at.desc())
        .limit(per_page).offset((page - 1) * per_page)
    ).all()
    return {"leads": leads, "total": total, "page": page, "pages": max(1, math.ceil(total / per_page))}
