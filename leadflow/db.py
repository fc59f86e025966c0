"""Database plumbing shared by every area: column types, clock, engine settings."""

from __future__ import annotations

import contextvars
import re
import select
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from functools import cached_property, lru_cache
from typing import Any

from sqlalchemy import DateTime, Index, bindparam, event, false, literal, text, union_all
from sqlalchemy import select as sql_select  # the module "select" is the standard library's
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError, DisconnectionError, IntegrityError, InvalidatePoolError
from sqlalchemy.orm import aliased, joinedload, make_transient_to_detached
from sqlalchemy.orm.exc import StaleDataError
from sqlalchemy.sql.cache_key import CacheKey
from sqlalchemy.types import TypeDecorator

from leadflow.checkpoints import SAFETY_NET_PAGES, Checkpointer
from leadflow.extensions import db


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


class UTCDateTime(TypeDecorator):
    """A timezone-aware UTC datetime on every database (SQLite stores it naive)."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(timezone.utc)
        return value.replace(tzinfo=None)

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        return value.replace(tzinfo=timezone.utc)


def partial_index(name: str, *columns: str, where: str, **options) -> Index:
    """An index of the rows ``where`` holds (SQL, the same text on SQLite and PostgreSQL).

    The predicate is kept in the index's ``info`` and handed to the dialect of each database
    the app runs on (``state_index_predicates``), not named here for both: naming a dialect's
    option (``postgresql_where``) loads that dialect, and a serving process would hold the
    other database's for nothing (2.3 MB of PostgreSQL's on SQLite, 0.7 MB of SQLite's on
    PostgreSQL). The migrations make the indexes; the predicate here is what ``CREATE INDEX``
    from the models and autogenerate read."""
    return Index(name, *columns, info={"where": where}, **options)


def state_index_predicates(metadata, dialect_name: str) -> None:
    """Give every ``partial_index`` of ``metadata`` its predicate for ``dialect_name``'s
    dialect (the one an engine of the app uses, so loaded already)."""
    for table in metadata.tables.values():
        for index in table.indexes:
            if "where" in index.info:
                index.dialect_kwargs[f"{dialect_name}_where"] = text(index.info["where"])


# Every id column is an INTEGER (PostgreSQL: 32-bit signed). A larger number names no row; sent
# to the database it fails (SQLite cannot bind past 2**63, PostgreSQL refuses it in an INTEGER
# column), so addresses, forms and the API treat it as "no such record" before it gets there.
MAX_ID = 2**31 - 1


def parse_id(raw) -> int | None:
    """A record id from outside (a form field, JSON, a query string): the number, or None
    when it is not a whole number from 1 to MAX_ID (so it can name no row)."""
    if isinstance(raw, bool):
        return None
    if isinstance(raw, int):
        value = raw
    elif isinstance(raw, str) and raw.strip().isascii() and raw.strip().isdigit() and len(raw.strip()) <= 10:
        value = int(raw.strip())
    else:
        return None
    return value if 1 <= value <= MAX_ID else None


MAX_PAGE = 100_000


def parse_page(raw) -> int:
    """A page number from a query string: 1 to MAX_PAGE, and 1 for anything else (a word,
    a negative number, or one too large for the database's OFFSET)."""
    text = str(raw).strip() if raw is not None else ""
    if not (text.isascii() and text.isdigit()):
        return 1
    return MAX_PAGE if len(text) > len(str(MAX_PAGE)) else min(max(1, int(text)), MAX_PAGE)


def plan_limit(rows: int, written: bool = True):
    """LIMIT ``rows``, written into the statement's text when ``written`` (else bound).
    PostgreSQL runs a prepared statement (psycopg prepares one run five times) with one plan for
    every run, its generic plan, only when that plan costs no more than those planned for each
    run's values, and it costs a bound LIMIT as a tenth of the table: with the LIMIT bound, a
    list, a board's cards or a column's next cards were planned again on every request
    (0.3-1.1 ms at 100,000 leads, as long as running them or longer). Written only where one
    plan fits every request (everyone's lists, a board without filters); where the best plan
    depends on the values (a rep's few leads, the busiest rep's many) the LIMIT stays bound,
    so each request gets a plan of its own."""
    return plan_for(rows) if written else rows


def plan_for(value):
    """``value`` written into the statement's text, not bound: on PostgreSQL the statement of
    each value is prepared apart and planned once, for that value. For a value the best plan
    depends on, where one generic plan would not fit every value, such as the person whose
    home page it is: with the person bound, PostgreSQL costed the generic plan for an average
    owner, and for a person with few leads (the demo admin) it planned "This month", the
    summary line's counts and the waiting leads again on every request (0.3-0.6 ms each at
    100,000 leads, longer than running them)."""
    return literal(value, literal_execute=True)


def unseen_by_planner(value):
    """``value`` as a scalar subquery, ``(SELECT value)``: PostgreSQL's planner does not look
    into it, so a prepared statement holding it is costed alike whatever the value, and once it
    has been planned for five runs runs with its one generic plan instead of being planned
    again on every run. For values that do not change which plan is best (see ``plan_limit``
    for those that do)."""
    return sql_select(literal(value)).scalar_subquery()


@dataclass(frozen=True, eq=False)
class Rows:
    """One list a page reads: the ``entity`` rows that ``where`` picks (its values bound by
    name, given when read), in the order ``order`` gives (a function of the entity, or of its
    alias when the list is read with others by ``read_together``), at most ``limit``
    (written, ``plan_limit``), each with the many-to-one relationships named in ``joined``.
    Read alone with ``read``, or with a page's other lists in one statement with
    ``read_together``: the same rows either way. Made once (module level) so that its
    statements are built once: building the lead page's five lists anew on every request cost
    it 3 ms of CPU."""

    entity: type
    where: tuple
    order: Callable[[Any], tuple]
    limit: int | None = None
    joined: tuple[str, ...] = ()

    def select(self, ordered: bool = True):
        query = db.select(self.entity).where(*self.where)
        query = query.order_by(*self.order(self.entity)) if ordered else query
        return query.limit(plan_limit(self.limit)) if self.limit is not None else query

    def loads(self, entity) -> list:
        """The ``joined`` relationships' loader options, of ``entity`` (this list's entity or its alias)."""
        return [joinedload(getattr(entity, name)) for name in self.joined]

    @cached_property
    def alone(self):
        return self.select().options(*self.loads(self.entity))


def read(rows: Rows, **values) -> list:
    return list(db.session.scalars(rows.alone, values))


@lru_cache(maxsize=None)  # keyed by the page's Rows (made once each): one statement per set of lists
def _side_by_side(lists: tuple[Rows, ...]):
    """``read_together``'s statement: each list a subquery with its own order and LIMIT (one
    without a LIMIT needs no order inside: the outer ORDER BY gives it), the subqueries side by
    side, FULL JOINed ON false, so that every row of the answer holds one list's entity and
    NULLs for the others (the ORM gives None for those). The outer ORDER BY is every list's
    order one after the other: within one list's rows the other lists' columns are all NULL,
    so its own order decides."""
    subqueries = [rows.select(ordered=rows.limit is not None).subquery() for rows in lists]
    parts = [aliased(rows.entity, subquery) for rows, subquery in zip(lists, subqueries)]
    joined = subqueries[0]
    for subquery in subqueries[1:]:
        joined = joined.join(subquery, false(), full=True)
    return (db.select(*parts).select_from(joined)
            .options(*(option for rows, part in zip(lists, parts) for option in rows.loads(part)))
            .order_by(*(key for rows, part in zip(lists, parts) for key in rows.order(part))))


def _has_full_join(dialect) -> bool:
    """SQLite has FULL JOIN since 3.39 (2022); an older library reads the lists one by one."""
    return dialect.name != "sqlite" or dialect.dbapi.sqlite_version_info >= (3, 39)


def read_together(*lists: Rows, **values) -> list[list]:
    """Each of ``lists``' rows, as ``read`` gives them one list at a time, from ONE statement
    (``_side_by_side``, built once for each set of lists): a page's independent lists cost one
    round trip instead of one each (on PostgreSQL 0.15 ms each and more, much more on a busy
    machine; 0.02 ms on SQLite)."""
    if not can_read_beside():
        return [read(rows, **values) for rows in lists]
    found: list[list] = [[] for _ in lists]
    for row in db.session.execute(_side_by_side(lists), values):
        for into, entity in zip(found, row):
            if entity is not None:
                into.append(entity)
    return found


class Alongside:
    """A SELECT read in the statement of another read (``beside``), a round trip less: ``name``
    (fixed by the code) names the statements built with it; ``rows`` holds its rows once read,
    and stays None where the other read could not take it along (the caller then reads them)."""

    __slots__ = ("name", "statement", "params", "rows")

    def __init__(self, name: str, statement, params: dict):
        self.name, self.statement, self.params, self.rows = name, statement, params, None


def beside(statement, other):
    """``statement`` (a SELECT or a UNION) and ``other`` (an ``Alongside``'s SELECT) in one
    statement, side by side, FULL JOINed ON false as ``_side_by_side`` puts lists: each row
    holds one's columns and NULLs for the other's. Each one's first column is never NULL
    (``take_alongside`` tells them apart by it)."""
    mine, theirs = statement.subquery("mine"), other.subquery("alongside")
    return sql_select(mine, theirs).select_from(mine.join(theirs, false(), full=True))


def take_alongside(rows, width: int, alongside: Alongside) -> list[tuple]:
    """The rows of a ``beside`` statement whose own part is ``width`` columns wide: its own,
    returned, and ``alongside``'s, kept in ``alongside.rows``."""
    own: list[tuple] = []
    alongside.rows = []
    for row in rows:
        if row[0] is not None:
            own.append(tuple(row[:width]))
        else:
            alongside.rows.append(tuple(row[width:]))
    return own


def can_read_beside() -> bool:
    return _has_full_join(db.engine.dialect)


def get_by_id(model, raw):
    """The ``model`` row whose id ``raw`` (outside input) names, or None."""
    ident = parse_id(raw)
    return db.session.get(model, ident) if ident is not None else None


# How the next transaction begins. Requests that only read begin DEFERRED: on SQLite a
# deferred BEGIN (readers never wait under WAL), on PostgreSQL no BEGIN at all until the first
# statement that writes (``configure_postgresql_engine``). Everything else begins IMMEDIATE:
# SQLite takes the write lock up front with BEGIN IMMEDIATE, so a unit of work waits for the
# busy timeout at its start instead of failing half-way with "database is locked"; PostgreSQL
# begins with the first statement, in its round trip (``configure_postgresql_engine``).
begin_mode: contextvars.ContextVar[str] = contextvars.ContextVar("begin_mode", default="IMMEDIATE")


# How long a SQLite writer of this context waits for the write lock, in seconds, when it waits
# less than the busy timeout (a write that is skipped if the lock stays taken; the caller sets
# the connection's busy timeout to match). None: the busy timeout.
sqlite_write_wait: contextvars.ContextVar[float | None] = contextvars.ContextVar(
    "sqlite_write_wait", default=None
)


# PostgreSQL's "serialization failure" and "deadlock detected": the transaction lost a race.
RETRYABLE_SQLSTATES = ("40001", "40P01")
# SQLite's SQLITE_BUSY / SQLITE_LOCKED messages ("database is locked", "database table is locked").
RETRYABLE_SQLITE_WORDS = ("is locked", "database is busy")


def chunked(items: Sequence, size: int) -> Iterator[list]:
    """``items`` in lists of at most ``size`` (ids for ``IN (…)``, rows for one statement)."""
    for start in range(0, len(items), size):
        yield list(items[start:start + size])


def transaction_cache(name: str, *, forget_when_adding: type | None = None) -> dict:
    """A dict kept for the session's current transaction only: what a request reads several
    times (a default setting, the exchange rates) is read once, and never outlives the
    transaction it was read in. With ``forget_when_adding``, the dict starts empty again
    while an object of that model is pending in the session (added, not yet flushed)."""
    session = db.session()  # the session itself: the scoped proxy lacks get_transaction
    transaction = session.get_transaction()
    kept = session.info.get(f"leadflow.cache.{name}")
    if transaction is None or kept is None or kept[0] is not transaction:
        if transaction is None:
            return {}  # nothing read yet: the caller's query begins the transaction
        kept = (transaction, {})
        session.info[f"leadflow.cache.{name}"] = kept
    if forget_when_adding is not None and kept[1] and any(isinstance(obj, forget_when_adding) for obj in session.new):
        kept[1].clear()
    return kept[1]


def is_retryable(error: BaseException | None) -> bool:
    """A busy SQLite file or a PostgreSQL conflict: the same unit of work, run again from
    the start, can succeed. Anything else (a bug, a broken constraint) is not."""
    if not isinstance(error, DBAPIError):
        return False
    orig = error.orig if error.orig is not None else error
    if getattr(orig, "sqlstate", None) in RETRYABLE_SQLSTATES:
        return True
    message = str(orig).lower()
    return any(words in message for words in RETRYABLE_SQLITE_WORDS)


# The unique keys that guard a find-or-create (``insert_missing``), by name (PostgreSQL) and by
# the columns SQLite names in its message: a live organization's name, a tag's name, a tag on a
# lead. A violation means a concurrent unit of work added the same row first.
FIND_OR_CREATE_KEYS = {
    "uq_organizations_live_name_key": "organizations.name_key",
    "uq_tags_name_key": "tags.name_key",
    "pk_lead_tags": "lead_tags.lead_id, lead_tags.tag_id",
    # A lead given an email that a concurrent request gave another live lead: the re-run finds
    # that lead and answers the form's own "already has this email" message.
    "uq_leads_live_email_key": "leads.email_key",
}


def is_conflict(error: BaseException | None) -> bool:
    """A concurrent unit of work changed the same rows first: a flush found a row's version
    moved on (``StaleDataError``), or a find-or-create's unique key already taken. Run again
    from the start, the unit reads the fresh rows: intake applies its submission to them, an
    edit made on an older version answers its usual 409."""
    if isinstance(error, StaleDataError):
        return True
    if not isinstance(error, IntegrityError) or error.orig is None:
        return False
    constraint = getattr(getattr(error.orig, "diag", None), "constraint_name", None)
    if constraint:
        return constraint in FIND_OR_CREATE_KEYS
    message = str(error.orig)
    return any(message.endswith(f"UNIQUE constraint failed: {columns}") for columns in FIND_OR_CREATE_KEYS.values())


# SQLAlchemy 2.0 compiles a dialect's ``INSERT … ON CONFLICT`` anew on every execution (those
# constructs have no cache key). The hot ones (a lead's insert, the board totals, a form token)
# are built once per database kind and statement, with a fixed cache key, so their compiled form
# is kept like any other statement's. Only for statements built entirely from the schema: every
# value comes with the execution's parameters, none is embedded in the statement (but for
# constants of the code, such as the LIMIT 1 of a next task read alongside: the value compiled
# first is the value of every run).
_CONFLICT_STATEMENTS: dict[tuple, object] = {}


def held_as_loaded(model, row):
    """The ``model`` object of a row just read or written (its columns, by name), held by the
    session as if loaded from the database, without a query: no pending change, nothing to
    flush, relationships loaded when first read. Columns the row leaves out are loaded when
    one of them is first read (one query), as after ``session.expire``. The object the
    session holds already wins."""
    mapping = row._mapping if hasattr(row, "_mapping") else row
    mapper = model.__mapper__
    try:
        values = {prop.key: mapping[prop.columns[0].name] for prop in mapper.column_attrs}
    except KeyError:  # some columns left out (a row's NoSuchColumnError is a KeyError too)
        values = {prop.key: mapping[name] for prop in mapper.column_attrs if (name := prop.columns[0].name) in mapping}
    key = db.session.identity_key(model, values[mapper.primary_key[0].key])
    held = db.session.identity_map.get(key)
    if held is not None:
        return held
    # The values go straight into the object's dict, as the ORM's own loading puts them: no
    # attribute event per column (the constructor's way cost twice as much).
    obj = mapper.class_manager.new_instance()
    obj.__dict__.update(values)
    make_transient_to_detached(obj)
    db.session.add(obj)
    return obj


def dialect_insert(dialect_name: str):
    """The INSERT construct with ON CONFLICT of the database ``dialect_name`` names. Imported
    from that database's dialect when asked, which the engine has loaded already: the other
    database's dialect stays out of the process (PostgreSQL's is 2 MB a SQLite worker holds
    for nothing, SQLite's 0.7 MB on PostgreSQL)."""
    if dialect_name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    return insert


def conflict_insert(name: tuple, build):
    """The statement ``build(dialect_insert)`` makes, built once per database kind and ``name``
    (a tuple naming the table and shape, fixed by the code: the dict stays small)."""
    dialect = db.session.get_bind().dialect.name
    key = (dialect, *name)
    statement = _CONFLICT_STATEMENTS.get(key)
    if statement is None:
        statement = build(dialect_insert(dialect))
        cache_key = CacheKey(("leadflow.conflict_insert", *key), [])
        statement._generate_cache_key = lambda: cache_key  # the statement never changes: this key is its whole identity
        _CONFLICT_STATEMENTS[key] = statement
    return statement


# A few rows (a new lead's history, its timeline entries) go in as one multi-row INSERT; more
# as an executemany. On PostgreSQL an executemany is a pipeline of its own, several times the
# CPU of one statement for two rows.
MULTI_ROW_MAX = 10
_ROW_INSERTS: dict[tuple, tuple] = {}
# session.info: the rows an ``inserts_together`` block holds back, as (table, rows).
_HELD_INSERTS = "leadflow.held_inserts"


def insert_all(table, rows: Sequence[dict]) -> None:
    """INSERT ``rows`` (every row with the same columns) into ``table`` with one statement,
    built once per table, columns and number of rows (at most ``MULTI_ROW_MAX``, so the kept
    statements are as many as the code's shapes of rows). Inside ``inserts_together`` they
    wait for the block's statement."""
    if not rows:
        return
    if len(rows) > MULTI_ROW_MAX:
        db.session.execute(table.insert(), rows)
        return
    held = db.session.info.get(_HELD_INSERTS)
    if held is not None:
        held.append((table, rows))
        return
    _insert_rows([(table, rows)])


class _NewRowId:
    """The type of ``NEW_ROW_ID``."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "NEW_ROW_ID"


# In a row held by ``inserts_together`` for ``insert_one_with_held``: the id of the row that
# statement inserts, which is not known until it runs.
NEW_ROW_ID = _NewRowId()
_ONE_WITH_HELD: dict[tuple, object] = {}


def _python_defaults(table, given) -> list:
    """The columns of ``table`` missing from ``given`` whose default Python gives (a
    ``created_at``): a statement of several tables binds them by value, not under the column's
    name, which two of its tables may share."""
    return [column for column in table.c if column.key not in given and column.default is not None
            and (column.default.is_scalar or column.default.is_callable)]


def _default_values(columns) -> dict:
    return {c.key: c.default.arg if c.default.is_scalar else c.default.arg(None) for c in columns}


def holds_inserts() -> bool:
    """Whether an ``inserts_together`` block holds rows back here (PostgreSQL)."""
    return db.session.info.get(_HELD_INSERTS) is not None


def insert_one_with_held(name: tuple, table, row: dict, build):
    """PostgreSQL, inside ``inserts_together``: INSERT ``row`` into ``table`` with the rows the
    block holds so far, in one statement: the new row's INSERT (``build(insert)`` gives it its
    ON CONFLICT and RETURNING) in a WITH, and an ``INSERT … SELECT`` from it of each held
    table's rows, where the value ``NEW_ROW_ID`` is the new row's id. A row the conflict
    skips writes none of them. Returns what its RETURNING returns (None when skipped); the
    block is left holding nothing.

    A new lead's arrival, tags and first history go with the lead itself: a round trip and a
    statement less on every create. Built once per shape (``name``, the row's columns, the held
    tables, their columns, where the new id goes and their numbers of rows), as
    ``_insert_rows``."""
    held = db.session.info[_HELD_INSERTS]
    parts, held[:] = held[:], []
    shape = (*name, tuple(row), *((t.name, tuple(k for k, v in rows[0].items() if v is NEW_ROW_ID),
                                   tuple(rows[0]), len(rows)) for t, rows in parts))
    built = _ONE_WITH_HELD.get(shape)
    if built is None:
        insert = dialect_insert("postgresql")
        defaulted = [_python_defaults(table, row)] + [_python_defaults(t, rows[0]) for t, rows in parts]
        values = {key: bindparam(f"n_{key}", type_=table.c[key].type) for key in (*row, *(c.key for c in defaulted[0]))}
        new_row = build(insert(table).values(values)).cte("new_row")
        ctes = []
        for j, ((held_table, rows), extra) in enumerate(zip(parts, defaulted[1:])):
            names = [*rows[0], *(c.key for c in extra)]
            selects = [sql_select(*[new_row.c.id if rows[i].get(key) is NEW_ROW_ID else
                                    bindparam(f"t{j}_{key}_{i}", type_=held_table.c[key].type) for key in names]
                                  ).select_from(new_row) for i in range(len(rows))]
            source = selects[0] if len(selects) == 1 else union_all(*selects)
            ctes.append(held_table.insert().from_select(names, source).cte(f"insert_{j}"))
        statement = sql_select(*new_row.c).add_cte(new_row, *ctes)
        cache_key = CacheKey(("leadflow.insert_one_with_held", *shape), [])
        statement._generate_cache_key = lambda: cache_key  # its shape is its identity
        built = _ONE_WITH_HELD[shape] = (statement, defaulted)
    statement, defaulted = built
    parameters = {f"n_{key}": value for key, value in {**row, **_default_values(defaulted[0])}.items()}
    return db.session.execute(statement, {**parameters, **_parts_parameters(parts, defaulted[1:])}).first()


def _insert_rows(parts: list[tuple]) -> None:
    """The rows of each part (table, rows) in one statement: the last part's INSERT, the
    others' in its WITH (PostgreSQL only; on SQLite a statement has one part).

    Built once per shape (the tables, their columns and numbers of rows, in order), and
    compiled once: SQLAlchemy keeps no compiled form of a multi-row INSERT (it has no cache
    key), so the statement is given its shape as its key, as ``conflict_insert`` does. Python
    column defaults (a ``created_at`` left out) are given as values here: compiled, each would
    be bound under its column's name, which two tables of one statement may share."""
    shape = tuple((table.name, tuple(rows[0]), len(rows)) for table, rows in parts)
    built = _ROW_INSERTS.get(shape)
    if built is None:
        defaulted = [_python_defaults(table, rows[0]) for table, rows in parts]
        inserts = [table.insert().values([{name: bindparam(f"t{j}_{name}_{i}", type_=table.c[name].type)
                                           for name in (*rows[0], *(c.key for c in extra))} for i in range(len(rows))])
                   for j, ((table, rows), extra) in enumerate(zip(parts, defaulted))]
        statement = inserts[-1].add_cte(*[insert.cte(f"insert_{j}") for j, insert in enumerate(inserts[:-1])])
        cache_key = CacheKey(("leadflow.insert_rows", *shape), [])
        statement._generate_cache_key = lambda: cache_key  # the statement never changes: its shape is its identity
        built = _ROW_INSERTS[shape] = (statement, defaulted)
    statement, defaulted = built
    db.session.execute(statement, _parts_parameters(parts, defaulted))


