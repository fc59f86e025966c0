"""The rule editor picks owners and stages from labelled lists instead of typed ids."""

from __future__ import annotations

import re

import pytest

from leadflow.extensions import db
from leadflow.pipeline.services import create_pipeline, ensure_default_pipeline
from leadflow.workflows.models import WorkflowRule
from leadflow.workflows.services import run_rule


def stage(pipeline, name):
    return next(s for s in pipeline.stages if s.name == name)


def form(**overrides):
    data = {"name": "Route qualified", "active": "y", "trigger": "lead_created",
            "condition_field": ["owner", "stage"], "condition_operator": ["is", "is"],
            "condition_value": ["", ""], "condition_owner": ["", ""], "condition_stage": ["", ""],
            "action_type": ["assign"], "action_user_id": [""]}
    data.update(overrides)
    return data


def select(page: str, select_id: str) -> str:
    match = re.search(rf'<select id="{select_id}"[^>]*>(.*?)</select>', page, re.S)
    assert match, f"no select {select_id}"
    return match.group(1)


@pytest.fixture
def setup(app, make_user):
    sales = ensure_default_pipeline()
    admin = make_user("admin", name="Ada Admin")
    partners = create_pipeline(admin, "Partnerships")
    sam = make_user("rep", name="Sam Seller")
    make_user("rep", name="Gone Rep", active=False)
    make_user("viewer", name="Vic Viewer")
    db.session.commit()
    return {"sales": sales, "partners": partners, "sam": sam}


def test_editor_lists_owners_by_name_and_stages_grouped_by_pipeline(login_as, setup):
    _, client = login_as("admin")
    page = client.post("/settings/workflows/new", data={**form(), "add_condition": "1"}).get_data(as_text=True)
    owners = select(page, "condition_owner_0")
    assert re.search(r'<option value="none"\s*>Unassigned</option>', owners)
    assert f'value="{setup["sam"].id}"' in owners and "Sam Seller" in owners
    assert "Gone Rep" not in owners and "Vic Viewer" not in owners
    stages = select(page, "condition_stage_0")
    assert '<optgroup label="Sales">' in stages and '<optgroup label="Partnerships">' in stages
    partners_group = stages.split('<optgroup label="Partnerships">')[1]
    assert f'value="{stage(setup["partners"], "Qualified").id}"' in partners_group
    for select_id in ("to_stage_id", "action_stage_id_0"):
        assert '<optgroup label="Partnerships">' in select(page, select_id)
    assert 'for="condition_owner_0"' in page and 'for="condition_stage_0"' in page


def test_a_rule_with_picked_owner_and_stage_round_trips(login_as, setup):
    _, client = login_as("admin")
    sam, qualified = setup["sam"], stage(setup["partners"], "Qualified")
    response = client.post("/settings/workflows/new", data=form(
        condition_owner=[str(sam.id), ""], condition_stage=["", str(qualified.id)],
        condition_value=["typed text is ignored", ""],
        action_type=["assign", "move_stage", "create_task"], action_user_id=[str(sam.id), "", ""],
        action_stage_id=["", str(qualified.id), ""], action_title=["", "", "Call them"],
        action_kind=["", "", "call"], action_due_hours=["", "", "4"], action_assignee=["", "", str(sam.id)]))
    assert response.status_code == 303
    rule = db.session.scalar(db.select(WorkflowRule))
    assert rule.conditions == [{"field": "owner", "operator": "is", "value": str(sam.id)},
                               {"field": "stage", "operator": "is", "value": str(qualified.id)}]
    assert rule.actions[1] == {"type": "move_stage", "stage_id": qualified.id}
    assert rule.actions[2]["assignee"] == str(sam.id)
    page = client.get(f"/settings/workflows/{rule.id}").get_data(as_text=True)
    assert f'<option value="{sam.id}" selected>Sam Seller</option>' in select(page, "condition_owner_0")
    assert f'<option value="{qualified.id}" selected>Qualified</option>' in select(page, "condition_stage_1")
    assert f'<option value="{sam.id}" selected>Sam Seller</option>' in select(page, "action_user_id_0")
    assert f'<option value="{qualified.id}" selected>Qualified</option>' in select(page, "action_stage_id_1")
    assert f'<option value="{sam.id}" selected>Sam Seller</option>' in select(page, "action_assignee_2")
    # Saving the page unchanged keeps the rule as it was.
    again = client.post(f"/settings/workflows/{rule.id}", data=form(
        condition_owner=[str(sam.id), ""], condition_stage=["", str(qualified.id)],
        action_type=["assign"], action_user_id=[str(sam.id)]))
    assert again.status_code == 303
    db.session.refresh(rule)
    assert rule.conditions[0]["value"] == str(sam.id)


