"""The lead page's "Submitted values to review" panel: Keep current, Use new, and who may."""

from __future__ import annotations

import re

import pytest

from leadflow.accounts.system import system_actor
from leadflow.activities.models import Activity
from leadflow.extensions import db
from leadflow.governance.models import AuditEntry
from leadflow.leads.intake import intake_lead
from leadflow.leads.models import Lead
from leadflow.leads.review_models import LeadFieldReview
from leadflow.sequences.services import unsubscribe_lead


@pytest.fixture
def owner(make_user):
    user = make_user("rep")
    db.session.commit()
    return user


@pytest.fixture
def lead(make_lead, owner):
    lead = make_lead(first_name="Ada", last_name="Lovelace", email="ada@example.com", phone="+1 415 555 0132",
                     owner_id=owner.id)
    db.session.commit()
    return lead


def from_form(data: dict, consent: bool = False) -> None:
    intake_lead({"email": "ada@example.com", **data}, channel="form", actor=system_actor("Capture form “Contact us”"),
                activity_details={"form_id": 1, "form_name": "Contact us"},
                consent={"text": "Send me news.", "source": "Form “Contact us”", "ip": "203.0.113.9"}
                if consent else None)
    db.session.commit()


def review_for(lead, field: str) -> LeadFieldReview:
    db.session.expire_all()
    return db.session.scalar(db.select(LeadFieldReview).where(LeadFieldReview.lead_id == lead.id,
                                                              LeadFieldReview.field == field))


def url(lead, review, action: str) -> str:
    return f"/leads/{lead.id}/reviews/{review.id}/{action}"


def version(lead) -> int:
    db.session.expire_all()
    return db.session.get(Lead, lead.id).version


def test_use_new_applies_the_value_as_the_owner_and_refreshes_the_panel(login_as, owner, lead):
    from_form({"phone": "+44 20 7946 0000"})
    review = review_for(lead, "phone")
    _, client = login_as(owner, htmx=True)
    page = client.get(f"/leads/{lead.id}", headers={"HX-Request": ""}).text
    assert "Submitted phone differs: +442079460000" in page and "Use new" in page
    response = client.post(url(lead, review, "apply"), data={"version": version(lead)})
    assert response.status_code == 200
    assert response.headers["HX-Trigger"] == "lead-updated"
    assert response.text.lstrip().startswith('<article id="field-reviews"')
    assert "Phone set to +442079460000." in response.text and "Use new" not in response.text
    assert re.search(r'id="field-phone" hx-swap-oob="true"', response.text), "the phone row is refreshed too"
    db.session.expire_all()
    assert db.session.get(Lead, lead.id).phone == "+442079460000"
    entry = db.session.scalar(db.select(AuditEntry).where(AuditEntry.entity_id == lead.id, AuditEntry.field == "phone",
                                                          AuditEntry.new_value == "+442079460000"))
    assert entry.actor_id == owner.id, "audited with the user who chose"
    review = review_for(lead, "phone")
    assert (review.resolution, review.resolved_by_id, review.open_flag) == ("applied", owner.id, None)
    assert "Submitted values to review" not in client.get(f"/leads/{lead.id}", headers={"HX-Request": ""}).text


def test_keep_current_settles_the_review_and_leaves_the_lead(login_as, owner, lead):
    from_form({"first_name": "Mallory"})
    review = review_for(lead, "first_name")
    _, client = login_as(owner, htmx=True)
    response = client.post(url(lead, review, "keep"), data={"version": version(lead)})
    assert response.status_code == 200 and "Kept the current first name." in response.text
    db.session.expire_all()
    assert db.session.get(Lead, lead.id).first_name == "Ada"
    assert review_for(lead, "first_name").resolution == "kept"
    history = client.get(f"/leads/{lead.id}/history").text
    assert "Submitted value not used" in history and "Mallory" in history


