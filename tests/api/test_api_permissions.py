"""POST /api/v1/leads with the email of an existing lead changes it only when the token's
user may change it in the web app: a rep their own and unassigned leads, a manager or admin
any. Otherwise 403 naming the lead, and nothing at all is written."""

from __future__ import annotations

import pytest

from leadflow.activities.models import Activity
from leadflow.extensions import db
from leadflow.governance.models import AuditEntry
from leadflow.leads.models import Lead

HIJACK = {"first_name": "Mallory", "last_name": "Hijack", "email": "ada@example.com", "title": "Owner now",
          "phone": "+1 415 555 0199", "tags": ["stolen"], "marketing_consent": True, "consent_text": "Yes"}


@pytest.fixture
def others_lead(make_user, make_lead):
    """Ada Lovelace, owned by another rep."""
    owner = make_user(role="rep", name="Other Rep")
    lead = make_lead(owner, first_name="Ada", last_name="Lovelace", email="ada@example.com", title="CTO")
    db.session.commit()
    return lead


def _counts(lead_id: int) -> tuple[int, int]:
    audits = db.session.scalar(db.select(db.func.count(AuditEntry.id)).where(
        AuditEntry.entity_type == "lead", AuditEntry.entity_id == lead_id))
    activities = db.session.scalar(db.select(db.func.count(Activity.id)).where(Activity.lead_id == lead_id))
    return audits, activities


def _fresh(lead_id: int) -> Lead:
    db.session.expire_all()
    return db.session.get(Lead, lead_id)


def test_a_reps_token_cannot_change_another_reps_lead(api, others_lead):
    before = _counts(others_lead.id)
    response = api.post("/api/v1/leads", json=HIJACK)
    assert response.status_code == 403
    assert response.json == {
        "error": "Forbidden", "lead_id": others_lead.id,
        "message": f"You may not change lead #{others_lead.id} “Ada Lovelace”: it belongs to another user."}
    lead = _fresh(others_lead.id)
    assert (lead.first_name, lead.last_name, lead.title, lead.phone) == ("Ada", "Lovelace", "CTO", None)
    assert [t.name for t in lead.tags] == [] and lead.marketing_consent is False
    assert _counts(others_lead.id) == before  # no audit entry, no timeline entry
    assert db.session.scalar(db.select(db.func.count(Lead.id))) == 1


def test_the_web_app_refuses_the_same_edit(login_as, others_lead):
    _, client = login_as("rep")
    assert client.post(f"/leads/{others_lead.id}/fields/title", data={"value": "Owner now"}).status_code == 403
    assert _fresh(others_lead.id).title == "CTO"


def test_a_token_whose_user_became_a_viewer_changes_nothing(client, make_token, others_lead):
    _, plain, user = make_token(role="rep")
    user.role = "viewer"
    db.session.commit()
    response = client.post("/api/v1/leads", json=HIJACK, headers={"Authorization": f"Bearer {plain}"})
    assert response.status_code == 403 and "cannot create or change leads" in response.json["message"]
    assert _fresh(others_lead.id).title == "CTO"


def test_a_rep_may_change_their_own_and_unassigned_leads(api, make_lead):
    own = make_lead(api.user, first_name="Own", email="own@example.com")
    free = make_lead(None, first_name="Free", email="free@example.com")
    db.session.commit()
    assert free.owner_id is None
    for lead, name, email in ((own, "Own", "own@example.com"), (free, "Free", "free@example.com")):
        response = api.post("/api/v1/leads", json={"first_name": name, "email": email, "title": "Updated"})
        assert response.status_code == 200, response.json
        assert _fresh(lead.id).title == "Updated"


@pytest.mark.parametrize("role", ["manager", "admin"])
def test_managers_and_admins_may_change_any_lead(client, make_token, others_lead, role):
    _, plain, _ = make_token(role=role)
    response = client.post("/api/v1/leads", json={"first_name": "Ada", "email": "ada@example.com", "title": "VP"},
                           headers={"Authorization": f"Bearer {plain}"})
    assert response.status_code == 200 and response.json["title"] == "VP"


def test_in_a_batch_the_forbidden_item_fails_alone(api, others_lead):
    items = [{"first_name": "Grace", "email": "grace@example.com"},
             {"first_name": "Ada", "email": "ada@example.com", "title": "Owner now", "tags": ["stolen"]},
             {"first_name": "Linus", "email": "linus@example.com"}]
    response = api.post("/api/v1/leads", json=items)
    assert response.status_code == 200
    body = response.json
    assert [r["status"] for r in body["results"]] == ["created", "forbidden", "created"]
    assert body["results"][1]["lead_id"] == others_lead.id
    assert "it belongs to another user" in body["results"][1]["message"]
    assert (body["created"], body["updated"], body["failed"]) == (2, 0, 1)
    lead = _fresh(others_lead.id)
    assert lead.title == "CTO" and [t.name for t in lead.tags] == []
    emails = set(db.session.scalars(db.select(Lead.email)))
    assert emails == {"ada@example.com", "grace@example.com", "linus@example.com"}


def test_a_retry_with_the_same_idempotency_key_replays_the_403(api, others_lead):
    first = api.post("/api/v1/leads", json=HIJACK, headers={"Idempotency-Key": "try-1"})
    retry = api.post("/api/v1/leads", json=HIJACK, headers={"Idempotency-Key": "try-1"})
    assert first.status_code == retry.status_code == 403
    assert retry.json == first.json and retry.headers["Idempotent-Replayed"] == "true"


def test_an_api_update_is_audited_with_the_tokens_user(api, make_lead):
    lead = make_lead(api.user, first_name="Own", email="own@example.com")
    db.session.commit()
    assert api.post("/api/v1/leads", json={"first_name": "Own", "email": "own@example.com", "title": "Head of R&D"}).status_code == 200
    [entry] = db.session.scalars(db.select(AuditEntry).where(
        AuditEntry.entity_id == lead.id, AuditEntry.field == "title"))
    assert (entry.actor_id, entry.actor_name, entry.new_value) == (api.user.id, api.user.name, "Head of R&D")