def test_unassigned_owner_condition_matches_leads_without_owner(login_as, setup, make_lead):
    _, client = login_as("admin")
    client.post("/settings/workflows/new", data=form(
        condition_field=["owner"], condition_operator=["is"], condition_value=[""], condition_owner=["none"],
        condition_stage=[""], action_type=["add_tag"], action_tag=["orphan"]))
    rule = db.session.scalar(db.select(WorkflowRule))
    assert rule.conditions == [{"field": "owner", "operator": "is_empty", "value": ""}]
    orphan, owned = make_lead(), make_lead(owner_id=setup["sam"].id)
    assert run_rule(rule, orphan, {"trigger": "lead_created"}).outcome == "done"
    assert run_rule(rule, owned, {"trigger": "lead_created"}).outcome == "skipped"


@pytest.mark.parametrize("overrides, message", [
    ({"condition_owner": ["999999", ""], "condition_stage": ["", "1"]}, "Condition 1: that owner is not an active user"),
    ({"condition_owner": ["", ""], "condition_stage": ["", "999999"]}, "Condition 1: choose the owner from the list."),
    ({"condition_field": ["stage"], "condition_operator": ["is"], "condition_stage": ["999999"],
      "condition_owner": [""], "condition_value": [""]}, "Condition 1: that stage does not exist"),
    ({"condition_field": ["stage"], "condition_operator": ["contains"], "condition_stage": ["1"],
      "condition_owner": [""], "condition_value": [""]}, "stage can only be compared with"),
    ({"action_user_id": ["999999"]}, "Choose an active user who can own leads from the list."),
    ({"action_user_id": ["99999999999999999999"]}, "Choose the user to assign to."),
    ({"action_type": ["move_stage"], "action_stage_id": ["999999"]}, "Choose a stage from the list."),
    ({"action_type": ["create_task"], "action_title": ["Call"], "action_kind": ["call"], "action_due_hours": ["1"],
      "action_assignee": ["999999"]}, "Choose an active user from the list to get the task."),
    ({"trigger": "stage_changed", "to_stage_id": "999999"}, "Choose a stage from the list."),
])
def test_unknown_ids_are_refused_with_422(login_as, setup, overrides, message):
    _, client = login_as("admin")
    base = form(condition_field=["owner", "stage"], condition_owner=[str(setup["sam"].id), ""],
                condition_stage=["", str(stage(setup["sales"], "New").id)], action_user_id=[str(setup["sam"].id)])
    response = client.post("/settings/workflows/new", data={**base, **overrides})
    assert response.status_code == 422
    assert message in response.get_data(as_text=True)
    assert db.session.scalar(db.select(WorkflowRule)) is None


def test_an_inactive_user_cannot_be_picked_as_owner(login_as, setup):
    _, client = login_as("admin")
    gone = db.session.scalar(db.select(type(setup["sam"])).where(type(setup["sam"]).name == "Gone Rep"))
    response = client.post("/settings/workflows/new", data=form(
        condition_field=["owner"], condition_operator=["is_not"], condition_value=[""],
        condition_owner=[str(gone.id)], condition_stage=[""], action_user_id=[str(setup["sam"].id)]))
    assert response.status_code == 422
    assert "that owner is not an active user who can own leads" in response.get_data(as_text=True)
