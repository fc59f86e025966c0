"""Long lead-list exports as jobs (the ``export`` kind of ``leadflow.jobs``).

A list of up to ``EXPORT_STREAM_MAX_ROWS`` leads is streamed by the request
(``leadflow.imports.export``); a longer one is queued as an ``ExportJob``: the request commits
the row and calls ``leadflow.jobs.runner.start``. The job first fixes what it exports (the
leads the person sees in the list, in its order, as a snapshot in ``job_leads``, and the
custom field columns) and writes the header (with the byte-order mark) as the first chunk of a
file kept in the database (``leadflow.files``, so any node can serve the download); then each
step writes ``export.BATCH`` rows as the next chunk, committed with the job's cursor and a
renewed lease, so a job taken over goes on after the last committed chunk. The file is the
bytes the streamed export of the same list gives. Only the person who exported (or an admin)
may download it; the ``exports_purge`` sweep removes exports older than ``EXPORT_KEEP_DAYS``.
"""

from __future__ import annotations

from datetime import date, timedelta
from urllib.parse import parse_qsl

from flask import current_app
from sqlalchemy import delete, func, select
from werkzeug.datastructures import MultiDict

from leadflow.accounts.models import User
from leadflow.accounts.zones import user_zone
from leadflow.db import utcnow
from leadflow.errors import NotFound
from leadflow.extensions import db
from leadflow.files import store as files
from leadflow.files.models import StoredFile
from leadflow.imports import export
from leadflow.imports.export import COLUMNS, CUSTOM_HEADER, csv_line, custom_field_names, ordered_ids, rows_csv
from leadflow.imports.models import ExportJob
from leadflow.jobs import leases, snapshot
from leadflow.jobs import runner as jobs
from leadflow.jobs.access import job_for
from leadflow.jobs.models import ACTIVE_STATUSES
from leadflow.leads.models import Lead
from leadflow.leads.queries import LeadFilters, filtered_leads

KIND = "export"
PURPOSE = "export"


def stream_limit() -> int:
    return current_app.config["EXPORT_STREAM_MAX_ROWS"]


def filters_of(query: str) -> LeadFilters:
    return LeadFilters.from_args(MultiDict(parse_qsl(query or "")))


def too_long_to_stream(filters: LeadFilters, viewer) -> bool:
    """Whether the list has more than ``EXPORT_STREAM_MAX_ROWS`` leads (counted no further)."""
    limit = stream_limit()
    first = filtered_leads(filters, viewer).with_only_columns(Lead.id).limit(limit + 1).subquery()
    return db.session.scalar(select(func.count()).select_from(first)) > limit


def queue_export(actor, query: str) -> ExportJob:
    """Add the job exporting the list ``query`` (its query string) shows ``actor``; the caller
    commits and starts it."""
    job = ExportJob(filter_query=query[:2000], status="queued", total=0, done=0, position=-1,
                    created_by_id=actor.id)
    db.session.add(job)
    db.session.flush()
    return job


def get_export(viewer, job_id: int) -> ExportJob:
    """The export, for the person who made it or an admin; NotFound for anyone else."""
    return job_for(viewer, ExportJob, job_id, "No such export.")


def recent_exports(viewer, limit: int = 10) -> list[ExportJob]:
    """The person's latest exports (kept ``EXPORT_KEEP_DAYS`` days), newest first."""
    return list(db.session.scalars(select(ExportJob).where(ExportJob.created_by_id == viewer.id)
                                   .order_by(ExportJob.id.desc()).limit(limit)))


def download_file(viewer, job_id: int) -> StoredFile:
    """The finished file of the export; NotFound while it is being written, after it was
    purged, or for anyone but its maker or an admin."""
    job = get_export(viewer, job_id)
    stored = db.session.get(StoredFile, job.file_id) if job.file_id else None
    if job.status != "done" or stored is None or not stored.complete:
        raise NotFound("This export is not ready.")
    return stored