def _parts_parameters(parts: list[tuple], defaulted: list) -> dict:
    """The values of the parts' rows, bound as ``t<part>_<column>_<row>`` (a ``NEW_ROW_ID``
    is not bound: the statement reads it from the new row)."""
    parameters = {}
    for j, ((_, rows), extra) in enumerate(zip(parts, defaulted)):
        given = _default_values(extra)
        for i, row in enumerate(rows):
            for name, value in (*row.items(), *given.items()):
                if value is not NEW_ROW_ID:
                    parameters[f"t{j}_{name}_{i}"] = value
    return parameters


@contextmanager
def inserts_together() -> Iterator[None]:
    """The ``insert_all`` calls inside (rows nothing reads before the block ends: a new lead's
    history, timeline entries, audit entry and arrival) go in one statement at its end: on
    PostgreSQL every table's INSERT in a WITH of the last one, one round trip where each took
    its own. A statement the session runs inside the block writes them first
    (``install_inserts_together``), so nothing ever reads without them; an error inside drops
    them with the transaction it fails. On SQLite (no INSERT inside a WITH, and a statement
    costs no round trip) each is written at once, as outside the block."""
    info = db.session.info
    if _HELD_INSERTS in info or db.session.get_bind().dialect.name != "postgresql":
        yield
        return
    info[_HELD_INSERTS] = []
    try:
        yield
    except BaseException:
        info.pop(_HELD_INSERTS, None)
        raise
    held = info.pop(_HELD_INSERTS)
    if held:
        _insert_rows(held)


