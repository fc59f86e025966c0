"""Event handlers run in savepoints: a handler's own failure costs nothing but its own work,
a conflict is the whole change's (409, or the request runs again), and neither leaves the
request's transaction unusable."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm.exc import StaleDataError

from leadflow.extensions import db
from leadflow.leads import events
from leadflow.leads.models import Lead


@pytest.fixture
def on_lead_changed():
    """``on_lead_changed(handler)`` connects ``handler`` to leads.changed for this test."""
    added = []

    def _add(handler):
        events.bus.on(events.CHANGED, handler)
        added.append(handler)

    yield _add
    for handler in added:
        events.bus.off(events.CHANGED, handler)


def _title(lead_id):
    db.session.expire_all()
    return db.session.get(Lead, lead_id).title


def _edit_title(login_as, make_lead, name: str):
    """A manager changes the job title of a lead from "Before" to "After": (response, lead id)."""
    lead = make_lead(first_name=name, title="Before")
    db.session.commit()
    _, client = login_as("manager", htmx=True)
    return client.post(f"/leads/{lead.id}/fields/title", data={"value": "After", "version": lead.version}), lead.id


def test_a_handler_whose_sql_fails_costs_only_its_own_work(login_as, make_lead, on_lead_changed):
    def broken_sql(ids, actor, **data):
        db.session.execute(text("INSERT INTO no_such_table VALUES (1)"))

    on_lead_changed(broken_sql)
    response, lead_id = _edit_title(login_as, make_lead, "Kept")
    assert response.status_code == 200 and "Saved." in response.text
    assert _title(lead_id) == "After"


def test_a_conflict_met_by_a_handler_is_a_409_and_saves_nothing(login_as, make_lead, on_lead_changed):
    def meets_a_conflict(ids, actor, **data):
        raise StaleDataError("UPDATE statement on table 'tasks' expected to update 1 row(s); 0 were matched.")

    on_lead_changed(meets_a_conflict)
    response, lead_id = _edit_title(login_as, make_lead, "Raced")
    assert response.status_code == 409 and "Someone else changed this lead" in response.text
    assert _title(lead_id) == "Before"


def test_a_handler_that_meets_a_locked_database_runs_the_request_again_once(login_as, make_lead, on_lead_changed):
    calls = []

    def locked_once(ids, actor, **data):
        calls.append(1)
        if len(calls) == 1:
            raise OperationalError("UPDATE", {}, Exception("database is locked"))

    on_lead_changed(locked_once)
    response, lead_id = _edit_title(login_as, make_lead, "Busy")
    assert response.status_code == 200 and len(calls) == 2
    assert _title(lead_id) == "After"
