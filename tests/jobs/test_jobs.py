"""Long work runs as a job: a request only queues it (no thread), the scheduler's ``jobs``
sweep runs it (at once when the scheduler runs in the same process), two workers never run one
job, a job whose worker died is finished by another exactly once, and its progress shows
while it runs."""

from __future__ import annotations

import threading
import time
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import func, select

from leadflow.db import utcnow
from leadflow.extensions import db
from leadflow.imports import runner
from leadflow.jobs import leases
from leadflow.jobs import runner as jobs
from leadflow.jobs.runner import run_due_jobs
from leadflow.leads.models import Lead
from leadflow.scheduler import heartbeat
from leadflow.scheduler import runner as scheduler
from leadflow.scoring import jobs as scoring_jobs
from leadflow.scoring import services as scoring_services
from leadflow.scoring.models import RescoreJob, ScoringRule

from tests.concurrency import run_together
from tests.workers import queued_import, silence

# Workers, schedulers and threads here run on connections of their own: what the test made must
# be committed for real for them to see it.
pytestmark = pytest.mark.real_commits


def people(count: int, prefix: str = "p") -> str:
    return "Name,Email\n" + "".join(f"Person {i},{prefix}{i}@example.com\n" for i in range(count))


def leads_with_prefix(prefix: str) -> list[str]:
    emails = list(db.session.scalars(select(Lead.email).where(Lead.email.like(f"{prefix}%"),
                                                              Lead.deleted_at.is_(None))))
    db.session.commit()
    return sorted(emails)




def test_starting_an_import_starts_no_thread_and_the_jobs_sweep_runs_it(app, login_as, new_job):
    app.config["JOBS_RUN_INLINE"] = False  # as in a server
    user, client = login_as("manager")
    job = new_job(people(3), actor=user)
    before = set(threading.enumerate())
    response = client.post(f"/imports/{job.id}/start", data={"duplicate_policy": "skip"})
    assert response.status_code == 303
    assert set(threading.enumerate()) == before  # no worker, no cleaner, no heartbeat thread
    page = client.get(f"/imports/{job.id}").text
    assert "Import started." in page and 'hx-trigger="every 1s"' in page
    db.session.expire_all()
    assert (job.status, job.rows_done, job.lease_owner) == ("queued", 0, None)

    assert run_due_jobs(utcnow()) == 1  # what the scheduler does at its next run
    db.session.expire_all()
    assert (job.status, job.created_count) == ("done", 3)
    assert leads_with_prefix("p") == [f"p{i}@example.com" for i in range(3)]
    assert run_due_jobs(utcnow()) == 0  # once


def test_rescore_all_starts_no_thread(app, login_as):
    app.config["JOBS_RUN_INLINE"] = False
    _, client = login_as("admin")
    before = set(threading.enumerate())
    client.post("/settings/scoring/rescore")
    assert set(threading.enumerate()) == before
    assert "Rescoring all leads in the background" in client.get("/settings/scoring").text
    job = db.session.scalar(select(RescoreJob))
    assert job.status == "queued"
    assert run_due_jobs(utcnow()) == 1
    db.session.expire_all()
    assert job.status == "done"


def test_with_the_scheduler_in_this_process_a_started_import_runs_at_once_not_at_the_next_tick(
        app, login_as, new_job):
    app.config["JOBS_RUN_INLINE"] = False
    user, client = login_as("manager")
    job = new_job(people(3), actor=user)
    running = scheduler.start_scheduler(app)
    try:
        interval_job = running.get_job(jobs.SWEEP)
        deadline = time.monotonic() + 30
        while interval_job.next_run_time <= datetime.now(timezone.utc):  # its first run, at start, is over
            assert time.monotonic() < deadline
            time.sleep(0.05)
        next_tick = interval_job.next_run_time
        assert client.post(f"/imports/{job.id}/start", data={"duplicate_policy": "skip"}).status_code == 303
        while True:
            db.session.expire_all()
            if job.status == "done":
                break
            db.session.commit()
            assert datetime.now(timezone.utc) < next_tick, "the import waited for the sweep's next tick"
            time.sleep(0.05)
    finally:
        scheduler.stop_scheduler(app)
    assert job.finished_at < next_tick
    assert job.created_count == 3


def test_two_workers_that_claim_one_job_at_once_run_it_once(app, new_job, importer):
    job = queued_import(new_job, importer, people(6))
    job_id = job.id  # read here: the workers have sessions of their own
    db.session.commit()
    outcomes = run_together(app, 2, lambda i: runner.run_job(job_id, worker=f"worker-{i}"))
    assert sorted(outcomes) == [False, True]
    db.session.expire_all()
    assert (job.status, job.rows_done, job.created_count, job.skipped_count) == ("done", 6, 6, 0)
    assert leads_with_prefix("p") == sorted(f"p{i}@example.com" for i in range(6))