def _write_held_first(orm_execute_state) -> None:
    """``do_orm_execute``: a statement run inside ``inserts_together`` sees the rows held so far."""
    held = orm_execute_state.session.info.get(_HELD_INSERTS)
    if held:
        parts = held[:]
        held.clear()
        _insert_rows(parts)


def install_inserts_together() -> None:
    """Write held inserts before any other statement of a session (once per process)."""
    if not event.contains(db.session, "do_orm_execute", _write_held_first):
        event.listen(db.session, "do_orm_execute", _write_held_first)


def insert_missing(table, rows, index_elements: list[str], index_where=None) -> None:
    """INSERT … ON CONFLICT DO NOTHING: each row whose key (``index_elements``, with the
    partial index's ``index_where``) a row already holds is left out instead of failing. On
    PostgreSQL it waits for a concurrent transaction inserting the same key and leaves the row
    out if that one commits, so the caller's next SELECT finds exactly one row."""
    insert = dialect_insert(db.session.get_bind().dialect.name)
    db.session.execute(insert(table).on_conflict_do_nothing(index_elements=index_elements,
                                                              index_where=index_where), rows)


# PostgreSQL planner settings for each of the app's connections: short queries over data that
# sits in memory. Random reads cost about as much as sequential ones there (the default, 4,
# is for spinning disks: with it the planner read all 100,000 live leads to join a search's
# 357 matches, 70 ms instead of 5), and a parallel plan's workers take longer to start than
# the query takes (and compete with the app for the cores).
POSTGRESQL_SESSION_SETTINGS = {"random_page_cost": "1.1", "max_parallel_workers_per_gather": "0"}


