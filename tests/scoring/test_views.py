"""The rules admin, rescoring all leads, the lead page's breakdown and the calibration report."""

import re

import pytest
from sqlalchemy import select

from leadflow.db import utcnow
from leadflow.extensions import db
from leadflow.jobs.runner import run_due_jobs
from leadflow.leads.models import Lead
from leadflow.pipeline.models import Stage
from leadflow.scheduler.claims import claim_due
from leadflow.scheduler.heartbeat import beat
from leadflow.scoring import jobs
from leadflow.scoring.models import RescoreJob, ScoringRule
from leadflow.scoring.queries import calibration_context

FIT_RULE = {"name": "Decision maker", "category": "fit", "points": "20", "field": "title", "operator": "contains",
            "value": "director"}
STALE_NOTICE = "Scores were computed before your last change"


def test_empty_rules_page_says_what_to_do(login_as):
    _, client = login_as("admin")
    page = client.get("/settings/scoring").get_data(as_text=True)
    assert "No scoring rules yet" in page
    assert "Add your first rule" in page


def test_admin_adds_edits_pauses_and_deletes_a_rule(login_as):
    _, client = login_as("admin")
    response = client.post("/settings/scoring/rules/new", data=FIT_RULE)
    assert response.status_code in (302, 303)
    rule = db.session.scalar(select(ScoringRule))
    assert (rule.name, rule.points, rule.value) == ("Decision maker", 20, "director")
    page = client.get("/settings/scoring").get_data(as_text=True)
    assert "Rule “Decision maker” added." in page and "rescore" in page
    assert "Job title contains “director”" in page

    client.post(f"/settings/scoring/rules/{rule.id}", data={**FIT_RULE, "points": "-5", "name": "Not a director"})
    db.session.refresh(rule)
    assert (rule.name, rule.points) == ("Not a director", -5)

    client.post(f"/settings/scoring/rules/{rule.id}/active", data={"active": "0"})
    db.session.refresh(rule)
    assert rule.active is False
    assert "Paused" in client.get("/settings/scoring").get_data(as_text=True)

    client.post(f"/settings/scoring/rules/{rule.id}/delete")
    assert db.session.scalar(select(ScoringRule)) is None


def test_bad_rule_gets_422_with_messages_and_nothing_is_saved(login_as):
    _, client = login_as("admin")
    response = client.post("/settings/scoring/rules/new", data={**FIT_RULE, "name": "", "points": "lots"})
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert "Give the rule a name." in page and "Enter the points as a whole number." in page
    assert db.session.scalar(select(ScoringRule)) is None


def test_bad_thresholds_get_422(login_as):
    _, client = login_as("admin")
    response = client.post("/settings/scoring/thresholds", data={"warm_at": "70", "hot_at": "50", "mql_at": "40",
                                                                 "sql_at": "70", "half_life_days": "0"})
    assert response.status_code == 422
    assert "Hot must start at a higher score than warm." in response.get_data(as_text=True)
    ok = client.post("/settings/scoring/thresholds", data={"warm_at": "10", "hot_at": "50", "mql_at": "40",
                                                           "sql_at": "70", "half_life_days": "7", "lifecycle_auto": "y"})
    assert ok.status_code in (302, 303)
    assert "Thresholds saved." in client.get("/settings/scoring").get_data(as_text=True)


@pytest.mark.parametrize("field, value", [("warm_at", "abc"), ("hot_at", ""), ("half_life_days", "-3"),
                                          ("sql_at", "99999999999999999999")])
def test_thresholds_that_are_not_numbers_in_range_get_422_and_nothing_changes(login_as, field, value):
    _, client = login_as("admin")
    data = {"warm_at": "30", "hot_at": "60", "mql_at": "40", "sql_at": "70", "half_life_days": "0", field: value}
    response = client.post("/settings/scoring/thresholds", data=data)
    assert response.status_code == 422
    assert "field-error" in response.get_data(as_text=True)
    assert STALE_NOTICE not in client.get("/settings/scoring").get_data(as_text=True)


