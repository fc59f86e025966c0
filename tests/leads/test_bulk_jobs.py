"""Bulk actions on the lead list run as jobs: over the ticked leads or every lead a filter
matches (fixed when the job starts), a batch at a time, refusing leads one by one, showing
their progress, resumed after a crash without doing a lead twice, never from a thread."""

from __future__ import annotations

import threading
from urllib.parse import urlencode

import pytest
from sqlalchemy import func, inspect, select

from leadflow.activities.models import Activity
from leadflow.db import utcnow
from leadflow.extensions import db
from leadflow.jobs.models import JobLead
from leadflow.jobs.runner import run_due_jobs
from leadflow.leads import bulk
from leadflow.leads.bulk_models import BulkJob
from leadflow.leads.models import Lead
from leadflow.scheduler import heartbeat
from leadflow.sequences.models import Enrollment

from tests.workers import silence


def post_bulk(client, action: str, *, lead_ids=(), query: dict | None = None, **fields):
    data = {"action": action, "return_query": urlencode(query or {}), **fields}
    if query is not None:
        data["scope"] = "filter"
    else:
        data["lead_ids"] = [str(i) for i in lead_ids]
    return client.post("/leads/bulk", data=data)


def id_of(lead) -> int:
    return inspect(lead).identity[0]  # a job expunges the leads it is done with: no reload


def owners(leads) -> list[int | None]:
    db.session.expire_all()
    return [db.session.get(Lead, id_of(lead)).owner_id for lead in leads]


def assignments_of(lead) -> int:
    return db.session.scalar(select(func.count(Activity.id)).where(Activity.lead_id == id_of(lead),
                                                                   Activity.kind == "assignment"))


@pytest.fixture
def small_batches(monkeypatch):
    monkeypatch.setattr(bulk, "BATCH_LEADS", 2)


def test_ticked_leads_are_reassigned_by_a_job_that_leaves_its_summary_on_the_list(login_as, make_user, make_lead,
                                                                                    small_batches):
    _, client = login_as("manager")
    ana = make_user("rep", name="Ana")
    leads = [make_lead(first_name=f"T{i}") for i in range(5)]
    db.session.commit()
    response = post_bulk(client, "reassign", lead_ids=[lead.id for lead in leads], assignee=ana.id)
    assert response.status_code == 303 and response.headers["Location"].endswith("/leads")
    assert "Reassigned 5 leads." in client.get("/leads").text
    assert owners(leads) == [ana.id] * 5
    job = db.session.scalar(select(BulkJob))
    assert (job.status, job.done, job.total, job.result["changed"]) == ("done", 5, 5, 5)
    assert db.session.scalar(select(func.count()).select_from(JobLead)) == 0  # the snapshot goes with the job


def test_a_filter_reassigns_every_matching_lead_on_every_page_and_no_other(login_as, make_user, make_lead,
                                                                           small_batches):
    _, client = login_as("admin")
    ana = make_user("rep", name="Ana")
    fair = [make_lead(first_name=f"Fair{i}", source="event") for i in range(5)]
    other = make_lead(first_name="Web", source="website")
    db.session.commit()
    page = client.get("/leads?source=event&per_page=25").text
    assert "All 5 leads matching this filter" in page and 'name="scope" value="filter"' in page
    post_bulk(client, "reassign", query={"source": "event", "per_page": "25", "page": "1"}, assignee=ana.id)
    assert "Reassigned 5 leads." in client.get("/leads").text
    assert owners(fair) == [ana.id] * 5 and owners([other]) == [None]


def test_the_leads_a_filter_matched_at_the_start_are_the_ones_done_even_when_they_stop_matching(
        login_as, make_user, make_lead, small_batches):
    """Reassigning the unassigned leads: each batch makes its leads stop matching the filter;
    the snapshot keeps the later batches on the leads matched at the start."""
    _, client = login_as("admin")
    ana = make_user("rep", name="Ana")
    unassigned = [make_lead(first_name=f"U{i}") for i in range(5)]
    db.session.commit()
    post_bulk(client, "reassign", query={"owner": "none"}, assignee=ana.id)
    assert "Reassigned 5 leads." in client.get("/leads").text
    assert owners(unassigned) == [ana.id] * 5


