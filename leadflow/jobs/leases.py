"""The lease a worker holds on a job row, and its heartbeat.

* **Claim** (``claim``): one conditional UPDATE (``scheduler.claims.claim_due``) sets
  ``lease_owner`` and ``lease_until`` on the job if it is due (an active status) and free: not
  leased, its lease ran out, or its holder's heartbeat is stale (its process died). Two
  processes that claim at once: one gets the row, the other gets nothing. The claim carries
  the new worker's first beat, in the same transaction, so no claim is ever without a fresh
  heartbeat.
* **Renew** (``renew``): every step of the work commits its writes together with the job's
  progress and a renewed lease, in one transaction, through an UPDATE that matches only while
  ``lease_owner`` is still this worker; otherwise ``LeaseLost`` is raised and the step's writes
  are rolled back. A worker that was taken over (it looked dead, but was only slow) thus
  writes nothing more.
* **Beat**: the worker's name is its heartbeat id (``leadflow.scheduler.heartbeat``); it beats
  with each renewal, and ``keep_beating`` beats from a thread of its process however long one
  step takes. When the process dies its heartbeat goes stale within ``STALE_AFTER_SECONDS``
  and the next ``jobs`` sweep, in any process, claims the job and goes on from the last
  committed progress.
"""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta

from sqlalchemy import and_, update

from leadflow.db import utcnow
from leadflow.extensions import db
from leadflow.scheduler.claims import claim_due
from leadflow.scheduler.heartbeat import beat, claimant_is_gone, scheduler_id

LEASE_SECONDS = 120


class LeaseLost(Exception):
    """Another worker took the job over (this one was too slow); stop without writing."""


def worker_name() -> str:
    """A name for one run of a job: this process's heartbeat id and a part of its own (two
    runs in one process never share a lease)."""
    return f"{scheduler_id()}:{secrets.token_hex(3)}"[:64]


def claim(model, due, worker: str, *, now: datetime | None = None, values: dict | None = None,
          order_by=None) -> int | None:
    """Lease the first job of ``model`` matching ``due`` that nobody works on to ``worker``
    (also setting ``values``), beat, and commit. Returns its id, or None."""
    now = now or utcnow()
    claimed = claim_due(model, due=due, lease_column=model.lease_until, now=now, lease_seconds=LEASE_SECONDS,
                        limit=1, order_by=order_by if order_by is not None else model.id,
                        values={"lease_owner": worker, **(values or {})},
                        takeover=claimant_is_gone(model.lease_owner, now, lease_until=model.lease_until,
                                                   lease_seconds=LEASE_SECONDS))
    if claimed:
        beat(now, worker)
    db.session.commit()
    return claimed.ids[0] if claimed else None


def renew(model, job_id: int, worker: str, **values) -> None:
    """Renew the lease and write ``values`` (progress; SQL expressions such as
    ``Model.done + 5`` are fine) in the caller's transaction, only while ``worker`` holds
    the job; and beat, so the commit that ends a long step carries a fresh heartbeat (on
    SQLite the heartbeat thread may not get the write lock in between)."""
    table = model.__table__
    now = utcnow()
    result = db.session.execute(
        update(table).where(and_(table.c.id == job_id, table.c.lease_owner == worker))
        .values(lease_until=now + timedelta(seconds=LEASE_SECONDS), updated_at=now, **values))
    if result.rowcount != 1:
        raise LeaseLost(job_id)
    beat(now, worker)


def release(model, job_id: int, worker: str, **values) -> None:
    """``renew`` with ``values`` (the final status), then let go of the lease; the caller commits."""
    renew(model, job_id, worker, **values)
    table = model.__table__
    db.session.execute(update(table).where(table.c.id == job_id).values(lease_owner=None, lease_until=None))


def let_go(model, job_id: int, worker: str) -> None:
    """Give the lease up without finishing (a bounded run): the next ``jobs`` sweep, in any
    process, goes on with the job. The caller commits."""
    table = model.__table__
    db.session.execute(update(table).where(and_(table.c.id == job_id, table.c.lease_owner == worker))
                       .values(lease_owner=None, lease_until=None))
