"""Rescoring every lead in the background, and the daily rescore for time-based points.

"Rescore all leads" creates a ``RescoreJob`` and runs it in a thread of the process that
served the request (``SCORING_RUN_INLINE`` runs it in the request: tests, scripts). A worker
claims the job with a lease (``scheduler.claims.claim_due``), rescored ``BATCH_LEADS`` leads
at a time, and commits each batch together with the job's cursor and a renewed lease, only
while it still holds the lease. The ``scoring`` sweep continues a job whose worker stopped,
a bounded number of batches per tick; ``scoring_daily`` queues one job a day (a unique
``dedupe_key``) when points change with time alone (decay, inactivity rules).
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from datetime import datetime, timedelta

from flask import Flask, current_app
from sqlalchemy import and_, func, select, update

from leadflow.db import utcnow
from leadflow.extensions import db
from leadflow.leads.models import Lead
from leadflow.scheduler.claims import claim_due, insert_or_ignore, lease_is_free
from leadflow.scheduler.registry import register_sweep
from leadflow.scoring import services
from leadflow.scoring.models import ACTIVE_JOB_STATUSES, RescoreJob

log = logging.getLogger(__name__)

BATCH_LEADS = 200
LEASE_SECONDS = 120
SWEEP_BATCHES = 25  # at most this many batches per sweep tick, per job
MAX_JOBS_PER_TICK = 2


class LeaseLost(Exception):
    """Another worker took the job over; stop without writing."""


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{threading.get_ident()}"[:64]


def live_lead_count() -> int:
    return db.session.scalar(select(func.count(Lead.id)).where(Lead.deleted_at.is_(None))) or 0


def active_job() -> RescoreJob | None:
    """The newest job that is queued or running."""
    return db.session.scalar(select(RescoreJob).where(RescoreJob.status.in_(ACTIVE_JOB_STATUSES))
                             .order_by(RescoreJob.id.desc()).limit(1))


def latest_job() -> RescoreJob | None:
    return db.session.scalar(select(RescoreJob).where(RescoreJob.reason == "rules")
                             .order_by(RescoreJob.id.desc()).limit(1))


def queue_rescore_all(actor) -> RescoreJob:
    """Queue rescoring every live lead: the "rules" job already waiting or running, if it
    was queued after the last change of rules or thresholds, else a new one."""
    services._require_admin(actor)
    job = active_job()
    since = services.scores_stale_since()
    if job is not None and job.reason == "rules" and (since is None or job.created_at >= since):
        return job
    job = RescoreJob(reason="rules", status="queued", total=live_lead_count(), done=0, changed=0,
                     last_lead_id=0, created_by_id=getattr(actor, "id", None))
    db.session.add(job)
    db.session.flush()
    return job


def _heartbeat(job_id: int, worker: str, **values) -> None:
    table = RescoreJob.__table__
    now = utcnow()
    result = db.session.execute(update(table).where(table.c.id == job_id, table.c.lease_owner == worker)
                                .values(lease_until=now + timedelta(seconds=LEASE_SECONDS), updated_at=now, **values))
    if result.rowcount != 1:
        raise LeaseLost(job_id)


def run_job(job_id: int, worker: str | None = None, *, max_batches: int | None = None,
            now: datetime | None = None) -> bool:
    """Claim the job and rescore its leads (all of them, or ``max_batches`` batches, after
    which the lease is let go so the next sweep goes on). False when another worker holds it."""
    worker = worker or worker_name()
    claim = claim_due(RescoreJob, due=and_(RescoreJob.id == job_id, RescoreJob.status.in_(ACTIVE_JOB_STATUSES)),
                      lease_column=RescoreJob.lease_until, now=utcnow(), lease_seconds=LEASE_SECONDS, limit=1,
                      values={"lease_owner": worker, "status": "running"})
    db.session.commit()
    if not claim:
        return False
    job = db.session.get(RescoreJob, job_id)
    db.session.refresh(job)
    try:
        _rescore(job, worker, max_batches, now)
    except LeaseLost:
        db.session.rollback()
        log.warning("Rescore job %s was taken over by another worker", job_id)
        return False
    except Exception as exc:  # the job stops with a message; committed batches stay
        db.session.rollback()
        log.exception("Rescore job %s stopped", job_id)
        try:
            _heartbeat(job_id, worker, status="failed", finished_at=utcnow(), lease_owner=None,
                       error=f"Rescoring stopped because of an unexpected error ({type(exc).__name__}). "
                             "The error was logged; start it again to go on.")
            db.session.commit()
        except LeaseLost:
            db.session.rollback()
    return True


def _rescore(job: RescoreJob, worker: str, max_batches: int | None, now: datetime | None) -> None:
    rules = services.active_rules()
    settings = services.scoring_settings()
    cursor, batches = job.last_lead_id, 0
    while max_batches is None or batches < max_batches:
        leads = services.leads_for_rescoring(cursor, BATCH_LEADS)
        if not leads:
            _heartbeat(job.id, worker, status="done", finished_at=utcnow(), lease_owner=None)
            db.session.execute(update(RescoreJob.__table__).where(RescoreJob.id == job.id).values(lease_until=None))
            db.session.commit()
            return
        changed = services.rescore_leads(leads, now or utcnow(), rules=rules, settings=settings)
        cursor = leads[-1].id
        _heartbeat(job.id, worker, last_lead_id=cursor, done=RescoreJob.done + len(leads),
                   changed=RescoreJob.changed + changed)
        db.session.commit()
        for lead in leads:  # a big run must not keep every lead in memory
            db.session.expunge(lead)
        batches += 1
    # Bounded run: let go of the lease so the next tick (any process) continues.
    db.session.execute(update(RescoreJob.__table__).where(RescoreJob.id == job.id, RescoreJob.lease_owner == worker)
                       .values(lease_owner=None, lease_until=None))
    db.session.commit()


def _run_in_thread(app: Flask, job_id: int) -> None:
    with app.app_context():
        try:
            run_job(job_id)
        finally:
            db.session.remove()


def launch(job_id: int) -> bool:
    """Start a queued job (after the caller committed it); True when it already ran inline."""
    app = current_app._get_current_object()
    if app.config.get("SCORING_RUN_INLINE"):
        run_job(job_id)
        return True
    threading.Thread(target=_run_in_thread, args=(app, job_id), name=f"rescore-{job_id}", daemon=True).start()
    return False


@register_sweep("scoring", every_seconds=60)
def resume_rescore_jobs(now: datetime) -> int:
    """Go on with rescore jobs that are queued or whose worker stopped renewing its lease."""
    ids = list(db.session.scalars(
        select(RescoreJob.id).where(RescoreJob.status.in_(ACTIVE_JOB_STATUSES),
                                    lease_is_free(RescoreJob.lease_until, now))
        .order_by(RescoreJob.id).limit(MAX_JOBS_PER_TICK)))
    db.session.commit()
    return sum(1 for job_id in ids if run_job(job_id, max_batches=SWEEP_BATCHES))


@register_sweep("scoring_daily", every_seconds=3600)
def queue_daily_rescore(now: datetime) -> int:
    """Once a day, when scores move with time alone, queue rescoring every lead."""
    rules = services.active_rules()
    if not services.has_time_based_points(rules, services.scoring_settings()):
        db.session.commit()
        return 0
    new_id = insert_or_ignore(RescoreJob, {
        "reason": "daily", "dedupe_key": f"daily:{now.date().isoformat()}", "status": "queued",
        "total": live_lead_count(), "done": 0, "changed": 0, "last_lead_id": 0,
        "created_at": now, "updated_at": now,
    }, unique_columns=["dedupe_key"])
    db.session.commit()
    return 1 if new_id else 0
