"""Reference data (settings, exchange rates, users and teams for the menus, tags, pipelines
and stages, sequences, the capture forms' custom-field labels, which workflow and scoring rules
listen to what) read once per process and reused while it has not changed.

Each kind of reference data has a row in ``reference_versions`` whose ``version`` the
database's own triggers bump in the transaction of any write to the kind's tables (the
migration that made the table lists them): a write from any process, any code path, raw SQL
included. A page reads every version with one small query, once per transaction, and a kept
answer is used only while the versions it was loaded at are still the current ones.

    rows = refcache.cached(("users",), "owners", load_owners)

- ``load()`` runs when nothing current is kept; its answer is kept for the process, so it
  must be plain data (tuples, frozen dataclasses), never the session's objects, and callers
  must not change it.
- The versions are read *before* the data, so data loaded after a concurrent change is kept
  under the older version and is loaded again at the next read, never the other way round.
- A transaction that has written one of the kind's tables (a flush, or a Core statement
  through the session) sees its own writes: ``load()`` runs and nothing is kept.
- Without its version row (a database emptied by hand) nothing is kept either.
- Answers are kept per database (its URL), and a new database's versions start at a random
  number, so a database made anew at the same address does not meet the old one's answers.
- On SQLite, a batch migration that rebuilds one of the kinds' tables drops its triggers:
  such a migration must create them again.

At most ``MAX_ENTRIES`` answers are kept (least recently used go first): the callers ask
under fixed keys, so the cache does not grow with the data or the traffic.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable
from typing import TypeVar

from sqlalchemy import BigInteger, Column, String, Table, cast, event, func, select

from leadflow.db import transaction_cache
from leadflow.extensions import db

T = TypeVar("T")

# The kinds and the tables whose writes bump each (the triggers of the migration).
KIND_TABLES = {
    "settings": ("settings",),
    "exchange_rates": ("exchange_rates",),
    "users": ("users",),
    "teams": ("teams",),
    "tags": ("tags",),
    "pipelines": ("pipelines", "stages"),
    "sequences": ("sequences",),
    "capture_forms": ("capture_forms",),
    "workflow_rules": ("workflow_rules",),
    "scoring_rules": ("scoring_rules",),
}
# Columns of ``users`` that reference data shows (the menus' names and roles, routing's
# availability: out of office, workload cap); other writes (a sign-in's time) bump nothing.
USER_COLUMNS = ("name", "email", "role", "active", "team_id", "out_of_office_until", "max_open_leads")
# Of ``capture_forms`` only ``fields`` counts: a submission's counters bump nothing.
CAPTURE_FORM_COLUMNS = ("fields",)
TABLE_KIND = {table: kind for kind, tables in KIND_TABLES.items() for table in tables}
MAX_ENTRIES = 64

reference_versions = Table(
    "reference_versions", db.metadata,
    Column("kind", String(40), primary_key=True),
    Column("version", BigInteger, nullable=False),
)

_ALL_VERSIONS = select(reference_versions.c.kind, reference_versions.c.version)

_kept: OrderedDict[tuple, tuple[tuple, object]] = OrderedDict()
_lock = threading.Lock()


def cached(kinds: Iterable[str], key: str, load: Callable[[], T]) -> T:
    """``load()``'s answer, reused while none of ``kinds`` has changed (see the module)."""
    kinds = tuple(kinds)
    written = _written_kinds()
    if any(kind in written or _pending(kind) for kind in kinds):
        return load()
    current = versions()
    stamp = tuple(current.get(kind) for kind in kinds)
    if None in stamp:
        return load()
    name = (db.engine.url, kinds, key)
    with _lock:
        entry = _kept.get(name)
        if entry is not None and entry[0] == stamp:
            _kept.move_to_end(name)
            return entry[1]
    value = load()
    with _lock:
        _kept[name] = (stamp, value)
        _kept.move_to_end(name)
        while len(_kept) > MAX_ENTRIES:
            _kept.popitem(last=False)
    return value


def versions() -> dict[str, int]:
    """Every kind's current version, read once per transaction."""
    transaction_cache("reference versions used")["used"] = True
    kept = transaction_cache("reference versions")
    if not kept:
        rows = dict(db.session.execute(_ALL_VERSIONS).all())
        transaction_cache("reference versions").update(rows or {"": 0})
        return rows
    return kept


def versions_column():
    """Every kind's version in one value (``kind:version,…``), for a statement that runs at the
    start of nearly every request anyway (the signed-in user's): ``note_versions`` keeps what
    it read for the transaction, and ``versions()`` then runs no query of its own, a round trip
    less per request. Read in the same statement as the row it rides with (one snapshot), and
    before any reference data."""
    version = reference_versions.c.version
    return (select(func.aggregate_strings(reference_versions.c.kind + ":" + cast(version, String), ","))
            .scalar_subquery())


def adopt_versions(value: str | None) -> bool:
    """Make ``value`` (read as ``versions_column`` reads them) this transaction's versions in
    place of those noted, if nothing has used the noted ones yet; whether it did."""
    if transaction_cache("reference versions used"):
        return False
    transaction_cache("reference versions").clear()
    note_versions(value)
    return True


def note_versions(value: str | None) -> None:
    """Keep the versions ``versions_column`` read as this transaction's (unless it has read them)."""
    kept = transaction_cache("reference versions")
    if not kept:
        pairs = (part.rpartition(":") for part in value.split(",")) if value else ()
        kept.update({kind: int(number) for kind, _, number in pairs} or {"": 0})


def first_noting_versions(statement, params: dict):
    """The first row's entity of ``statement`` (its other column ``versions_column``), having
    noted the versions read with it (``note_versions``); None when there is no row."""
    found = db.session.execute(statement, params).first()
    if found is None:
        return None
    entity, versions = found
    note_versions(versions)
    return entity


def forget() -> None:
    """Drop everything kept in this process."""
    with _lock:
        _kept.clear()


def kept_count() -> int:
    return len(_kept)


def _written_kinds() -> set:
    return transaction_cache("reference written").setdefault("kinds", set())


def _pending(kind: str) -> bool:
    """Whether the session holds an unflushed change to one of the kind's tables."""
    session = db.session()
    tables = KIND_TABLES[kind]
    return any(getattr(obj, "__tablename__", None) in tables
               for obj in (*session.new, *session.dirty, *session.deleted))


def _note_flush(session, flush_context) -> None:
    """After a flush (the lists still hold what it wrote): the kinds this transaction wrote."""
    kinds = {TABLE_KIND.get(getattr(obj, "__tablename__", None))
             for obj in (*session.new, *session.dirty, *session.deleted)} - {None}
    if kinds:
        _written_kinds().update(kinds)


def _note_statement(execute_state) -> None:
    """A Core INSERT, UPDATE or DELETE through the session, of one of the kinds' tables."""
    if not (execute_state.is_insert or execute_state.is_update or execute_state.is_delete):
        return
    kind = TABLE_KIND.get(getattr(getattr(execute_state.statement, "table", None), "name", None))
    if kind is not None:
        execute_state.session.connection()  # the transaction the statement runs in
        _written_kinds().add(kind)


def install() -> None:
    """Let ``cached`` see the writes of the session's transaction (once per process)."""
    if not event.contains(db.session, "after_flush", _note_flush):
        event.listen(db.session, "after_flush", _note_flush)
        event.listen(db.session, "do_orm_execute", _note_statement)
