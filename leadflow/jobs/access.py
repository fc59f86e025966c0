"""Who may see a job: the person who started it, or an admin."""

from __future__ import annotations

from leadflow.errors import NotFound
from leadflow.extensions import db


def job_for(viewer, model, job_id: int, missing: str):
    """Job ``job_id`` of ``model`` for ``viewer``; ``NotFound(missing)`` (the app's 404) when it
    does not exist or another person started it, so nobody learns which ids exist."""
    job = db.session.get(model, job_id)
    if job is None or not (job.created_by_id == viewer.id or viewer.is_admin):
        raise NotFound(missing)
    return job
