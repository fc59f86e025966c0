"""The lead store: the one place that writes lead rows, their stage history, the timeline
entries a write makes, and the board's stage totals; and that tells the other areas.

Every write is set-based: one statement for a batch of leads, whatever its size, on SQLite
and PostgreSQL alike, and the totals change by what the batch added or took away
(``UPDATE … SET n = n + :delta``), so concurrent writers never lose an update. After the
write, one event for the batch (``leads.events``: ``leads_arrived``, ``leads_moved``,
``leads_changed``); new leads created in a request or a sweep have theirs after the commit
(``leads.arrivals`` queues it in the same transaction, a sweep runs it exactly once).

- Inserting (``insert_leads``): ``INSERT … ON CONFLICT (email_key) WHERE <live email> DO
  NOTHING`` against the partial unique index ``uq_leads_live_email_key`` (one live lead per
  normalised email), so two requests creating the same new address at the same time make
  one lead: the loser's row is not inserted and the store says which live lead already holds
  the email. Callers then update that lead (``leads.intake``), tell the user (the web form,
  restore: ``errors.EmailTaken``) or report the row (the import).
- Moving (``move_leads``): the board, the lead form, the API and a stage deleted with its
  leads all move leads here: stage, pipeline, time entered, lifecycle on a won stage, a
  ``StageChange`` row and a timeline entry per lead, the totals of both stages, then
  ``leads.moved``.
- System changes (``update_columns``): a column the system sets (scoring's temperature and
  lifecycle, routing's owner) is written here and announced with ``leads.changed`` like a
  person's edit, so a workflow rule on "temperature changes" fires whoever changed it.

Still to move here (issue 14): the import's own derivation of a new lead's columns in its
cleaning process (it calls ``search_text_for`` like ``derive`` does, but not ``derive`` itself).
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache, wraps
from itertools import chain
from typing import NamedTuple

from sqlalchemy import ClauseElement, ColumnElement, String, and_, bindparam, cast, event, func, literal, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import attributes
from sqlalchemy.orm.exc import StaleDataError

from leadflow.accounts.models import User
from leadflow.activities.models import Activity
from leadflow.db import (MULTI_ROW_MAX, NEW_ROW_ID, Alongside, chunked, conflict_insert, held_as_loaded, holds_inserts,
                         insert_all, insert_one_with_held, inserts_together, utcnow)
from leadflow.errors import EmailTaken, WriteOutsideStore
from leadflow.extensions import db
from leadflow.governance.audit import actor_name, changed_fields, event_row, record_changes
from leadflow.governance.models import AuditEntry
from leadflow.leads import arrivals, events
from leadflow.leads.arrival_models import LeadArrival
from leadflow.leads.fields import search_text_for
from leadflow.leads.models import BOARD_ORDER, LIVE_EMAIL_WHERE, Lead, LifecycleChange, lead_tags
from leadflow.organizations.models import Organization
from leadflow.pipeline import totals
from leadflow.pipeline.models import Stage, StageChange, StageCurrencyTotals, StageTotals
from leadflow.pipeline.totals import add_to_totals as _add_to_totals

# Ids per statement: well under every driver's limit on bound parameters.
CHUNK = 1000


# --- the one writer ------------------------------------------------------------------------------

# The tables only the store writes. ``guard(engine)`` (on in tests, ``LEAD_STORE_GUARD``) makes
# any INSERT, UPDATE or DELETE of them that does not run inside a store function an error,
# whoever issues it (the ORM flushing a changed Lead, a Core statement, another area's SQL).
OWNED_TABLES = ("leads", "stage_changes", "lifecycle_changes", "stage_totals", "stage_currency_totals")
_WRITE = re.compile(r'^\s*(?:INSERT\s+INTO|UPDATE|DELETE\s+FROM)\s+"?(' + "|".join(OWNED_TABLES) + r')"?(?:[\s(]|$)',
                    re.IGNORECASE)
_WRITING: ContextVar[bool] = ContextVar("lead_store_writing", default=False)
# Set around what the product runs (a request, a scheduler tick): test code arranging data
# for a test writes directly, as a fixture would.
_GUARDED: ContextVar[bool] = ContextVar("lead_store_guarded", default=False)


@contextmanager
def writing() -> Iterator[None]:
    """Statements run inside are the store's own (every public writer below runs in it;
    migrations still say so themselves)."""
    token = _WRITING.set(True)
    try:
        yield
    finally:
        _WRITING.reset(token)


def _writer(func):
    @wraps(func)
    def run(*args, **kwargs):
        if _WRITING.get():
            return func(*args, **kwargs)
        # What the caller changed on ORM objects is flushed as the caller's, outside the store.
        db.session.flush()
        with writing():
            return func(*args, **kwargs)

    return run


def _announce(emit, *args, **kwargs):
    """Tell listeners, outside the store's own context: what a handler writes to a lead must
    go through the store again, like any other area's write."""
    token = _WRITING.set(False)
    try:
        return emit(*args, **kwargs)
    finally:
        _WRITING.reset(token)


@contextmanager
def guarded() -> Iterator[None]:
    """Writes of the store's tables inside must come from the store (where ``guard`` is on)."""
    token = _GUARDED.set(True)
    try:
        yield
    finally:
        _GUARDED.reset(token)


class GuardedRequests:
    """WSGI middleware: every request runs ``guarded``."""

    def __init__(self, wsgi_app):
        self.wsgi_app = wsgi_app

    def __call__(self, environ, start_response):
        with guarded():
            return self.wsgi_app(environ, start_response)


def _check(conn, cursor, statement, parameters, context, executemany):
    match = _WRITE.match(statement) if _GUARDED.get() else None
    if match and not _WRITING.get():
        raise WriteOutsideStore(f"{match.group(1)} written outside the lead store: {statement[:120]}")


def guard(app, engine) -> None:
    """Refuse writes of the store's tables from anywhere else on this engine, in requests and
    scheduler ticks (``guarded``)."""
    if not event.contains(engine, "before_cursor_execute", _check):
        event.listen(engine, "before_cursor_execute", _check)
    app.wsgi_app = GuardedRequests(app.wsgi_app)

# The clause every lead insert ends with (raw SQL writers append it to their VALUES).
ON_EMAIL_CONFLICT = f"ON CONFLICT (email_key) WHERE {LIVE_EMAIL_WHERE} DO NOTHING"


@dataclass
class InsertedLeads:
    """What ``insert_leads`` did with each row, by its position in the rows given."""

    ids: list[int | None]  # the new lead's id, or None when the row was not inserted
    taken: dict[int, int] = field(default_factory=dict)  # position → id of the live lead holding its email
    # The new leads the session holds as loaded (a single lead's create), kept alive with the
    # answer: the session holds its objects weakly.
    held: list[Lead] = field(default_factory=list)

    @property
    def inserted(self) -> list[int]:
        return [i for i in self.ids if i is not None]


def _skipping_taken_emails(whole: bool):
    """``insert`` (an INSERT of leads) … ON CONFLICT (live email) DO NOTHING RETURNING
    email_key, id (``whole``: every column)."""
    table = Lead.__table__
    returned = list(table.c) if whole else [table.c.email_key, table.c.id]
    return lambda insert: insert.on_conflict_do_nothing(
        index_elements=[table.c.email_key], index_where=text(LIVE_EMAIL_WHERE)).returning(*returned)


def _insert_skipping_taken_emails(whole: bool = False):
    """INSERT … ON CONFLICT (live email) DO NOTHING RETURNING email_key, id (``whole``: every column)."""
    skipping = _skipping_taken_emails(whole)
    return conflict_insert(("leads", "skip taken emails", whole), lambda insert: skipping(insert(Lead.__table__)))


_LIVE_EMAIL_HOLDER = db.select(Lead.__table__.c.email_key, Lead.__table__.c.id).where(
    Lead.__table__.c.email_key == bindparam("email_key"), Lead.__table__.c.deleted_at.is_(None))


