"""Settings → Lead routing, the user routing limits, and bulk reassign on the lead list."""

from __future__ import annotations

import pytest

from leadflow.accounts.models import User
from leadflow.activities.models import Activity
from leadflow.extensions import db
from leadflow.governance.models import AuditEntry
from leadflow.leads.models import Lead
from leadflow.routing.models import RoutingRule


@pytest.mark.parametrize("role", ["manager", "rep", "viewer"])
def test_only_admins_reach_routing_settings(login_as, role):
    _, client = login_as(role)
    assert client.get("/settings/routing").status_code == 403
    assert client.post("/settings/routing/new", data={"name": "x"}).status_code == 403


def test_empty_routing_page_says_what_to_do(login_as):
    _, client = login_as("admin")
    page = client.get("/settings/routing")
    assert page.status_code == 200
    assert "No routing rules yet" in page.text and "Add a rule" in page.text


def test_admin_adds_edits_pauses_moves_and_deletes_rules(login_as, make_user, make_team):
    _, client = login_as("admin")
    rep = make_user("rep", name="Ana Rep")
    team, _ = make_team("DACH", 2)
    db.session.commit()
    response = client.post("/settings/routing/new", data={
        "name": "EU inbound", "active": "y", "countries": "de, at", "sources": ["website"],
        "target_kind": "user", "target_user_id": str(rep.id), "strategy": "round_robin"})
    assert response.status_code == 303
    rule = db.session.scalar(db.select(RoutingRule))
    assert rule.conditions == {"countries": ["DE", "AT"], "sources": ["website"]} and rule.target_user_id == rep.id
    client.post("/settings/routing/new", data={"name": "Team", "active": "y", "target_kind": "team",
                                               "target_team_id": str(team.id), "strategy": "least_open"})
    page = client.get("/settings/routing").text
    assert "EU inbound" in page and "fewest open leads" in page and "Routing rule Team saved." in page
    second = db.session.scalar(db.select(RoutingRule).where(RoutingRule.name == "Team"))
    assert client.post(f"/settings/routing/{second.id}/move", data={"direction": "up"}).status_code == 303
    db.session.expire_all()
    assert [r.name for r in db.session.scalars(db.select(RoutingRule).order_by(RoutingRule.position))] == ["Team", "EU inbound"]
    client.post(f"/settings/routing/{rule.id}/active")
    db.session.expire_all()
    assert db.session.get(RoutingRule, rule.id).active is False
    assert "Paused" in client.get("/settings/routing").text
    edit = client.get(f"/settings/routing/{rule.id}")
    assert 'value="DE, AT"' in edit.text
    rule_id = rule.id
    client.post(f"/settings/routing/{rule_id}/delete")
    db.session.expire_all()
    assert db.session.get(RoutingRule, rule_id) is None
    actions = set(db.session.scalars(db.select(AuditEntry.action).where(AuditEntry.entity_type == "routing_rule")))
    assert {"create", "update", "delete"} <= actions


def test_invalid_rule_is_refused_with_422_and_messages(login_as):
    _, client = login_as("admin")
    response = client.post("/settings/routing/new", data={"name": "", "target_kind": "user", "target_user_id": "",
                                                         "countries": "Germany", "strategy": "round_robin"})
    assert response.status_code == 422
    assert "Enter a name for the rule." in response.text
    assert "Use two-letter country codes" in response.text
    assert "Choose an active person" in response.text
    assert db.session.scalar(db.select(db.func.count(RoutingRule.id))) == 0


def test_fallback_owner_and_preview(login_as, make_user, make_lead):
    _, client = login_as("admin")
    boss = make_user("manager", name="Bea Boss")
    lead = make_lead(first_name="Preview", owner_id=boss.id)
    db.session.commit()
    assert client.post("/settings/routing/fallback", data={"fallback_owner_id": str(boss.id)}).status_code == 303
    page = client.get(f"/settings/routing?lead_id={lead.id}").text
    assert "Fallback owner set to Bea Boss." in page
    assert "would go to <strong>Bea Boss</strong> as fallback owner (no rule matched)" in page
    assert "There is no lead with id 999999" in client.get("/settings/routing?lead_id=999999").text
    assert client.post("/settings/routing/fallback", data={"fallback_owner_id": "nobody"}).status_code == 422


def test_admin_sets_out_of_office_and_cap_on_a_user(login_as, make_user):
    _, client = login_as("admin")
    rep = make_user("rep", name="Ooo Rep")
    db.session.commit()
    response = client.post(f"/settings/users/{rep.id}", data={
        "name": "Ooo Rep", "role": "rep", "team": "", "timezone": "UTC", "active": "y",
        "out_of_office_until": "2030-01-02T09:00", "max_open_leads": "25"})
    assert response.status_code == 302
    db.session.expire_all()
    rep = db.session.get(User, rep.id)
    assert rep.max_open_leads == 25 and rep.out_of_office_until.isoformat().startswith("2030-01-02T09:00")
    bad = client.post(f"/settings/users/{rep.id}", data={"name": "Ooo Rep", "role": "rep", "timezone": "UTC",
                                                         "active": "y", "max_open_leads": "-3"})
    assert bad.status_code == 422 and "Enter a whole number from 0 up" in bad.text


# --- bulk reassign ---------------------------------------------------------------------------