def _start(job: ExportJob, viewer, worker: str) -> None:
    """Fix the leads and columns, write the header chunk, and commit."""
    filters = filters_of(job.filter_query)
    names = custom_field_names(filtered_leads(filters, viewer).with_only_columns(Lead.id))
    total = snapshot.take(KIND, job.id, list(db.session.scalars(ordered_ids(filters, viewer))))
    stored = files.create(PURPOSE, f"leads-{date.today().isoformat()}.csv", "text/csv", viewer.id)
    header = csv_line(COLUMNS + tuple(CUSTOM_HEADER + name for name in names), bom=True)
    files.append(stored.id, 0, header.encode("utf-8"))
    leases.renew(ExportJob, job.id, worker, snapshot_taken=True, total=total, custom_names=names,
                 file_id=stored.id)
    db.session.commit()


def write_export(job_id: int, worker: str, max_chunks: int | None = None) -> None:
    """Write the export's rows after its last committed chunk (all, or ``max_chunks`` chunks,
    then let go of the lease so the next sweep goes on)."""
    job = db.session.get(ExportJob, job_id)
    db.session.refresh(job)
    viewer = db.session.get(User, job.created_by_id) if job.created_by_id else None
    if viewer is None or not viewer.active:
        raise NotFound("The person who asked for this export no longer has an account.")
    if not job.snapshot_taken:
        _start(job, viewer, worker)
        db.session.refresh(job)
    zone, position, chunks = user_zone(viewer), job.position, 0
    while max_chunks is None or chunks < max_chunks:
        pairs = snapshot.batch(KIND, job_id, position, export.BATCH)
        if not pairs:
            files.finish(job.file_id)
            snapshot.forget(KIND, job_id)
            leases.release(ExportJob, job_id, worker, status="done", finished_at=utcnow())
            db.session.commit()
            return
        seq = db.session.scalar(select(StoredFile.chunk_count).where(StoredFile.id == job.file_id))
        files.append(job.file_id, seq, rows_csv([lead_id for _, lead_id in pairs], job.custom_names, zone)
                     .encode("utf-8"))
        position = pairs[-1][0]
        leases.renew(ExportJob, job_id, worker, position=position, done=ExportJob.done + len(pairs))
        db.session.commit()
        chunks += 1
    leases.let_go(ExportJob, job_id, worker)
    db.session.commit()


def _stop(job_id: int, worker: str, exc: Exception) -> None:
    file_id = db.session.scalar(select(ExportJob.file_id).where(ExportJob.id == job_id))
    snapshot.forget(KIND, job_id)
    files.delete_files([file_id] if file_id else [])
    message = str(exc) if isinstance(exc, NotFound) else (
        f"The export stopped because of an unexpected error ({type(exc).__name__}); it was logged. Export again.")
    leases.release(ExportJob, job_id, worker, status="failed", finished_at=utcnow(), error=message, file_id=None)
    db.session.commit()


def run_job(job_id: int, worker: str | None = None, *, max_chunks: int | None = None) -> bool:
    return jobs.run(KIND, job_id, worker, max_chunks=max_chunks)


def purge_old_exports(now) -> int:
    """Remove exports (their jobs and files) finished more than ``EXPORT_KEEP_DAYS`` days ago."""
    cutoff = now - timedelta(days=current_app.config["EXPORT_KEEP_DAYS"])
    old = list(db.session.execute(select(ExportJob.id, ExportJob.file_id).where(
        ExportJob.status.not_in(ACTIVE_STATUSES), ExportJob.finished_at < cutoff)))
    files.delete_files([file_id for _, file_id in old if file_id])
    kept = select(ExportJob.file_id).where(ExportJob.file_id.is_not(None))
    files.delete_files(files.older_than(PURPOSE, cutoff, keep=kept))  # no job points to them any more
    if old:
        db.session.execute(delete(ExportJob).where(ExportJob.id.in_([job_id for job_id, _ in old])))
    db.session.commit()
    return len(old)


def register_jobs(add) -> None:
    """This area's kind of long work, for the jobs module (``leadflow.wiring.schedule``)."""
    add(KIND, write_export, model=ExportJob, statuses=ACTIVE_STATUSES, on_error=_stop,
        claim_values={"status": "running"})


def register_sweeps(add) -> None:
    """This area's periodic work, for the scheduler (``leadflow.wiring.schedule``)."""
    add("exports_purge", every_seconds=3600, func=purge_old_exports)