IDLE_PING_SECONDS = 60
_IDLE_SINCE = "leadflow.idle_since"


def closed_by_server(dbapi_connection) -> bool:
    """Whether the server has closed this idle connection (restarted, ended the session,
    timed it out). Between transactions the server sends nothing, so anything waiting to
    be read (its last message, the end of the stream) means the connection is gone. Asks the
    operating system, not the server: no round trip."""
    if dbapi_connection.closed:
        return True
    if not hasattr(select, "poll"):  # Windows
        return bool(select.select([dbapi_connection.fileno()], [], [], 0)[0])
    poller = select.poll()
    poller.register(dbapi_connection.fileno(), select.POLLIN)  # hang-ups and errors are always reported
    return bool(poller.poll(0))


# A statement that a PostgreSQL transaction begun DEFERRED runs before it has begun (the driver in
# autocommit): a SELECT (or a WITH … SELECT) that writes nothing, locks no row and calls none of
# the functions whose effect belongs to a transaction. Any other statement (INSERT, UPDATE,
# DELETE, SAVEPOINT, SET LOCAL, SELECT … FOR UPDATE / FOR SHARE, SELECT … INTO, nextval, an
# advisory lock) begins the transaction first. A word matched by mistake (a column named so)
# only costs the BEGIN every statement paid before.
_READS = re.compile(r"\s*(SELECT|WITH)\b", re.IGNORECASE)
_DOES_MORE_THAN_READ = re.compile(
    r"\b(INSERT|UPDATE|DELETE|MERGE|INTO|SHARE|nextval|setval|set_config|pg_notify|\w*advisory\w*"
    r"|txid_current\w*|pg_current_xact_id\w*)\b", re.IGNORECASE)