def email_holders(email_keys: Sequence[str], exclude_id: int | None = None) -> dict[str, int]:
    """email key → id of the live lead that holds it (at most one each, the index says so)."""
    keys = sorted({k for k in email_keys if k})
    if len(keys) == 1 and exclude_id is None:  # a create, a submission: the statement built once
        return dict(db.session.execute(_LIVE_EMAIL_HOLDER, {"email_key": keys[0]}).all())
    found: dict[str, int] = {}
    table = Lead.__table__
    for start in range(0, len(keys), 500):
        chunk = keys[start:start + 500]
        # One key compares with ``=``: an IN list is expanded into the statement's text at
        # every execution, which costs more than the query itself.
        query = db.select(table.c.email_key, table.c.id).where(
            table.c.email_key == chunk[0] if len(chunk) == 1 else table.c.email_key.in_(chunk),
            table.c.deleted_at.is_(None))
        if exclude_id is not None:
            query = query.where(table.c.id != exclude_id)
        found.update(db.session.execute(query).all())
    return found


@_writer
def insert_leads(rows: Sequence[dict], *, with_held: bool = False) -> InsertedLeads:
    """Insert lead rows (column → value, the same columns in every row; the others take their
    defaults), skipping any
    whose email a live lead already has, that lead committed earlier or in a transaction
    that commits while this one waits for it (PostgreSQL waits on the index entry; SQLite
    has one writer at a time). Two rows of ``rows`` with one email: the first one wins.

    Rows with an email go in one ``INSERT … ON CONFLICT DO NOTHING RETURNING id, email_key``
    (matched back by their key); rows without one cannot conflict and go in one ordered
    ``INSERT … RETURNING id``. Flushes nothing of the ORM session; the caller commits.
    ``with_held`` (one row with an email, inside ``inserts_together`` on PostgreSQL): the rows
    the block holds (the lead's tags, history, arrival) go in its statement
    (``insert_one_with_held``).
    """
    ids: list[int | None] = [None] * len(rows)
    with_email = [i for i, row in enumerate(rows) if row.get("email_key")]
    without = [i for i, row in enumerate(rows) if not row.get("email_key")]
    table = Lead.__table__
    if with_email:
        # One lead (the form, the API, a capture form): its whole row comes back, and the session
        # holds it as loaded, so showing the new lead reads nothing again.
        whole = len(rows) == 1
        if with_held:
            one = insert_one_with_held(("leads", "skip taken emails"), table, rows[0],
                                       _skipping_taken_emails(whole=True))
            found = [one] if one is not None else []
        else:
            found = db.session.execute(_insert_skipping_taken_emails(whole), [rows[i] for i in with_email]).all()
        held = [held_as_loaded(Lead, row) for row in found] if whole else []
        by_key = {row.email_key: row.id for row in found}
        claimed: set[str] = set()
        for i in with_email:
            key = rows[i]["email_key"]
            if key in by_key and key not in claimed:
                ids[i] = by_key[key]
                claimed.add(key)
    if without:
        new_ids = db.session.execute(
            table.insert().returning(table.c.id, sort_by_parameter_order=True), [rows[i] for i in without]).scalars().all()
        for i, lead_id in zip(without, new_ids):
            ids[i] = lead_id
    missed = [i for i in with_email if ids[i] is None]
    holders = email_holders([rows[i]["email_key"] for i in missed]) if missed else {}
    taken = {i: holders[rows[i]["email_key"]] for i in missed if rows[i]["email_key"] in holders}
    return InsertedLeads(ids, taken, held if with_email else [])


# The first history of an import's new leads ("Lead created", the stage, the lifecycle), read
# from {leads} (the leads table, or the RETURNING of their insert) where {new}: what
# ``create_leads`` writes for every other channel. An activity's parameters are (actor id,
# time, subject, time), a change's (actor id, time), each followed by those of {new}.
_IMPORTED_HISTORY = (
    ("INSERT INTO activities (lead_id, kind, actor_id, occurred_at, subject, body, created_at) "
     "SELECT id, 'system', ?, ?, ?, NULL, ? FROM {leads} WHERE {new} ORDER BY id", True),
    ("INSERT INTO stage_changes (lead_id, from_stage_id, to_stage_id, actor_id, at) "
     "SELECT id, NULL, stage_id, ?, ? FROM {leads} WHERE {new} AND stage_id IS NOT NULL ORDER BY id", False),
    ("INSERT INTO lifecycle_changes (lead_id, from_lifecycle, to_lifecycle, actor_id, at) "
     "SELECT id, NULL, lifecycle, ?, ? FROM {leads} WHERE {new} ORDER BY id", False),
)


def _history_parameters(actor_id: int | None, subject: str, at) -> list[tuple]:
    return [(actor_id, at, subject, at) if activity else (actor_id, at) for _, activity in _IMPORTED_HISTORY]


@_writer
def insert_imported_history(raw, job_id: int, after_id: int, *, actor_id: int | None, subject: str,
                            at) -> None:
    """The import's new leads (those of ``job_id`` past ``after_id``) get their first stage
    change and their "Lead created" entry, straight from the leads, through the import's
    driver connection (``raw``) (SQLite; PostgreSQL writes them in ``insert_imported``)."""
    for (sql, _), params in zip(_IMPORTED_HISTORY, _history_parameters(actor_id, subject, at)):
        raw.execute(sql.format(leads="leads", new="import_job_id = ? AND id > ?"), (*params, job_id, after_id))


@_writer
def insert_imported(raw, columns: list[str], rows: list[tuple], links: list[tuple[float, int]], *,
                    actor_id: int | None, subject: str, at) -> dict[float, int]:
    """PostgreSQL's fast path for the import: ``rows`` as ``insert_rows`` writes them, their
    tags (``links``: board rank, tag id) and their first history (``_IMPORTED_HISTORY``) in one
    statement from the rows copied in (``RawWriter.staged``); returns board rank → id of the
    leads inserted, from its RETURNING. A row missing there was not inserted because a live
    lead has its email. (Written apart, the history read the chunk's new leads back three
    times, and their ids a fourth: five statements more a chunk.)"""
    history = ", ".join(f"history{n} AS ({sql.format(leads='new', new='TRUE')})"
                        for n, (sql, _) in enumerate(_IMPORTED_HISTORY))
    ranks, tag_ids = raw.array([rank for rank, _ in links]), raw.array([tag_id for _, tag_id in links])
    with raw.staged(Lead.__table__, columns, rows) as (staging, names):
        return dict(raw.rows(
            f"WITH new AS (INSERT INTO leads ({names}) SELECT {names} FROM {staging} ORDER BY import_order "
            f"{ON_EMAIL_CONFLICT} RETURNING id, board_rank, stage_id, lifecycle), {history}, "
            "tagged AS (INSERT INTO lead_tags (lead_id, tag_id) SELECT new.id, link.tag_id "
            "FROM unnest(?::float8[], ?::int[]) WITH ORDINALITY AS link(board_rank, tag_id, n) "
            "JOIN new USING (board_rank) ORDER BY link.n) "
            "SELECT board_rank, id FROM new",
            (*chain.from_iterable(_history_parameters(actor_id, subject, at)), ranks, tag_ids)))


def announce_imported(ids: Sequence[int]) -> None:
    """Tell listeners about an import's new leads (``leads.arrived``, channel "import"), when
    the person who started it asked for the new-lead rules; the import wrote them with
    ``insert_rows`` and ``insert_imported_history``, or ``insert_imported``."""
    _announce(events.leads_arrived, list(ids), "import")


@_writer
def add_to_totals(deltas: dict[tuple[int, str], list[int]]) -> None:
    """Add what a bulk insert counted itself (the import's chunk) to the board totals."""
    _add_to_totals(db.session.connection(), deltas)


@_writer
def insert_rows(raw, columns: list[str], rows: list[tuple]) -> None:
    """The import's fast path: ``rows`` (tuples in ``columns`` order) through the driver
    (``imports.rawsql.RawWriter.insert_many``), with the same ``ON CONFLICT`` as
    ``insert_leads``. The caller reads the new ids back (the import by job and board rank);
    a row not found there was not inserted because a live lead has its email."""
    raw.insert_many(Lead.__table__, columns, rows, suffix=ON_EMAIL_CONFLICT)


# --- creating -------------------------------------------------------------------------------

def new_card_rank(at: datetime | None = None, offset: int = 0) -> float:
    """New leads go on top of their board column: ranks ascend, so newer is smaller (the
    ``offset``-th of a batch sits above the one before it)."""
    return -((at or utcnow()).timestamp() + offset * 1e-6)


