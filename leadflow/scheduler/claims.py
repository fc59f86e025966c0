"""Atomic claims: how a sweep takes due rows so that no other sweep takes them too.

A claim sets a lease (``lease_until``) on up to ``limit`` due rows whose lease is empty or
has run out, and returns their ids. It is one statement per database:

* SQLite: ``UPDATE … SET lease = :until WHERE id IN (SELECT id … LIMIT n) AND <lease free>
  RETURNING id``, inside the ``BEGIN IMMEDIATE`` transaction every writer takes (see
  ``leadflow.db.begin_mode``), so two processes claim one after the other.
* PostgreSQL: ``SELECT id … FOR UPDATE SKIP LOCKED`` then ``UPDATE`` those rows: a
  concurrent sweep skips rows another one holds instead of waiting for them.

The caller does its work and clears the due marker in the same transaction, then commits.
When the work spans transactions (sending e-mail), the lease keeps other sweeps away until it
runs out, or until the claimant's heartbeat stops (``takeover``); a process that crashes
mid-way leaves rows that are claimed again.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import or_, select, update

from leadflow.db import conflict_insert
from leadflow.extensions import db


@dataclass(frozen=True)
class Claim:
    ids: list
    lease_until: datetime

    def __bool__(self) -> bool:
        return bool(self.ids)


def lease_is_free(lease_column, now: datetime):
    return or_(lease_column.is_(None), lease_column < now)


def claim_due(model, *, due, lease_column, now: datetime, lease_seconds: int, limit: int,
              order_by=None, values: dict | None = None, takeover=None) -> Claim:
    """Lease up to ``limit`` rows of ``model`` that match ``due`` and are not leased.

    ``values`` are further columns to set in the claiming statement (``{"claimed_by": …}``).
    ``takeover``: a condition under which a leased row may be claimed all the same (its
    claimant's heartbeat stopped, see ``leadflow.scheduler.heartbeat``).
    Returns the claimed ids and the lease they carry; flushes nothing else.
    """
    table = model.__table__
    key = model.__mapper__.primary_key[0]
    lease_until = now + timedelta(seconds=lease_seconds)
    free = lease_is_free(lease_column, now)
    if takeover is not None:
        free = or_(free, takeover)
    candidates = select(key).where(due, free).limit(limit)
    if order_by is not None:
        candidates = candidates.order_by(order_by)
    changes = {lease_column.key: lease_until, **(values or {})}
    if db.session.get_bind().dialect.name == "postgresql":
        ids = list(db.session.scalars(candidates.with_for_update(skip_locked=True)))
        if ids:
            db.session.execute(update(table).where(key.in_(ids)).values(changes))
    else:
        statement = update(table).where(key.in_(candidates.scalar_subquery()), free).values(changes).returning(key)
        ids = list(db.session.scalars(statement))
    return Claim(sorted(ids), lease_until)


def insert_or_ignore(model, row: dict, *, unique_columns: list[str]):
    """Insert ``row`` unless a row with the same ``unique_columns`` exists; returns the new
    primary key, or None when the row was already there.

    ``INSERT … ON CONFLICT DO NOTHING`` on SQLite and PostgreSQL: a duplicate never raises, so
    it never spoils the caller's transaction. Elsewhere a savepoint does the same job.
    """
    table = model.__table__
    key = model.__mapper__.primary_key[0]
    dialect = db.session.get_bind().dialect.name
    if dialect in ("sqlite", "postgresql"):
        statement = conflict_insert(
            ("or ignore", table.name, tuple(unique_columns)),
            lambda insert: insert(table).on_conflict_do_nothing(index_elements=unique_columns).returning(key))
        return db.session.scalar(statement, row)
    from sqlalchemy import insert
    from sqlalchemy.exc import IntegrityError

    try:
        with db.session.begin_nested():
            return db.session.scalar(insert(table).values(row).returning(key))
    except IntegrityError:
        return None


def claimed_batches(model, *, due, lease_column, order_by, now: datetime, batch_size: int = 50,
                    lease_seconds: int = 120):
    """Claim batches of due rows until none are left; yields the claimed ids of each batch (the
    reminder, alert and digest sweeps: each row's work is one short transaction, well inside the lease).
    The caller handles a batch and the next claim commits it (after the last one, the caller commits)."""
    while True:
        claim = claim_due(model, due=due, lease_column=lease_column, now=now, lease_seconds=lease_seconds,
                          limit=batch_size, order_by=order_by)
        if not claim:
            db.session.commit()
            return
        yield claim.ids
        db.session.commit()
        if len(claim.ids) < batch_size:
            return
