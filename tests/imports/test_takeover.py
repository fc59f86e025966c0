"""An import whose worker's process died is taken over as soon as the worker's heartbeat is
stale, not after its lease; a worker that is only slow keeps beating and keeps its job; one
taken over all the same writes nothing more. The real thing: a process killed with kill -9
in the middle of an import."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from leadflow.activities.models import Activity
from leadflow.db import utcnow
from leadflow.extensions import db
from leadflow.files.models import StoredFile
from leadflow.imports import csvfile, runner
from leadflow.imports.models import ImportJob
from leadflow.jobs import leases
from leadflow.jobs import runner as jobs
from leadflow.jobs.runner import run_due_jobs
from leadflow.leads.models import Lead
from leadflow.scheduler import heartbeat
from leadflow.scheduler.heartbeat import SchedulerHeartbeat

from tests.workers import queued_import, silence

from .processes import importing_process
from .test_import import assert_totals_exact, die_while_writing_the_third_chunk, live_leads

# Import workers in threads or processes of their own, taking over from each other through committed heartbeats.
pytestmark = pytest.mark.real_commits

REPO_ROOT = Path(__file__).resolve().parents[2]


def people(count: int) -> str:
    return "Name,Email,Deal Value\n" + "".join(f"Person {i},p{i}@example.com,{i % 7}00\n" for i in range(count))




def assert_each_row_imported_once(job: ImportJob, count: int) -> None:
    db.session.expire_all()
    assert (job.status, job.rows_done, job.created_count, job.skipped_count, job.failed_count) == \
        ("done", count, count, 0, 0)
    assert sorted(lead.email for lead in live_leads()) == sorted(f"p{i}@example.com" for i in range(count))
    created = db.session.scalar(select(func.count(Activity.id)).join(Lead, Lead.id == Activity.lead_id)
                                .where(Lead.import_job_id == job.id, Activity.kind == "system"))
    assert created == count  # one "Lead created" entry each, none from a chunk written twice
    assert_totals_exact()
    db.session.commit()  # and hold no lock


def test_an_import_whose_worker_stopped_beating_is_taken_over_before_its_lease_runs_out(
        new_job, importer, monkeypatch):
    monkeypatch.setattr(runner, "CHUNK_ROWS", 3)
    job = queued_import(new_job, importer, people(10))
    die_while_writing_the_third_chunk(job, monkeypatch)
    db.session.rollback()
    db.session.expire_all()
    assert (job.status, job.rows_done, job.lease_owner) == ("running", 6, "dead-worker")
    assert run_due_jobs(utcnow()) == 0  # it beat with its last chunk: it may be alive

    silence("dead-worker", heartbeat.STALE_AFTER_SECONDS + 1)
    assert job.lease_until > utcnow() + timedelta(seconds=60)  # the lease has long to run
    assert run_due_jobs(utcnow()) == 1
    assert_each_row_imported_once(job, 10)


def stored_uploads() -> int:
    return db.session.scalar(select(func.count(StoredFile.id)).where(StoredFile.purpose == csvfile.PURPOSE))


def test_an_upload_kept_only_in_the_database_is_imported_by_another_node(app, new_job, importer, tmp_path):
    job = queued_import(new_job, importer, people(7))
    app.instance_path = str(tmp_path / "node-b")  # a node that never saw the upload on its disk
    assert not (tmp_path / "node-b" / "imports" / job.stored_name).exists()
    assert run_due_jobs(utcnow()) == 1
    assert_each_row_imported_once(job, 7)
    assert stored_uploads() == 0  # done: its file is forgotten, in the database too
    db.session.commit()


def test_an_import_crashed_on_one_node_is_resumed_by_another_from_the_database(
        app, new_job, importer, monkeypatch, tmp_path):
    monkeypatch.setattr(runner, "CHUNK_ROWS", 3)
    job = queued_import(new_job, importer, people(10))
    die_while_writing_the_third_chunk(job, monkeypatch)
    db.session.rollback()
    silence("dead-worker", heartbeat.STALE_AFTER_SECONDS + 1)
    app.instance_path = str(tmp_path / "node-b")  # the taking-over node has no copy of the file
    assert run_due_jobs(utcnow()) == 1
    assert_each_row_imported_once(job, 10)
    assert stored_uploads() == 0
    db.session.commit()


def test_a_claimed_job_has_a_fresh_heartbeat_from_the_claim_on(new_job, importer):
    job = queued_import(new_job, importer, people(1))
    assert jobs.claim_job(runner.KIND, job.id, "first")
    assert db.session.get(SchedulerHeartbeat, "first") is not None
    assert not jobs.claim_job(runner.KIND, job.id, "second")
    assert run_due_jobs(utcnow()) == 0
    silence("first", heartbeat.STALE_AFTER_SECONDS - 5)
    assert not jobs.claim_job(runner.KIND, job.id, "second")  # not stale yet
    silence("first", heartbeat.STALE_AFTER_SECONDS + 1)
    assert jobs.claim_job(runner.KIND, job.id, "second")
    with pytest.raises(leases.LeaseLost):  # the first worker's next write
        leases.renew(ImportJob, job.id, "first", rows_done=ImportJob.rows_done + 1)


@pytest.fixture
def stall_before_second_chunk(monkeypatch):
    """The first worker waits (outside any transaction, as for a slow cleaning process) before
    its second chunk until ``go`` is set; ``stalled`` is set when it waits. Later workers do not."""
    stalled, go = threading.Event(), threading.Event()
    real = runner.cleaned_chunks

    def stalling(*args):
        chunks = real(*args)
        first = not stalled.is_set()

        def gen():
            try:
                for number, chunk in enumerate(chunks):
                    if number == 1 and first:
                        stalled.set()
                        go.wait(30)
                    yield chunk
            finally:
                chunks.close()
        return gen()

    monkeypatch.setattr(runner, "cleaned_chunks", stalling)
    yield stalled, go
    go.set()


def in_background(app, job_id: int) -> tuple[threading.Thread, list[bool]]:
    """Run the job in a thread of its own, as a scheduler's thread runs it beside this one's
    sweeps; returns the thread and a list that gets what its ``run_job`` returned."""
    outcome: list[bool] = []

    def work() -> None:
        with app.app_context():
            try:
                outcome.append(runner.run_job(job_id))
            finally:
                db.session.remove()

    db.session.commit()  # this test holds no lock while the worker runs
    worker = threading.Thread(target=work, name=f"worker-{job_id}", daemon=True)
    worker.start()
    return worker, outcome


def test_a_slow_worker_keeps_beating_and_keeps_its_job(app, new_job, importer, monkeypatch,
                                                        stall_before_second_chunk):
    stalled, go = stall_before_second_chunk
    monkeypatch.setattr(runner, "CHUNK_ROWS", 3)
    monkeypatch.setattr(heartbeat, "BEAT_EVERY_SECONDS", 0.2)
    monkeypatch.setattr(heartbeat, "STALE_AFTER_SECONDS", 1.5)
    job = queued_import(new_job, importer, people(10))
    worker, outcome = in_background(app, job.id)
    assert stalled.wait(30)
    deadline = time.monotonic() + 3  # twice the staleness of its last chunk's beat
    while time.monotonic() < deadline:
        assert run_due_jobs(utcnow()) == 0
        time.sleep(0.2)
    assert worker.is_alive()
    go.set()
    worker.join(30)
    assert outcome == [True]
    assert_each_row_imported_once(job, 10)


def test_a_worker_taken_over_all_the_same_writes_nothing_more(app, new_job, importer, monkeypatch,
                                                              stall_before_second_chunk):
    """Clocks out of step make a live worker look dead: another takes the job over and
    finishes it, and the first one's next chunk is refused as a whole."""
    stalled, go = stall_before_second_chunk
    monkeypatch.setattr(runner, "CHUNK_ROWS", 3)
    job = queued_import(new_job, importer, people(10))
    first, outcome = in_background(app, job.id)
    assert stalled.wait(30)
    db.session.expire_all()
    assert job.rows_done == 3
    silence(job.lease_owner, heartbeat.STALE_AFTER_SECONDS + 1)
    assert run_due_jobs(utcnow()) == 1  # here: after the first worker's last committed chunk
    assert_each_row_imported_once(job, 10)
    go.set()  # the first worker goes on with the chunk it had cleaned
    first.join(30)
    assert outcome == [False]  # it stopped: "taken over by another worker"
    assert_each_row_imported_once(job, 10)