def test_a_rep_who_does_not_own_the_lead_is_refused_and_sees_nothing(login_as, lead):
    from_form({"phone": "+44 20 7946 0000"})
    review = review_for(lead, "phone")
    _, other = login_as("rep")
    assert other.post(url(lead, review, "apply"), data={"version": version(lead)}).status_code == 403
    assert other.post(url(lead, review, "keep")).status_code == 403
    assert "Submitted values to review" not in other.get(f"/leads/{lead.id}").text
    assert review_for(lead, "phone").open_flag is True
    db.session.expire_all()
    assert db.session.get(Lead, lead.id).phone == "+14155550132"


def test_a_viewer_sees_no_panel(login_as, lead):
    from_form({"phone": "+44 20 7946 0000"})
    _, viewer = login_as("viewer")
    page = viewer.get(f"/leads/{lead.id}").text
    assert "Submitted values to review" not in page and "/reviews/" not in page


def test_a_lead_changed_meanwhile_is_not_overwritten(login_as, owner, lead):
    from_form({"phone": "+44 20 7946 0000"})
    review = review_for(lead, "phone")
    stale = version(lead)
    _, client = login_as(owner, htmx=True)
    client.post(f"/leads/{lead.id}/fields/phone", data={"value": "+1 415 555 0199", "version": stale})
    response = client.post(url(lead, review, "apply"), data={"version": stale})
    assert response.status_code == 409 and "Someone else changed this lead" in response.text
    db.session.expire_all()
    assert db.session.get(Lead, lead.id).phone == "+14155550199"
    assert review_for(lead, "phone").open_flag is True


def test_without_htmx_the_choice_redirects_with_a_message(login_as, owner, lead):
    from_form({"last_name": "Byron"})
    review = review_for(lead, "last_name")
    _, client = login_as(owner)
    response = client.post(url(lead, review, "apply"), data={"version": version(lead)})
    assert response.status_code == 303 and response.headers["Location"].endswith(f"/leads/{lead.id}")
    assert "Last name set to Byron." in client.get(f"/leads/{lead.id}").text


def test_use_new_for_a_custom_field(login_as, owner, lead):
    lead.custom_fields = {"message": "First"}
    db.session.commit()
    from_form({"custom_fields": {"message": "Second"}})
    review = review_for(lead, "custom:message")
    _, client = login_as(owner, htmx=True)
    assert client.post(url(lead, review, "apply"), data={"version": version(lead)}).status_code == 200
    db.session.expire_all()
    assert db.session.get(Lead, lead.id).custom_fields == {"message": "Second"}
    actor_id = db.session.scalar(db.select(AuditEntry.actor_id).where(AuditEntry.field == "custom field message"))
    assert actor_id == owner.id


def test_turning_marketing_on_again_keeps_the_withdrawal_in_the_history(login_as, owner, lead):
    lead.marketing_consent = True
    db.session.commit()
    unsubscribe_lead(lead)
    db.session.commit()
    from_form({}, consent=True)
    review = review_for(lead, "marketing_consent")
    _, client = login_as(owner, htmx=True)
    page = client.get(f"/leads/{lead.id}", headers={"HX-Request": ""}).text
    assert "Consent given again via Capture form “Contact us”" in page and "Turn marketing on" in page
    response = client.post(url(lead, review, "apply"), data={"version": version(lead)})
    assert response.status_code == 200
    db.session.expire_all()
    fresh = db.session.get(Lead, lead.id)
    assert fresh.marketing_consent is True and fresh.unsubscribed_at is None
    assert "203.0.113.9" in fresh.consent_source
    assert db.session.scalar(db.select(Activity).where(Activity.lead_id == lead.id, Activity.kind == "unsubscribed"))
    consent_changes = db.session.scalars(db.select(AuditEntry.new_value).where(
        AuditEntry.entity_id == lead.id, AuditEntry.field == "marketing_consent").order_by(AuditEntry.id)).all()
    assert consent_changes == ["no", "yes"], "the withdrawal stays in the history before the new consent"


def test_submitted_text_is_shown_as_text(login_as, owner, lead):
    from_form({"last_name": "<img src=x onerror=alert(1)>"})
    _, client = login_as(owner)
    page = client.get(f"/leads/{lead.id}").text
    assert "Submitted last name differs: &lt;img src=x onerror=alert(1)&gt;" in page
    assert "<img src=x" not in page