def derive(row: dict, *, organization_name: str | None, stage: Stage | None, at: datetime, offset: int = 0) -> dict:
    """Every column of a new lead that is computed from its other values: where it sits on the
    board, its pipeline and time in stage, "customer" on a won stage, and its search text.
    The one place these are decided: the import's chunk writer, which builds driver tuples
    for speed, takes them from the same functions (``stage_columns`` once per stage,
    ``new_card_rank``, and ``search_text_for``, which ``search_text`` wraps)."""
    row = {**row, **stage_columns(stage, at)}
    row.setdefault("board_rank", new_card_rank(at, offset))
    row["search_text"] = search_text(row, organization_name)
    return row


def search_text(row: dict, organization_name: str | None) -> str:
    return search_text_for(row.get("first_name") or "", row.get("last_name") or "", row.get("email"),
                           row.get("phone"), organization_name, custom_fields=row.get("custom_fields"))


@dataclass
class NewLead:
    """One lead to create: its column values (cleaned), and what is kept beside the row."""

    values: dict
    organization_name: str | None = None
    tag_ids: list[int] = field(default_factory=list)
    # More timeline entries of the new lead (kind, actor_id, occurred_at, subject, details),
    # written by the same INSERT as its own: what a submission logs about itself.
    entries: list[dict] = field(default_factory=list)


# Channels whose request answers without the new lead's history (the API's JSON, a capture
# form's thanks): in a unit of work their leads' first history rides on the arrival row and the
# ``lead_arrivals`` sweep writes it (``first_history``). The lead form ("manual") writes it
# itself: its answer sends the person to the lead's page, whose timeline shows it.
HISTORY_AFTER_COMMIT = frozenset({"api", "form"})


@_writer
def create_leads(new: Sequence[NewLead], actor, channel: str, *, at: datetime | None = None,
                 note_owner: bool = False, audit: bool = False) -> InsertedLeads:
    """Add leads, set-based: the rows (``insert_leads``: a lead whose email a live lead holds
    is not added, and ``taken`` says which lead holds it), their tags, the board totals, and
    each lead's first history (``first_history``): a ``StageChange``, a ``LifecycleChange``,
    a "Lead created" timeline entry (with ``note_owner``, an "Assigned to" entry first for
    those given an owner; then the ``NewLead``'s own entries), an audit entry with ``audit``;
    then ``leads.arrived`` for the batch, with the channel it came through. Leads of a channel
    in ``HISTORY_AFTER_COMMIT`` created in a unit of work have their history written by the
    sweep that runs their arrival, in its transaction (what the request answers does not
    show it, and the arrival row makes it impossible to lose); the others here.

    One lead with an email, in a unit of work on PostgreSQL (the form, the API, a capture
    form): its tags, history and arrival row go in the statement that inserts it
    (``insert_one_with_held``), written only if it is inserted; unless a table takes more
    rows than one statement's VALUES holds (``MULTI_ROW_MAX``: many tags)."""
    at = at or utcnow()
    stages = _held_or_read(Stage, {n.values["stage_id"] for n in new if n.values.get("stage_id")})
    rows = [derive(n.values, organization_name=n.organization_name, stage=stages.get(n.values.get("stage_id")),
                   at=at, offset=i) for i, n in enumerate(new)]
    if len({frozenset(row) for row in rows}) > 1:
        raise ValueError("every new lead of a batch gives the same columns")
    later = channel in HISTORY_AFTER_COMMIT and arrivals.queues()
    # The rest in one statement on PostgreSQL: nothing below reads what it adds.
    with inserts_together():
        if len(rows) == 1 and rows[0].get("email_key") and arrivals.queues() and holds_inserts() \
                and max(len(new[0].tag_ids), len(new[0].entries) + 2) <= MULTI_ROW_MAX:
            histories = _first_histories([(NEW_ROW_ID, new[0], rows[0])], actor, at, note_owner, audit)
            _hold_rows_of_new([(NEW_ROW_ID, new[0], rows[0])], histories, channel, at, later)
            result = insert_leads(rows, with_held=True)
            added = [(result.ids[0], new[0], rows[0])] if result.ids[0] is not None else []
        else:
            result = insert_leads(rows)
            added = [(lead_id, n, row) for lead_id, n, row in zip(result.ids, new, rows) if lead_id is not None]
            _hold_rows_of_new(added, _first_histories(added, actor, at, note_owner, audit), channel, at, later)
        if not added:
            return result
        _write_totals({}, _new_contributions(row for _, _, row in added))
        # After the commit, in a request (see leads.arrivals: their rows are written above).
        _announce(arrivals.announce, [lead_id for lead_id, _, _ in added], channel, write_first_histories)
    return result


def _first_histories(added, actor, at: datetime, note_owner: bool, audit: bool) -> dict:
    """lead id → ``first_history`` of each (lead id, ``NewLead``, row) of ``added``."""
    if not added:
        return {}
    actor_id = getattr(actor, "id", None)
    owner_ids = {row["owner_id"] for _, _, row in added if row.get("owner_id")} if note_owner else set()
    owners = {user_id: user.name for user_id, user in _held_or_read(User, owner_ids).items()} if owner_ids else {}
    by_name = actor_name(actor) if audit else None
    return {lead_id: first_history(row, actor_id, at, owner=owners.get(row.get("owner_id"), "nobody")
                                   if note_owner and row.get("owner_id") else None,
                                   entries=n.entries, audit_by=by_name) for lead_id, n, row in added}


def _hold_rows_of_new(added, histories: dict, channel: str, at: datetime, later: bool) -> None:
    """The new leads' tags, their first history unless the sweep writes it (``later``), and,
    in a unit of work, their arrival rows: written together (``inserts_together``)."""
    insert_all(lead_tags, [{"lead_id": lead_id, "tag_id": tag_id} for lead_id, n, _ in added for tag_id in n.tag_ids])
    if not later:
        _write_history(first_history_rows((lead_id, at, history) for lead_id, history in histories.items()))
    if arrivals.queues():
        insert_all(LeadArrival.__table__, arrivals.arrival_rows([lead_id for lead_id, _, _ in added], channel, at,
                                                                histories if later else None))


def first_history(row: dict, actor_id: int | None, at: datetime, *, owner: str | None = None,
                  entries: Sequence[dict] = (), audit_by: str | None = None) -> dict:
    """What a new lead's first history holds, as JSON (it waits on the arrival row): its
    stage and lifecycle, who made it, its timeline entries in order ("Assigned to ``owner``",
    "Lead created", then ``entries``: kind, actor_id, occurred_at, subject, details) and, with
    ``audit_by``, the actor's name for its audit entry. ``first_history_rows`` makes the rows."""
    timeline = [["assignment", actor_id, f"Assigned to {owner}", None, None]] if owner else []
    timeline.append(["system", actor_id, "Lead created", None, None])
    timeline += [[e["kind"], e.get("actor_id"), e["subject"],
                  None if e.get("occurred_at") in (None, at) else e["occurred_at"].isoformat(), e.get("details")]
                 for e in entries]
    history = {"actor_id": actor_id, "stage_id": row.get("stage_id"), "lifecycle": row.get("lifecycle") or "lead",
               "entries": timeline}
    if audit_by is not None:
        history["audit"] = [audit_by, f"{row['first_name']} {row['last_name']}".strip()]
    return history


class HistoryRows(NamedTuple):
    stage_changes: list[dict]
    lifecycle_changes: list[dict]
    activities: list[dict]
    audit_entries: list[dict]


def first_history_rows(items: Iterable[tuple[int, datetime, dict]], *, stages: set[int] | None = None,
                       users: set[int] | None = None) -> HistoryRows:
    """The rows of new leads' first histories (``items``: lead id, time of its create, its
    ``first_history``), each at the time of the create. With ``stages`` and ``users`` (the ids
    that still exist), a stage or person deleted since is written as no one, as the foreign
    keys' ``SET NULL`` would have made it had the row been written at once."""
    def stage(i):
        return i if stages is None or i in stages else None

    def user(i):
        return i if users is None or i in users else None

    out = HistoryRows([], [], [], [])
    for lead_id, at, history in items:
        actor_id = user(history["actor_id"])
        if history["stage_id"] is not None:
            out.stage_changes.append({"lead_id": lead_id, "from_stage_id": None, "to_stage_id": stage(history["stage_id"]),
                                      "actor_id": actor_id, "at": at})
        out.lifecycle_changes.append({"lead_id": lead_id, "from_lifecycle": None, "to_lifecycle": history["lifecycle"],
                                      "actor_id": actor_id, "at": at})
        for kind, by, subject, occurred_at, details in history["entries"]:
            out.activities.append({**_entry(lead_id, kind, user(by), subject, at), "details": details,
                                   "occurred_at": datetime.fromisoformat(occurred_at) if occurred_at else at})
        if "audit" in history:
            name, detail = history["audit"]
            out.audit_entries.append(event_row(actor_id, name, "lead", lead_id, "create", detail, at))
    return out