@pytest.mark.parametrize("role", ["manager", "rep", "viewer"])
def test_only_admins_reach_the_rules_admin(login_as, make_rule, role):
    rule = make_rule()
    db.session.commit()
    _, client = login_as(role)
    assert client.get("/settings/scoring").status_code == 403
    assert client.post("/settings/scoring/rules/new", data=FIT_RULE).status_code == 403
    assert client.post(f"/settings/scoring/rules/{rule.id}/delete").status_code == 403
    assert client.post("/settings/scoring/rescore").status_code == 403
    assert db.session.get(ScoringRule, rule.id) is not None


def test_rescore_all_scores_existing_leads_and_shows_the_result(login_as, make_lead, make_rule):
    admin, client = login_as("admin")
    leads = [make_lead(admin, title=title) for title in ("Director", "Intern", "Sales director")]
    make_rule(name="Director", field="title", operator="contains", value="director", points=40)
    db.session.commit()
    assert all(lead.score == 0 for lead in leads)  # the rule came after them

    response = client.post("/settings/scoring/rescore")
    assert response.status_code in (302, 303)
    page = client.get("/settings/scoring").get_data(as_text=True)
    assert "Rescored 3 leads; 2 got a new score." in page
    assert "Last rescore" in page
    db.session.expire_all()
    assert sorted(lead.score for lead in db.session.scalars(select(Lead))) == [0, 40, 40]
    job = db.session.scalar(select(RescoreJob))
    assert (job.status, job.done, job.changed, job.percent, job.lease_owner) == ("done", 3, 2, 100, None)


def test_progress_fragment_polls_while_running_and_stops_when_done(login_as, make_lead, make_rule, monkeypatch):
    admin, client = login_as("admin", htmx=True)
    for _ in range(5):
        make_lead(admin, title="Director")
    make_rule(field="title", operator="is_set", points=5)
    job = jobs.queue_rescore_all(admin)
    db.session.commit()
    monkeypatch.setattr(jobs, "BATCH_LEADS", 2)
    jobs.run_job(job.id, max_batches=1)  # a bounded run, as the sweep does it
    fragment = client.get(f"/settings/scoring/jobs/{job.id}").get_data(as_text=True)
    assert 'hx-trigger="every 1s"' in fragment and "2 of 5 leads" in fragment and 'value="40"' in fragment
    assert run_due_jobs(utcnow()) == 1
    fragment = client.get(f"/settings/scoring/jobs/{job.id}").get_data(as_text=True)
    assert "every 1s" not in fragment and "Last rescore" in fragment


def test_a_job_held_by_another_worker_is_not_run_twice(make_user, make_lead, make_rule):
    admin = make_user(role="admin")
    make_lead(admin)
    make_rule(field="title", operator="is_set", points=5)
    job = jobs.queue_rescore_all(admin)
    db.session.commit()
    claim_due(RescoreJob, due=RescoreJob.id == job.id, lease_column=RescoreJob.lease_until, now=utcnow(),
              lease_seconds=120, limit=1, values={"lease_owner": "other"})
    beat(utcnow(), "other")  # alive: its job is not taken over
    db.session.commit()
    assert jobs.run_job(job.id) is False
    assert run_due_jobs(utcnow()) == 0


def test_daily_rescore_is_queued_once_a_day_only_when_time_matters(make_user, make_rule):
    now = utcnow()
    make_rule(field="title", operator="is_set", points=5)
    db.session.commit()
    assert jobs.queue_daily_rescore(now) == 0  # nothing changes with time alone
    make_rule(category="inactivity", days=30, points=-10, field=None, operator=None)
    db.session.commit()
    assert jobs.queue_daily_rescore(now) == 1
    assert jobs.queue_daily_rescore(now) == 0
    assert db.session.scalar(select(RescoreJob)).reason == "daily"


def test_lead_page_shows_the_breakdown(login_as, make_lead, make_rule):
    admin, client = login_as("admin")
    make_rule(name="Decision maker", field="title", operator="contains", value="director", points=25)
    lead = make_lead(admin, title="Director <b>Ops</b>")
    db.session.commit()
    page = client.get(f"/leads/{lead.id}").get_data(as_text=True)
    assert 'id="score-breakdown"' in page
    assert "Decision maker" in page and "+25" in page
    assert "Job title: Director &lt;b&gt;Ops&lt;/b&gt;" in page


