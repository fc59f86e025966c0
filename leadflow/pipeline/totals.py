"""Keep each stage's live lead count and value exact: per stage (``StageTotals``) and per
stage and currency (``StageCurrencyTotals``, what the board's money totals are made from).

Every ORM flush that adds, moves, re-values, re-prices (currency), trashes, restores or
deletes a lead adds its difference to the rows with ``UPDATE … SET n = n + :delta``, in the
same transaction, so concurrent writers never lose an update. Bulk writes that bypass the
ORM (seeding, stage deletion, an import's undo) call ``recount_stage_totals``.

The CSV import's new leads (driver-level inserts, unseen by the flush hook) are added with
``add_to_totals``, the function the hook itself uses. Should a stage's currency rows ever not
add up to its own count and value (a write outside these paths), the board
(``pipeline.board.stage_totals``) counts that stage's money from the leads instead, so a total
is never wrong, only slower until the stage is recounted.
"""

from __future__ import annotations

from collections import defaultdict

from sqlalchemy import event, func, inspect, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session
from sqlalchemy.orm.base import LoaderCallableStatus

from leadflow.leads.models import Lead
from leadflow.pipeline.models import Stage, StageCurrencyTotals, StageTotals

_KEY = "stage_totals_deltas"
_TRACKED = ("stage_id", "currency", "value_cents", "deleted_at")


def _old_value(state, name):
    history = state.attrs[name].history
    values = list(history.deleted) + list(history.unchanged)
    if values and not isinstance(values[0], LoaderCallableStatus):
        return values[0]
    # Never loaded: the row still has what was inserted or last loaded, so ask it.
    return state.session.execute(
        select(getattr(Lead, name)).where(Lead.id == state.identity[0])
    ).scalar() if state.identity else None


def _contribution(stage_id, currency, value_cents, deleted_at):
    if stage_id is None or deleted_at is not None:
        return None
    return stage_id, currency or Lead.__table__.c.currency.default.arg, value_cents


@event.listens_for(Session, "before_flush")
def _collect(session, _flush_context, _instances):
    # (stage id, currency) → [leads, leads with a value, value cents]
    deltas = session.info.setdefault(_KEY, defaultdict(lambda: [0, 0, 0]))

    def add(contribution, sign):
        if contribution is not None:
            stage_id, currency, value = contribution
            delta = deltas[stage_id, currency]
            delta[0] += sign
            delta[1] += sign * (value is not None)
            delta[2] += sign * (value or 0)

    def now(obj):
        return _contribution(*(getattr(obj, n) for n in _TRACKED))

    def before(state):
        return _contribution(*(_old_value(state, n) for n in _TRACKED))

    for obj in session.new:
        if isinstance(obj, Lead):
            add(now(obj), 1)
    for obj in session.dirty:
        if isinstance(obj, Lead):
            state = inspect(obj)
            if not any(state.attrs[n].history.has_changes() for n in _TRACKED):
                continue
            add(before(state), -1)
            add(now(obj), 1)
    for obj in session.deleted:
        if isinstance(obj, Lead):
            add(before(inspect(obj)), -1)


@event.listens_for(Session, "after_flush")
def _apply(session, _flush_context):
    deltas = session.info.pop(_KEY, None)
    if deltas:
        add_to_totals(session.connection(), deltas)


def add_to_totals(connection, deltas) -> None:
    """Add ``deltas`` ({(stage id, currency): [leads, leads with a value, value cents]}) to
    the per-currency and per-stage totals: what the flush hook does for ORM writes, and what
    bulk writes the hook cannot see (the CSV import) call themselves."""
    per_stage = defaultdict(lambda: [0, 0])
    for (stage_id, currency), (count, valued, value) in sorted(deltas.items()):
        if count == valued == value == 0:
            continue
        per_stage[stage_id][0] += count
        per_stage[stage_id][1] += value
        _ensure_currency_row(connection, stage_id, currency)
        table = StageCurrencyTotals
        connection.execute(
            update(table).where(table.stage_id == stage_id, table.currency == currency)
            .values(lead_count=table.lead_count + count, value_count=table.value_count + valued,
                    value_cents=table.value_cents + value))
    for stage_id, (count, value) in sorted(per_stage.items()):
        if count == value == 0:
            continue
        _ensure_row(connection, stage_id)
        connection.execute(
            update(StageTotals).where(StageTotals.stage_id == stage_id)
            .values(lead_count=StageTotals.lead_count + count, value_cents=StageTotals.value_cents + value)
        )


@event.listens_for(Session, "after_rollback")
def _forget(session):
    session.info.pop(_KEY, None)


def _insert(connection):
    return pg_insert if connection.dialect.name == "postgresql" else sqlite_insert


def _ensure_row(connection, stage_id: int) -> None:
    connection.execute(
        _insert(connection)(StageTotals).values(stage_id=stage_id, lead_count=0, value_cents=0)
        .on_conflict_do_nothing(index_elements=["stage_id"])
    )


def _ensure_currency_row(connection, stage_id: int, currency: str) -> None:
    connection.execute(
        _insert(connection)(StageCurrencyTotals)
        .values(stage_id=stage_id, currency=currency, lead_count=0, value_count=0, value_cents=0)
        .on_conflict_do_nothing(index_elements=["stage_id", "currency"])
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
