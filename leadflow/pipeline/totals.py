"""Each stage's live lead count and value: per stage (``StageTotals``) and per stage and
currency (``StageCurrencyTotals``, what the board's money totals are made from).

The lead store (``leadflow.leads.store``) is the only writer: every write that adds, moves,
re-values, re-prices (currency), trashes or restores leads adds its difference to the rows
with ``INSERT … ON CONFLICT DO UPDATE SET n = n + :delta`` (``add_to_totals``), in the same transaction, so
concurrent writers never lose an update. Should a stage's currency rows ever not add up to
its own count and value (a write outside the store), the board (``pipeline.board.stage_totals``)
counts that stage's money from the leads instead, so a total is never wrong, only slower
until the stage is recounted (``recount_stage_totals``).
"""

from __future__ import annotations

from collections import defaultdict
from contextlib import nullcontext
from typing import NamedTuple

from sqlalchemy import bindparam, cast, func, literal_column, null, select, tuple_, union_all, update
from sqlalchemy.orm import Session, scoped_session

from leadflow.db import Alongside, beside, commit_with_next_statement, conflict_insert, dialect_insert, take_alongside
from leadflow.leads.models import Lead
from leadflow.pipeline.models import Stage, StageCurrencyTotals, StageTotals

def _rows_to_add(deltas) -> tuple[list[dict], list[dict]]:
    """The per-currency and per-stage rows ``deltas`` add, each list in key order."""
    per_stage = defaultdict(lambda: [0, 0])
    currency_rows = []
    for (stage_id, currency), (count, valued, value) in sorted(deltas.items()):
        if count == valued == value == 0:
            continue
        per_stage[stage_id][0] += count
        per_stage[stage_id][1] += value
        currency_rows.append({"stage_id": stage_id, "currency": currency, "lead_count": count,
                              "value_count": valued, "value_cents": value})
    stage_rows = [{"stage_id": stage_id, "lead_count": count, "value_cents": value}
                  for stage_id, (count, value) in sorted(per_stage.items()) if count or value]
    return currency_rows, stage_rows


def add_to_totals(connection, deltas, *, last: bool = False) -> None:
    """Add ``deltas`` ({(stage id, currency): [leads, leads with a value, value cents]}) to
    the per-currency and per-stage totals: an ``INSERT … ON CONFLICT DO UPDATE SET n = n +
    excluded.n`` per table, whatever the number of stages (a move writes two rows of each),
    rows in key order so concurrent writers lock them in the same order. On PostgreSQL both
    tables' upserts are one statement (``_both_in_one``): a round trip less on every write
    that counts on the board; with ``last`` (nothing else is to run before the transaction's
    commit) that statement carries the COMMIT too (``commit_with_next_statement``), a round
    trip less again, and the stage rows are locked for no round trip of their own."""
    currency_rows, stage_rows = _rows_to_add(deltas)
    if connection.dialect.name == "postgresql" and currency_rows and stage_rows:
        statement = conflict_insert(("totals", "both", len(currency_rows), len(stage_rows)),
                                    lambda insert: _both_in_one(insert, currency_rows, stage_rows))
        with commit_with_next_statement() if last else nullcontext():
            connection.execute(statement, {**_bound("c", currency_rows), **_bound("s", stage_rows)})
        return
    for model, rows, keys in ((StageCurrencyTotals, currency_rows, _CURRENCY_KEYS),
                              (StageTotals, stage_rows, _STAGE_KEYS)):
        if rows:
            _add_rows(connection, model.__table__, rows, keys)


_CURRENCY_KEYS, _STAGE_KEYS = ["stage_id", "currency"], ["stage_id"]


# A write's totals are added when its transaction commits (``add_at_commit``), not where the
# write happens: on PostgreSQL the row of a stage every new lead enters is locked from its
# UPDATE to the commit, so every concurrent create waited for the whole of the one before it
# (its arrival row, timeline, audit entry, answer), where now it waits for its last statement
# only. Until then the deltas wait in the session, each under the transaction (or savepoint)
# that made it: a savepoint rolled back forgets its own. Anything that reads the totals in the
# meantime adds them first (see ``leads.store``), so nothing ever sees a total without them.
PENDING = "leadflow.totals_at_commit"


def add_at_commit(session: Session, deltas) -> None:
    """``add_to_totals(deltas)`` when this session's transaction commits (``add_pending``)."""
    if deltas:
        transaction = session.get_nested_transaction() or session.get_transaction()
        session.info.setdefault(PENDING, []).append((transaction, dict(deltas)))


def has_pending(session: Session) -> bool:
    return bool(session.info.get(PENDING))


def _take_pending(session: Session) -> dict:
    """The deltas kept by ``add_at_commit`` for this transaction, merged, and forgotten."""
    pending = session.info.pop(PENDING, None)
    current = session.get_transaction()
    # Those of a transaction that ended without its commit (a session closed) are not this one's.
    pending = [deltas for made_in, deltas in pending or () if current is not None and _within(made_in, current)]
    merged: dict = defaultdict(lambda: [0, 0, 0])
    for deltas in pending:
        for key, values in deltas.items():
            for i, value in enumerate(values):
                merged[key][i] += value
    return merged


