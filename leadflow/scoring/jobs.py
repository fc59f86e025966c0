"""Rescoring every lead in the background (the ``rescore`` kind of ``leadflow.jobs``), and
the daily rescore for time-based points.

"Rescore all leads" queues a ``RescoreJob``, commits, and asks the jobs module to run it
(``leadflow.jobs.runner.start``: the scheduler's ``jobs`` sweep runs it now; with
``JOBS_RUN_INLINE``, tests and scripts, it runs in the request). The claim sets the status to
"running"; ``rescore`` then rescores ``BATCH_LEADS`` leads at a time and commits each batch
together with the job's cursor (``last_lead_id``) and a renewed lease, only while it still
holds the lease, so a job whose worker died goes on after the last committed batch.
``scoring_daily`` queues one job a day (a unique ``dedupe_key``) when points change with
time alone (decay, inactivity rules).
"""

from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy import func, select, update

from leadflow.db import utcnow
from leadflow.extensions import db
from leadflow.jobs import leases
from leadflow.jobs import runner as jobs
from leadflow.leads.models import Lead
from leadflow.scheduler.claims import insert_or_ignore
from leadflow.scoring import services
from leadflow.scoring.models import ACTIVE_JOB_STATUSES, RescoreJob

log = logging.getLogger(__name__)
KIND = "rescore"
BATCH_LEADS = 200


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


def run_job(job_id: int, worker: str | None = None, *, max_batches: int | None = None,
            now: datetime | None = None) -> bool:
    """Claim the job and rescore its leads in this thread (all of them, or ``max_batches``
    batches, after which the lease is let go so the next sweep goes on); False when another
    worker holds it."""
    return jobs.run(KIND, job_id, worker, max_batches=max_batches, now=now)


def _stop(job_id: int, worker: str, exc: Exception) -> None:
    leases.release(RescoreJob, job_id, worker, status="failed", finished_at=utcnow(),
                   error=f"Rescoring stopped because of an unexpected error ({type(exc).__name__}). "
                         "The error was logged; start it again to go on.")
    db.session.commit()


def rescore(job_id: int, worker: str, max_batches: int | None = None, now: datetime | None = None) -> None:
    """Rescore the job's leads after its cursor, batch by batch, each batch committed with the cursor."""
    job = db.session.get(RescoreJob, job_id)
    db.session.refresh(job)
    rules = services.active_rules()
    settings = services.scoring_settings()
    cursor, batches = job.last_lead_id, 0
    while max_batches is None or batches < max_batches:
        leads = services.leads_for_rescoring(cursor, BATCH_LEADS)
        if not leads:
            leases.release(RescoreJob, job_id, worker, status="done", finished_at=utcnow())
            db.session.commit()
            return
        changed = services.rescore_leads(leads, now or utcnow(), rules=rules, settings=settings)
        cursor = leads[-1].id
        leases.renew(RescoreJob, job_id, worker, last_lead_id=cursor, done=RescoreJob.done + len(leads),
                     changed=RescoreJob.changed + changed)
        db.session.commit()
        for lead in leads:  # a big run must not keep every lead in memory
            db.session.expunge(lead)
        batches += 1
    # Bounded run: let go of the lease so the next sweep (any process) continues.
    table = RescoreJob.__table__
    db.session.execute(update(table).where(table.c.id == job_id, table.c.lease_owner == worker)
                       .values(lease_owner=None, lease_until=None))
    db.session.commit()


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


def register_sweeps(add) -> None:
    """This area's periodic work, for the scheduler (``leadflow.wiring.schedule``)."""
    add("scoring_daily", every_seconds=3600, func=queue_daily_rescore)


def register_jobs(add) -> None:
    """This area's kind of long work, for the jobs module (``leadflow.wiring.schedule``)."""
    add(KIND, rescore, model=RescoreJob, statuses=ACTIVE_JOB_STATUSES, on_error=_stop,
        claim_values={"status": "running"})