def _write_history(rows: HistoryRows) -> None:
    insert_all(StageChange.__table__, rows.stage_changes)
    insert_all(LifecycleChange.__table__, rows.lifecycle_changes)
    insert_all(Activity.__table__, rows.activities)
    insert_all(AuditEntry.__table__, rows.audit_entries)


@_writer
def write_first_histories(items: Sequence[tuple[int, datetime, dict]]) -> None:
    """The first histories the ``lead_arrivals`` sweep writes for its batch (lead id, time of
    the create, ``first_history``), in its transaction, before the arrival's handlers (scoring
    reads a submission's entry): one INSERT per table for the batch."""
    if not items:
        return
    stage_ids = {h["stage_id"] for _, _, h in items if h["stage_id"] is not None}
    user_ids = {h["actor_id"] for _, _, h in items} | {e[1] for _, _, h in items for e in h["entries"]}
    user_ids.discard(None)
    stages = set(db.session.scalars(db.select(Stage.id).where(Stage.id.in_(stage_ids)))) if stage_ids else set()
    users = set(db.session.scalars(db.select(User.id).where(User.id.in_(user_ids)))) if user_ids else set()
    _write_history(first_history_rows(items, stages=stages, users=users))


def write_pending_first_histories(lead_ids: Sequence[int]) -> None:
    """The first histories still waiting on these leads' arrival rows, written now and taken
    off the rows (the sweep then runs their arrival without them): for a writer that must see a
    lead's whole history at once (a merge moves the absorbed lead's history to the survivor).
    On PostgreSQL the rows are locked first, so a sweep that holds them is waited for (it wrote
    their history) and one that comes later finds none."""
    waiting = [row for row in db.session.execute(
        db.select(LeadArrival.id, LeadArrival.lead_id, LeadArrival.created_at, LeadArrival.history)
        .where(LeadArrival.lead_id.in_(list(lead_ids))).with_for_update()) if row.history]
    if not waiting:
        return
    write_first_histories([(row.lead_id, row.created_at, row.history) for row in waiting])
    db.session.execute(db.update(LeadArrival).where(LeadArrival.id.in_([row.id for row in waiting]))
                       .values(history=None).execution_options(synchronize_session=False))


def _held_or_read(model, ids: set[int]) -> dict:
    """id → object of ``model`` for ``ids``: those this session holds already (the caller
    looked its stage or owner up) without a query, the others in one."""
    held = {i: db.session.identity_map.get(db.session.identity_key(model, i)) for i in ids}
    found = {i: obj for i, obj in held.items() if obj is not None}
    missing = [i for i in ids if i not in found]
    if missing:
        found.update((obj.id, obj) for obj in db.session.scalars(db.select(model).where(model.id.in_(missing))))
    return found


def _new_contributions(rows: Iterable[dict]) -> dict[tuple[int, str], list[int]]:
    """What new lead rows add to the board totals (as ``_contributions`` counts them), from the
    values just written: no query."""
    found: dict[tuple[int, str], list[int]] = defaultdict(lambda: [0, 0, 0])
    for row in rows:
        if row.get("stage_id") is None or row.get("deleted_at") is not None:
            continue
        counts = found[row["stage_id"], row.get("currency") or Lead.__table__.c.currency.default.arg]
        counts[0] += 1
        if row.get("value_cents") is not None:
            counts[1] += 1
            counts[2] += row["value_cents"]
    return found


def _entry(lead_id: int, kind: str, actor_id: int | None, subject: str, at: datetime) -> dict:
    return {"lead_id": lead_id, "kind": kind, "actor_id": actor_id, "subject": subject[:200], "occurred_at": at,
            "created_at": at}


@_writer
def add_timeline_entry(lead_id: int, kind: str, actor, subject: str, at: datetime | None = None) -> Activity:
    """One entry the system writes on a lead's timeline (an assignment, a merge, a note)."""
    activity = Activity(lead_id=lead_id, kind=kind, actor_id=getattr(actor, "id", None), subject=subject,
                        occurred_at=at or utcnow())
    db.session.add(activity)
    return activity


# --- leads that arrive with a past (the demo workspace) -------------------------------------------

@contextmanager
def indexes_built_after_load(*, enabled: bool = True):
    """On SQLite, drop the lead table's secondary indexes for a big load (the demo's 100,000
    leads) and build them again after, in the same transaction.

    Building an index once over sorted keys is several times faster than updating it on every
    insert with random keys (emails, phones, organizations). The statements are the exact ones
    stored in the schema, so the unique ones hold again once the load is in: a load that broke
    one fails there, as a whole.
    """
    connection = db.session.connection()
    if not enabled or connection.dialect.name != "sqlite":
        yield
        return
    indexes = connection.exec_driver_sql(
        "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = ? AND sql IS NOT NULL",
        (Lead.__tablename__,),
    ).all()
    for name, _sql in indexes:
        connection.exec_driver_sql(f'DROP INDEX "{name}"')
    try:
        yield
    finally:
        for _name, sql in indexes:
            connection.exec_driver_sql(sql)


def reserve_ids(table, count: int) -> list[int]:
    """``count`` fresh primary keys of ``table``, so rows hanging off new rows can be built before
    they are written. PostgreSQL hands them out from the column's sequence (safe next to other
    writers); SQLite continues after the highest id, safe because the writing transaction holds
    the database's write lock from its first statement (BEGIN IMMEDIATE)."""
    if count <= 0:
        return []
    if db.session.get_bind().dialect.name == "postgresql":
        return list(db.session.scalars(
            text("SELECT nextval(pg_get_serial_sequence(:table, 'id')) FROM generate_series(1, :count)"),
            {"table": table.name, "count": count}))
    start = (db.session.scalar(db.select(func.max(table.c.id))) or 0) + 1
    return list(range(start, start + count))


@_writer
def insert_past_leads(new: Sequence[NewLead], stage_changes: Sequence[Sequence[dict]],
                      entries: Sequence[Sequence[dict]],
                      lifecycle_changes: Sequence[Sequence[dict]] | None = None) -> list[int]:
    """Add leads that arrive with a past already lived (the demo workspace's): each row as it
    stands today (its stage and time in it, owner, lifecycle, created and updated in the past),
    its stage history (``stage_changes``, per lead: from, to, actor, at; the first from no
    stage) and the timeline entries the system wrote on the way (``entries``, per lead: "Lead
    created", "Assigned to", "Moved from A to B" with their times), its lifecycle history
    (``lifecycle_changes``, per lead: from, to, actor, at; without it, one row for the lifecycle
    it has, at its creation). Returns the new ids in
    order (reserved first, so the caller can hang its own rows on them). The search text is
    derived here; tags, history, entries and the board totals (by what the rows add) are
    written with one executemany each. A plain INSERT: an email a live lead holds fails on the
    unique index, so the caller brings fresh emails.

    No ``leads.arrived``: these leads did not just arrive. Routing, new-lead alerts and
    speed-to-lead timers would treat a made-up past as fresh enquiries (hundreds of e-mails
    for a seeded workspace), and scoring would write a score history the lead never had; the
    caller scores them without a trail (``update_rows``)."""
    table = Lead.__table__
    ids = reserve_ids(table, len(new))
    rows, links, changes, written, lifecycles = [], [], [], [], []
    deltas: dict[tuple[int, str], list[int]] = defaultdict(lambda: [0, 0, 0])
    lifecycle_history = lifecycle_changes or [None] * len(new)
    for lead_id, lead, history, timeline, lived in zip(ids, new, stage_changes, entries, lifecycle_history):
        row = {**lead.values, "id": lead_id, "search_text": search_text(lead.values, lead.organization_name)}
        rows.append(row)
        links += [{"lead_id": lead_id, "tag_id": tag_id} for tag_id in dict.fromkeys(lead.tag_ids)]
        changes += [{**change, "lead_id": lead_id} for change in history]
        lifecycles += ([{**change, "lead_id": lead_id} for change in lived] if lived is not None else
                       [{"lead_id": lead_id, "from_lifecycle": None, "to_lifecycle": row.get("lifecycle") or "lead",
                         "actor_id": None, "at": row.get("created_at") or utcnow()}])
        written += [{**entry, "lead_id": lead_id} for entry in timeline]
        if row.get("stage_id") is not None and row.get("deleted_at") is None:
            delta = deltas[row["stage_id"], row["currency"]]
            delta[0] += 1
            if row.get("value_cents") is not None:
                delta[1] += 1
                delta[2] += row["value_cents"]
    for statement, batch in ((table.insert(), rows), (lead_tags.insert(), links),
                             (StageChange.__table__.insert(), changes), (Activity.__table__.insert(), written),
                             (LifecycleChange.__table__.insert(), lifecycles)):
        if batch:
            db.session.execute(statement, batch)
    _add_to_totals(db.session.connection(), deltas)
    return ids