# The importing process, run on its own: chunks of 200 rows, each followed by a short pause
# (as for a slower file), beating every 0.2 seconds.
IMPORTING = importing_process("""
url, instance, job_id = sys.argv[1:4]
runner.CHUNK_ROWS, heartbeat.BEAT_EVERY_SECONDS = 200, 0.2
real_finish = runner._finish_chunk

def finish_and_pause(*args):
    real_finish(*args)
    time.sleep(0.1)

runner._finish_chunk = finish_and_pause
""")
ROWS = 3000


def progress(job_id: int) -> tuple[str, int]:
    status, done = db.session.execute(select(ImportJob.status, ImportJob.rows_done)
                                      .where(ImportJob.id == job_id)).one()
    db.session.commit()  # hold no lock while the import runs
    return status, done


def test_an_import_killed_with_kill_9_is_resumed_once_its_heartbeat_is_stale(
        database_url, new_job, importer, instance_folder, monkeypatch):
    monkeypatch.setattr(heartbeat, "STALE_AFTER_SECONDS", 2)  # with beats every 0.2 s
    job = queued_import(new_job, importer, people(ROWS))
    job_id = job.id
    db.session.commit()
    importing = subprocess.Popen([sys.executable, "-c", IMPORTING, database_url, str(instance_folder), str(job_id)],
                                 cwd=REPO_ROOT)
    try:
        deadline = time.monotonic() + 60
        while progress(job_id)[1] < ROWS // 4:
            assert importing.poll() is None and time.monotonic() < deadline, "the import did not get going"
            time.sleep(0.02)
        os.kill(importing.pid, signal.SIGKILL)
        importing.wait(timeout=10)
        killed = time.monotonic()
        status, done_when_killed = progress(job_id)
        assert status == "running" and done_when_killed < ROWS, "killed too late to be mid-import"
        assert run_due_jobs(utcnow()) == 0  # its heartbeat is still fresh
        while run_due_jobs(utcnow()) == 0:  # as the jobs sweep, every 0.1 s
            assert time.monotonic() - killed < 30, "the import was not taken over"
            time.sleep(0.1)
        finished = time.monotonic()
    finally:
        if importing.poll() is None:
            importing.kill()
            importing.wait()
    # Taken over once stale (2 s after its last beat), long before the lease would run out.
    print(f"\nkilled after {done_when_killed} of {ROWS} rows; finished {finished - killed:.1f} s after the kill")
    assert 1.5 < finished - killed < leases.LEASE_SECONDS / 2
    assert_each_row_imported_once(db.session.get(ImportJob, job_id), ROWS)
