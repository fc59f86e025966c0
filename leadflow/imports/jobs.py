"""Running imports in the background, and picking up the ones a dead process left.

A started import (or undo) runs in a thread of the process that served the request, with
an app context of its own, and beats while it runs (``leadflow.imports.runner``). If that
process dies, the ``imports`` sweep continues the job from the last committed chunk as soon as
its heartbeat is stale (or its lease ran out, for a worker still alive but stuck). With ``IMPORTS_RUN_INLINE``
(tests, the CLI) the work runs at once in the caller instead.
"""

from __future__ import annotations

import threading
from datetime import datetime

from flask import Flask, current_app
from sqlalchemy import or_

from leadflow.extensions import db
from leadflow.imports.models import ACTIVE_STATUSES, ImportJob
from leadflow.imports.runner import run_job
from leadflow.scheduler.claims import lease_is_free
from leadflow.scheduler.heartbeat import BEAT_EVERY_SECONDS, claimant_is_gone, forget_gone
from leadflow.scheduler.registry import register_sweep

MAX_JOBS_PER_TICK = 5


def _run_in_thread(app: Flask, job_id: int) -> None:
    with app.app_context():
        try:
            run_job(job_id)
        finally:
            db.session.remove()


def launch(job_id: int) -> bool:
    """Start work on a queued job (after the caller committed it). Returns whether it ran
    already (inline) rather than in a background thread."""
    app = current_app._get_current_object()
    if app.config.get("IMPORTS_RUN_INLINE"):
        run_job(job_id)
        return True
    thread = threading.Thread(target=_run_in_thread, args=(app, job_id), name=f"import-{job_id}", daemon=True)
    thread.start()
    return False


@register_sweep("imports", every_seconds=BEAT_EVERY_SECONDS)  # as often as a worker beats
def resume_stalled_imports(now: datetime) -> int:
    """Continue imports and undos that are queued, whose worker's process is gone (its
    heartbeat is stale) or whose worker stopped renewing its lease."""
    forget_gone(now)  # heartbeats of workers gone for a day, scheduler or import
    ids = list(db.session.scalars(
        db.select(ImportJob.id)
        .where(ImportJob.status.in_(ACTIVE_STATUSES),
               or_(lease_is_free(ImportJob.lease_until, now), claimant_is_gone(ImportJob.lease_owner, now)))
        .order_by(ImportJob.id).limit(MAX_JOBS_PER_TICK)
    ))
    db.session.commit()
    for job_id in ids:
        launch(job_id)
    return len(ids)