@_writer
def update_rows(rows: Sequence[dict], actor=None, *, announce: Iterable[str] | None = ()) -> None:
    """``update_columns`` with each lead's own values: ``rows`` are ``{"id": lead id, column:
    value…}``, the same columns in each, written with one executemany UPDATE (no version bump),
    then ``leads.changed`` with ``announce``. ``announce=None`` tells nobody: only for a writer
    whose own code says why nothing downstream may act (the demo's first scores)."""
    if not rows:
        return
    columns = [key for key in rows[0] if key != "id"]
    _refuse_counted(columns, "update_rows")
    table = Lead.__table__
    if "lifecycle" in columns:
        _record_lifecycles(table.c.id == bindparam("lead_id_"), bindparam("to_lifecycle_"), actor, utcnow(),
                           [{"lead_id_": row["id"], "to_lifecycle_": row["lifecycle"]} for row in rows])
    statement = (table.update().where(table.c.id == bindparam("lead_id_"))
                 .values({column: bindparam(column) for column in columns}))
    db.session.execute(statement, [{"lead_id_": row["id"], **{c: row[c] for c in columns}} for row in rows])
    by_id = {row["id"]: row for row in rows}
    for obj in _session_leads(by_id):
        for column in columns:
            attributes.set_committed_value(obj, column, by_id[obj.id][column])
    if announce is not None:
        _announce(events.leads_changed, list(by_id), actor, announce)


# Columns that count on the board: only the writers that keep the totals in step change them.
COUNTED = frozenset({"stage_id", "value_cents", "currency", "deleted_at"})


def _refuse_counted(columns: Iterable[str], writer: str) -> None:
    counted = COUNTED & set(columns)
    if counted:
        raise ValueError(f"{writer} cannot write {sorted(counted)}")


# --- changing one lead --------------------------------------------------------------------------

_KEEP = object()


class ColumnTop(NamedTuple):
    """A card's place at the top of stage ``stage_id``'s board column: above its first other
    card (0 in an empty column), worked out by the UPDATE that puts it there, where reading the
    first card's rank first cost a round trip of its own."""

    stage_id: int


# The rank a ``ColumnTop`` stands for: the first other card in board order, not min(board_rank):
# PostgreSQL reads that from the board index (see ``BOARD_ORDER``), where min() scanned the
# whole column (0.4 s at 100,000 leads). Built once: the stage and the lead are its parameters.
_COLUMN_TOP = func.coalesce(db.select(Lead.board_rank).where(
    Lead.stage_id == bindparam("top_stage_id_"), Lead.deleted_at.is_(None), Lead.id != bindparam("lead_id_"))
    .order_by(*BOARD_ORDER).limit(1).scalar_subquery() - 1.0, 0.0)


def _rank_params(rank) -> dict:
    return {"top_stage_id_": rank.stage_id} if isinstance(rank, ColumnTop) else {}


@_writer
def update_lead(lead: Lead, values: dict, actor, *, tag_ids: list[int] | None = None, stage=_KEEP,
                rank: float | ColumnTop | None = None, note_owner: bool = True, audit: bool = True,
                announce: Iterable[str] | None = None, at: datetime | None = None) -> list[str]:
    """Write a person's (or an intake's) change of one lead: ``values`` are cleaned column
    values (``organization_id``, ``owner_id``, ``custom_fields``…), ``tag_ids`` its tags
    (None: unchanged), ``stage`` a Stage (or None) to move it to, ``rank`` its place in the
    board column (with a change: a card dragged to another stage; ``ColumnTop``: the top of
    the new column).

    One UPDATE with the search text derived again, the stage columns of a move, ``updated_at``
    and the version bumped where the version is still the one this lead object was read at
    (a concurrent change in between is a conflict: ``StaleDataError``, answered as 409); an
    email another live lead holds is ``EmailTaken`` (the unique index decides). Then the
    board totals for a new stage, value or currency (worked out from the lead as it was and
    is: the guarded UPDATE proves nobody changed the row in between), an "Assigned to" entry
    for a new owner (``note_owner``), the tags, the move's history row and timeline entry,
    the audit entries (``audit``), and ``leads.moved`` then ``leads.changed`` with the fields
    that changed (or ``announce``). Returns those fields; nothing is written when nothing
    differs."""
    at = at or utcnow()
    db.session.flush()  # the lead object and the row agree (and its version is the row's)
    changed = {key: value for key, value in values.items() if getattr(lead, key) != value}
    retag = tag_ids is not None and sorted(tag_ids) != sorted(tag.id for tag in lead.tags)
    moving = stage is not _KEEP and (stage.id if stage is not None else None) != lead.stage_id
    if not (changed or retag or moving):
        return []
    # A card moved and nothing else: only what a stage decides can differ (no owner, organization
    # or tags to read for the audit log)
    snapshot = audit_snapshot if changed or retag else _move_snapshot
    before = snapshot(lead) if audit else None
    table = Lead.__table__
    counted = moving or bool({"value_cents", "currency", "stage_id"} & changed.keys())
    from_id = lead.stage_id
    totals_before = _contribution(lead) if counted else {}
    row = {**changed, "updated_at": at}
    if rank is not None and not isinstance(rank, ColumnTop):
        row["board_rank"] = rank
    if moving:
        row.update(stage_columns(stage, at))
    if changed:
        mine = {key: getattr(lead, key) for key in ("first_name", "last_name", "email", "phone", "custom_fields")}
        organization_id = changed.get("organization_id", lead.organization_id)
        organization_name = db.session.scalar(db.select(Organization.name).where(
            Organization.id == organization_id)) if organization_id else None
        row["search_text"] = search_text({**mine, **changed}, organization_name)
    if row.get("lifecycle", lead.lifecycle) != lead.lifecycle:
        _record_lifecycles(table.c.id == lead.id, row["lifecycle"], actor, at)
    # A move and nothing else: its audit entries are known before the UPDATE (on PostgreSQL
    # they ride in it, with the history rows).
    audited = (changed_fields(actor, before, _move_snapshot_as(row.get("lifecycle", lead.lifecycle), stage))
               if audit and snapshot is _move_snapshot else None)
    audit_rows = [{**entry, "entity_type": "lead", "entity_id": lead.id, "at": at} for entry in audited or ()]
    history = _move_history(from_id, stage, actor, at) if moving else []
    history_in_update = moving and db.engine.dialect.name == "postgresql"
    if history_in_update:
        history += [(AuditEntry.__table__, "entity_id", {k: v for k, v in entry.items() if k != "entity_id"})
                    for entry in audit_rows]
    # Versioned whatever changed (a field, the tags, the stage): of two people changing the
    # lead from the same version, the second gets a conflict, on either database. The rank
    # may be worked out by the database (the top of the new column), so the row says which it got.
    statement = _lead_update(db.engine.dialect.name, tuple(row), isinstance(rank, ColumnTop),
                             _shape(history) if history_in_update else ())
    params = {**row, "lead_id_": lead.id, "version_": lead.version, **_rank_params(rank)}
    if history_in_update:
        params.update(_history_params(history))
    written = _write_holding_email(statement, params, lead, changed.get("email_key"))
    if len(written) != 1:
        raise StaleDataError(f"Lead {lead.id} was changed by someone else meanwhile.")
    if rank is not None:
        row["board_rank"] = written[0].board_rank
    for key, value in row.items():
        attributes.set_committed_value(lead, key, value)
    attributes.set_committed_value(lead, "version", lead.version + 1)
    db.session.expire(lead, [_RELATED[key] for key in row if key in _RELATED])
    if counted:
        _write_totals(totals_before, _contribution(lead))
    if note_owner and "owner_id" in changed:
        owner = db.session.get(User, changed["owner_id"]) if changed["owner_id"] else None
        add_timeline_entry(lead.id, "assignment", actor, f"Assigned to {owner.name if owner else 'nobody'}", at)
    if retag:
        db.session.execute(lead_tags.delete().where(lead_tags.c.lead_id == lead.id))
        if tag_ids:
            db.session.execute(lead_tags.insert(), [{"lead_id": lead.id, "tag_id": t} for t in dict.fromkeys(tag_ids)])
        db.session.expire(lead, ["tags"])
    if not history_in_update:  # SQLite runs no INSERT inside a WITH: the history rows after the UPDATE
        for history_table, id_column, history_values in history:
            insert_all(history_table, [{id_column: lead.id, **history_values}])
        insert_all(AuditEntry.__table__, audit_rows)
    fields = list(announce) if announce is not None else []
    if audited is not None:
        fields = [entry["field"] for entry in audited]
    elif audit:
        fields = [entry.field for entry in record_changes(actor, "lead", lead.id, before, snapshot(lead))]
    if moving and from_id is not None:
        _announce(events.leads_moved, [lead.id], actor, from_id, row["stage_id"])
    _announce(events.leads_changed, [lead.id], actor, fields)
    return fields