def test_lead_page_without_points_says_so(login_as, make_lead):
    admin, client = login_as("admin")
    lead = make_lead(admin)
    db.session.commit()
    page = client.get(f"/leads/{lead.id}").get_data(as_text=True)
    assert "No scoring rule gives this lead points yet." in page


def _close(lead, kind):
    stage = db.session.scalar(select(Stage).where(Stage.pipeline_id == lead.pipeline_id, Stage.kind == kind))
    lead.stage_id = stage.id
    db.session.flush()


def test_calibration_shows_won_rate_by_score_band(login_as, make_lead, make_user):
    admin = make_user(role="admin")
    for score, kind in [(5, "won"), (10, "lost"), (15, "lost"), (45, "won"), (50, "won"), (55, "lost"), (130, "won")]:
        lead = make_lead(admin)
        lead.score = score
        _close(lead, kind)
    make_lead(admin).score = 90  # still open: not counted
    db.session.commit()
    _, client = login_as("manager")
    response = client.get("/reports/scoring")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert "7 closed leads, 57% won overall." in page
    bands = {b["label"]: (b["closed"], b["won"], b["rate"]) for b in calibration_context()["bands"]}
    assert bands["0–19"] == (3, 1, 33)
    assert bands["40–59"] == (3, 2, 67)
    assert bands["80–99"] == (0, 0, None)
    assert bands["100+"] == (1, 1, 100)


def test_calibration_empty_state_says_what_to_do(login_as):
    _, client = login_as("admin")
    page = client.get("/reports/scoring").get_data(as_text=True)
    assert "No closed leads yet." in page and "Add scoring rules first" in page


@pytest.mark.parametrize("role", ["rep", "viewer"])
def test_reps_and_viewers_cannot_see_calibration(login_as, role):
    _, client = login_as(role)
    assert client.get("/reports/scoring").status_code == 403


@pytest.mark.parametrize("role", ["admin", "manager", "rep", "viewer"])
def test_every_scoring_page_renders_or_refuses_by_role(login_as, make_rule, role):
    user, client = login_as(role)
    rule = make_rule()
    job = RescoreJob(reason="rules", status="done", total=0)
    db.session.add(job)
    db.session.commit()
    pages = {"/settings/scoring": {"admin"}, "/settings/scoring/rules/new": {"admin"},
             f"/settings/scoring/rules/{rule.id}": {"admin"}, f"/settings/scoring/jobs/{job.id}": {"admin"},
             "/reports/scoring": {"admin", "manager"}}
    for url, roles in pages.items():
        for headers in ({}, {"HX-Request": "true"}):
            assert client.get(url, headers=headers).status_code == (200 if role in roles else 403), url


def _rule_names_in_order(client) -> list[str]:
    """The rules' names as the list shows them, top to bottom."""
    page = client.get("/settings/scoring").get_data(as_text=True)
    ids = [int(i) for i in re.findall(r'<tr id="rule-(\d+)">', page)]
    return [db.session.get(ScoringRule, i).name for i in ids]


def test_admin_moves_rules_up_and_down_and_is_told_at_either_end(login_as, make_rule):
    _, client = login_as("admin")
    title, value, country = (make_rule(name=name) for name in ("Title", "Deal value", "Country"))
    db.session.commit()

    response = client.post(f"/settings/scoring/rules/{country.id}/move", data={"direction": "up"})
    assert response.status_code in (302, 303)
    assert _rule_names_in_order(client) == ["Title", "Country", "Deal value"]
    client.post(f"/settings/scoring/rules/{title.id}/move", data={"direction": "down"})
    page = client.get("/settings/scoring").get_data(as_text=True)
    assert "Rule “Title” moved down." in page
    assert _rule_names_in_order(client) == ["Country", "Title", "Deal value"]

    client.post(f"/settings/scoring/rules/{country.id}/move", data={"direction": "up"})
    assert "Rule “Country” is already first." in client.get("/settings/scoring").get_data(as_text=True)
    client.post(f"/settings/scoring/rules/{value.id}/move", data={"direction": "sideways"})
    assert "Choose up or down." in client.get("/settings/scoring").get_data(as_text=True)
    assert _rule_names_in_order(client) == ["Country", "Title", "Deal value"]
    assert client.post("/settings/scoring/rules/99999/move", data={"direction": "up"}).status_code == 404