def add_pending(session: Session, *, last: bool = False) -> None:
    """Write the deltas kept by ``add_at_commit`` (one statement per totals table). ``last``:
    the statement is the transaction's last (its commit is next, nothing left to flush): on
    PostgreSQL its COMMIT goes in the same round trip (``add_to_totals``)."""
    merged = _take_pending(session)
    if merged:
        add_to_totals(session.connection(), merged, last=last)


class KeptTotals(NamedTuple):
    """The kept totals of some stages: (stage id, lead count, value cents) per stage, and
    (stage id, currency, lead count, leads with a value, value cents) per stage and currency."""

    stages: list[tuple]
    currencies: list[tuple]


# Built once: the stages (an expanding parameter) and a table's columns as read.
_STAGE_COLUMNS = (StageTotals.stage_id, StageTotals.lead_count, StageTotals.value_cents)
_CURRENCY_COLUMNS = (StageCurrencyTotals.stage_id, StageCurrencyTotals.currency, StageCurrencyTotals.lead_count,
                     StageCurrencyTotals.value_count, StageCurrencyTotals.value_cents)


def add_pending_reading(session: Session, stage_ids: list[int], alongside: Alongside | None = None) -> KeptTotals | None:
    """PostgreSQL: write the deltas kept by ``add_at_commit`` and read the kept totals of
    ``stage_ids`` as they then stand, in one statement (``_both_in_one_reading``): after a
    move, its two column headers cost no round trip of their own, and ``alongside``'s rows
    (the moved card's next task) come in the same statement. None (having written the
    deltas as ``add_pending`` does, if any) where that statement does not apply: on SQLite,
    or when the deltas leave one of the tables unchanged; the caller then reads the totals."""
    merged = _take_pending(session)
    currency_rows, stage_rows = _rows_to_add(merged)
    connection = session.connection()
    if connection.dialect.name != "postgresql" or not (currency_rows and stage_rows):
        if merged:
            add_to_totals(connection, merged)
        return None
    shape = ("totals", "both, reading", len(currency_rows), len(stage_rows))
    params = {**_bound("c", currency_rows), **_bound("s", stage_rows), "stage_ids": list(stage_ids)}
    if alongside is None:
        rows = connection.execute(conflict_insert(shape, lambda insert: _both_in_one_reading(
            insert, currency_rows, stage_rows)), params)
    else:
        rows = take_alongside(connection.execute(conflict_insert((*shape, alongside.name), lambda insert: beside(
            _both_in_one_reading(insert, currency_rows, stage_rows), alongside.statement)), {**params, **alongside.params}),
            6, alongside)
    found = KeptTotals([], [])
    for kind, stage_id, currency, count, valued, cents in rows:
        if kind == "s":
            found.stages.append((stage_id, count, cents))
        else:
            found.currencies.append((stage_id, currency, count, valued, cents))
    return found


def forget_rolled_back(session: Session, transaction) -> None:
    """The deltas of ``transaction`` (and of the savepoints inside it) never happened."""
    pending = session.info.get(PENDING)
    if pending:
        pending[:] = [(made_in, deltas) for made_in, deltas in pending if not _within(made_in, transaction)]


def _within(made_in, transaction) -> bool:
    while made_in is not None:
        if made_in is transaction:
            return True
        made_in = made_in.parent
    return False


def _adding(statement, table, names, keys: list[str]):
    """``statement`` (an INSERT of ``table``) adding its values to a row that has the key already."""
    added = {name: table.c[name] + statement.excluded[name] for name in names if name not in keys}
    return statement.on_conflict_do_update(index_elements=keys, set_=added)


def _add_rows(connection, table, rows: list[dict], keys: list[str]) -> None:
    connection.execute(conflict_insert(("totals", table.name), lambda insert: _adding(
        insert(table), table, rows[0], keys)), rows)


def _bound(prefix: str, rows: list[dict]) -> dict:
    """The rows' values under the names ``_both_in_one`` binds them to."""
    return {f"{prefix}_{name}_{i}": value for i, row in enumerate(rows) for name, value in row.items()}


def _upsert(insert, table, prefix: str, rows: list[dict], keys: list[str]):
    """PostgreSQL (``insert``: its dialect's): ``rows`` added to ``table`` (``_adding``) as
    VALUES with a row each, bound by name and position (``_bound``)."""
    values = [{name: bindparam(f"{prefix}_{name}_{i}", type_=table.c[name].type) for name in row}
              for i, row in enumerate(rows)]
    return _adding(insert(table).values(values), table, rows[0], keys)


def _both_in_one(insert, currency_rows: list[dict], stage_rows: list[dict]):
    """PostgreSQL: the per-currency upsert in a WITH of the per-stage one (``_upsert``: one
    statement per number of rows, built once). A data-modifying WITH runs once, to
    completion, after the main statement: every writer locks the stage rows, then the
    currency rows, each in key order."""
    in_currency = _upsert(insert, StageCurrencyTotals.__table__, "c", currency_rows, _CURRENCY_KEYS)
    return _upsert(insert, StageTotals.__table__, "s", stage_rows, _STAGE_KEYS).add_cte(
        in_currency.cte("currency_totals"))