@lru_cache(maxsize=64)
def _lead_update(dialect: str, columns: tuple[str, ...], top: bool, history: tuple):
    """One lead's versioned UPDATE … RETURNING its rank, setting ``columns`` (and the rank to the
    top of a column, ``top``) from parameters of the same names, the lead's id and version from
    ``lead_id_`` and ``version_``; on PostgreSQL with the ``history`` rows (``_shape``) in the same
    statement (``_with_move_history``). Built once per shape (a card moved, a name edited):
    making the statement anew cost a move more than running it."""
    table = Lead.__table__
    values = {column: bindparam(column, type_=table.c[column].type) for column in columns}
    if top:
        values["board_rank"] = _COLUMN_TOP
    statement = (table.update().where(table.c.id == bindparam("lead_id_"), table.c.version == bindparam("version_"))
                 .values(**values, version=table.c.version + 1).returning(table.c.board_rank))
    return _with_move_history(statement, history) if history else statement


def _shape(history: list[tuple]) -> tuple:
    """The part of ``_move_history``'s rows a statement is built from: tables and columns."""
    return tuple((table, id_column, tuple(values)) for table, id_column, values in history)


def _history_params(history: list[tuple]) -> dict:
    return {f"h{i}_{key}": value for i, (_, _, values) in enumerate(history) for key, value in values.items()}


def stage_columns(stage: Stage | None, at: datetime) -> dict:
    """The columns a lead's stage decides: its stage and pipeline, when it entered the stage
    and, on a won stage, the lifecycle "customer" (the one place this rule is written)."""
    columns = {"stage_id": stage.id if stage is not None else None,
               "pipeline_id": stage.pipeline_id if stage is not None else None,
               "stage_entered_at": at if stage is not None else None}
    if stage is not None and stage.kind == "won":
        columns["lifecycle"] = "customer"
    return columns


def _contribution(lead: Lead) -> dict[tuple[int, str], list[int]]:
    """What one lead object adds to the board totals (as ``_contributions`` counts rows)."""
    if lead.deleted_at is not None or lead.stage_id is None:
        return {}
    return {(lead.stage_id, lead.currency): [1, int(lead.value_cents is not None), lead.value_cents or 0]}


def _move_subject(from_name: str, stage: Stage | None, note: str | None = None) -> str:
    return (f"Moved from {from_name} to {stage.name if stage else 'no stage'}"
            + (f" ({note})" if note else ""))[:200]


def _move_history(from_id: int | None, stage: Stage | None, actor, at: datetime) -> list[tuple]:
    """The rows one lead's move adds to its history: (table, the column that takes the lead's
    id, the other values) for the stage change row, and for "Moved from A to B" on its timeline
    when it came from a stage (``move_leads`` writes the same for many leads)."""
    actor_id = getattr(actor, "id", None)
    rows = [(StageChange.__table__, "lead_id", {
        "from_stage_id": from_id, "to_stage_id": stage.id if stage is not None else None, "actor_id": actor_id, "at": at})]
    if from_id is not None:
        from_stage = db.session.get(Stage, from_id)
        entry = _entry(0, "stage_change", actor_id, _move_subject(from_stage.name if from_stage else "?", stage), at)
        rows.append((Activity.__table__, "lead_id", {key: value for key, value in entry.items() if key != "lead_id"}))
    return rows


def _with_move_history(update, shape: tuple):
    """PostgreSQL: ``update`` (one lead's versioned UPDATE … RETURNING) in a WITH, the rows of
    ``shape`` (``_shape`` of ``_move_history``'s rows and the audit entries; their values the
    parameters ``_history_params`` names) INSERT … SELECTed from the row it returns (none when
    the version check matched no row), and the returned row as the statement's result: one
    round trip."""
    moved = update.returning(Lead.__table__.c.id).cte("moved")
    inserts = [table.insert().from_select([id_column, *keys], db.select(
        moved.c.id, *[bindparam(f"h{i}_{key}", type_=table.c[key].type) for key in keys])).cte(f"moved_{i}")
        for i, (table, id_column, keys) in enumerate(shape)]
    return db.select(moved.c.board_rank).add_cte(*inserts)


def _move_snapshot(lead: Lead) -> dict:
    """The part of ``audit_snapshot`` a move alone can change: the stage, and the lifecycle
    (a won stage makes a customer)."""
    return _move_snapshot_as(lead.lifecycle, lead.stage)


def _move_snapshot_as(lifecycle: str, stage: Stage | None) -> dict:
    return {"lifecycle": lifecycle, "stage": stage.name if stage else None}


def _record_lifecycles(picked, to, actor, at: datetime, params: list[dict] | None = None) -> None:
    """Lifecycle history rows for the leads ``picked`` (a condition on leads) whose lifecycle is
    about to become ``to`` (a value or a bound parameter of ``params``, then one row of
    ``params`` per lead): one INSERT … SELECT, before the UPDATE, so it reads the lifecycle left."""
    table, changes = Lead.__table__, LifecycleChange.__table__
    to = to if isinstance(to, ClauseElement) else literal(to, String)
    statement = changes.insert().from_select(
        ["lead_id", "from_lifecycle", "to_lifecycle", "actor_id", "at"],
        db.select(table.c.id, table.c.lifecycle, to, _typed(getattr(actor, "id", None), changes.c.actor_id),
                  literal(at, changes.c.at.type)).where(picked, table.c.lifecycle != to))
    db.session.execute(statement, params) if params else db.session.execute(statement)


@_writer
def record_stage_change(lead_id: int, from_id: int | None, to_id: int | None, actor, at: datetime) -> int:
    """One stage history row written beside a change that set the stage itself (a merge, whose
    survivor takes the other lead's stage and time in it); returns its id."""
    return db.session.execute(StageChange.__table__.insert().values(
        lead_id=lead_id, from_stage_id=from_id, to_stage_id=to_id, actor_id=getattr(actor, "id", None), at=at,
    ).returning(StageChange.__table__.c.id)).scalar_one()


@_writer
def reassign_stage_changes(ids: Sequence[int], from_lead_id: int, to_lead_id: int) -> None:
    """Stage history rows follow a lead merged into another (and back when the merge is undone)."""
    table = StageChange.__table__
    for chunk in _chunks(sorted(set(ids))):
        db.session.execute(table.update().where(table.c.id.in_(chunk), table.c.lead_id == from_lead_id)
                           .values(lead_id=to_lead_id))


@_writer
def delete_stage_changes(ids: Sequence[int]) -> None:
    """Forget stage history rows a write made that is being undone (a merge's)."""
    table = StageChange.__table__
    for chunk in _chunks(sorted(set(ids))):
        db.session.execute(table.delete().where(table.c.id.in_(chunk)))


