"""The rule editor: admins only, a usable form, 422 with messages on bad input, the run log."""

from __future__ import annotations

import pytest

from leadflow.extensions import db
from leadflow.workflows import webhooks
from leadflow.workflows.models import WorkflowRule, WorkflowRun


@pytest.fixture(autouse=True)
def public_dns(monkeypatch):
    monkeypatch.setattr(webhooks, "resolve",
                        lambda host, port: ["10.0.0.5"] if host == "internal.example.com" else ["93.184.216.34"])


def rule_form(**overrides):
    data = {"name": "Hot leads to Sam", "active": "y", "trigger": "field_changed", "field": "temperature",
            "condition_field": ["temperature"], "condition_operator": ["is"], "condition_value": ["hot"],
            "action_type": ["add_tag", "call_webhook"], "action_tag": ["hot", ""],
            "action_url": ["", "https://hooks.example.com/lead"]}
    data.update(overrides)
    return data


@pytest.mark.parametrize("role", ["manager", "rep", "viewer"])
def test_only_admins_reach_workflow_settings(login_as, role):
    _, client = login_as(role)
    assert client.get("/settings/workflows").status_code == 403
    assert client.post("/settings/workflows/new", data=rule_form()).status_code == 403
    assert db.session.scalar(db.select(db.func.count()).select_from(WorkflowRule)) == 0


def test_empty_state_says_what_to_do(login_as):
    _, client = login_as("admin")
    page = client.get("/settings/workflows").get_data(as_text=True)
    assert "No workflow rules yet" in page and "Create your first rule" in page


def test_admin_creates_rule_with_conditions_and_actions(login_as):
    _, client = login_as("admin")
    response = client.post("/settings/workflows/new", data=rule_form(), follow_redirects=True)
    assert response.status_code == 200
    assert "Rule “Hot leads to Sam” created." in response.get_data(as_text=True)
    rule = db.session.scalar(db.select(WorkflowRule))
    assert rule.trigger_config == {"field": "temperature"}
    assert rule.conditions == [{"field": "temperature", "operator": "is", "value": "hot"}]
    assert rule.actions == [{"type": "add_tag", "tag": "hot"},
                            {"type": "call_webhook", "url": "https://hooks.example.com/lead"}]
    assert len(rule.secret) == 64


@pytest.mark.parametrize("overrides, message", [
    ({"name": ""}, "Give the rule a name."),
    ({"trigger": "sometimes"}, "Choose what starts the rule."),
    ({"trigger": "score_crossed", "threshold": "lots"}, "score threshold as a whole number"),
    ({"action_type": [], "action_tag": [], "action_url": []}, "Add at least one action."),
    ({"action_url": ["", "https://internal.example.com/x"]}, "private or local network"),
    ({"action_url": ["", "http://169.254.169.254/latest"]}, "private or local network"),
    ({"condition_value": ["abc"], "condition_field": ["score"], "condition_operator": ["at_least"]}, "enter a number"),
])
def test_bad_input_is_refused_with_a_message(login_as, overrides, message):
    _, client = login_as("admin")
    response = client.post("/settings/workflows/new", data=rule_form(**overrides))
    assert response.status_code == 422
    assert message in response.get_data(as_text=True)
    assert db.session.scalar(db.select(db.func.count()).select_from(WorkflowRule)) == 0


def test_add_and_remove_rows_without_saving(login_as):
    _, client = login_as("admin")
    page = client.post("/settings/workflows/new", data=rule_form(add_action="1")).get_data(as_text=True)
    assert 'for="action_type_2"' in page and db.session.scalar(db.select(WorkflowRule)) is None
    client.post("/settings/workflows/new", data=rule_form(action_remove=["1"]))
    assert db.session.scalar(db.select(WorkflowRule)).actions == [{"type": "add_tag", "tag": "hot"}]


def test_pause_and_resume(login_as):
    _, client = login_as("admin")
    client.post("/settings/workflows/new", data=rule_form())
    rule = db.session.scalar(db.select(WorkflowRule))
    page = client.post(f"/settings/workflows/{rule.id}/active", data={"active": "0"}, follow_redirects=True)
    assert "paused" in page.get_data(as_text=True)
    db.session.refresh(rule)
    assert rule.active is False
    client.post(f"/settings/workflows/{rule.id}/active", data={"active": "1"})
    db.session.refresh(rule)
    assert rule.active is True


