"""Concurrent API submissions for the same lead all land: a submission that lost the race for
the lead's row (its version moved on under it) runs again on the fresh row instead of failing.
When the races never stop it answers 409 with a JSON body and saves nothing: never a 500."""

from __future__ import annotations

import pytest

from sqlalchemy.orm.exc import StaleDataError

from leadflow.activities.models import Activity
from leadflow.api import services
from leadflow.extensions import db
from leadflow.leads.models import Lead
from leadflow.organizations.models import Organization

from tests.concurrency import run_together

# Requests in threads, each on its own connection.
pytestmark = pytest.mark.real_commits

THREADS = 20
STALE = "UPDATE statement on table 'leads' expected to update 1 row(s); 0 were matched."


def _fresh(lead_id: int) -> Lead:
    db.session.expire_all()
    return db.session.get(Lead, lead_id)


def _submissions(lead_id: int) -> int:
    return db.session.scalar(db.select(db.func.count(Activity.id)).where(
        Activity.lead_id == lead_id, Activity.subject == "Lead received through the API"))


def test_twenty_concurrent_upserts_of_one_lead_each_keep_their_tag(app, api, make_lead):
    lead = make_lead(first_name="Ada", email="ada@example.com", owner_id=api.user.id)
    db.session.commit()
    client = app.test_client()

    def upsert(i):
        response = client.post("/api/v1/leads", headers=api.headers(), json={
            "first_name": "Ada", "email": "ada@example.com", "tags": [f"campaign-{i}"],
            "organization": "Analytical Engines"})
        return response.status_code, response.get_json()

    answers = run_together(app, THREADS, upsert)
    assert [status for status, _ in answers] == [200] * THREADS, [a for a in answers if a[0] != 200][:3]
    assert {body["id"] for _, body in answers} == {lead.id}
    fresh = _fresh(lead.id)
    assert sorted(t.name for t in fresh.tags) == sorted(f"campaign-{i}" for i in range(THREADS))
    assert _submissions(lead.id) == THREADS, "every submission is on the lead's timeline"
    assert fresh.organization.name == "Analytical Engines"
    assert db.session.scalar(db.select(db.func.count(Organization.id))) == 1
    assert db.session.scalar(db.select(db.func.count(Lead.id))) == 1


def test_a_submission_that_lost_the_race_for_the_row_runs_again_and_is_applied(app, api, make_lead, monkeypatch):
    lead = make_lead(first_name="Ada", email="ada@example.com", owner_id=api.user.id)
    db.session.commit()
    real_intake_one, calls = services.intake_one, []

    def intake_one(token, payload):
        calls.append(payload)
        result = real_intake_one(token, payload)
        if len(calls) == 1:
            raise StaleDataError(STALE)  # as the flush does when another request changed the lead first
        return result

    monkeypatch.setattr(services, "intake_one", intake_one)
    response = api.post("/api/v1/leads", json={"first_name": "Ada", "email": "ada@example.com", "title": "CTO"})
    assert response.status_code == 200, response.get_json()
    assert len(calls) == 2
    assert _fresh(lead.id).title == "CTO" and _submissions(lead.id) == 1


def test_races_that_never_stop_answer_409_in_json_and_save_nothing(make_app, api, make_lead, monkeypatch):
    lead = make_lead(first_name="Ada", email="ada@example.com", owner_id=api.user.id)
    db.session.commit()
    other = make_app(DB_BUSY_RETRY_ATTEMPTS=3)
    real_intake_one, calls = services.intake_one, []

    def intake_one(token, payload):
        calls.append(payload)
        real_intake_one(token, payload)
        raise StaleDataError(STALE)

    monkeypatch.setattr(services, "intake_one", intake_one)
    response = other.test_client().post("/api/v1/leads", headers=api.headers(), json={
        "first_name": "Ada", "email": "ada@example.com", "title": "CTO"})
    assert response.status_code == 409
    assert response.get_json()["message"].startswith("Someone else changed this at the same moment")
    assert len(calls) == 3
    assert _fresh(lead.id).title is None and _submissions(lead.id) == 0


def test_an_upsert_that_would_give_a_lead_too_many_tags_is_refused_with_422(api, make_lead):
    lead = make_lead(first_name="Ada", email="ada@example.com", owner_id=api.user.id,
                     tags=[f"tag-{i}" for i in range(20)])
    db.session.commit()
    response = api.post("/api/v1/leads", json={"first_name": "Ada", "email": "ada@example.com", "tags": ["one more"]})
    assert response.status_code == 422
    assert response.get_json()["errors"] == {"tags": ["A lead can have at most 20 tags."]}
    assert len(_fresh(lead.id).tags) == 20
