"""Helpers for tests of long work and its workers: a queued import, a worker gone silent."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select, update

from leadflow.db import utcnow
from leadflow.extensions import db
from leadflow.imports import services
from leadflow.imports.models import ImportJob
from leadflow.scheduler.heartbeat import SchedulerHeartbeat


def queued_import(new_job, importer, content: str) -> ImportJob:
    """An import of ``content`` started by ``importer`` (committed), not yet run."""
    job = new_job(content)
    services.start_job(importer, job, "skip")
    db.session.commit()
    return job


def silence(worker: str, seconds: float) -> None:
    """As if ``worker``'s process had stopped ``seconds`` ago: its last beat, and the leases it
    took or renewed (each with a beat), are that much older."""
    ago = timedelta(seconds=seconds)
    db.session.execute(update(SchedulerHeartbeat.__table__).where(SchedulerHeartbeat.id == worker)
                       .values(beat_at=utcnow() - ago))
    for table in db.metadata.sorted_tables:
        owner = table.c.get("lease_owner", table.c.get("claimed_by"))
        if owner is None or "lease_until" not in table.c:
            continue
        held = db.session.execute(select(table.c.id, table.c.lease_until).where(owner == worker,
                                                                                table.c.lease_until.is_not(None)))
        for row_id, lease_until in held.all():
            db.session.execute(update(table).where(table.c.id == row_id).values(lease_until=lease_until - ago))
    db.session.commit()