@lru_cache(maxsize=1024)  # the app's statements (compiled once, so the same strings), a bounded few
def only_reads(statement: str) -> bool:
    """Whether the SQL ``statement`` only reads (see ``_DOES_MORE_THAN_READ``): in READ
    COMMITTED, where every statement takes a snapshot of its own even inside a transaction, it
    gives the same answer inside a transaction or outside one."""
    return _READS.match(statement) is not None and _DOES_MORE_THAN_READ.search(statement) is None


class CheckFailed(Exception):
    """A ``RidingCheck`` found the database no longer holds what the request assumed: the
    request's work so far is void and it must run again from the start (``leadflow.web``)."""


@dataclass
class RidingCheck:
    """A read that must confirm, before the request writes anything or answers, what the
    request took from this process's memory instead of asking the database: ``sql`` (the
    driver's text, PostgreSQL's), run with ``params``, must return the one row ``expected``.

    On PostgreSQL it travels in the same round trip as the request's next statement that only
    reads (psycopg's pipeline: this check first, then the statement, one Sync), and that
    statement's rows are used only once it has passed; before a statement that writes, and
    before the response (``settle_riding_check``), it runs alone. A check that fails raises
    ``CheckFailed`` then and at every later settling: the request runs again without it.
    ``adopt(row)``, for a row other than ``expected``: whether the request can go on with that
    row instead (it has used nothing the difference touches yet)."""

    engine: Engine
    sql: str
    params: dict
    expected: tuple
    adopt: Callable[[tuple], bool] | None = None
    failed: bool = False

    def compare(self, row) -> None:
        row = tuple(row) if row is not None else None
        if row is None or (row != self.expected and not (self.adopt is not None and self.adopt(row))):
            self.failed = True
        if self.failed:
            raise CheckFailed("the database changed since this process last read it")


# The check the current request owes (``RidingCheck``); None once it has passed.
riding_check: contextvars.ContextVar[RidingCheck | None] = contextvars.ContextVar("riding_check", default=None)
# False while a request runs again after a failed check: it then asks the database first.
riding_checks_allowed: contextvars.ContextVar[bool] = contextvars.ContextVar("riding_checks_allowed", default=True)


def _run_check_alone(check: RidingCheck, dbapi_connection) -> None:
    row = None
    if not check.failed:
        with dbapi_connection.cursor() as cursor:
            row = cursor.execute(check.sql, check.params, prepare=True).fetchone()
    check.compare(row)  # raises when it fails, now or earlier
    riding_check.set(None)  # passed: a failed check stays owed, so every later settling raises


def _run_in_one_round_trip(cursor, statement: str, parameters, begin: str | None,
                           check: RidingCheck | None, commit: bool = False) -> None:
    """``statement`` on ``cursor``, after the ``begin`` (the transaction's BEGIN, which the
    app sends for the driver) and the ``check`` it owes, and before the transaction's COMMIT
    (``commit``, see ``commit_with_next_statement``): one round trip (psycopg's pipeline, one
    Sync). The check's row is compared before anything reads the statement's rows, and also
    when the statement failed: a failed check outranks the error, which may come from it. A
    statement that fails aborts the transaction, and the server skips the COMMIT after it."""
    connection = cursor.connection
    beginning = connection.cursor() if begin is not None or commit else None
    checking = connection.cursor() if check is not None else None
    try:
        with connection.pipeline():
            if begin is not None:
                beginning.execute(begin)
            if check is not None:
                checking.execute(check.sql, check.params, prepare=True)
            cursor.execute(statement, parameters)
            if commit:
                beginning.execute("COMMIT")
    finally:
        try:
            if checking is not None and checking.description is not None:  # the check was answered
                check.compare(checking.fetchone())
                riding_check.set(None)
        finally:
            for side in (beginning, checking):
                if side is not None:
                    side.close()


@lru_cache(maxsize=1)
def riding_checks_supported() -> bool:
    """psycopg's pipeline needs libpq 14 or later (the binary wheel brings its own)."""
    import psycopg

    return psycopg.Pipeline.is_supported()


def settle_riding_check() -> None:
    """Run the current request's check now if it is still owed (before a response leaves);
    raise ``CheckFailed`` if it failed, now or earlier."""
    check = riding_check.get()
    if check is not None:
        _run_check_alone(check, db.session.connection().connection.dbapi_connection)


# The pooled connection's info: while the app's transaction is one the app begins for the driver
# (which is in autocommit meanwhile), when its BEGIN is sent: with the first statement that does
# more than read (a transaction begun DEFERRED), with its first statement, or sent already; and
# whether the server's isolation level gives every statement a snapshot of its own (READ
# COMMITTED), asked once per connection.
_BEGIN = "leadflow.begin"
_BEGIN_ON_WRITE, _BEGIN_ON_STATEMENT, _BEGUN = "on write", "on statement", "begun"
_SNAPSHOT_PER_STATEMENT = "leadflow.snapshot_per_statement"
# PostgreSQL's READ UNCOMMITTED is READ COMMITTED.
_SNAPSHOT_PER_STATEMENT_LEVELS = ("read committed", "read uncommitted")
# The driver connection whose next statement is to go with its transaction's BEGIN (set just
# before the statement, by ``configure_postgresql_engine``'s listener, taken by its ``do_execute``).
_begin_with_next: contextvars.ContextVar[Any] = contextvars.ContextVar("begin_with_next", default=None)
# Whether the next statement may carry its transaction's COMMIT (``commit_with_next_statement``),
# and the driver connection whose transaction was committed so, until the app's commit.
_commit_with_next: contextvars.ContextVar[bool] = contextvars.ContextVar("commit_with_next", default=False)
_committed_early: contextvars.ContextVar[Any] = contextvars.ContextVar("committed_early", default=None)


