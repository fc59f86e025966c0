"""Every audit entry says who acted: a user (actor_id and their name) or a named system
actor (actor_name), whatever way the change came. The database refuses an entry with neither."""

from __future__ import annotations

import io

import pytest
from sqlalchemy import insert
from sqlalchemy.exc import IntegrityError

from leadflow.accounts.system import system_actor
from leadflow.capture import services as capture
from leadflow.capture.models import CaptureForm
from leadflow.db import utcnow
from leadflow.extensions import db
from leadflow.governance.audit import record_event
from leadflow.governance.models import AuditEntry
from leadflow.imports import services as imports
from leadflow.imports.runner import run_job
from leadflow.leads.models import Lead
from leadflow.pipeline.services import ensure_default_pipeline
from leadflow.workflows.models import WorkflowRule

from tests.capture.conftest import builder_data


def _entries(entity_type: str, entity_id: int) -> list[AuditEntry]:
    db.session.expire_all()
    return list(db.session.scalars(db.select(AuditEntry).where(
        AuditEntry.entity_type == entity_type, AuditEntry.entity_id == entity_id).order_by(AuditEntry.id)))


def _lead(email: str) -> Lead:
    return db.session.scalar(db.select(Lead).where(Lead.email_key == email))


def test_the_database_refuses_an_entry_without_an_actor(app):
    with pytest.raises(IntegrityError):
        with db.session.begin_nested():
            db.session.execute(insert(AuditEntry.__table__).values(
                at=utcnow(), entity_type="lead", entity_id=1, action="update", field="title"))
    db.session.rollback()


def test_the_audit_service_refuses_a_missing_actor(app):
    with pytest.raises(ValueError, match="needs an actor"):
        record_event(None, "lead", 1, "update")


def test_a_deleted_users_entries_still_say_who(make_user, make_lead):
    user = make_user(role="manager", name="Gone Manager")
    lead = make_lead(user, first_name="Kept")
    db.session.commit()
    db.session.delete(user)
    db.session.commit()
    [created] = [e for e in _entries("lead", lead.id) if e.action == "create"]
    assert (created.actor_id, created.actor_name) == (None, "Gone Manager")


def test_a_capture_form_submission_is_audited_as_the_form(make_user, make_lead):
    ensure_default_pipeline()
    form = capture.create_form(make_user("admin"), builder_data(name="Contact us", slug="contact-us"))
    make_lead(None, first_name="Ada", email="ada@example.com")  # unassigned: the form may fill it in
    db.session.commit()
    capture.submit(capture.Submission(form.id, {"first_name": "Ada", "last_name": "Lovelace",
                                                "email": "ada@example.com", "phone": "+1 415 555 0111"},
                                      consent=False, ip="203.0.113.5"))
    capture.submit(capture.Submission(form.id, {"first_name": "Grace", "email": "grace@example.com"},
                                      consent=False, ip="203.0.113.6"))
    db.session.commit()
    updated = [e for e in _entries("lead", _lead("ada@example.com").id) if e.action == "update"]
    created = [e for e in _entries("lead", _lead("grace@example.com").id) if e.action == "create"]
    assert updated and created
    assert {(e.actor_id, e.actor_name) for e in updated + created} == {(None, "Capture form “Contact us”")}


def test_an_import_is_audited_as_the_import_and_who_started_it(app, tmp_path, make_user, make_lead):
    app.instance_path = str(tmp_path / "instance")
    ensure_default_pipeline()
    importer = make_user(role="manager", name="Ima Porter")
    lead = make_lead(importer, first_name="Grace", email="grace@example.com")
    db.session.commit()
    job = imports.create_job(importer, io.BytesIO(b"Name,Email,Job Title\nGrace Hopper,grace@example.com,Commodore\n"),
                             "people.csv")
    imports.start_job(importer, job, "update")
    db.session.commit()
    run_job(job.id)
    [title] = [e for e in _entries("lead", lead.id) if e.field == "title"]
    assert (title.actor_id, title.actor_name) == (importer.id, f"Import #{job.id} (Ima Porter)")
    finished = [e for e in _entries("import_job", job.id) if e.action == "finish"]
    assert [e.actor_name for e in finished] == [f"Import #{job.id} (Ima Porter)"]


