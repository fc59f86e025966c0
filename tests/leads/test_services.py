"""Lead services: the rules every way of creating or changing a lead goes through."""

from __future__ import annotations

import pytest

from leadflow.activities.models import Activity
from leadflow.errors import PermissionDenied, ValidationFailed, VersionConflict
from leadflow.extensions import db
from leadflow.governance.models import AuditEntry
from leadflow.leads import services
from leadflow.leads.duplicates import find_duplicates
from leadflow.leads.models import Lead, Tag
from leadflow.organizations.models import Organization
from leadflow.pipeline.models import StageChange
from leadflow.pipeline.services import ensure_default_pipeline

from tests.factories import TEST_SETUP

pytestmark = pytest.mark.usefixtures("app")


def count(model) -> int:
    return db.session.scalar(db.select(db.func.count()).select_from(model))


def test_create_lead_normalises_contact_details(make_user):
    rep = make_user("rep")
    ensure_default_pipeline()
    lead = services.create_lead(rep, {
        "first_name": "  Ada ", "last_name": "Lovelace", "email": "Ada.Lovelace@Example.COM",
        "phone": "(415) 555-0132", "organization": "Analytical Engines", "tags": "vip, Enterprise,vip",
        "value": "12,500.50",
    }, region="US")
    db.session.commit()
    assert lead.first_name == "Ada"
    assert lead.email == "Ada.Lovelace@example.com"
    assert lead.email_key == "ada.lovelace@example.com"
    assert lead.phone == "+14155550132"
    assert lead.value_cents == 1250050
    assert lead.organization.name == "Analytical Engines"
    assert sorted(t.name for t in lead.tags) == ["Enterprise", "vip"]
    assert lead.owner_id == rep.id, "a rep's new lead is theirs"
    assert lead.stage is not None and lead.stage.name == "New"
    assert "analytical engines" in lead.search_text and "4155550132" in lead.search_text


def test_phone_uses_default_region_and_keeps_explicit_country_code(make_user):
    lead_gb = services.create_lead(TEST_SETUP, {"first_name": "Bo", "phone": "020 7946 0958"}, region="GB")
    lead_intl = services.create_lead(TEST_SETUP, {"first_name": "Cy", "phone": "+49 30 901820"}, region="US")
    assert lead_gb.phone == "+442079460958"
    assert lead_intl.phone == "+4930901820"


def test_phone_with_00_is_read_as_international_and_a_country_is_its_region(make_user):
    """One rule for every way a phone comes in: ``00`` before a country code is ``+``; a number
    without one is read in the lead's country (given with it, or the lead's own on an edit),
    else in the workspace's region."""
    dialled = services.create_lead(TEST_SETUP, {"first_name": "Di", "phone": "0044 20 7946 8353"}, region="US")
    national = services.create_lead(TEST_SETUP, {"first_name": "Gb", "phone": "07700 900123", "country": "gb"},
                                    region="US")
    unknown = services.create_lead(TEST_SETUP, {"first_name": "Us", "phone": "(415) 555-0132", "country": "ZZ"},
                                   region="US")
    assert (dialled.phone, national.phone, national.country, unknown.phone) == (
        "+442079468353", "+447700900123", "GB", "+14155550132")
    services.update_lead(TEST_SETUP, national, {"phone": "020 7946 0958"})  # the lead's own country: GB
    assert national.phone == "+442079460958"
    with pytest.raises(ValidationFailed) as refused:
        services.update_lead(TEST_SETUP, national, {"phone": "(415) 555-0132"})
    assert "not a valid phone number for region GB" in refused.value.errors["phone"][0]
    services.update_lead(TEST_SETUP, national, {"phone": "(415) 555-0132", "country": "US"})  # moved: read there
    assert (national.phone, national.country) == ("+14155550132", "US")