def _write_holding_email(statement, params: dict, lead: Lead, email_key: str | None) -> list:
    """Run the lead's UPDATE (the rows it returns); when it gives the lead an email, in a
    savepoint, so that a lead given the same address at the same moment wins and this one
    gets EmailTaken."""
    if not email_key:
        return db.session.execute(statement, params).all()
    try:
        with db.session.begin_nested():
            return db.session.execute(statement, params).all()
    except IntegrityError:
        holder = email_holders([email_key], exclude_id=lead.id).get(email_key)
        if holder is None:
            raise
        raise EmailTaken(holder) from None


def audit_snapshot(lead: Lead) -> dict:
    """The lead as its history panel and the audit log show it, field by field."""
    return {
        "first_name": lead.first_name, "last_name": lead.last_name, "email": lead.email,
        "phone": lead.phone, "title": lead.title, "country": lead.country,
        "organization": lead.organization.name if lead.organization else None,
        "source": lead.source, "utm_source": lead.utm_source, "utm_medium": lead.utm_medium,
        "utm_campaign": lead.utm_campaign, "utm_term": lead.utm_term, "utm_content": lead.utm_content,
        "referrer": lead.referrer, "landing_page": lead.landing_page,
        "owner": lead.owner.name if lead.owner else None, "lifecycle": lead.lifecycle,
        "disqualified_reason": lead.disqualified_reason, "temperature": lead.temperature,
        "stage": lead.stage.name if lead.stage else None,
        "value": None if lead.value_cents is None else f"{lead.value:,.2f}",
        "currency": lead.currency, "expected_close_date": lead.expected_close_date,
        "won_lost_reason": lead.won_lost_reason, "marketing_consent": lead.marketing_consent,
        "tags": [t.name for t in lead.tags],
    }


# --- the trash ----------------------------------------------------------------------------------

@_writer
def trash_leads(ids: Sequence[int] | ColumnElement[bool], actor, *, at: datetime | None = None) -> list[int]:
    """Put live leads in the trash (``ids``, or a condition on ``leads``: "every live lead an
    import created"); returns their ids. Their rows are locked, one UPDATE stamps them, and
    their stages' totals lose them. No event: nothing downstream acts on a trashed lead (the
    sweeps and rules skip them), and a restore brings it back as it was."""
    at = at or utcnow()
    table = Lead.__table__
    selections = _selections(ids, table.c.deleted_at.is_(None))
    db.session.flush()
    trashed = [lead_id for picked in selections for lead_id in db.session.scalars(
        db.select(table.c.id).where(picked).order_by(table.c.id).with_for_update())]
    if not trashed:
        return []
    before = _contributions(selections)
    for picked in selections:
        db.session.execute(table.update().where(picked).values(
            deleted_at=at, deleted_by_id=getattr(actor, "id", None), updated_at=at, version=table.c.version + 1))
    _write_totals(before, {})
    expire_leads(trashed)
    return trashed


@_writer
def restore_lead(lead: Lead, actor, *, refusal=None, at: datetime | None = None) -> None:
    """Take a lead out of the trash. Its email may be another live lead's by now: the unique
    index decides, and this one gets EmailTaken (with ``refusal(holder id)`` as its message)."""
    table = Lead.__table__
    statement = (table.update().where(table.c.id == lead.id, table.c.deleted_at.is_not(None))
                 .values(deleted_at=None, deleted_by_id=None, updated_at=at or utcnow(), version=table.c.version + 1))
    db.session.flush()
    try:
        with db.session.begin_nested():
            restored = db.session.execute(statement).rowcount
    except IntegrityError:
        holder = email_holders([lead.email_key], exclude_id=lead.id).get(lead.email_key)
        if holder is None:
            raise
        raise EmailTaken(holder, refusal(holder) if refusal else None) from None
    if restored:
        _write_totals({}, _contributions([table.c.id == lead.id]))
    expire_leads([lead.id])


@_writer
def purge_leads(ids: Sequence[int]) -> int:
    """Delete trashed leads for good, with everything hanging off them (they count in no total)."""
    purged = 0
    for lead_id in ids:
        lead = db.session.get(Lead, lead_id)
        if lead is not None and lead.deleted_at is not None:
            db.session.delete(lead)
            purged += 1
    db.session.flush()
    return purged


def _selections(ids, *conditions) -> list[ColumnElement[bool]]:
    table = Lead.__table__
    if isinstance(ids, ColumnElement):
        picked = [ids]
    else:
        picked = [table.c.id.in_(chunk) for chunk in _chunks(sorted(set(ids)))]
    return [and_(p, *conditions) for p in picked]


def _chunks(ids: Sequence[int]) -> Iterable[list[int]]:
    return chunked(ids, CHUNK)


def _contributions(selections: Sequence[ColumnElement[bool]]) -> dict[tuple[int, str], list[int]]:
    """What the leads picked add to the board totals now: (stage id, currency) → [leads, leads
    with a value, value cents]; trashed leads and leads without a stage add nothing."""
    table = Lead.__table__
    found: dict[tuple[int, str], list[int]] = defaultdict(lambda: [0, 0, 0])
    for picked in selections:
        for stage_id, currency, count, valued, cents in db.session.execute(
                db.select(table.c.stage_id, table.c.currency, func.count(table.c.id), func.count(table.c.value_cents),
                          func.coalesce(func.sum(table.c.value_cents), 0))
                .where(picked, table.c.deleted_at.is_(None), table.c.stage_id.is_not(None))
                .group_by(table.c.stage_id, table.c.currency)):
            row = found[stage_id, currency]
            row[0] += count
            row[1] += valued
            row[2] += int(cents)
    return found


def _write_totals(before: dict, after: dict) -> None:
    """Add to the board totals what a write changed, ``after`` minus ``before``, when the
    transaction commits (``pipeline.totals.add_at_commit``)."""
    deltas: dict[tuple[int, str], list[int]] = defaultdict(lambda: [0, 0, 0])
    for sign, contributions in ((-1, before), (1, after)):
        for key, values in contributions.items():
            delta = deltas[key]
            for i, value in enumerate(values):
                delta[i] += sign * value
    totals.add_at_commit(db.session(), {key: delta for key, delta in deltas.items() if any(delta)})


def _add_pending_totals(session, *, last: bool = False) -> None:
    with writing():
        totals.add_pending(session, last=last)


def add_pending_totals() -> None:
    """Write the totals this transaction changed now, not at its commit: before a stage they
    name is deleted (its totals rows go with it)."""
    _add_pending_totals(db.session())


def kept_totals_adding_pending(stage_ids: list[int], alongside: Alongside | None = None) -> totals.KeptTotals | None:
    """The kept totals of ``stage_ids`` read with the statement that writes what this
    transaction has yet to add to them (``totals.add_pending_reading``, with ``alongside``'s
    rows), where there is such a statement: a move's headers. None when the caller is to read
    them itself (nothing pending, or on SQLite, having written what was)."""
    session = db.session()
    if not totals.has_pending(session):
        return None
    with writing():
        return totals.add_pending_reading(session, stage_ids, alongside)


def _add_totals_at_commit(session) -> None:
    """``before_commit``, which a savepoint's release fires too: the totals wait for the
    transaction's own commit (or a read of them), so a savepoint of an event handler neither
    writes them (and locks their rows) early nor costs a round trip of its own. When the
    session has nothing left to flush, their statement is the transaction's last, and on
    PostgreSQL it carries the COMMIT (``totals.add_to_totals``): every create's and edit's
    commit is a round trip less. With ORM changes still to flush (written after this, by the
    commit), the COMMIT comes at its usual place."""
    if not session.in_nested_transaction() and totals.has_pending(session):
        _add_pending_totals(session, last=not (session.new or session.deleted or session.dirty))


_TOTALS_MAPPERS = {StageTotals.__mapper__, StageCurrencyTotals.__mapper__}


def _totals_read(state) -> None:
    """A statement of the session about to read the totals: what its transaction added first."""
    if totals.has_pending(state.session) and _TOTALS_MAPPERS.intersection(state.all_mappers):
        _add_pending_totals(state.session)


def install_totals_at_commit() -> None:
    """Add each transaction's totals at its commit (once per process, on the app's sessions)."""
    for name, listener in (("before_commit", _add_totals_at_commit),
                           ("after_soft_rollback", totals.forget_rolled_back), ("do_orm_execute", _totals_read)):
        if not event.contains(db.session, name, listener):
            event.listen(db.session, name, listener)