class WriteAfterCommit(RuntimeError):
    """A statement that writes ran after its transaction's COMMIT went with an earlier one."""


@contextmanager
def commit_with_next_statement() -> Iterator[None]:
    """On PostgreSQL, the next statement run inside the block carries its transaction's COMMIT
    in its round trip (psycopg's pipeline): a round trip and the wait for the server's disk
    flush less, for the last statement of a unit of work (a move's column headers, which add
    its totals). The unit's own commit then finds nothing to commit and sends nothing; a
    statement that writes after it raises ``WriteAfterCommit`` (reads run as a page's do, each
    on its own). A failed COMMIT is raised by that statement, as it would be by the commit,
    and the unit runs again if it may. What fails after it (drawing the answer) finds the work
    saved. Not done, and the COMMIT comes at its usual place, when the user's check is still
    owed (the work of a user it refuses must not be saved), inside a SAVEPOINT, or when the
    driver began the transaction itself. SQLite: nothing (a statement costs no round trip)."""
    token = _commit_with_next.set(True)
    try:
        yield
    finally:
        _commit_with_next.reset(token)


def _begin_statement(dbapi_connection) -> str:
    """The BEGIN psycopg would send for ``dbapi_connection``: with its isolation level, read
    only and deferrable settings, when set."""
    parts = ["BEGIN"]
    if dbapi_connection.isolation_level is not None:
        parts.append("ISOLATION LEVEL " + dbapi_connection.isolation_level.name.replace("_", " "))
    if dbapi_connection.read_only is not None:
        parts.append("READ ONLY" if dbapi_connection.read_only else "READ WRITE")
    if dbapi_connection.deferrable is not None:
        parts.append("DEFERRABLE" if dbapi_connection.deferrable else "NOT DEFERRABLE")
    return " ".join(parts)


def configure_postgresql_engine(engine: Engine, configure_connection=None) -> None:
    """``configure_connection(dbapi_connection)``: the driver's own settings for each new
    connection (``leadflow.pgdriver``, which the app factory loads on PostgreSQL only).

    A connection the server closed while it sat in the pool (PostgreSQL restarted) is
    replaced when checked out, with every other connection of the pool, as ``pool_pre_ping``
    would, without its round trip (``SELECT`` of nothing) on every checkout.

    A connection dropped without a word (a firewall or pooler that forgets idle connections
    sends nothing, so there is nothing to read) is found by a ping when it was idle longer than
    ``IDLE_PING_SECONDS``: a connection of a busy pool never pays for it.

    A transaction begun DEFERRED (``begin_mode``: a request that only reads) sends no BEGIN
    and no COMMIT while it only reads, two round trips of a page that runs three statements:
    the driver runs its statements in autocommit, each with its own snapshot, as READ COMMITTED
    gives each statement inside a transaction. Its first statement that does more than read
    (``only_reads``), a flush of the ORM's included, begins a real transaction, so every write
    of the request is in one transaction that its COMMIT saves or its ROLLBACK undoes, as
    before. Under another isolation level (the server's default or the engine's), where a
    transaction's statements share one snapshot, and in a transaction begun IMMEDIATE, the
    transaction begins with its first statement.

    The BEGIN goes in the round trip of the statement it comes before (psycopg's pipeline, one
    Sync; ``_run_in_one_round_trip``): psycopg sends it alone and waits for its answer, even in
    a pipeline, a round trip of every transaction that writes (a move on the board was six).
    The app sends it for the driver, which stays in autocommit until the transaction ends: its
    COMMIT and ROLLBACK go by the server's transaction status, not by that setting. A
    statement run many times at once (``executemany``) or streamed has psycopg send the BEGIN
    as before."""
    if engine.dialect.name != "postgresql":
        return
    dbapi_error = engine.dialect.loaded_dbapi.Error

    @event.listens_for(engine, "checkin")
    def _on_checkin(_dbapi_connection, record):
        record.info[_IDLE_SINCE] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _on_checkout(dbapi_connection, record, _proxy):
        if closed_by_server(dbapi_connection):
            raise InvalidatePoolError("the server closed the connection")
        if record.info.get(_BEGIN):  # its autocommit could not be turned off (a broken connection)
            raise DisconnectionError("the connection was left in autocommit")
        idle_since = record.info.get(_IDLE_SINCE)
        if idle_since is not None and time.monotonic() - idle_since > IDLE_PING_SECONDS:
            try:
                engine.dialect.do_ping(dbapi_connection)
            except dbapi_error as exc:
                raise InvalidatePoolError(f"the idle connection did not answer ({type(exc).__name__})") from exc

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, record):
        if configure_connection is not None:
            configure_connection(dbapi_connection)
        cursor = dbapi_connection.cursor()
        for name, value in POSTGRESQL_SESSION_SETTINGS.items():
            cursor.execute(f"SET {name} = {value}")
        cursor.execute("SHOW default_transaction_isolation")
        record.info[_SNAPSHOT_PER_STATEMENT] = cursor.fetchone()[0] in _SNAPSHOT_PER_STATEMENT_LEVELS
        cursor.close()
        dbapi_connection.commit()

    @event.listens_for(engine, "begin")
    def _on_begin(connection):
        if connection.get_execution_options().get("isolation_level"):
            return
        pooled = connection.connection
        dbapi_connection = pooled.dbapi_connection
        if dbapi_connection.autocommit:
            return
        level = dbapi_connection.isolation_level  # the engine's, when it sets one
        deferred = (begin_mode.get() != "IMMEDIATE" and pooled.info.get(_SNAPSHOT_PER_STATEMENT)
                    and (level is None or level.name.replace("_", " ").lower() in _SNAPSHOT_PER_STATEMENT_LEVELS))
        dbapi_connection.autocommit = True
        pooled.info[_BEGIN] = _BEGIN_ON_WRITE if deferred else _BEGIN_ON_STATEMENT

    @event.listens_for(engine, "before_cursor_execute")
    def _check_before_more_than_reading(connection, _cursor, statement, _parameters, context, executemany):
        check = riding_check.get()
        if check is None or check.engine is not engine:
            return
        streamed = context is not None and context.execution_options.get("stream_results", False)
        if check.failed or executemany or streamed or not only_reads(statement):
            _run_check_alone(check, connection.connection.dbapi_connection)

    @event.listens_for(engine, "before_cursor_execute")
    def _begin_before_statement(connection, _cursor, statement, _parameters, context, executemany):
        pooled = connection.connection
        if _committed_early.get() is pooled.dbapi_connection and not only_reads(statement):
            raise WriteAfterCommit(f"a statement that writes after its transaction's COMMIT: {statement[:200]}")
        owed = pooled.info.get(_BEGIN)
        if owed is None or owed == _BEGUN:
            return
        # A server-side cursor (``stream_results``, ``yield_per``) lives in a transaction.
        streamed = context is not None and context.execution_options.get("stream_results", False)
        if owed == _BEGIN_ON_WRITE and not streamed and only_reads(statement):
            return
        dbapi_connection = pooled.dbapi_connection
        if executemany or streamed or (context is not None and context.no_parameters):
            dbapi_connection.autocommit = False  # the driver sends BEGIN before this statement
            del pooled.info[_BEGIN]
        else:
            pooled.info[_BEGIN] = _BEGUN
            _begin_with_next.set(dbapi_connection)

    def ending(end_transaction: Callable) -> Callable:
        """``end_transaction`` (the dialect's commit or rollback of a pooled connection), then
        the driver out of autocommit again (psycopg's COMMIT or ROLLBACK, asked in autocommit,
        goes by the server's transaction status: with nothing begun it sends nothing). After a
        COMMIT that failed the server has ended the transaction all the same; a connection
        whose status cannot be read (broken) keeps the mark, and the pool replaces it."""

        def ended(pooled) -> None:
            try:
                owed = pooled.info.get(_BEGIN)
            except NotImplementedError:  # the dialect's first connection, not the pool's: nothing owed
                owed = None
            if owed is None:
                return end_transaction(pooled)
            dbapi_connection = pooled.dbapi_connection
            for owed_by in (_begin_with_next, _committed_early):
                if owed_by.get() is dbapi_connection:
                    owed_by.set(None)
            try:
                end_transaction(pooled)
            finally:
                try:
                    if dbapi_connection.info.transaction_status.name == "IDLE":
                        dbapi_connection.autocommit = False
                        del pooled.info[_BEGIN]
                except dbapi_error:
                    pass  # a broken connection: the mark stays, and the pool replaces it at checkout

        return ended

    engine.dialect.do_commit = ending(engine.dialect.do_commit)
    engine.dialect.do_rollback = ending(engine.dialect.do_rollback)

    execute = engine.dialect.do_execute

    def do_execute(cursor, statement, parameters, context=None):
        """The statement, after its transaction's BEGIN and the request's ``riding_check``,
        when they are owed, in the same round trip."""
        begin = None
        if _begin_with_next.get() is cursor.connection:
            _begin_with_next.set(None)
            begin = _begin_statement(cursor.connection)
        check = riding_check.get()
        if check is not None and check.engine is not engine:
            check = None
        # Not in a SAVEPOINT (``begin_nested``, a test's outer transaction): COMMIT would end the outer one.
        commit = (_commit_with_next.get() and check is None and cursor.connection.autocommit
                  and context is not None and not context.root_connection.in_nested_transaction()
                  and (begin is not None or cursor.connection.info.transaction_status.name == "INTRANS"))
        if begin is None and check is None and not commit:
            return execute(cursor, statement, parameters, context)
        if commit:
            _commit_with_next.set(False)  # the next statement only
        _run_in_one_round_trip(cursor, statement, parameters, begin, check, commit)
        if commit:
            _committed_early.set(cursor.connection)

    engine.dialect.do_execute = do_execute