def test_a_filtered_enrolment_skips_and_counts_like_the_ticked_one(login_as, make_lead, small_batches):
    from leadflow.sequences import services as sequences

    manager, client = login_as("manager")
    template = sequences.create_template(manager, {"name": "Hi", "subject": "Hello", "body": "Hi"})
    sequence = sequences.create_sequence(manager, {"name": "Fair nurture", "active": "y"})
    sequences.add_step(manager, sequence, {"kind": "send", "template_id": template.id})
    leads = [make_lead(first_name=f"C{i}", source="event", marketing_consent=i != 1) for i in range(4)]
    make_lead(first_name="Web", source="website", marketing_consent=True)
    db.session.commit()
    post_bulk(client, "enrol_sequence", query={"source": "event"}, sequence_id=sequence.id)
    assert "Enrolled 3 leads. 1 skipped (no marketing consent): C1 Example." in client.get("/leads").text
    enrolled = set(db.session.scalars(select(Enrollment.lead_id)))
    assert enrolled == {leads[0].id, leads[2].id, leads[3].id}
    post_bulk(client, "enrol_sequence", query={"source": "event"}, sequence_id=sequence.id)
    assert "Enrolled 0 leads. 3 already in the sequence. 1 skipped" in client.get("/leads").text
    missing = post_bulk(client, "enrol_sequence", query={"source": "event"})
    assert missing.status_code == 422 and "Choose the sequence" in missing.text


def test_a_rep_refused_some_leads_of_a_filter_gets_them_named_and_the_rest_done(login_as, make_user, make_lead,
                                                                                  small_batches):
    rep, client = login_as("rep")
    other = make_user("rep", name="Other Rep")
    mine = [make_lead(first_name=f"Mine{i}", owner_id=rep.id, source="event") for i in range(3)]
    theirs = make_lead(first_name="Theirs", owner_id=other.id, source="event")
    db.session.commit()
    post_bulk(client, "reassign", query={"source": "event"}, assignee=other.id)
    page = client.get("/leads").text
    assert "Reassigned 3 leads. 1 not changed because you cannot edit them: Theirs Example." in page
    assert owners(mine) == [other.id] * 3 and owners([theirs]) == [other.id]


def test_a_filter_over_the_cap_is_refused_with_what_to_do(login_as, make_user, make_lead, monkeypatch):
    monkeypatch.setattr(bulk, "MAX_FILTERED", 2)
    _, client = login_as("admin")
    ana = make_user("rep", name="Ana")
    leads = [make_lead(first_name=f"Many{i}") for i in range(3)]
    db.session.commit()
    response = post_bulk(client, "reassign", query={}, assignee=ana.id)
    assert response.status_code == 422
    assert "a bulk action works on at most 2 at a time. Narrow the filter" in response.text
    assert owners(leads) == [None] * 3 and db.session.scalar(select(BulkJob)) is None


def test_a_filter_matching_nothing_is_refused(login_as, make_user):
    _, client = login_as("admin")
    ana = make_user("rep", name="Ana")
    db.session.commit()
    response = post_bulk(client, "reassign", query={"source": "nowhere"}, assignee=ana.id)
    assert response.status_code == 422 and "No leads match this filter." in response.text


def test_a_bad_form_is_refused_before_any_job_is_queued(login_as, make_lead):
    _, client = login_as("admin")
    make_lead(source="event")
    db.session.commit()
    response = post_bulk(client, "reassign", query={"source": "event"}, assignee="")
    assert response.status_code == 422 and "Choose an active person to reassign to." in response.text
    assert db.session.scalar(select(BulkJob)) is None


def test_a_round_robin_goes_on_across_batches(login_as, make_lead, small_batches):
    from leadflow.accounts.models import Team
    from tests import factories

    _, client = login_as("admin")
    team = Team(name="Closers")
    db.session.add(team)
    db.session.flush()
    ana, ben, cy = (factories.make_user("rep", team_id=team.id) for _ in range(3))
    leads = [make_lead(first_name=f"R{i}", source="event") for i in range(5)]
    db.session.commit()
    post_bulk(client, "reassign", query={"source": "event", "sort": "created", "dir": "asc"}, assignee=f"team:{team.id}")
    assert owners(leads) == [ana.id, ben.id, cy.id, ana.id, ben.id]  # not back to Ana at each batch


def test_someone_else_cannot_see_a_bulk_job(login_as, make_user, make_lead):
    manager, client = login_as("manager")
    job = BulkJob(action="reassign", lead_ids=[1], form_data={}, status="done", created_by_id=make_user("admin").id,
                  result={"changed": 1})
    db.session.add(job)
    db.session.commit()
    assert client.get(f"/leads/bulk/{job.id}").status_code == 404
    assert client.get(f"/leads/bulk/{job.id}/progress").status_code == 404


# --- in the background: no thread, progress, a crash ------------------------------------------

