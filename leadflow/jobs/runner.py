"""Job kinds, running a claimed job, and the one ``jobs`` sweep.

The life of a job:

1. Whoever starts it (a request, a sweep, the CLI) adds its row with an active status and calls
   ``start(kind, job_id)``, which acts once the row is committed (in a request, after the
   request's one commit: ``leadflow.retry.after_commit``). With ``JOBS_RUN_INLINE`` (tests,
   scripts) the job runs there and then. Otherwise ``start`` asks this process's scheduler to run the ``jobs`` sweep
   now (``scheduler.wakeup.nudge``), and returns: the request never starts a thread. In a
   process without a scheduler (a web server next to ``flask leadflow scheduler``), the
   scheduler's next tick picks the job up (the sweep runs every ``BEAT_EVERY_SECONDS``).
2. The ``jobs`` sweep claims the next due job of any kind (``leases.claim``: one conditional
   UPDATE, so two processes never run one job) and runs it in the sweep's thread (one of the
   scheduler's threads for long sweeps, ``scheduler.runner.LONG_THREADS``, apart from the
   outbox's) to the end, while ``keep_beating`` renews the worker's heartbeat; then the next
   one, up to ``MAX_JOBS_PER_TICK``. A nudge while a job runs starts a second run of the sweep
   beside it, so a new job does not wait for a long one.
3. The kind's ``work(job_id, worker)`` carries the job out step by step, each step committed
   with its progress through ``leases.renew``; the last step sets the final status through
   ``leases.release``. The progress is in the row, where the pages poll it.
4. An error stops the job: the kind's ``on_error`` records the message (what was committed
   stays). ``LeaseLost`` (another worker took the job over) ends the run without writing.
5. A process that dies mid-job leaves a lease whose holder's heartbeat goes stale within
   ``STALE_AFTER_SECONDS``: the next ``jobs`` sweep, in any process, claims the job, and
   ``work`` goes on after the progress committed last, so nothing is done twice.

Kinds are declared with ``add_kind`` from their area's ``register_jobs``, which
``leadflow.wiring.schedule`` calls; each keeps its own table.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from flask import current_app
from sqlalchemy import and_

from leadflow.db import utcnow
from leadflow.extensions import db
from leadflow.jobs.leases import LeaseLost, claim, worker_name
from leadflow.retry import after_commit
from leadflow.scheduler.heartbeat import BEAT_EVERY_SECONDS, forget_gone, keep_beating
from leadflow.scheduler.wakeup import nudge, wakeable

log = logging.getLogger(__name__)

SWEEP = wakeable("jobs")
MAX_JOBS_PER_TICK = 5


@dataclass(frozen=True)
class JobKind:
    """What the jobs module needs to know of one kind of job.

    ``statuses``: the statuses in which a worker has the job or will take it; ``work(job_id,
    worker, **options)`` carries it out after the claim; ``on_error(job_id, worker, exc)``
    records that it stopped, and commits; ``claim_values`` are set by the claim itself
    (``{"status": "running"}``)."""

    name: str
    model: type
    statuses: tuple[str, ...]
    work: Callable[..., None]
    on_error: Callable[[int, str, Exception], None]
    claim_values: dict = field(default_factory=dict)

    def due(self, job_id: int | None = None):
        condition = self.model.status.in_(self.statuses)
        return condition if job_id is None else and_(self.model.id == job_id, condition)


KINDS: dict[str, JobKind] = {}


def add_kind(name: str, work: Callable[..., None], *, model, statuses, on_error,
             claim_values: dict | None = None) -> None:
    """Declare a kind of job: ``work(job_id, worker)`` over rows of ``model`` whose status is
    one of ``statuses``. Areas call it from their ``register_jobs(add)`` (``leadflow.wiring``)."""
    KINDS[name] = JobKind(name, model, tuple(statuses), work, on_error, dict(claim_values or {}))


def run(name: str, job_id: int, worker: str | None = None, **options) -> bool:
    """Claim job ``job_id`` of kind ``name`` and carry it out in this thread; False when
    another worker holds it, it has nothing left to do, or it was taken over meanwhile."""
    worker = worker or worker_name()
    if not claim_job(name, job_id, worker):
        return False
    return carry_out(KINDS[name], job_id, worker, **options)


def claim_job(name: str, job_id: int, worker: str, now: datetime | None = None) -> bool:
    """Claim job ``job_id`` of kind ``name`` for ``worker`` if it is due and nobody works on
    it (see ``leases.claim``); commits."""
    kind = KINDS[name]
    return claim(kind.model, kind.due(job_id), worker, now=now, values=kind.claim_values) is not None


def carry_out(kind: JobKind, job_id: int, worker: str, **options) -> bool:
    """Run a job ``worker`` has claimed, beating meanwhile; False when it was taken over."""
    with keep_beating(worker):
        try:
            kind.work(job_id, worker, **options)
        except LeaseLost:
            db.session.rollback()
            log.warning("The %s job %s was taken over by another worker", kind.name, job_id)
            return False
        except Exception as exc:  # the job stops with a message; what was committed stays
            db.session.rollback()
            log.exception("The %s job %s stopped", kind.name, job_id)
            try:
                kind.on_error(job_id, worker, exc)
            except LeaseLost:
                db.session.rollback()
    return True


def start(name: str, job_id: int) -> bool:
    """Have a job the caller has queued run once it is committed; True when it runs inline.

    With ``JOBS_RUN_INLINE`` the job runs in this thread: inside a unit of work (a request)
    right after the unit's commit (``leadflow.retry.after_commit``), so a view may call this
    before the commit that saves the queued row; outside a unit (a script, the CLI, which
    commit first) at once. Never starts a thread: without ``JOBS_RUN_INLINE`` it only nudges
    this process's scheduler after the commit, if it runs one; otherwise a scheduler process
    takes the job at its next tick."""
    app = current_app._get_current_object()
    inline = bool(app.config.get("JOBS_RUN_INLINE"))
    after_commit(lambda: run(name, job_id) if inline else nudge(app, SWEEP))
    return inline


def claim_next(worker: str, now: datetime) -> tuple[JobKind, int] | None:
    """Claim the oldest due job of the first kind that has one (kinds by name)."""
    for name in sorted(KINDS):
        kind = KINDS[name]
        job_id = claim(kind.model, kind.due(), worker, now=now, values=kind.claim_values)
        if job_id is not None:
            return kind, job_id
    return None


def run_due_jobs(now: datetime) -> int:
    """Run jobs of every kind that are queued, or whose worker died (stale heartbeat) or
    stopped renewing its lease; returns how many ran."""
    forget_gone(now)  # heartbeats of workers gone for a day, scheduler or job
    ran = 0
    while ran < MAX_JOBS_PER_TICK:
        worker = worker_name()
        claimed = claim_next(worker, now if ran == 0 else utcnow())
        if claimed is None:
            break
        carry_out(*claimed, worker)
        ran += 1
    return ran


def register_sweeps(add) -> None:
    """This area's periodic work, for the scheduler (``leadflow.wiring.schedule``)."""
    add(SWEEP, every_seconds=BEAT_EVERY_SECONDS, pool="long", func=run_due_jobs)  # as often as a worker beats
