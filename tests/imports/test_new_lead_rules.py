"""An import may ask for the new-lead rules: its new leads are then routed (those without an
owner), scored and run through the workflow rules for new leads, as leads from a form are;
without it they come in as the file has them. No new-lead e-mail either way."""

from __future__ import annotations

import io

from sqlalchemy import func, select

from leadflow.extensions import db
from leadflow.leads.models import Lead
from leadflow.leads.alert_models import LeadAlert
from leadflow.mail.models import OutboxMessage
from leadflow.routing.services import create_rule
from leadflow.scoring.models import ScoringRule
from leadflow.workflows.models import WorkflowRule, WorkflowRun

FILE = ("First Name,Last Name,Email,Job Title,Lead Owner\n"
        "Ada,Lovelace,ada@example.com,Director of Engines,\n"
        "Grace,Hopper,grace@example.com,Engineer,{owner}\n")


def _rules(admin, rep):
    create_rule(admin, {"name": "Everything to Ray", "target_kind": "user", "target_user_id": str(rep.id),
                        "strategy": "round_robin", "active": "y"})
    db.session.add(ScoringRule(name="Directors", category="fit", active=True, points=40, position=1,
                               field="title", operator="contains", value="director"))
    db.session.add(WorkflowRule(name="Tag new leads", active=True, trigger="lead_created", trigger_config={},
                                conditions=[], actions=[{"type": "add_tag", "tag": "welcome"}], secret="s"))
    db.session.commit()


def _import(client, owner_email: str, **start) -> None:
    data = FILE.format(owner=owner_email).encode()
    response = client.post("/imports/new", data={"file": (io.BytesIO(data), "leads.csv")},
                           content_type="multipart/form-data")
    job_id = int(response.headers["Location"].split("/imports/")[1].split("/")[0])
    response = client.post(f"/imports/{job_id}/mapping", data={
        "map-0": "first_name", "map-1": "last_name", "map-2": "email", "map-3": "title", "map-4": "owner"})
    assert response.status_code == 303
    page = client.get(f"/imports/{job_id}/preview").text
    assert "Handle the new leads like new enquiries" in page
    response = client.post(f"/imports/{job_id}/start", data={"duplicate_policy": "skip", **start})
    assert response.status_code == 303
    if start:
        assert "new-lead rules run for its new leads" in client.get(f"/imports/{job_id}").text


def _leads() -> dict[str, Lead]:
    db.session.expire_all()
    return {lead.first_name: lead for lead in db.session.scalars(select(Lead))}


def test_asked_for_the_new_lead_rules_route_score_and_run_workflows(login_as, make_user):
    admin, client = login_as("admin")
    ray, owner = make_user("rep", name="Ray Cover"), make_user("rep", name="Owen Owner")
    _rules(admin, ray)

    _import(client, owner.email, new_lead_rules="y")

    leads = _leads()
    assert leads["Ada"].owner_id == ray.id, "no owner in the file: the routing rule chose"
    assert leads["Grace"].owner_id == owner.id, "the file's owner is kept"
    assert leads["Ada"].score == 40 and leads["Grace"].score == 0
    assert all("welcome" in {t.name for t in lead.tags} for lead in leads.values())
    assert db.session.scalar(select(func.count(WorkflowRun.id))) == 2
    # Not fresh enquiries: no new-lead e-mail, no speed-to-lead timers.
    assert db.session.scalar(select(func.count(OutboxMessage.id))) == 0
    assert db.session.scalar(select(func.count(LeadAlert.id))) == 0


def test_without_it_the_leads_come_in_as_the_file_has_them(login_as, make_user):
    admin, client = login_as("admin")
    ray, owner = make_user("rep", name="Ray Cover"), make_user("rep", name="Owen Owner")
    _rules(admin, ray)

    _import(client, owner.email)

    leads = _leads()
    assert leads["Ada"].owner_id is None and leads["Grace"].owner_id == owner.id
    assert leads["Ada"].score == 0
    assert not any(lead.tags for lead in leads.values())
    assert db.session.scalar(select(func.count(WorkflowRun.id))) == 0


def test_the_cli_asks_for_them_with_a_flag(app, make_user, tmp_path):
    admin = make_user("admin", email="boss@example.com")
    ray = make_user("rep", name="Ray Cover")
    _rules(admin, ray)
    path = tmp_path / "leads.csv"
    path.write_text(FILE.format(owner=""), encoding="utf-8")

    result = app.test_cli_runner().invoke(args=["leadflow", "import-csv", str(path), "--user", "boss@example.com",
                                                "--new-lead-rules"])

    assert result.exit_code == 0, result.output
    leads = _leads()
    assert leads["Ada"].owner_id == ray.id and leads["Grace"].owner_id == ray.id
