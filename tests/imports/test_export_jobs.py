"""A lead-list export longer than EXPORT_STREAM_MAX_ROWS is written by a job into the
database, a chunk at a time: the file is the bytes the streamed export of the same list gives,
only its maker (or an admin) downloads it, a job whose worker died goes on after its last
chunk, old exports are purged, and no request starts a thread."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from leadflow.db import utcnow
from leadflow.extensions import db
from leadflow.files.models import StoredFile, StoredFileChunk
from leadflow.imports import export, export_jobs
from leadflow.imports.models import ExportJob
from leadflow.jobs import snapshot
from leadflow.jobs.models import JobLead
from leadflow.jobs.runner import run_due_jobs
from leadflow.scheduler import heartbeat

from tests.workers import silence

QUERY = "source=event&sort=name&dir=asc"


@pytest.fixture
def long_list(app, make_lead, monkeypatch):
    """Seven leads at the event (with custom fields, tags, a formula and non-ASCII names), one
    elsewhere; lists over 3 rows are exported by a job, 2 rows per chunk."""
    monkeypatch.setitem(app.config, "EXPORT_STREAM_MAX_ROWS", 3)
    monkeypatch.setattr(export, "BATCH", 2)
    monkeypatch.setattr(snapshot, "INSERT_CHUNK", 3)  # the snapshot written in several inserts
    leads = [make_lead(first_name=name, source="event", tags="vip, fair" if i % 2 else "")
             for i, name in enumerate(["Ada", "Bjørn", "=cmd", "Dörte", "Eve", "Fay", "Gus"])]
    leads[1].custom_fields = {"seats": 12, "vip": True}
    leads[2].custom_fields = {"note": "-not a formula"}
    make_lead(first_name="Web", source="website")
    db.session.commit()
    return leads


def streamed(client, app, query=QUERY) -> bytes:
    """The export the request streams, for the same list (the threshold lifted)."""
    limit = app.config["EXPORT_STREAM_MAX_ROWS"]
    app.config["EXPORT_STREAM_MAX_ROWS"] = 1_000_000
    try:
        response = client.get(f"/leads/export.csv?{query}")
        assert response.status_code == 200 and response.mimetype == "text/csv"
        return response.data
    finally:
        app.config["EXPORT_STREAM_MAX_ROWS"] = limit


def start_export(client, query=QUERY) -> int:
    page = client.get(f"/leads/export.csv?{query}")
    assert page.status_code == 200 and page.mimetype == "text/html"
    assert "prepared in the background" in page.text and "Prepare the export" in page.text
    response = client.post("/leads/export", data={"query": query})
    assert response.status_code == 303
    return int(response.headers["Location"].rsplit("/", 1)[1])


def test_a_long_list_is_exported_by_a_job_into_the_same_bytes_as_the_streamed_export(app, login_as, long_list):
    user, client = login_as("manager")
    user.timezone = "Europe/Berlin"
    db.session.commit()
    list_page = client.get(f"/leads?{QUERY}").text
    assert f'href="/leads/export.csv?{QUERY}"\n' in list_page.replace("&amp;", "&")  # no `download`: a page
    export_id = start_export(client)
    page = client.get(f"/exports/{export_id}").text
    assert "The export of 7 leads is ready." in page and f"/exports/{export_id}/download" in page
    download = client.get(f"/exports/{export_id}/download")
    assert download.status_code == 200 and download.mimetype == "text/csv"
    assert "attachment" in download.headers["Content-Disposition"]
    assert download.data.startswith(b"\xef\xbb\xbf")
    assert download.data == streamed(client, app)
    assert int(download.headers["Content-Length"]) == len(download.data)
    stored = db.session.scalar(select(StoredFile))
    assert (stored.complete, stored.chunk_count) == (True, 1 + 4)  # the header, then 2 rows a chunk
    assert db.session.scalar(select(func.count()).select_from(JobLead)) == 0
    again = client.get(f"/leads/export.csv?{QUERY}").text  # who left the page finds the file again
    assert "Your recent exports" in again and f"/exports/{export_id}/download" in again


def test_a_short_list_still_streams(app, login_as, long_list):
    _, client = login_as("viewer")
    response = client.get("/leads/export.csv?source=website")
    assert response.mimetype == "text/csv" and b"Web" in response.data
    assert db.session.scalar(select(ExportJob)) is None


@pytest.mark.parametrize("role, status", [("manager", 404), ("rep", 404), ("admin", 200)])
def test_only_its_maker_or_an_admin_downloads_an_export(app, login_as, make_user, long_list, role, status):
    job = export_jobs.queue_export(make_user("rep"), QUERY)
    db.session.commit()
    assert export_jobs.run_job(job.id)
    _, client = login_as(role)
    for path in ("", "/progress", "/download"):
        assert client.get(f"/exports/{job.id}{path}").status_code == status


@pytest.mark.real_commits
def test_an_export_request_starts_no_thread_and_its_page_polls_its_progress(app, login_as, long_list):
    app.config["JOBS_RUN_INLINE"] = False
    _, client = login_as("admin")
    before = set(threading.enumerate())
    export_id = start_export(client)
    assert set(threading.enumerate()) == before
    page = client.get(f"/exports/{export_id}").text
    assert "Waiting to start" in page and f'hx-get="/exports/{export_id}/progress"' in page
    assert client.get(f"/exports/{export_id}/download").status_code == 404  # not ready
    assert run_due_jobs(utcnow()) == 1
    progress = client.get(f"/exports/{export_id}/progress", headers={"HX-Request": "true"})
    assert "<html" not in progress.text and "is ready" in progress.text and "hx-trigger" not in progress.text
    assert client.get(f"/exports/{export_id}/download").data == streamed(client, app)


class Crash(BaseException):
    """The process dying mid-job: nothing catches it, the lease is left behind."""


@pytest.mark.real_commits
def test_an_export_whose_worker_died_goes_on_after_its_last_chunk(app, login_as, long_list, monkeypatch):
    user, client = login_as("manager")
    job = export_jobs.queue_export(user, QUERY)
    db.session.commit()
    real_rows = export_jobs.rows_csv
    calls = []

    def dies_on_second_chunk(*args):
        calls.append(args[0])
        if len(calls) == 2:
            raise Crash()
        return real_rows(*args)

    with monkeypatch.context() as patch:
        patch.setattr(export_jobs, "rows_csv", dies_on_second_chunk)
        with pytest.raises(Crash):
            export_jobs.run_job(job.id, worker="dead-worker")
    db.session.rollback()
    db.session.expire_all()
    assert (job.status, job.done, job.lease_owner) == ("running", 2, "dead-worker")
    assert db.session.scalar(select(StoredFile.chunk_count)) == 2  # the header and one chunk of rows
    silence("dead-worker", heartbeat.STALE_AFTER_SECONDS + 1)
    assert run_due_jobs(utcnow()) == 1
    db.session.expire_all()
    assert (job.status, job.done, job.total) == ("done", 7, 7)
    assert client.get(f"/exports/{job.id}/download").data == streamed(client, app)


def test_exports_older_than_the_keeping_days_are_purged(app, login_as, long_list):
    _, client = login_as("manager")
    old_id, new_id = start_export(client), start_export(client)  # two files of 1 + 4 chunks
    old = db.session.get(ExportJob, old_id)
    old.finished_at = utcnow() - timedelta(days=app.config["EXPORT_KEEP_DAYS"] + 1)
    db.session.commit()
    assert export_jobs.purge_old_exports(utcnow()) == 1
    assert db.session.get(ExportJob, old_id) is None and client.get(f"/exports/{old_id}").status_code == 404
    assert db.session.scalar(select(func.count()).select_from(StoredFile)) == 1
    assert db.session.scalar(select(func.count()).select_from(StoredFileChunk)) == 5
    assert client.get(f"/exports/{new_id}/download").status_code == 200