def test_two_schedulers_sweeping_at_once_run_every_job_once(app, new_job, importer, make_user):
    imports = [queued_import(new_job, importer, people(4, prefix=f"j{n}-")) for n in range(3)]
    admin = make_user(role="admin")
    rescore = scoring_jobs.queue_rescore_all(admin)
    db.session.commit()
    ran = run_together(app, 2, lambda i: run_due_jobs(utcnow()))
    assert sum(ran) == 4  # three imports and the rescore, each by one of the two
    db.session.expire_all()
    for n, job in enumerate(imports):
        assert (job.status, job.created_count, job.skipped_count) == ("done", 4, 0)
        assert leads_with_prefix(f"j{n}-") == sorted(f"j{n}-{i}@example.com" for i in range(4))
    # It ran beside the imports: it scored the leads there were, once.
    assert (rescore.status, rescore.lease_owner) == ("done", None) and rescore.done <= 12


def test_a_job_claimed_a_moment_ago_is_not_taken_for_dead_before_its_first_beat_is_seen(app, new_job, importer):
    """How a claim on PostgreSQL can meet a job another claim has just committed: the row as it
    now is (leased a moment ago) and no heartbeat of its new worker, whose first beat came in
    the same transaction but after this statement began. That worker is alive; the job is left
    alone until its lease, too, is older than a stale heartbeat."""
    job = queued_import(new_job, importer, people(2, prefix="m-"))
    now = utcnow()
    job.status, job.lease_owner = "running", "claimed-a-moment-ago"
    job.lease_until = now + timedelta(seconds=leases.LEASE_SECONDS)
    db.session.commit()
    assert db.session.get(heartbeat.SchedulerHeartbeat, "claimed-a-moment-ago") is None
    assert run_due_jobs(now) == 0
    db.session.expire_all()
    assert (job.status, job.lease_owner, job.rows_done) == ("running", "claimed-a-moment-ago", 0)

    later = now + timedelta(seconds=heartbeat.STALE_AFTER_SECONDS + 1)  # no beat and no renewal since
    assert run_due_jobs(later) == 1
    db.session.expire_all()
    assert (job.status, job.lease_owner, job.created_count) == ("done", None, 2)


class Crash(BaseException):
    """The process dying mid-job: nothing catches it, the lease is left behind."""


def test_a_rescore_whose_worker_died_is_finished_by_another_worker_exactly_once(app, make_user, make_lead,
                                                                                monkeypatch):
    admin = make_user(role="admin")
    for _ in range(5):
        make_lead(admin, title="Director")
    db.session.add(ScoringRule(name="Has a title", category="fit", active=True, points=10, position=1,
                               field="title", operator="is_set"))
    job = scoring_jobs.queue_rescore_all(admin)
    db.session.commit()
    monkeypatch.setattr(scoring_jobs, "BATCH_LEADS", 2)
    real_rescore = scoring_services.rescore_leads
    batches = []

    def dies_on_second_batch(leads, *args, **kwargs):
        batches.append([lead.id for lead in leads])
        if len(batches) == 2:
            raise Crash()
        return real_rescore(leads, *args, **kwargs)

    with monkeypatch.context() as patch:
        patch.setattr(scoring_services, "rescore_leads", dies_on_second_batch)
        with pytest.raises(Crash):
            scoring_jobs.run_job(job.id, worker="dead-worker")
    db.session.rollback()
    db.session.expire_all()
    assert (job.status, job.done, job.lease_owner) == ("running", 2, "dead-worker")
    assert run_due_jobs(utcnow()) == 0  # it beat with its last batch: it may be alive

    silence("dead-worker", heartbeat.STALE_AFTER_SECONDS + 1)
    assert job.lease_until > utcnow() + timedelta(seconds=60)  # long before its lease runs out
    assert run_due_jobs(utcnow()) == 1
    db.session.expire_all()
    assert (job.status, job.done, job.changed, job.lease_owner) == ("done", 5, 5, None)
    assert sorted(lead.score for lead in db.session.scalars(select(Lead))) == [10] * 5
    assert run_due_jobs(utcnow()) == 0


def test_an_imports_progress_shows_while_it_runs(app, login_as, new_job, importer, monkeypatch):
    """The worker pauses after its first chunk (as between two chunks of a long file): the
    page shows how far it got and keeps polling; then the finished counts."""
    monkeypatch.setattr(runner, "CHUNK_ROWS", 4)
    paused, go = threading.Event(), threading.Event()
    real_finish = runner._finish_chunk

    def pause_after_first_chunk(*args):
        real_finish(*args)
        if not paused.is_set():
            paused.set()
            go.wait(30)

    monkeypatch.setattr(runner, "_finish_chunk", pause_after_first_chunk)
    job = queued_import(new_job, importer, people(10))
    worker = threading.Thread(target=lambda: run_together(app, 1, lambda i: run_due_jobs(utcnow())), daemon=True)
    worker.start()  # as the scheduler's thread
    try:
        assert paused.wait(30)
        _, client = login_as("manager", htmx=True)
        running = client.get(f"/imports/{job.id}/progress").text
        assert 'hx-trigger="every 1s"' in running and "4 of 10 rows." in running
        assert 'value="40"' in running
    finally:
        go.set()
        worker.join(30)
    done = client.get(f"/imports/{job.id}/progress").text
    assert "hx-trigger" not in done and 'id="count-created">10<' in done
    assert db.session.scalar(select(func.count(Lead.id))) == 10