def _both_in_one_reading(insert, currency_rows: list[dict], stage_rows: list[dict]):
    """PostgreSQL: ``_both_in_one``'s two upserts, each in a WITH that returns the rows it
    wrote, and the kept rows of the stages ``:stage_ids`` as they stand after them, tagged
    "s" (a stage's: no currency, no count of valued leads) or "c" (a stage and currency's).

    The statement's own reads see the tables as they were before it (one snapshot for the
    whole statement): a row the upserts wrote comes from what they return, every other one
    from the table. The branches of the UNION ALL run in their order, each WITH when first
    read: the stage rows are locked, then the currency rows, each in key order, as the
    other writers lock them."""
    stages = bindparam("stage_ids", expanding=True)
    in_stage = (_upsert(insert, StageTotals.__table__, "s", stage_rows, _STAGE_KEYS)
                .returning(*_STAGE_COLUMNS).cte("stage_totals_added"))
    in_currency = (_upsert(insert, StageCurrencyTotals.__table__, "c", currency_rows, _CURRENCY_KEYS)
                   .returning(*_CURRENCY_COLUMNS).cte("currency_totals_added"))
    no_currency = cast(null(), StageCurrencyTotals.currency.type)
    no_count = cast(null(), StageCurrencyTotals.value_count.type)
    # named (the UNION's columns take the first branch's names): a statement that reads it as a subquery names them
    added_stages = select(literal_column("'s'").label("kind"), in_stage.c.stage_id, no_currency.label("currency"),
                          in_stage.c.lead_count, no_count.label("value_count"), in_stage.c.value_cents
                          ).where(in_stage.c.stage_id.in_(stages))
    kept_stages = (select(literal_column("'s'"), StageTotals.stage_id, no_currency, StageTotals.lead_count, no_count,
                          StageTotals.value_cents)
                   .where(StageTotals.stage_id.in_(stages), StageTotals.stage_id.not_in(select(in_stage.c.stage_id))))
    added_currencies = (select(literal_column("'c'"), *in_currency.c).where(in_currency.c.stage_id.in_(stages)))
    kept_currencies = (select(literal_column("'c'"), *_CURRENCY_COLUMNS)
                       .where(StageCurrencyTotals.stage_id.in_(stages),
                              tuple_(StageCurrencyTotals.stage_id, StageCurrencyTotals.currency).not_in(
                                  select(in_currency.c.stage_id, in_currency.c.currency))))
    return union_all(added_stages, kept_stages, added_currencies, kept_currencies)


def _ensure_row(connection, stage_id: int) -> None:
    connection.execute(
        dialect_insert(connection.dialect.name)(StageTotals)
        .values(stage_id=stage_id, lead_count=0, value_cents=0)
        .on_conflict_do_nothing(index_elements=["stage_id"])
    )


def live_totals_query(stage_ids=None):
    """(stage id, lead count, value cents) per stage, counted from the leads."""
    query = (
        select(Lead.stage_id, func.count(Lead.id), func.coalesce(func.sum(Lead.value_cents), 0))
        .where(Lead.deleted_at.is_(None), Lead.stage_id.is_not(None))
        .group_by(Lead.stage_id)
    )
    if stage_ids is not None:
        query = query.where(Lead.stage_id.in_(list(stage_ids)))
    return query


def live_currency_totals_query(stage_ids=None):
    """(stage id, currency, lead count, leads with a value, value cents), counted from the leads;
    the board's filtered totals add their filters to it."""
    query = (
        select(Lead.stage_id, Lead.currency, func.count(Lead.id), func.count(Lead.value_cents),
               func.coalesce(func.sum(Lead.value_cents), 0))
        .where(Lead.deleted_at.is_(None), Lead.stage_id.is_not(None))
        .group_by(Lead.stage_id, Lead.currency)
    )
    if stage_ids is not None:
        query = query.where(Lead.stage_id.in_(list(stage_ids)))
    return query


def recount_stage_totals(session: Session, stage_ids=None) -> None:
    """Recompute the totals from the leads themselves (after bulk writes)."""
    session.flush()
    add_pending(session() if isinstance(session, scoped_session) else session)
    connection = session.connection()
    ids = list(stage_ids) if stage_ids is not None else list(session.scalars(select(Stage.id)))
    actual = {row[0]: (row[1], row[2]) for row in session.execute(live_totals_query(ids))}
    for stage_id in ids:
        _ensure_row(connection, stage_id)
        count, value = actual.get(stage_id, (0, 0))
        connection.execute(update(StageTotals).where(StageTotals.stage_id == stage_id)
                           .values(lead_count=count, value_cents=int(value)))
    if ids:
        table = StageCurrencyTotals
        connection.execute(table.__table__.delete().where(table.stage_id.in_(ids)))
        rows = [{"stage_id": s, "currency": c, "lead_count": n, "value_count": v, "value_cents": int(cents)}
                for s, c, n, v, cents in session.execute(live_currency_totals_query(ids))]
        if rows:
            connection.execute(table.__table__.insert(), rows)
