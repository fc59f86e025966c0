"""A new lead's arrival steps after the commit that creates it.

``leads.arrived`` (routing, scoring, new-lead alerts and speed-to-lead timers, workflow rules)
is most of what creating a lead costs, and none of it is needed to answer the person or
program that sent the lead. So a lead created inside a unit of work (a request, a sweep) is
*queued*: the lead store writes a ``LeadArrival`` row beside it, in the same transaction, and
asks for the ``lead_arrivals`` sweep once that transaction has committed
(``leadflow.retry.after_commit``). The sweep takes a batch of rows (PostgreSQL: ``FOR UPDATE
SKIP LOCKED``, so two processes take different rows; SQLite: one writer at a time, under
``BEGIN IMMEDIATE``), runs ``leads.arrived`` once for the batch (each lead with its channel
and arrival context: API leads and those of several capture forms share the handlers' runs),
deletes the rows and commits: the handlers' writes and the rows' removal are one
transaction, so each arrival runs exactly once; a process killed after the lead's commit
leaves its row, and the next sweep (any process, every few seconds) runs it.

A lead from the API or a capture form has its first history on its row too (``history``:
its first stage and lifecycle change, its "Lead created" and submission entries, its audit
entry; ``store.first_history``), which the answer does not show: the sweep writes it first,
in the same transaction, at the time of the create (so timelines, ordered by time, read as
before), and the handlers (scoring reads a submission's entry) see it. Written with the
arrival, it is written once, like the arrival. The lead form writes its own at once: its
answer is the lead's page.

Batching is what makes a busy server fast: a hundred leads that arrive in one second are
routed, scored and alerted by a handful of set-based statements, not a hundred times each.
So the sweep lets a batch gather: while the oldest arrival it finds is younger than
``SETTLE_SECONDS`` (and the batch is not full), it ends its transaction (no lock held, no row
claimed), sleeps until that arrival is that old, and claims again. Without it a busy server's
sweep, woken after every commit, would run one or two leads at a time, each run paying again
for the rules, people and settings it reads and for its statements' round trips (on
PostgreSQL, several times what a lead of a full batch costs). One run of this process waits
at a time: another that starts meanwhile (the nudge of each commit starts one) returns at
once, without a query, as the waiting one claims after it wakes and so takes every arrival
committed before.

With ``ARRIVALS_RUN_INLINE`` (tests, scripts; like ``JOBS_RUN_INLINE``) the sweep runs in the
request's thread right after its commit, so a test sees the owner and score when the request
returns. Outside a unit (a service called by the CLI or a test), the handlers run at once, in
the caller's transaction, as they always did.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from flask import current_app
from sqlalchemy import delete, select
from sqlalchemy.exc import DBAPIError

from leadflow.db import is_conflict, is_retryable, utcnow
from leadflow.extensions import db
from leadflow.leads import events
from leadflow.leads.arrival_models import LeadArrival
from leadflow.retry import after_commit, backoff, in_unit_of_work
from leadflow.scheduler.wakeup import nudge, wakeable

SWEEP = wakeable("lead_arrivals")
BATCH = 200
# SQLite has one writer: a batch's transaction holds the write lock every web request that
# creates something waits for, so there it is a short one (a few tens of milliseconds).
SQLITE_BATCH = 50
QUEUED = "leadflow.queued_arrivals"  # session.info: ids whose arrival this session queued
EVERY_SECONDS = 2  # the safety net: a process without a scheduler, or one killed after its commit
SETTLE_SECONDS = 0.25  # how long a batch may gather (see the module); only alerts wait for it
# What writes a batch's first histories (lead id, time of the create, ``first_history``): the
# lead store's ``write_first_histories``, which owns those tables and imports this module, so it
# is handed in (by ``announce``'s caller, and by ``leadflow.wiring`` to ``register_sweeps``).
HistoryWriter = Callable[[Sequence[tuple[int, datetime, dict]]], None]
# Per database (a process may serve more than one app): held by the run that lets a batch gather.
_gathering_locks: dict[str, threading.Lock] = {}


def _gathering_lock() -> threading.Lock:
    return _gathering_locks.setdefault(str(db.engine.url), threading.Lock())


def queues() -> bool:
    """Whether ``announce`` queues (a unit of work runs here) rather than running the handlers."""
    return in_unit_of_work()


def announce(ids: list[int], channel: str, write_history: HistoryWriter) -> None:
    """New leads arrived: run ``leads.arrived`` after the commit (in a unit of work, where the
    caller has written their ``arrival_rows`` in its transaction) or now."""
    if not ids:
        return
    if not in_unit_of_work():
        events.leads_arrived(ids, channel)
        return
    db.session.info.setdefault(QUEUED, set()).update(ids)
    app = current_app._get_current_object()
    if app.config.get("ARRIVALS_RUN_INLINE"):
        after_commit(lambda: run_now(app, write_history))
    else:
        after_commit(lambda: nudge(app, SWEEP))


def arrival_rows(ids: Sequence, channel: str, at: datetime, history: dict | None = None) -> list[dict]:
    """The ``LeadArrival`` rows of new leads created in a unit of work (``queues()``), which
    their creator writes with them: ``history`` (lead id → ``store.first_history``) is what
    the sweep writes for each lead before its handlers run; ``at``: when they were created."""
    context = events.arrival_context() or None
    history = history or {}
    return [{"lead_id": lead_id, "channel": channel, "context": context, "created_at": at,
             "history": history.get(lead_id)} for lead_id in ids]


def queued(lead_id: int) -> bool:
    """Whether this session queued the lead's arrival: its handlers have not run yet and will
    see everything this transaction writes about it (a first activity, say), so what would
    re-run them for that write (scoring after an activity) has nothing to do now."""
    return lead_id in db.session.info.get(QUEUED, ())


def run_now(app, write_history: HistoryWriter) -> None:
    """The sweep's work in this thread (``ARRIVALS_RUN_INLINE``), after the request's unit of
    work, in a session of its own; a busy database or a lost race runs it again (what a failed
    try leaves queued, the sweep would run anyway)."""
    with app.app_context():
        try:
            deadline = time.monotonic() + app.config["DB_BUSY_RETRY_SECONDS"]
            for attempt in range(1, app.config["DB_BUSY_RETRY_ATTEMPTS"] + 1):
                try:
                    run_arrivals(write_history)
                    return
                except DBAPIError as exc:
                    db.session.rollback()
                    if not (is_retryable(exc) or is_conflict(exc)) or time.monotonic() > deadline:
                        raise
                    time.sleep(backoff(attempt))
        finally:
            db.session.remove()


def _claim(limit: int) -> list[LeadArrival]:
    query = select(LeadArrival).order_by(LeadArrival.id).limit(limit)
    if db.session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    return list(db.session.scalars(query))


def _gathering(batch: list[LeadArrival], size: int, settle: float) -> float:
    """Seconds to wait before running ``batch``: until its oldest arrival is ``settle`` old,
    unless the batch is full already."""
    if not settle or len(batch) >= size:
        return 0.0
    oldest = min(arrival.created_at for arrival in batch)
    return max(0.0, settle - (utcnow() - oldest).total_seconds())


def run_arrivals(write_history: HistoryWriter, now: datetime | None = None, *, settle: float = 0.0) -> int:
    """Run the queued arrivals, a batch per transaction; returns how many ran. With
    ``settle``, a batch gathers first (see the module)."""
    waiting = _gathering_lock()
    if settle and waiting.locked():
        return 0  # a run of this process is gathering a batch: it takes what this one came for
    ran = 0
    size = SQLITE_BATCH if db.session.get_bind().dialect.name == "sqlite" else BATCH
    while True:
        batch = _claim(size)
        if not batch:
            return ran
        wait = _gathering(batch, size, settle)
        if wait:
            db.session.rollback()  # claims nothing while it waits: no row locked, no write lock held
            if not waiting.acquire(blocking=False):
                return ran  # another run of this process is gathering: it takes these too
            try:
                time.sleep(wait)
            finally:
                waiting.release()
            continue
        # First the leads' first history (a lead trashed meanwhile keeps its too): what the
        # handlers read (scoring, a submission's entry) and what they add come after it.
        write_history([(a.lead_id, a.created_at, a.history) for a in batch if a.history])
        # Held for the batch: every handler's ``load_leads`` finds them without a query.
        leads = [lead for lead in events.load_leads([a.lead_id for a in batch], organizations=True)
                 if lead.deleted_at is None]  # trashed meanwhile: nothing to do
        live = {lead.id for lead in leads}
        events.batch_arrived(events.Arrivals((a.lead_id, a.channel, a.context) for a in batch if a.lead_id in live))
        db.session.execute(delete(LeadArrival).where(LeadArrival.id.in_([a.id for a in batch])))
        db.session.commit()
        ran += len(batch)
        if len(batch) < size:
            return ran


def sweep_arrivals(write_history: HistoryWriter, now: datetime | None = None) -> int:
    """The scheduler's sweep: ``run_arrivals``, each batch gathering for ``SETTLE_SECONDS``."""
    return run_arrivals(write_history, now, settle=SETTLE_SECONDS)


@dataclass(frozen=True)
class ArrivalsSweep:
    """``sweep_arrivals`` with the history writer it was given: equal for the same writer, so
    registering it again (another app built) replaces it with the same."""

    write_history: HistoryWriter

    def __call__(self, now: datetime | None = None) -> int:
        return sweep_arrivals(self.write_history, now)


def register_sweeps(add, write_history: HistoryWriter) -> None:
    add(SWEEP, every_seconds=EVERY_SECONDS, func=ArrivalsSweep(write_history))