def shrink_idle_sqlite_connections(engines) -> int:
    """Hand back the page cache of every SQLite connection idle in ``engines``' pools (``PRAGMA
    shrink_memory``); returns how many were shrunk. Each connection caches up to 2 MB of the
    file's pages (SQLite's default ``cache_size``) for as long as it lives: a worker whose four
    threads each answered a request at once holds four such caches, 5 MB more than one client
    leaves (``bench/bench_memory.py --clients 4``). The next request reads those pages again
    from the system's file cache. Other databases' engines are left alone."""
    shrunk = 0
    for engine in engines:
        if engine.dialect.name != "sqlite":
            continue
        idle = []
        try:
            # checked out, so no request uses them meanwhile (one arriving opens a connection)
            for _ in range(engine.pool.checkedin()):
                idle.append(engine.pool.connect())
            for pooled in idle:
                pooled.dbapi_connection.execute("PRAGMA shrink_memory")
                shrunk += 1
        finally:
            for pooled in idle:
                pooled.close()
    return shrunk


def configure_sqlite_engine(engine: Engine, busy_timeout_ms: int, checkpoint_seconds: float = 0.5) -> None:
    """SQLite's settings for the app's connections, BEGIN as the app chooses it, the writers'
    turns (``ProcessWriterLock``) and, for a file, WAL checkpoints run by a thread every
    ``checkpoint_seconds`` while writes go on (``leadflow.checkpoints``; 0: by the committing
    connection, SQLite's default)."""
    if engine.dialect.name != "sqlite":
        return
    on_file = engine.url.database not in (None, "", ":memory:")
    checkpointer = (Checkpointer(engine.url.database, checkpoint_seconds, engine.dialect.dbapi)
                    if on_file and checkpoint_seconds > 0 else None)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record):
        # Take over transaction control from pysqlite so BEGIN is ours to emit.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
        if on_file:
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
        if checkpointer is not None:
            cursor.execute(f"PRAGMA wal_autocheckpoint={SAFETY_NET_PAGES}")
        cursor.close()

    writer = ProcessWriterLock(busy_timeout_ms / 1000) if on_file else None

    @event.listens_for(engine, "begin")
    def _on_begin(connection):
        if begin_mode.get() != "IMMEDIATE":
            connection.exec_driver_sql("BEGIN")
            return
        dbapi_connection = connection.connection.dbapi_connection
        if writer is not None:
            writer.acquire(dbapi_connection)
        try:
            connection.exec_driver_sql("BEGIN IMMEDIATE")
        except BaseException:
            if writer is not None:
                writer.release(dbapi_connection)
            raise

    if writer is not None:
        # The turn passes on right after the COMMIT or ROLLBACK (SQLAlchemy has no event after
        # them, so this engine's dialect is wrapped); a connection that goes back to the pool,
        # is closed or is invalidated gives it up too, whatever happened before.
        engine.dialect.do_commit = writer.releasing(engine.dialect.do_commit)
        engine.dialect.do_rollback = writer.releasing(engine.dialect.do_rollback)
        for name in ("checkin", "invalidate", "close"):
            event.listen(engine, name, writer.release_from_event)
    if checkpointer is not None:
        # Around the writer's turn: the next writer starts before this asks for a checkpoint.
        engine.dialect.do_commit = checkpointer.after(engine.dialect.do_commit,
                                                      lambda: begin_mode.get() == "IMMEDIATE")
        event.listen(engine, "engine_disposed", lambda _engine: checkpointer.stop())


