"""Helpers for tests of long work and its workers: a queued import, a worker gone silent."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import update

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
    """As if ``worker``'s process had stopped beating ``seconds`` ago."""
    db.session.execute(update(SchedulerHeartbeat.__table__).where(SchedulerHeartbeat.id == worker)
                       .values(beat_at=utcnow() - timedelta(seconds=seconds)))
    db.session.commit()