def test_a_workflow_rule_action_is_audited_with_the_rules_name(make_lead):
    db.session.add(WorkflowRule(name="Tag new leads", active=True, trigger="lead_created", trigger_config={},
                                conditions=[], actions=[{"type": "add_tag", "tag": "new"}], secret="s3cret"))
    db.session.flush()
    lead = make_lead(None, first_name="Linus", email="linus@example.com")
    db.session.commit()
    [tagged] = [e for e in _entries("lead", lead.id) if e.field == "tags"]
    assert (tagged.actor_id, tagged.actor_name, tagged.new_value) == (None, "Workflow rule “Tag new leads”", "new")


def test_the_history_panel_names_a_system_actor(login_as, make_lead):
    user, client = login_as("admin")
    lead = make_lead(user, first_name="Hist")
    from leadflow.leads.services import update_lead

    update_lead(system_actor("Workflow rule “Hot lead”"), lead, {"title": "Buyer"})
    db.session.commit()
    page = client.get(f"/leads/{lead.id}/history").get_data(as_text=True)
    assert "Workflow rule “Hot lead”" in page


def test_no_entry_lacks_an_actor_name_after_the_demo_and_each_channel(app, client, make_user):
    from leadflow.api.services import create_token
    from leadflow_demo import seed_demo

    seed_demo(lead_count=30)
    _, plain = create_token(system_actor("Command line"), user=make_user(role="manager"), name="Sync", scopes="write")
    db.session.commit()
    assert client.post("/api/v1/leads", json={"first_name": "Api", "email": "api@example.com"},
                       headers={"Authorization": f"Bearer {plain}"}).status_code == 201
    form = db.session.scalars(db.select(CaptureForm)).first()
    capture.submit(capture.Submission(form.id, {"first_name": "Web", "email": "web@example.com"},
                                      consent=True, ip=None))
    db.session.commit()
    total = db.session.scalar(db.select(db.func.count(AuditEntry.id)))
    nameless = db.session.scalar(db.select(db.func.count(AuditEntry.id)).where(AuditEntry.actor_name.is_(None)))
    assert total > 30 and nameless == 0


def test_the_migration_names_the_actor_of_existing_entries_and_keeps_merge_links(tmp_path):
    """On a database of the release before: users' entries get their name, the rest
    "LeadFlow automation"; rebuilding the table (SQLite) leaves merges linked to their entry."""
    from flask_migrate import upgrade
    from sqlalchemy import text

    from tests.databases import own_sqlite_app

    with own_sqlite_app(tmp_path, revision="fb1c2d3e4f50"):
        with db.engine.begin() as conn:
            conn.execute(text(
                "INSERT INTO users (id, email, name, password_hash, role, active, session_version, timezone, "
                "language, working_hours, created_at) VALUES (7, 'ada@example.com', 'Ada Admin', 'x', 'admin', 1, 1, "
                "'UTC', 'en', '09:00-17:00', CURRENT_TIMESTAMP)"))
            conn.execute(text("INSERT INTO audit_entries (id, at, actor_id, entity_type, entity_id, action) VALUES "
                              "(1, CURRENT_TIMESTAMP, 7, 'lead', 1, 'merge'), (2, CURRENT_TIMESTAMP, NULL, 'lead', 1, 'update')"))
            conn.execute(text("INSERT INTO lead_merges (id, survivor_before, moved, actor_id, audit_entry_id, merged_at) "
                              "VALUES (3, '{}', '{}', 7, 1, CURRENT_TIMESTAMP)"))
        upgrade()
        with db.engine.begin() as conn:
            assert conn.execute(text("SELECT id, actor_id, actor_name FROM audit_entries ORDER BY id")).all() == [
                (1, 7, "Ada Admin"), (2, None, "LeadFlow automation")]
            assert conn.execute(text("SELECT audit_entry_id FROM lead_merges")).scalar() == 1
        with pytest.raises(IntegrityError), db.engine.begin() as conn:
            conn.execute(text("INSERT INTO audit_entries (at, entity_type, entity_id, action) "
                              "VALUES (CURRENT_TIMESTAMP, 'lead', 1, 'update')"))
