"""The leads a job works over, written once when it starts (``leadflow.jobs.models.JobLead``):
a list filter matched again later could give other leads, a snapshot cannot."""

from __future__ import annotations

from sqlalchemy import delete, insert, select

from leadflow.extensions import db
from leadflow.jobs.models import JobLead

INSERT_CHUNK = 5000


def take(kind: str, job_id: int, lead_ids) -> int:
    """Write ``lead_ids`` (in the order the job goes through them) as the job's leads, in the
    caller's transaction, replacing any half-written snapshot; returns how many."""
    forget(kind, job_id)
    count, chunk = 0, []
    for lead_id in lead_ids:
        chunk.append({"kind": kind, "job_id": job_id, "position": count, "lead_id": lead_id})
        count += 1
        if len(chunk) == INSERT_CHUNK:
            db.session.execute(insert(JobLead), chunk)
            chunk = []
    if chunk:
        db.session.execute(insert(JobLead), chunk)
    return count


def batch(kind: str, job_id: int, after: int, size: int) -> list[tuple[int, int]]:
    """The next ``size`` (position, lead id) pairs after position ``after`` (-1: from the start)."""
    return [tuple(row) for row in db.session.execute(
        select(JobLead.position, JobLead.lead_id)
        .where(JobLead.kind == kind, JobLead.job_id == job_id, JobLead.position > after)
        .order_by(JobLead.position).limit(size))]


def forget(kind: str, job_id: int) -> None:
    db.session.execute(delete(JobLead).where(JobLead.kind == kind, JobLead.job_id == job_id))
