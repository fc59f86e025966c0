"""Keep each stage's live lead count and value (``StageTotals``) exact.

Every ORM flush that adds, moves, re-values, trashes, restores or deletes a lead
adds its difference to the stage rows with ``UPDATE … SET n = n + :delta``, in
the same transaction, so concurrent writers never lose an update. Bulk writes
that bypass the ORM (seeding, stage deletion) call ``recount_stage_totals``.
"""

from __future__ import annotations

from collections import defaultdict

from sqlalchemy import event, func, inspect, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session
from sqlalchemy.orm.base import LoaderCallableStatus

from leadflow.leads.models import Lead
from leadflow.pipeline.models import StageTotals

_KEY = "stage_totals_deltas"


def _old_value(state, name):
    history = state.attrs[name].history
    values = list(history.deleted) + list(history.unchanged)
    if values and not isinstance(values[0], LoaderCallableStatus):
        return values[0]
    # Never loaded: the row still has what was inserted or last loaded, so ask it.
    return state.session.execute(
        select(getattr(Lead, name)).where(Lead.id == state.identity[0])
    ).scalar() if state.identity else None


def _contribution(stage_id, value_cents, deleted_at):
    if stage_id is None or deleted_at is not None:
        return None
    return stage_id, value_cents or 0


@event.listens_for(Session, "before_flush")
def _collect(session, _flush_context, _instances):
    deltas = session.info.setdefault(_KEY, defaultdict(lambda: [0, 0]))

    def add(contribution, sign):
        if contribution is not None:
            stage_id, value = contribution
            deltas[stage_id][0] += sign
            deltas[stage_id][1] += sign * value

    for obj in session.new:
        if isinstance(obj, Lead):
            add(_contribution(obj.stage_id, obj.value_cents, obj.deleted_at), 1)
    for obj in session.dirty:
        if isinstance(obj, Lead):
            state = inspect(obj)
            if not any(state.attrs[n].history.has_changes() for n in ("stage_id", "value_cents", "deleted_at")):
                continue
            old = _contribution(*(_old_value(state, n) for n in ("stage_id", "value_cents", "deleted_at")))
            add(old, -1)
            add(_contribution(obj.stage_id, obj.value_cents, obj.deleted_at), 1)
    for obj in session.deleted:
        if isinstance(obj, Lead):
            state = inspect(obj)
            add(_contribution(*(_old_value(state, n) for n in ("stage_id", "value_cents", "deleted_at"))), -1)


@event.listens_for(Session, "after_flush")
def _apply(session, _flush_context):
    deltas = session.info.pop(_KEY, None)
    if not deltas:
        return
    connection = session.connection()
    for stage_id, (count, value) in sorted(deltas.items()):
        if count == 0 and value == 0:
            continue
        _ensure_row(connection, stage_id)
        connection.execute(
            update(StageTotals).where(StageTotals.stage_id == stage_id)
            .values(lead_count=StageTotals.lead_count + count, value_cents=StageTotals.value_cents + value)
        )


@event.listens_for(Session, "after_rollback")
def _forget(session):
    session.info.pop(_KEY, None)


def _ensure_row(connection, stage_id: int) -> None:
    insert = pg_insert if connection.dialect.name == "postgresql" else sqlite_insert
    connection.execute(
        insert(StageTotals).values(stage_id=stage_id, lead_count=0, value_cents=0)
        .on_conflict_do_nothing(index_elements=["stage_id"])
    )


def live_totals_query(stage_ids=None):
    query = (
        select(Lead.stage_id, func.count(Lead.id), func.coalesce(func.sum(Lead.value_cents), 0))
        .where(Lead.deleted_at.is_(None), Lead.stage_id.is_not(None))
        .group_by(Lead.stage_id)
    )
    if stage_ids is not None:
        query = query.where(Lead.stage_id.in_(list(stage_ids)))
    return query


def recount_stage_totals(session: Session, stage_ids=None) -> None:
    """Recompute the totals from the leads themselves (after bulk writes)."""
    from leadflow.pipeline.models import Stage

    session.flush()
    connection = session.connection()
    ids = list(stage_ids) if stage_ids is not None else list(session.scalars(select(Stage.id)))
    actual = {row[0]: (row[1], row[2]) for row in session.execute(live_totals_query(ids))}
    for stage_id in ids:
        _ensure_row(connection, stage_id)
        count, value = actual.get(stage_id, (0, 0))
        connection.execute(update(StageTotals).where(StageTotals.stage_id == stage_id)
                           .values(lead_count=count, value_cents=int(value)))