def test_edit_page_shows_saved_values_and_secret(login_as):
    _, client = login_as("admin")
    client.post("/settings/workflows/new", data=rule_form())
    rule = db.session.scalar(db.select(WorkflowRule))
    page = client.get(f"/settings/workflows/{rule.id}").get_data(as_text=True)
    assert 'value="https://hooks.example.com/lead"' in page and rule.secret in page


def test_run_log_is_paged_newest_first(login_as, make_lead):
    _, client = login_as("admin")
    client.post("/settings/workflows/new", data=rule_form())
    rule = db.session.scalar(db.select(WorkflowRule))
    lead = make_lead()
    for n in range(30):
        db.session.add(WorkflowRun(rule_id=rule.id, lead_id=lead.id, trigger="field_changed",
                                   outcome="failed" if n == 29 else "done", error="Boom <b>" if n == 29 else None))
    db.session.commit()
    first = client.get(f"/settings/workflows/{rule.id}/runs").get_data(as_text=True)
    assert "Boom &lt;b&gt;" in first and "Page 1 · 30 runs" in first and "Older" in first
    second = client.get(f"/settings/workflows/{rule.id}/runs?page=2").get_data(as_text=True)
    assert "Boom" not in second and second.count("<tr>") == 5 + 1


def test_run_log_empty_state(login_as):
    _, client = login_as("admin")
    client.post("/settings/workflows/new", data=rule_form())
    rule = db.session.scalar(db.select(WorkflowRule))
    assert "This rule has not run yet" in client.get(f"/settings/workflows/{rule.id}/runs").get_data(as_text=True)


def test_run_log_pages_swap_in_place_with_htmx(login_as, make_lead):
    _, htmx = login_as("admin", htmx=True)
    assert htmx.post("/settings/workflows/new", data=rule_form()).headers["HX-Redirect"].startswith("/settings/workflows/")
    rule = db.session.scalar(db.select(WorkflowRule))
    db.session.add(WorkflowRun(rule_id=rule.id, lead_id=make_lead().id, trigger="field_changed", outcome="done"))
    db.session.commit()
    response = htmx.get(f"/settings/workflows/{rule.id}/runs")
    body = response.get_data(as_text=True)
    assert body.lstrip().startswith('<section id="runs"') and "<html" not in body
    assert "HX-Request" in response.headers["Vary"]


def test_the_editor_offers_active_sequences_and_saves_an_enrol_action(login_as, make_user):
    from leadflow.sequences.services import create_sequence

    _, client = login_as("admin")
    manager = make_user(role="manager")
    live = create_sequence(manager, {"name": "Trial nurture", "active": "y"})
    paused = create_sequence(manager, {"name": "Old drip", "active": ""})
    db.session.commit()
    page = client.get("/settings/workflows/new").get_data(as_text=True)
    assert 'for="action_sequence_id_0"' in page and "Trial nurture" in page and "Old drip" not in page
    refused = client.post("/settings/workflows/new", data=rule_form(action_type=["enrol_sequence"],
                                                                  action_sequence_id=[str(paused.id)]))
    assert refused.status_code == 422 and "Choose an active sequence from the list." in refused.get_data(as_text=True)
    assert db.session.scalar(db.select(WorkflowRule)) is None
    client.post("/settings/workflows/new", data=rule_form(action_type=["enrol_sequence"],
                                                        action_sequence_id=[str(live.id)]))
    rule = db.session.scalar(db.select(WorkflowRule))
    assert rule.actions == [{"type": "enrol_sequence", "sequence_id": live.id}]
    edit = client.get(f"/settings/workflows/{rule.id}").get_data(as_text=True)
    assert f'<option value="{live.id}" selected>Trial nurture</option>' in edit


def test_the_editor_says_what_to_do_without_active_sequences(login_as):
    _, client = login_as("admin")
    page = client.get("/settings/workflows/new").get_data(as_text=True)
    assert "No active sequences yet: create or turn one on under Sequences" in page