@pytest.mark.real_commits
def test_a_bulk_request_starts_no_thread_and_its_page_polls_its_progress(app, login_as, make_user, make_lead):
    app.config["JOBS_RUN_INLINE"] = False  # as in a server
    _, client = login_as("admin")
    ana = make_user("rep", name="Ana")
    leads = [make_lead(first_name=f"B{i}", source="event") for i in range(3)]
    db.session.commit()
    before = set(threading.enumerate())
    response = post_bulk(client, "reassign", query={"source": "event"}, assignee=ana.id)
    assert set(threading.enumerate()) == before
    job = db.session.scalar(select(BulkJob))
    assert response.status_code == 303 and response.headers["Location"].endswith(f"/leads/bulk/{job.id}")
    page = client.get(f"/leads/bulk/{job.id}").text
    assert "this page updates by itself; you can leave it, the work goes on." in page
    assert "Waiting to start" in page and f'hx-get="/leads/bulk/{job.id}/progress"' in page
    assert 'hx-trigger="every 1s"' in page and '<progress id="bulk-progress"' in page

    assert run_due_jobs(utcnow()) == 1  # the scheduler's next run
    progress = client.get(f"/leads/bulk/{job.id}/progress", headers={"HX-Request": "true"})
    assert progress.status_code == 200 and "<html" not in progress.text
    assert "Reassigned 3 leads." in progress.text and "hx-trigger" not in progress.text  # stops polling
    assert owners(leads) == [ana.id] * 3
    # Opened again once done (a bookmark, the back button), the page hands over to the list
    # it was started from, with the outcome.
    done = client.get(f"/leads/bulk/{job.id}")
    assert done.status_code == 303 and done.headers["Location"].endswith("/leads?source=event")
    assert "Reassigned 3 leads." in client.get(done.headers["Location"]).text


class Crash(BaseException):
    """The process dying mid-job: nothing catches it, the lease is left behind."""


@pytest.mark.real_commits
def test_a_bulk_job_whose_worker_died_is_finished_by_another_without_doing_a_lead_twice(
        app, make_user, make_lead, small_batches, monkeypatch):
    admin = make_user("admin")
    ana = make_user("rep", name="Ana")
    leads = [make_lead(first_name=f"K{i}", source="event") for i in range(5)]
    job = bulk.queue_bulk_job(admin, "reassign", [], {"assignee": str(ana.id)}, filter_query="source=event")
    db.session.commit()
    real = bulk.BULK_ACTIONS["reassign"]
    batches = []

    def dies_in_second_batch(actor, batch, form_data, so_far):
        batches.append([lead.id for lead in batch])
        result = real.handler(actor, batch, form_data, so_far)  # the leads are changed, then the process dies
        if len(batches) == 2:
            raise Crash()
        return result

    with monkeypatch.context() as patch:
        patch.setitem(bulk.BULK_ACTIONS, "reassign", bulk.BulkAction(
            real.name, real.label, real.verb, real.fields, real.check, dies_in_second_batch))
        with pytest.raises(Crash):
            bulk.run_job(job.id, worker="dead-worker")
    db.session.rollback()
    db.session.expire_all()
    assert (job.status, job.done, job.lease_owner) == ("running", 2, "dead-worker")
    assert owners(leads) == [ana.id, ana.id, None, None, None]  # the second batch was rolled back
    assert run_due_jobs(utcnow()) == 0  # it beat with its last batch: it may be alive

    silence("dead-worker", heartbeat.STALE_AFTER_SECONDS + 1)
    assert run_due_jobs(utcnow()) == 1
    db.session.expire_all()
    assert (job.status, job.done, job.lease_owner) == ("done", 5, None)
    assert (job.result["changed"], job.result["unchanged"]) == (5, 0)
    assert owners(leads) == [ana.id] * 5
    assert [assignments_of(lead) for lead in leads] == [1] * 5  # no lead done twice
    assert run_due_jobs(utcnow()) == 0


def test_a_job_whose_form_no_longer_holds_stops_with_the_reason_on_its_page(login_as, make_user, make_lead):
    admin, client = login_as("admin")
    ana = make_user("rep", name="Ana")
    lead = make_lead(source="event")
    job = bulk.queue_bulk_job(admin, "reassign", [], {"assignee": str(ana.id)}, filter_query="source=event")
    ana.active = False  # between the click and the job's start
    db.session.commit()
    bulk.run_job(job.id)
    page = client.get(f"/leads/bulk/{job.id}").text
    assert "Choose an active person to reassign to. The leads handled before it stopped stay changed." in page
    assert "Reassigned 0 leads." in page and owners([lead]) == [None]
    assert db.session.scalar(select(func.count()).select_from(JobLead)) == 0


def test_archive_moves_ticked_leads_to_the_trash_and_refuses_another_reps_lead(login_as, make_user, make_lead):
    rep, client = login_as("rep")
    other = make_user("rep", name="Oli")
    mine, unowned = make_lead(first_name="Mine", owner_id=rep.id), make_lead(first_name="Free")
    theirs = make_lead(first_name="Theirs", owner_id=other.id)
    db.session.commit()
    post_bulk(client, "archive", lead_ids=[mine.id, unowned.id, theirs.id])
    page = client.get("/leads").text
    assert "Archived 2 leads." in page and "1 not changed because you cannot edit them: Theirs Example." in page
    db.session.expire_all()
    assert [db.session.get(Lead, id_of(lead)).deleted_at is not None for lead in (mine, unowned, theirs)] == [
        True, True, False]
    assert "Mine Example" in client.get("/leads/trash").text