class ProcessWriterLock:
    """This process's turn at SQLite's write lock, handed over the moment it is free.

    SQLite has one writer at a time. A thread whose ``BEGIN IMMEDIATE`` finds the lock taken
    sleeps in SQLite's busy handler and looks again later (about 30 ms after the holder's
    commit, measured here): the lock sits free while every waiting thread of the process
    sleeps, so under concurrent writes most of a request's time went to waiting. Here the
    threads of one process queue on a lock of their own first, taken before ``BEGIN
    IMMEDIATE`` and let go right after the transaction's COMMIT or ROLLBACK (or when its
    connection goes back to the pool, is closed or is invalidated), so the next writer starts
    as soon as the last one commits. Other processes (another worker, the scheduler's own process) still
    meet at SQLite's lock, as before.

    A thread that waits longer than the busy timeout (or ``sqlite_write_wait``, for a write
    that is skipped when the lock stays taken) goes on to ``BEGIN IMMEDIATE`` anyway and
    SQLite's busy handler decides, as it did before this lock; so does a thread whose other
    connection holds the turn. The lock can delay a writer, never stop one."""

    def __init__(self, timeout_seconds: float):
        self._lock = threading.Lock()
        self._timeout = timeout_seconds
        self._holder = None  # the DB-API connection whose transaction holds the turn
        self._holder_thread = None  # and the thread that took it

    def acquire(self, connection) -> None:
        if self._holder is connection:
            return  # the connection's earlier transaction still holds the turn
        if self._holder_thread == threading.get_ident():
            # This thread's other connection holds the turn: waiting for it here would wait
            # for ourselves. SQLite's busy handler decides, as it did before this lock.
            return
        wait = sqlite_write_wait.get()
        if self._lock.acquire(timeout=self._timeout if wait is None else wait):
            self._holder, self._holder_thread = connection, threading.get_ident()

    def release(self, connection) -> None:
        if connection is not None and self._holder is connection:
            self._holder = self._holder_thread = None
            self._lock.release()

    def release_from_event(self, dbapi_connection, _record, *_args) -> None:
        self.release(dbapi_connection)

    def releasing(self, end_transaction: Callable) -> Callable:
        """``end_transaction`` (the dialect's commit or rollback of a pooled connection), then
        the turn passed on."""

        def ended(connection) -> None:
            try:
                end_transaction(connection)
            finally:
                self.release(getattr(connection, "dbapi_connection", connection))

        return ended


# The tables a bulk write (an import, the demo seed, a restore, a bulk job) fills or rewrites:
# the ones the lead list, the board and the dashboard plan their queries on.
BULK_WRITTEN_TABLES = ("leads", "lead_tags", "lead_search", "organizations", "activities",
                       "stage_changes", "audit_entries", "job_leads")
SQLITE_ANALYSIS_LIMIT = 1000  # rows sampled per index: an estimate, in milliseconds at any size
STATISTICS_AFTER_ROWS = 1000  # a job writing fewer leads leaves the statistics to autovacuum


def refresh_statistics(bind, tables: Sequence[str] = BULK_WRITTEN_TABLES, *, rows_written: int | None = None) -> None:
    """Refresh the planner's statistics of ``tables`` after a bulk write, so the next query
    is planned on the new row counts (PostgreSQL's planner chose a plan 20× slower on a
    freshly seeded, unanalysed table; its lead list estimates its count from them).

    ``bind``: a session, an SQLAlchemy connection, or a DB-API ``sqlite3`` connection.
    PostgreSQL: ``ANALYZE`` (sampled, safe inside a transaction; it sees the transaction's
    own rows). SQLite: ``ANALYZE`` with ``PRAGMA analysis_limit``, so it samples rather than
    reads every index. Call it after (or just before) a bulk job's last commit; with
    ``rows_written`` under ``STATISTICS_AFTER_ROWS`` it does nothing."""
    if rows_written is not None and rows_written < STATISTICS_AFTER_ROWS:
        return
    import sqlite3

    from sqlalchemy import text

    if isinstance(bind, sqlite3.Connection):
        dialect, run = "sqlite", bind.execute
    else:
        engine = bind.get_bind() if hasattr(bind, "get_bind") else bind
        dialect, run = engine.dialect.name, (lambda sql: bind.execute(text(sql)))
    names = [name for name in tables if name.isidentifier()]
    if dialect == "postgresql":
        run("ANALYZE " + ", ".join(names))
    elif dialect == "sqlite":
        run(f"PRAGMA analysis_limit={SQLITE_ANALYSIS_LIMIT}")
        for name in names:
            run(f"ANALYZE {name}")


VACUUM_LOCK_TIMEOUT = "5s"


def tidy_after_bulk_write(session, tables: Sequence[str] = BULK_WRITTEN_TABLES, *,
                          rows_written: int | None = None) -> None:
    """``refresh_statistics`` for a bulk write that has been COMMITTED (the caller commits
    again after it). On PostgreSQL a ``VACUUM`` comes first, in a connection of its own (it
    cannot run in a transaction): it marks the new rows' pages all-visible, so a capped count
    or a page of ids reads the index alone (an index-only scan, as SQLite always does) instead
    of visiting every matching row in the table. Where autovacuum is off or has not come round
    yet, the lead list's count of one owner's leads in one stage took 300 ms at 100,000 leads
    instead of a few. VACUUM takes no lock that stops readers or writers."""
    if rows_written is not None and rows_written < STATISTICS_AFTER_ROWS:
        return
    bind = session.get_bind()
    # A bind that is a connection inside a transaction holds the rows uncommitted (a caller's
    # outer transaction): nobody else sees them yet, there is nothing to vacuum.
    committed = not (hasattr(bind, "in_transaction") and bind.in_transaction())
    if bind.engine.dialect.name == "postgresql" and committed:
        from sqlalchemy import text

        names = [name for name in tables if name.isidentifier()]
        with bind.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            # SKIP_LOCKED and a lock timeout: a table someone holds is left for next time.
            connection.execute(text(f"SET lock_timeout = '{VACUUM_LOCK_TIMEOUT}'"))
            connection.execute(text("VACUUM (SKIP_LOCKED) " + ", ".join(names)))
    refresh_statistics(session, tables)  # in the session: it sees the session's own rows