@pytest.mark.parametrize("data, field, fragment", [
    ({"first_name": "", "last_name": "", "email": "a@example.com"}, "first_name", "name"),
    ({"first_name": "Al"}, "email", "email or a phone"),
    ({"first_name": "Al", "email": "not-an-email"}, "email", "not a valid email"),
    ({"first_name": "Al", "phone": "12"}, "phone", "phone"),
    ({"first_name": "Al", "email": "a@example.com", "value": "lots"}, "value", "amount"),
    ({"first_name": "Al", "email": "a@example.com", "value": "-5"}, "value", "negative"),
    ({"first_name": "Al", "email": "a@example.com", "lifecycle": "vip"}, "lifecycle", "listed"),
    ({"first_name": "Al", "email": "a@example.com", "expected_close_date": "31/12/2025"}, "expected_close_date", "YYYY-MM-DD"),
    ({"first_name": "x" * 81, "email": "a@example.com"}, "first_name", "80"),
    ({"first_name": "Al", "email": "a@example.com", "owner_id": "999999"}, "owner_id", "owner"),
])
def test_invalid_input_is_refused_with_a_message_and_nothing_saved(data, field, fragment):
    with pytest.raises(ValidationFailed) as caught:
        services.create_lead(TEST_SETUP, data, region="US")
    assert field in caught.value.errors
    assert fragment.lower() in " ".join(caught.value.errors[field]).lower()
    db.session.rollback()
    assert count(Lead) == 0 and count(Organization) == 0


def test_unknown_and_computed_fields_are_ignored():
    lead = services.create_lead(TEST_SETUP, {"first_name": "Eve", "email": "eve@example.com", "score": 99,
                                       "version": 50, "deleted_at": "2020-01-01", "is_admin": True})
    assert lead.score == 0 and lead.deleted_at is None


def test_script_in_name_is_stored_as_text():
    lead = services.create_lead(TEST_SETUP, {"first_name": "<script>alert(1)</script>", "email": "x@example.com"})
    assert lead.first_name == "<script>alert(1)</script>"


def test_update_writes_one_audit_entry_per_changed_field(make_user):
    manager = make_user("manager")
    lead = services.create_lead(manager, {"first_name": "Ann", "email": "ann@example.com"})
    changed = services.update_lead(manager, lead, {"title": "CTO", "first_name": "Ann", "phone": "+14155550199"})
    db.session.commit()
    assert sorted(changed) == ["phone", "title"]
    entries = db.session.scalars(db.select(AuditEntry).where(
        AuditEntry.entity_type == "lead", AuditEntry.entity_id == lead.id, AuditEntry.action == "update")).all()
    assert {(e.field, e.old_value, e.new_value) for e in entries} == {
        ("title", None, "CTO"), ("phone", None, "+14155550199")}
    assert all(e.actor_id == manager.id for e in entries)


def test_update_cannot_remove_the_last_contact_detail(make_user):
    manager = make_user("manager")
    lead = services.create_lead(manager, {"first_name": "Ann", "email": "ann@example.com"})
    with pytest.raises(ValidationFailed) as caught:
        services.update_lead(manager, lead, {"email": ""})
    assert "email" in caught.value.errors


def test_stale_version_is_a_conflict_not_an_overwrite(make_user):
    manager = make_user("manager")
    lead = services.create_lead(manager, {"first_name": "Ann", "email": "ann@example.com"})
    db.session.commit()
    seen_version = lead.version
    services.update_lead(manager, lead, {"title": "CEO"}, expected_version=seen_version)
    db.session.commit()
    with pytest.raises(VersionConflict):
        services.update_lead(manager, lead, {"title": "Intern"}, expected_version=seen_version)
    db.session.rollback()
    assert db.session.get(Lead, lead.id).title == "CEO"


@pytest.mark.parametrize("role, owned_by, allowed", [
    ("admin", "other", True), ("manager", "other", True),
    ("rep", "self", True), ("rep", "nobody", True), ("rep", "other", False),
    ("viewer", "nobody", False),
])
def test_edit_permission_by_role(make_user, role, owned_by, allowed):
    actor, other = make_user(role), make_user("rep")
    owner_id = {"self": actor.id, "other": other.id, "nobody": None}[owned_by]
    lead = services.create_lead(TEST_SETUP, {"first_name": "Pat", "email": "pat@example.com", "owner_id": owner_id})
    if allowed:
        assert services.update_lead(actor, lead, {"title": "Buyer"}) == ["title"]
    else:
        with pytest.raises(PermissionDenied):
            services.update_lead(actor, lead, {"title": "Buyer"})


