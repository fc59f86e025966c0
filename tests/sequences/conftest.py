from __future__ import annotations

import pytest

from leadflow.accounts.system import SYSTEM
from leadflow.extensions import db
from leadflow.sequences import services


@pytest.fixture
def make_template(app, make_user):
    def _make(**fields):
        data = {"name": "Welcome", "subject": "Hello {{ first_name }}",
                "body": "Hi {{ first_name }},\n\nSee https://example.com/guide?a=1&b=2\n\n{{ owner_signature }}"}
        data.update(fields)
        return services.create_template(make_user(role="manager"), data)

    return _make


@pytest.fixture
def make_sequence(app, make_user, make_template):
    """``make_sequence([("send", template), ("wait", 2, "days"), ("task", "Call")], **flags)``."""

    def _make(steps=None, **fields):
        manager = make_user(role="manager")
        data = {"name": "Nurture", "active": "y", "exit_on_reply": "y", "exit_on_won_lost": "y"}
        data.update(fields)
        sequence = services.create_sequence(manager, data)
        for step in steps if steps is not None else [("send", make_template())]:
            if step[0] == "send":
                services.add_step(manager, sequence, {"kind": "send", "template_id": step[1].id})
            elif step[0] == "wait":
                services.add_step(manager, sequence, {"kind": "wait", "wait_amount": step[1], "wait_unit": step[2]})
            else:
                services.add_step(manager, sequence, {"kind": "task", "task_title": step[1]})
        db.session.flush()
        return sequence

    return _make


@pytest.fixture
def consenting_lead(app, make_lead, make_user):
    def _make(**fields):
        lead = make_lead(**fields)
        lead.marketing_consent = True
        db.session.flush()
        return lead

    return _make


@pytest.fixture
def enrol(app):
    def _enrol(lead, sequence, now=None):
        return services.enroll(lead, sequence, SYSTEM, now=now)

    return _enrol