def test_move_buttons_post_with_csrf(login_as, make_rule, client):
    make_rule(name="First")
    second = make_rule(name="Second")
    db.session.commit()
    _, admin_client = login_as("admin")
    page = admin_client.get("/settings/scoring").get_data(as_text=True)
    assert 'aria-label="Move down: rule First"' in page and 'aria-label="Move up: rule Second"' in page
    assert client.post(f"/settings/scoring/rules/{second.id}/move", data={"direction": "up"}).status_code == 400
    assert _rule_names_in_order(admin_client) == ["First", "Second"]


def test_managers_cannot_reorder_scoring_rules(login_as, make_rule):
    make_rule(name="First")
    second = make_rule(name="Second")
    db.session.commit()
    _, client = login_as("manager")
    assert client.post(f"/settings/scoring/rules/{second.id}/move", data={"direction": "up"}).status_code == 403
    db.session.expire_all()
    assert [r.name for r in db.session.scalars(select(ScoringRule).order_by(ScoringRule.position))] == ["First", "Second"]


def test_stale_scores_notice_shows_after_each_change_until_a_rescore(login_as, make_lead):
    admin, client = login_as("admin")
    make_lead(admin, title="Director")
    db.session.commit()
    assert STALE_NOTICE not in client.get("/settings/scoring").get_data(as_text=True)

    client.post("/settings/scoring/rules/new", data=FIT_RULE)
    page = client.get("/settings/scoring").get_data(as_text=True)
    assert STALE_NOTICE in page and "Rescore all leads" in page

    client.post("/settings/scoring/rescore")
    assert STALE_NOTICE not in client.get("/settings/scoring").get_data(as_text=True)

    client.post("/settings/scoring/thresholds", data={"warm_at": "10", "hot_at": "50", "mql_at": "40", "sql_at": "70",
                                                      "half_life_days": "0"})
    assert STALE_NOTICE in client.get("/settings/scoring").get_data(as_text=True)
    client.post("/settings/scoring/rescore")
    rule = db.session.scalar(select(ScoringRule))
    client.post(f"/settings/scoring/rules/{rule.id}/active", data={"active": "0"})
    client.post("/settings/scoring/rules/new", data={**FIT_RULE, "name": "Other"})
    assert STALE_NOTICE in client.get("/settings/scoring").get_data(as_text=True)


def test_saving_a_rule_unchanged_or_moving_it_leaves_scores_current(login_as, make_rule):
    _, client = login_as("admin")
    client.post("/settings/scoring/rules/new", data=FIT_RULE)
    make_rule(name="Second")
    db.session.commit()
    client.post("/settings/scoring/rescore")
    rule = db.session.scalar(select(ScoringRule).where(ScoringRule.name == FIT_RULE["name"]))
    client.post(f"/settings/scoring/rules/{rule.id}", data=FIT_RULE)
    client.post(f"/settings/scoring/rules/{rule.id}/move", data={"direction": "down"})
    assert STALE_NOTICE not in client.get("/settings/scoring").get_data(as_text=True)


def test_a_failed_rescore_leaves_the_notice_up(login_as, monkeypatch):
    _, client = login_as("admin")
    client.post("/settings/scoring/rules/new", data=FIT_RULE)

    def broken(*args, **kwargs):
        raise RuntimeError("boom")
    monkeypatch.setattr(jobs.services, "leads_for_rescoring", broken)
    client.post("/settings/scoring/rescore")
    page = client.get("/settings/scoring").get_data(as_text=True)
    assert "Rescoring stopped because of an unexpected error" in page
    assert STALE_NOTICE in page