def test_viewer_cannot_create(make_user):
    with pytest.raises(PermissionDenied):
        services.create_lead(make_user("viewer"), {"first_name": "V", "email": "v@example.com"})


def test_stage_move_records_stage_change_and_timeline(make_user):
    manager = make_user("manager")
    pipeline = ensure_default_pipeline()
    lead = services.create_lead(manager, {"first_name": "Sam", "email": "sam@example.com"})
    won = next(s for s in pipeline.stages if s.kind == "won")
    services.update_lead(manager, lead, {"stage_id": won.id})
    db.session.commit()
    moves = db.session.scalars(db.select(StageChange).where(StageChange.lead_id == lead.id).order_by(StageChange.id)).all()
    assert [m.to_stage_id for m in moves][-1] == won.id
    assert moves[-1].from_stage_id == pipeline.stages[0].id
    assert lead.lifecycle == "customer", "winning makes the lead a customer"
    assert db.session.scalar(db.select(Activity).where(Activity.lead_id == lead.id, Activity.kind == "stage_change"))


def test_soft_delete_and_restore_keep_the_record(make_user):
    manager = make_user("manager")
    lead = services.create_lead(manager, {"first_name": "Del", "email": "del@example.com"})
    services.delete_lead(manager, lead)
    db.session.commit()
    assert lead.deleted_at is not None and count(Lead) == 1
    services.restore_lead(manager, lead)
    db.session.commit()
    assert lead.deleted_at is None
    actions = [e.action for e in db.session.scalars(db.select(AuditEntry).where(AuditEntry.entity_id == lead.id))]
    assert "delete" in actions and "restore" in actions


def test_purge_only_removes_leads_past_retention(make_user):
    from datetime import timedelta

    from leadflow.db import utcnow

    manager = make_user("manager")
    old = services.create_lead(manager, {"first_name": "Old", "email": "old@example.com"})
    recent = services.create_lead(manager, {"first_name": "New", "email": "new@example.com"})
    services.delete_lead(manager, old)
    services.delete_lead(manager, recent)
    old.deleted_at = utcnow() - timedelta(days=31)
    db.session.commit()
    assert services.purge_trash(30) == 1
    db.session.commit()
    assert db.session.get(Lead, old.id) is None and db.session.get(Lead, recent.id) is not None


def test_tags_are_created_once_case_insensitively():
    services.create_lead(TEST_SETUP, {"first_name": "A", "email": "a@example.com", "tags": "Hot Prospect"})
    services.create_lead(TEST_SETUP, {"first_name": "B", "email": "b@example.com", "tags": ["hot prospect", "new"]})
    db.session.commit()
    assert sorted(db.session.scalars(db.select(Tag.name_key))) == ["hot prospect", "new"]


def test_duplicate_matcher_finds_email_phone_and_similar_name_at_same_org():
    a = services.create_lead(TEST_SETUP, {"first_name": "Jonathan", "last_name": "Smith", "email": "jon@acme.com",
                                    "phone": "+14155550100", "organization": "Acme"})
    services.create_lead(TEST_SETUP, {"first_name": "Other", "email": "other@example.com", "organization": "Elsewhere"})
    db.session.commit()
    by_email = find_duplicates(email_key="JON@acme.com".lower())
    assert [m.lead.id for m in by_email] == [a.id] and by_email[0].reasons == ["same email"]
    assert [m.lead.id for m in find_duplicates(phone="+14155550100")] == [a.id]
    fuzzy = find_duplicates(first_name="Jonathon", last_name="Smith", organization_id=a.organization_id)
    assert [m.lead.id for m in fuzzy] == [a.id]
    assert "similar name" in fuzzy[0].reasons[0]
    assert find_duplicates(first_name="Jonathon", last_name="Smith", organization_id=None) == []
    assert find_duplicates(email_key="jon@acme.com", exclude_id=a.id) == []


def test_duplicate_matcher_ignores_trashed_leads(make_user):
    manager = make_user("manager")
    lead = services.create_lead(manager, {"first_name": "T", "email": "t@example.com"})
    services.delete_lead(manager, lead)
    assert find_duplicates(email_key="t@example.com") == []
