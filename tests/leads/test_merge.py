"""Merging two leads field by field, and undoing it: every row moves and comes back."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest

from leadflow.activities.models import Activity, Task
from leadflow.db import utcnow
from leadflow.errors import DomainError, PermissionDenied, VersionConflict
from leadflow.extensions import db
from leadflow.governance.models import AuditEntry
from leadflow.leads import merge as merge_service
from leadflow.leads.merge_models import LeadMerge
from leadflow.leads.models import Lead, lead_tags
from leadflow.leads.services import update_lead
from leadflow.pipeline.models import StageChange, StageTotals
from leadflow.pipeline.services import ensure_default_pipeline
from leadflow.pipeline.totals import live_totals_query
from tests.factories import make_lead_sharing_email


def _rows_of(lead_id: int) -> dict[str, set[int]]:
    """The ids of every row hanging off a lead, per table."""
    db.session.expire_all()
    return {
        "activities": set(db.session.scalars(db.select(Activity.id).where(Activity.lead_id == lead_id))),
        "tasks": set(db.session.scalars(db.select(Task.id).where(Task.lead_id == lead_id))),
        "stage_changes": set(db.session.scalars(db.select(StageChange.id).where(StageChange.lead_id == lead_id))),
        "audit": set(db.session.scalars(db.select(AuditEntry.id).where(
            AuditEntry.entity_type == "lead", AuditEntry.entity_id == lead_id))),
        "tags": set(db.session.scalars(db.select(lead_tags.c.tag_id).where(lead_tags.c.lead_id == lead_id))),
    }


def _assert_totals_exact():
    db.session.expire_all()
    stored = {row.stage_id: (row.lead_count, row.value_cents) for row in db.session.scalars(db.select(StageTotals))
              if row.lead_count or row.value_cents}
    actual = {stage_id: (count, int(value)) for stage_id, count, value in db.session.execute(live_totals_query())}
    assert stored == actual


@pytest.fixture
def pair(app, make_user, make_lead):
    """Two leads of one person, each with a history: a manager may merge them."""
    pipeline = ensure_default_pipeline()
    manager = make_user(role="manager")
    rep = make_user(role="rep")
    stages = pipeline.stages
    survivor = make_lead(actor=manager, first_name="Ada", last_name="Lovelace", email="ada@example.com",
                         value="1000", tags="vip", organization="Engines")
    absorbed = make_lead_sharing_email("ADA@example.com", actor=manager, first_name="Ada", last_name="Lovelace",
                         phone="+14155550111", title="CTO", value="2500", tags="board, vip", owner_id=rep.id,
                         stage_id=stages[2].id, expected_close_date="2031-05-01")
    update_lead(manager, absorbed, {"title": "Chief Technology Officer"})
    db.session.add(Task(lead_id=absorbed.id, title="Call back", due_at=utcnow() + timedelta(days=1)))
    db.session.add(Activity(lead_id=absorbed.id, kind="note", subject="Met at the fair", actor_id=manager.id))
    db.session.commit()
    return manager, rep, survivor, absorbed, stages


def test_merge_moves_everything_and_undo_puts_everything_back(pair):
    manager, rep, survivor, absorbed, stages = pair
    survivor_before, absorbed_before = _rows_of(survivor.id), _rows_of(absorbed.id)
    assert all(absorbed_before[k] for k in ("activities", "tasks", "stage_changes", "audit", "tags"))
    fields_before = merge_service._snapshot(survivor)
    _assert_totals_exact()

    record = merge_service.merge_leads(manager, survivor, absorbed, {
        "phone": "absorbed", "title": "absorbed", "stage": "absorbed", "value": "absorbed", "owner": "absorbed",
        "expected_close_date": "absorbed"})
    db.session.commit()

    after = _rows_of(survivor.id)
    for table in ("activities", "tasks", "stage_changes", "audit"):
        assert survivor_before[table] | absorbed_before[table] <= after[table], table
    assert after["tags"] == survivor_before["tags"] | absorbed_before["tags"]
    gone = _rows_of(absorbed.id)
    assert not gone["activities"] and not gone["tasks"] and not gone["stage_changes"] and not gone["tags"]
    db.session.expire_all()
    assert (survivor.phone, survivor.title, survivor.stage_id, survivor.value_cents, survivor.owner_id) == (
        "+14155550111", "Chief Technology Officer", stages[2].id, 250000, rep.id)
    assert survivor.email == "ada@example.com"  # kept the survivor's
    assert absorbed.deleted_at is not None and record.absorbed_id == absorbed.id
    assert "+14155550111" in survivor.search_text.replace(" ", "")
    assert db.session.scalar(db.select(Activity.subject).where(
        Activity.lead_id == survivor.id, Activity.kind == "merge")).startswith("Merged with Ada Lovelace")
    assert db.session.scalar(db.select(AuditEntry.id).where(
        AuditEntry.entity_id == survivor.id, AuditEntry.action == "merge")) == record.audit_entry_id
    _assert_totals_exact()

    merge_service.undo_merge(manager, record)
    db.session.commit()

    restored_survivor, restored_absorbed = _rows_of(survivor.id), _rows_of(absorbed.id)
    for table in ("activities", "tasks", "stage_changes", "audit"):
        # Exactly the moved rows went back; what remains on the survivor is its own plus the
        # records of the merge and its undo.
        assert restored_absorbed[table] >= absorbed_before[table], table
        assert not (restored_survivor[table] & absorbed_before[table]), table
        assert restored_survivor[table] >= survivor_before[table], table
    assert restored_survivor["stage_changes"] == survivor_before["stage_changes"]
    assert restored_survivor["tasks"] == survivor_before["tasks"]
    assert restored_absorbed["tasks"] == absorbed_before["tasks"]
    assert restored_survivor["tags"] == survivor_before["tags"]
    assert restored_absorbed["tags"] == absorbed_before["tags"]
    db.session.expire_all()
    assert merge_service._snapshot(survivor) == fields_before
    assert absorbed.deleted_at is None and record.undone_at is not None
    _assert_totals_exact()


def test_undo_is_offered_in_the_history_panel_and_works_from_the_page(pair, login_as):
    manager, _, survivor, absorbed, _ = pair
    _, client = login_as(manager)
    page = client.get(f"/leads/{survivor.id}/merge?with={absorbed.id}")
    assert page.status_code == 200
    assert "Chief Technology Officer" in page.text and 'name="choice-title"' in page.text
    versions = dict(re.findall(r'name="(survivor_version|absorbed_version)" value="(\d+)"', page.text))
    response = client.post(f"/leads/{survivor.id}/merge", data={
        "with": absorbed.id, **versions, "choice-title": "absorbed"})
    assert response.status_code == 303
    detail = client.get(f"/leads/{survivor.id}").text
    assert "Merged Ada Lovelace" in detail and "Chief Technology Officer" in detail
    record = db.session.scalar(db.select(LeadMerge))
    assert f"/leads/merges/{record.id}/undo" in client.get(f"/leads/{survivor.id}/history").text
    old_link = client.get(f"/leads/{absorbed.id}")  # in the trash now: an old link leads to the survivor
    assert old_link.status_code == 303 and old_link.headers["Location"].endswith(f"/leads/{survivor.id}")
    undone = client.post(f"/leads/merges/{record.id}/undo")
    assert undone.status_code == 303
    assert "Merge undone" in client.get(f"/leads/{survivor.id}").text
    assert client.get(f"/leads/{absorbed.id}").status_code == 200
    again = client.post(f"/leads/merges/{record.id}/undo", follow_redirects=True)
    assert "already been undone" in again.text


def test_a_lead_changed_since_the_page_opened_is_not_overwritten(pair, login_as):
    manager, _, survivor, absorbed, _ = pair
    _, client = login_as(manager)
    page = client.get(f"/leads/{survivor.id}/merge?with={absorbed.id}").text
    versions = dict(re.findall(r'name="(survivor_version|absorbed_version)" value="(\d+)"', page))
    update_lead(manager, db.session.get(Lead, absorbed.id), {"title": "Edited meanwhile"})
    db.session.commit()
    response = client.post(f"/leads/{survivor.id}/merge", data={"with": absorbed.id, **versions,
                                                                 "choice-title": "absorbed"})
    assert response.status_code == 409
    assert "Someone changed one of these leads" in response.text and "Edited meanwhile" in response.text
    db.session.expire_all()
    assert db.session.get(Lead, absorbed.id).deleted_at is None
    assert db.session.scalar(db.select(db.func.count(LeadMerge.id))) == 0


def test_the_service_refuses_a_stale_version(pair):
    manager, _, survivor, absorbed, _ = pair
    with pytest.raises(VersionConflict):
        merge_service.merge_leads(manager, survivor, absorbed, {}, expected_versions=(survivor.version, absorbed.version - 1))


def test_a_rep_cannot_merge_a_lead_owned_by_someone_else(pair, login_as, make_user):
    _, _, survivor, absorbed, _ = pair  # absorbed belongs to another rep; survivor is unassigned
    other_rep, client = login_as("rep")
    assert client.get(f"/leads/{survivor.id}/merge?with={absorbed.id}").status_code == 403
    assert client.post(f"/leads/{survivor.id}/merge", data={"with": absorbed.id}).status_code == 403
    db.session.expire_all()
    assert db.session.get(Lead, absorbed.id).deleted_at is None
    with pytest.raises(PermissionDenied):
        merge_service.merge_leads(other_rep, db.session.get(Lead, survivor.id), db.session.get(Lead, absorbed.id), {})


def test_the_owner_rep_can_merge_own_and_unassigned_leads(pair, login_as):
    _, rep, survivor, absorbed, _ = pair
    _, client = login_as(rep)
    assert client.get(f"/leads/{survivor.id}/merge?with={absorbed.id}").status_code == 200


def test_viewers_cannot_merge_or_undo(pair, login_as):
    manager, _, survivor, absorbed, _ = pair
    record = merge_service.merge_leads(manager, survivor, absorbed, {})
    db.session.commit()
    _, client = login_as("viewer")
    assert client.get(f"/leads/{survivor.id}/merge?with={absorbed.id}").status_code == 403
    assert client.post(f"/leads/merges/{record.id}/undo").status_code == 403
    assert "Undo merge" not in client.get(f"/leads/{survivor.id}").text
    db.session.expire_all()
    assert db.session.get(LeadMerge, record.id).undone_at is None


def test_bad_radio_values_are_refused_with_422(pair, login_as):
    manager, _, survivor, absorbed, _ = pair
    _, client = login_as(manager)
    response = client.post(f"/leads/{survivor.id}/merge", data={"with": absorbed.id, "choice-title": "both"})
    assert response.status_code == 422 and "Choose one of the two values" in response.text


def test_merging_a_lead_with_itself_or_a_missing_one(pair, login_as):
    manager, _, survivor, _, _ = pair
    _, client = login_as(manager)
    assert client.get(f"/leads/{survivor.id}/merge?with=999999").status_code == 404
    same = client.get(f"/leads/{survivor.id}/merge?with={survivor.id}")
    assert same.status_code == 303
    response = client.post(f"/leads/{survivor.id}/merge", data={"with": survivor.id})
    assert response.status_code == 422 and "two different leads" in response.text


def test_the_chooser_lists_likely_duplicates(pair, login_as):
    manager, _, survivor, absorbed, _ = pair
    _, client = login_as(manager)
    page = client.get(f"/leads/{survivor.id}/merge")
    assert page.status_code == 200
    assert f"/leads/{survivor.id}/merge?with={absorbed.id}" in page.text
    assert 'label for="merge-with"' in page.text


def test_undo_waits_for_a_later_merge_to_be_undone_first(pair, make_lead):
    manager, _, survivor, absorbed, _ = pair
    third = make_lead(actor=manager, first_name="Ada", last_name="L", email="ada.l@example.com")
    first = merge_service.merge_leads(manager, survivor, absorbed, {})
    second = merge_service.merge_leads(manager, survivor, third, {"name": "absorbed"})
    db.session.commit()
    with pytest.raises(DomainError, match="Undo the later merge first"):
        merge_service.undo_merge(manager, first)
    merge_service.undo_merge(manager, second)
    merge_service.undo_merge(manager, first)
    db.session.commit()
    db.session.expire_all()
    assert survivor.last_name == "Lovelace" and third.deleted_at is None and absorbed.deleted_at is None
    _assert_totals_exact()


def test_an_old_link_to_a_merged_lead_opens_the_lead_it_lives_on_in(pair, login_as, make_lead):
    manager, _, survivor, absorbed, _ = pair
    third = make_lead(actor=manager, first_name="Ada", last_name="King", email="ada.king@example.com")
    merge_service.merge_leads(manager, survivor, absorbed, {})
    merge_service.merge_leads(manager, third, survivor, {})
    db.session.commit()
    _, client = login_as(manager)
    response = client.get(f"/leads/{absorbed.id}", follow_redirects=True)
    assert response.request.path == f"/leads/{third.id}"
    assert f"Lead #{absorbed.id} was merged into Ada King" in response.text
    assert client.get("/leads/999999").status_code == 404


def test_the_detail_page_links_possible_duplicates_to_the_merge(pair, login_as):
    manager, _, survivor, absorbed, _ = pair
    _, client = login_as(manager)
    page = client.get(f"/leads/{survivor.id}").text
    assert f"/leads/{survivor.id}/merge?with={absorbed.id}" in page


def test_a_merged_lead_cannot_be_restored_alone_from_the_trash(pair, login_as):
    manager, _, survivor, absorbed, _ = pair
    merge_service.merge_leads(manager, survivor, absorbed, {})
    db.session.commit()
    _, client = login_as(manager)
    response = client.post(f"/leads/{absorbed.id}/restore", follow_redirects=True)
    assert f"was merged into lead #{survivor.id}" in response.text
    assert "Undo the merge" in response.text
    assert client.get(f"/leads/{absorbed.id}").status_code == 303  # still in the trash, merged
    record = db.session.scalar(db.select(LeadMerge))
    merge_service.undo_merge(manager, record)
    db.session.commit()
    assert client.get(f"/leads/{absorbed.id}").status_code == 200


def _review(lead, field: str, value: str, *, settled: bool = False):
    from leadflow.leads.review_models import LeadFieldReview

    review = LeadFieldReview(lead_id=lead.id, field=field, submitted_value=value, value_key=f"{field}:{value}",
                             current_value="", source="Capture form “Contact us”")
    db.session.add(review)
    db.session.flush()
    if settled:  # as "Keep current" leaves it
        review.resolved_at, review.resolution, review.open_flag = utcnow(), "kept", None
        db.session.flush()
    return review


def test_open_submitted_values_follow_the_merge_and_go_back_on_undo(pair, login_as):
    manager, _, survivor, absorbed, _ = pair
    phone = _review(absorbed, "phone", "+442079460000")
    twin = _review(absorbed, "title", "Head of Engines")
    settled = _review(absorbed, "first_name", "Mallory", settled=True)
    own = _review(survivor, "title", "Head of Engines")
    db.session.commit()
    _, client = login_as(manager)
    page = client.get(f"/leads/{survivor.id}/merge?with={absorbed.id}").text
    assert "and 1 submitted value to review" in " ".join(page.split()), page[page.find("Moves to"):][:400]
    merge = merge_service.merge_leads(manager, survivor, absorbed, {})
    db.session.commit()
    page = client.get(f"/leads/{survivor.id}").text
    assert "Submitted values to review" in page and "Submitted phone differs: +442079460000" in page
    assert page.count("differs: Head of Engines") == 1, "the same value is asked about once"

    def lead_of(review):
        db.session.expire_all()
        return db.session.get(type(review), review.id).lead_id

    assert (lead_of(phone), lead_of(own)) == (survivor.id, survivor.id)
    assert (lead_of(twin), lead_of(settled)) == (absorbed.id, absorbed.id)
    merge_service.undo_merge(manager, db.session.get(LeadMerge, merge.id))
    db.session.commit()
    assert (lead_of(phone), lead_of(twin), lead_of(own)) == (absorbed.id, absorbed.id, survivor.id)
    assert "Submitted phone differs" in client.get(f"/leads/{absorbed.id}").text
    assert "Submitted phone differs" not in client.get(f"/leads/{survivor.id}").text


def test_what_the_survivor_takes_in_a_merge_reaches_workflow_rules(pair):
    """A merge is a change like any other: a rule on "owner changes" and one on "stage
    changes" fire for the survivor that took the other lead's owner and stage."""
    from leadflow.workflows.models import WorkflowRule, WorkflowRun

    manager, rep, survivor, absorbed, stages = pair
    rules = [WorkflowRule(name=f"On {trigger}", active=True, trigger=trigger, trigger_config=config,
                          conditions=[], actions=[{"type": "add_tag", "tag": tag}], secret="s")
             for trigger, config, tag in (("field_changed", {"field": "owner"}, "new-owner"),
                                          ("stage_changed", {"to_stage_id": stages[2].id}, "moved-in"))]
    db.session.add_all(rules)
    db.session.commit()

    merge_service.merge_leads(manager, survivor, absorbed, {"owner": "absorbed", "stage": "absorbed"})
    db.session.commit()

    db.session.refresh(survivor)
    assert survivor.owner_id == rep.id and survivor.stage_id == stages[2].id
    assert {"new-owner", "moved-in"} <= {t.name for t in survivor.tags}
    assert all(db.session.scalar(db.select(db.func.count(WorkflowRun.id)).where(WorkflowRun.rule_id == r.id)) == 1
               for r in rules)