def test_lead_list_offers_bulk_selection_to_writers_only(login_as, make_lead):
    make_lead(first_name="Row")
    db.session.commit()
    _, client = login_as("rep")
    page = client.get("/leads").text
    assert 'aria-label="Select every lead on this page"' in page and "Reassign to" in page
    assert 'name="csrf_token"' in page


def test_viewer_sees_no_bulk_bar_and_cannot_post(login_as, make_lead):
    lead = make_lead(first_name="Row")
    db.session.commit()
    _, client = login_as("viewer")
    assert "Bulk actions" not in client.get("/leads").text
    assert client.post("/leads/bulk", data={"action": "reassign", "lead_ids": [lead.id]}).status_code == 403


def test_bulk_reassign_requires_csrf(login_as, make_lead, client):
    lead = make_lead()
    login_as("admin")
    response = client.post("/leads/bulk", data={"action": "reassign", "lead_ids": [lead.id], "assignee": "1"})
    assert response.status_code in (400, 403)


def test_manager_reassigns_selected_leads_with_activity_and_audit(login_as, make_user, make_lead):
    manager, client = login_as("manager")
    ana = make_user("rep", name="Ana")
    leads = [make_lead(first_name=f"L{i}") for i in range(3)]
    db.session.commit()
    response = client.post("/leads/bulk", data={"action": "reassign", "assignee": str(ana.id),
                                                "lead_ids": [str(lead.id) for lead in leads]})
    assert response.status_code == 303
    assert "Reassigned 3 leads." in client.get("/leads").text
    db.session.expire_all()
    assert {db.session.get(Lead, lead.id).owner_id for lead in leads} == {ana.id}
    subjects = set(db.session.scalars(db.select(Activity.subject).where(Activity.kind == "assignment")))
    assert subjects == {f"Assigned to Ana by {manager.name} (bulk reassign)"}
    assert db.session.scalar(db.select(db.func.count(AuditEntry.id)).where(AuditEntry.field == "owner")) == 3


def test_rep_bulk_reassign_reports_leads_they_cannot_edit(login_as, make_user, make_lead):
    rep, client = login_as("rep")
    other = make_user("rep", name="Other Rep")
    mine = make_lead(first_name="Mine", owner_id=rep.id)
    theirs = make_lead(first_name="Theirs", owner_id=other.id)
    db.session.commit()
    client.post("/leads/bulk", data={"action": "reassign", "assignee": str(other.id),
                                     "lead_ids": [str(mine.id), str(theirs.id)]})
    page = client.get("/leads").text
    assert "Reassigned 1 lead." in page and "1 not changed because you cannot edit them: Theirs Example." in page
    db.session.expire_all()
    assert db.session.get(Lead, mine.id).owner_id == other.id


def test_bulk_round_robin_over_a_team_spreads_leads(login_as, make_team, make_lead):
    _, client = login_as("admin")
    team, (ana, ben) = make_team("Closers", 2)
    leads = [make_lead(first_name=f"R{i}") for i in range(4)]
    db.session.commit()
    client.post("/leads/bulk", data={"action": "reassign", "assignee": f"team:{team.id}",
                                     "lead_ids": [str(lead.id) for lead in leads]})
    db.session.expire_all()
    owners = [db.session.get(Lead, lead.id).owner_id for lead in leads]
    assert owners == [ana.id, ben.id, ana.id, ben.id]


def test_bulk_round_robin_continues_the_teams_routing_rotation(login_as, make_team, make_rule, make_lead):
    _, client = login_as("admin")
    team, (ana, ben, cy) = make_team("Closers", 3)
    rule = make_rule("Closers in turn", target_team_id=team.id, strategy="round_robin")
    first = make_lead(first_name="Routed", channel="form")  # routing's turn 0: Ana
    leads = [make_lead(first_name=f"R{i}") for i in range(4)]
    db.session.commit()
    assert first.owner_id == ana.id
    response = client.post("/leads/bulk", data={"action": "reassign", "assignee": f"team:{team.id}",
                                                "lead_ids": [str(lead.id) for lead in leads]})
    assert response.status_code in (302, 303)
    db.session.expire_all()
    assert [db.session.get(Lead, lead.id).owner_id for lead in leads] == [ben.id, cy.id, ana.id, ben.id]
    assert db.session.get(RoutingRule, rule.id).rotation == 5
    after = make_lead(first_name="Next arrival", channel="api")
    assert after.owner_id == cy.id  # routing goes on from where the bulk left off


@pytest.mark.parametrize("data, message", [
    ({"action": "reassign", "assignee": "1"}, "Select at least one lead."),
    ({"action": "reassign", "assignee": "", "lead_ids": ["1"]}, "Choose an active person to reassign to."),
    ({"action": "explode", "lead_ids": ["1"]}, "Choose an action."),
])
def test_bad_bulk_requests_get_422_and_change_nothing(login_as, make_lead, data, message):
    _, client = login_as("admin")
    lead = make_lead()
    db.session.commit()
    data = {**data, "lead_ids": [str(lead.id)] if "lead_ids" in data else []}
    response = client.post("/leads/bulk", data=data)
    assert response.status_code == 422 and message in response.text
    db.session.expire_all()
    assert db.session.get(Lead, lead.id).owner_id is None