def _session_leads(ids: Iterable[int]) -> list[Lead]:
    """The lead objects this session holds among ``ids`` (no query)."""
    wanted = set(ids)
    return [obj for obj in list(db.session.identity_map.values()) if isinstance(obj, Lead) and obj.id in wanted]


def expire_leads(ids: Iterable[int]) -> None:
    """Lead objects of this session that a set-based write changed show the row again when next read."""
    for obj in _session_leads(ids):
        db.session.expire(obj)


def _typed(value, column):
    """A bound value of a column's type, for INSERT … SELECT (typed even when it is NULL)."""
    return cast(literal(value, column.type), column.type) if value is None else literal(value, column.type)


@_writer
def move_leads(ids: Sequence[int] | ColumnElement[bool], stage: Stage | None, actor, *, note: str | None = None,
               at: datetime | None = None) -> dict[int | None, list[int]]:
    """Move leads to ``stage`` (those already in it stay as they are; None: out of every
    pipeline); returns the ids moved, by the stage each came from. ``ids`` is a list of lead
    ids, or a condition on ``leads`` ("every lead in the stage being deleted"), which keeps
    the number of statements the same however many leads it picks.

    The picked rows are locked first (PostgreSQL: a person moving one of them meanwhile
    waits, then gets a version conflict). Then, per stage the leads come from, one INSERT …
    SELECT each writes the ``StageChange`` rows and the timeline entries ("Moved from A to B",
    with ``note`` after it); one UPDATE sets stage, pipeline, the time it entered the stage
    and, for a won stage, the lifecycle "customer"; the totals of the stages left and entered
    change by what moved. Then ``leads.moved`` once per stage the leads came from. The caller
    checks who may move them. (One lead a person moves goes through ``update_lead``: one
    versioned UPDATE.)
    """
    at = at or utcnow()
    table = Lead.__table__
    to_id = stage.id if stage is not None else None
    selections = _selections(ids, _not_in(table.c.stage_id, to_id))
    by_from: dict[int | None, list[int]] = defaultdict(list)
    db.session.flush()  # pending ORM changes reach the rows first: the statements below see them
    for picked in selections:
        for lead_id, from_id in db.session.execute(
                db.select(table.c.id, table.c.stage_id).where(picked).order_by(table.c.id).with_for_update()):
            by_from[from_id].append(lead_id)
    moved = [lead_id for group in by_from.values() for lead_id in group]
    if not moved:
        return {}
    # A move changes no value or currency: what leaves a stage arrives in the other.
    before = _contributions(selections)
    after: dict = {(to_id, currency): counts for (_, currency), counts in before.items()} if to_id else {}
    names = dict(db.session.execute(db.select(Stage.id, Stage.name).where(
        Stage.id.in_([s for s in by_from if s is not None]))).all())
    changes, activities = StageChange.__table__, Activity.__table__
    actor_id = _typed(getattr(actor, "id", None), changes.c.actor_id)
    for from_id in by_from:
        subject = _move_subject(names.get(from_id, "?"), stage, note)
        for picked in selections:
            from_here = and_(picked, table.c.stage_id.is_(None) if from_id is None else table.c.stage_id == from_id)
            db.session.execute(changes.insert().from_select(
                ["lead_id", "from_stage_id", "to_stage_id", "actor_id", "at"],
                db.select(table.c.id, _typed(from_id, changes.c.from_stage_id), _typed(to_id, changes.c.to_stage_id),
                          actor_id, literal(at, changes.c.at.type)).where(from_here)))
            if from_id is not None:
                db.session.execute(activities.insert().from_select(
                    ["lead_id", "kind", "actor_id", "subject", "occurred_at", "created_at"],
                    db.select(table.c.id, literal("stage_change", String), actor_id, literal(subject, String),
                              literal(at, activities.c.occurred_at.type), literal(at, activities.c.created_at.type))
                    .where(from_here)))
    values = {**stage_columns(stage, at), "updated_at": at, "version": table.c.version + 1}
    for picked in selections:
        if "lifecycle" in values:
            _record_lifecycles(picked, values["lifecycle"], actor, at)
        db.session.execute(table.update().where(picked).values(**values))
    _write_totals(before, after)
    expire_leads(moved)
    for from_id, group in by_from.items():
        if from_id is not None:
            _announce(events.leads_moved, group, actor, from_id, to_id)
    return dict(by_from)


def _not_in(column, value):
    """``column IS DISTINCT FROM value`` (NULL differs from a value, not from NULL), on both databases."""
    return column.is_not(None) if value is None else ((column != value) | column.is_(None))


@_writer
def update_columns(ids: Sequence[int], values: dict, actor, *, announce: Iterable[str] = (),
                   bump_version: bool = False) -> None:
    """Set columns the system computes (a score, a temperature, an owner, a consent withdrawn)
    on leads, in one UPDATE per batch, without a version bump unless asked (a person's open
    editor on the lead must not fail for a score that moved); then ``leads.changed`` with
    ``announce``, the fields a person would say changed. Columns that count on the board
    (stage, value, currency, trash) are not written here: ``move_leads`` and the lead services
    own them. Lead objects of this session show the new values."""
    _refuse_counted(values, "update_columns")
    ids = sorted(set(ids))
    table = Lead.__table__
    written = {**values, "version": table.c.version + 1} if bump_version else values
    for chunk in _chunks(ids):
        if isinstance(values.get("lifecycle"), str):
            _record_lifecycles(table.c.id.in_(chunk), values["lifecycle"], actor, utcnow())
        db.session.execute(table.update().where(table.c.id.in_(chunk)).values(**written))
    _show_written(ids, values, bump_version)
    _announce(events.leads_changed, ids, actor, announce)


# A column and the relationship it loads: writing the one makes the other stale.
_RELATED = {"owner_id": "owner", "organization_id": "organization", "stage_id": "stage", "pipeline_id": "pipeline"}


def _show_written(ids: Sequence[int], values: dict, bump_version: bool) -> None:
    computed = [key for key, value in values.items() if isinstance(value, ClauseElement)]  # the row knows
    stale = ([_RELATED[key] for key in values if key in _RELATED] + computed
             + (["version"] if bump_version else []))
    for obj in _session_leads(ids):
        for key, value in values.items():
            if key not in computed:
                attributes.set_committed_value(obj, key, value)
        if stale:
            db.session.expire(obj, stale)


@_writer
def refresh_search_text(ids: Sequence[int]) -> None:
    """Derive the search text of these leads again (their organization was renamed, say)."""
    table = Lead.__table__
    for chunk in _chunks(sorted(set(ids))):
        rows = db.session.execute(
            db.select(table.c.id, table.c.first_name, table.c.last_name, table.c.email, table.c.phone,
                      table.c.custom_fields, Organization.name.label("organization_name"))
            .outerjoin(Organization, Organization.id == table.c.organization_id).where(table.c.id.in_(chunk))).all()
        for row in rows:
            text_now = search_text(row._asdict(), row.organization_name)
            db.session.execute(table.update().where(table.c.id == row.id).values(search_text=text_now))
            _show_written([row.id], {"search_text": text_now}, False)


@_writer
def set_board_ranks(ranks: dict[int, float | ColumnTop], *, bump_version: bool = False) -> None:
    """Where cards sit in their board column (``ranks``: lead id → rank, or ``ColumnTop``: the
    top of a column, worked out by the database). A card a person dragged bumps its version
    (``bump_version``); spreading a crowded column again does not."""
    for lead_id, rank in ranks.items():
        placed = db.session.execute(_rank_update(isinstance(rank, ColumnTop), bump_version), {
            "lead_id_": lead_id, **({} if isinstance(rank, ColumnTop) else {"board_rank": rank}),
            **_rank_params(rank)}).scalar()
        _show_written([lead_id], {"board_rank": placed}, bump_version)


@lru_cache(maxsize=4)
def _rank_update(top: bool, bump_version: bool):
    table = Lead.__table__
    values = {"board_rank": _COLUMN_TOP if top else bindparam("board_rank", type_=table.c.board_rank.type),
              **({"version": table.c.version + 1} if bump_version else {})}
    return table.update().where(table.c.id == bindparam("lead_id_")).values(**values).returning(table.c.board_rank)
