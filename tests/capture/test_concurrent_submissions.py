"""Concurrent form submissions for a lead that already exists all land on it: one that lost the
race for the lead's row runs again on the fresh row. When the races never stop, the visitor is
told with a 409 that nothing was saved: never a 500."""

from __future__ import annotations

import pytest

from sqlalchemy.orm.exc import StaleDataError

from leadflow.activities.models import Activity
from leadflow.capture import services
from leadflow.extensions import db
from leadflow.leads.models import Lead

from tests.concurrency import run_together

# Submissions in threads, each on its own connection.
pytestmark = pytest.mark.real_commits

THREADS = 20


def _submissions(lead_id: int) -> list[Activity]:
    db.session.expire_all()
    return list(db.session.scalars(db.select(Activity).where(
        Activity.lead_id == lead_id, Activity.kind == "form_submission")))


def test_twenty_concurrent_submissions_for_an_existing_lead_all_land(app, capture_form, make_lead):
    lead = make_lead(first_name="Ada", email="ada@example.com")
    db.session.commit()
    client = app.test_client()

    def submit(i):
        token = client.get("/f/contact-us/token").get_json()["token"]
        response = client.post("/f/contact-us", json={
            "first_name": "Ada", "email": "ada@example.com", "message": f"message {i}", "form_token": token})
        return response.status_code

    assert run_together(app, THREADS, submit) == [200] * THREADS
    messages = sorted(a.details["values"]["custom_fields"]["message"] for a in _submissions(lead.id))
    assert messages == sorted(f"message {i}" for i in range(THREADS)), "every submission is on the timeline"
    assert db.session.scalar(db.select(db.func.count(Lead.id))) == 1


def test_races_that_never_stop_tell_the_visitor_nothing_was_saved(app, capture_form, make_lead, monkeypatch):
    lead = make_lead(first_name="Ada", email="ada@example.com")
    db.session.commit()
    app.config.update(DB_BUSY_RETRY_ATTEMPTS=2)
    client = app.test_client()
    real_submit = services.submit

    def stale(submission):
        real_submit(submission)
        raise StaleDataError("UPDATE statement on table 'leads' expected to update 1 row(s); 0 were matched.")

    monkeypatch.setattr(services, "submit", stale)
    token = client.get("/f/contact-us/token").get_json()["token"]
    response = client.post("/f/contact-us", json={"first_name": "Ada", "email": "ada@example.com", "form_token": token})
    assert response.status_code == 409 and response.get_json()["ok"] is False
    assert "nothing was saved" in response.get_json()["message"]
    page = client.post("/f/contact-us", data={"first_name": "Ada", "email": "ada@example.com", "form_token": token})
    assert page.status_code == 409 and "nothing was saved" in page.get_data(as_text=True)
    assert _submissions(lead.id) == []
