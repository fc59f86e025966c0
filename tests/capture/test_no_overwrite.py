"""A public form posted with a known email never overwrites the lead: it fills blanks and
leaves differing values for the lead's owner to review."""

from __future__ import annotations

import pytest

from leadflow.activities.models import Activity
from leadflow.capture.models import CaptureForm
from leadflow.extensions import db
from leadflow.governance.models import AuditEntry
from leadflow.leads.models import Lead
from leadflow.leads.review_models import LeadFieldReview
from leadflow.sequences.services import unsubscribe_lead

from tests.capture.conftest import form_token

ATTACK = {"first_name": "Mallory", "last_name": "Evil", "email": "ADA@example.com", "phone": "+44 20 7946 0000",
          "organization": "Evil Corp", "title": "CFO", "message": "Call me"}


@pytest.fixture
def contact_form(capture_form):
    """The conftest form (names, email, phone, company, message) plus a job title."""
    capture_form.fields = [*capture_form.fields, {"key": "title", "label": "Job title", "required": False,
                                                  "custom": False}]
    db.session.commit()
    return capture_form


@pytest.fixture
def ada(make_lead, make_user):
    owner = make_user("rep")
    lead = make_lead(first_name="Ada", last_name="Lovelace", email="ada@example.com", phone="+1 415 555 0132",
                     organization="Analytical Engines", owner_id=owner.id)
    db.session.commit()
    return lead


def submit(client, data, **kw):
    return client.post("/f/contact-us", data={**data, "form_token": form_token(client, "contact-us")}, **kw)


def fresh(lead) -> Lead:
    db.session.expire_all()
    return db.session.get(Lead, lead.id)


def open_reviews(lead) -> dict[str, LeadFieldReview]:
    db.session.expire_all()
    rows = db.session.scalars(db.select(LeadFieldReview).where(
        LeadFieldReview.lead_id == lead.id, LeadFieldReview.open_flag.is_(True)))
    return {r.field: r for r in rows}


def test_a_known_email_keeps_the_leads_details_and_fills_only_its_blanks(client, contact_form, ada):
    response = submit(client, ATTACK)
    assert response.status_code == 200
    lead = fresh(ada)
    assert (lead.first_name, lead.last_name, lead.phone) == ("Ada", "Lovelace", "+14155550132")
    assert lead.organization.name == "Analytical Engines"
    assert lead.title == "CFO", "an empty field is filled"
    assert lead.custom_fields == {"message": "Call me"}, "a custom field the lead did not have is added"
    audit = db.session.scalar(db.select(AuditEntry).where(AuditEntry.entity_id == lead.id, AuditEntry.field == "title"))
    assert audit.new_value == "CFO" and audit.actor_id is None, "the fill is audited as the system"
    assert not db.session.scalar(db.select(AuditEntry).where(
        AuditEntry.entity_id == lead.id, AuditEntry.field == "phone", AuditEntry.old_value.is_not(None)))


def test_differing_values_wait_for_review_with_what_was_sent(client, contact_form, ada):
    submit(client, ATTACK)
    reviews = open_reviews(ada)
    assert set(reviews) == {"first_name", "last_name", "phone", "organization"}
    phone = reviews["phone"]
    assert (phone.submitted_value, phone.current_value) == ("+442079460000", "+14155550132")
    assert phone.source == f"Capture form “{contact_form.name}”"
    assert reviews["organization"].submitted_value == "Evil Corp"
    activity = db.session.get(Activity, phone.activity_id)
    assert activity.kind == "form_submission" and activity.details["values"]["phone"] == "+44 20 7946 0000"
    assert activity.details["kept"]["phone"] == "+14155550132"


def test_the_same_value_sent_again_does_not_open_a_second_review(client, contact_form, ada):
    submit(client, ATTACK)
    submit(client, {**ATTACK, "phone": "+442079460000", "first_name": "MALLORY"})
    assert len(open_reviews(ada)) == 4
    assert db.session.scalar(db.select(db.func.count(LeadFieldReview.id))) == 4
    submit(client, {**ATTACK, "phone": "+44 20 7946 0999"})
    assert db.session.scalar(db.select(db.func.count(LeadFieldReview.id)).where(
        LeadFieldReview.field == "phone")) == 2, "a different value is a review of its own"


def test_a_different_custom_value_waits_for_review(client, contact_form, ada):
    ada.custom_fields = {"message": "First note"}
    db.session.commit()
    submit(client, {**ATTACK, "message": "Second note"})
    assert fresh(ada).custom_fields == {"message": "First note"}
    assert open_reviews(ada)["custom:message"].submitted_value == "Second note"


def test_values_equal_to_the_leads_open_no_review(client, contact_form, ada):
    submit(client, {"first_name": "ada", "last_name": "Lovelace", "email": "ada@example.com",
                    "phone": "(415) 555-0132", "organization": "analytical engines"})
    assert open_reviews(ada) == {}


def test_a_new_email_still_creates_a_lead_with_everything_sent(client, contact_form):
    submit(client, {**ATTACK, "email": "new@example.com"})
    lead = db.session.scalar(db.select(Lead).where(Lead.email == "new@example.com"))
    assert (lead.first_name, lead.phone, lead.title) == ("Mallory", "+442079460000", "CFO")
    assert lead.organization.name == "Evil Corp"
    assert db.session.scalar(db.select(db.func.count(LeadFieldReview.id))) == 0


def test_the_owner_sees_the_review_and_a_readable_timeline(client, contact_form, ada, login_as):
    submit(client, ATTACK)
    _, owner = login_as(db.session.get(Lead, ada.id).owner)
    page = owner.get(f"/leads/{ada.id}").text
    assert "Submitted values to review" in page and "1 submitted value" not in page and "4 submitted values" in page
    assert "Submitted phone differs: +442079460000" in page and "current +14155550132" in page
    assert "<dt>Phone</dt><dd>+44 20 7946 0000" in page
    assert "not used: the lead keeps +14155550132" in page
    assert "<dt>Message</dt><dd>Call me" in page, "custom fields are listed one by one"


@pytest.fixture
def consent_form(contact_form):
    contact_form.consent_text = "Send me product news."
    db.session.commit()
    return contact_form


def test_consent_after_an_unsubscribe_keeps_marketing_off_and_opens_a_review(client, consent_form, ada):
    ada.marketing_consent = True
    db.session.commit()
    unsubscribe_lead(ada)
    db.session.commit()
    submit(client, {**ATTACK, "consent": "yes"}, environ_base={"REMOTE_ADDR": "203.0.113.9"})
    lead = fresh(ada)
    assert lead.marketing_consent is False and lead.unsubscribed_at is not None
    assert db.session.scalar(db.select(Activity).where(Activity.lead_id == lead.id, Activity.kind == "unsubscribed"))
    event = db.session.scalar(db.select(Activity).where(Activity.lead_id == lead.id,
                                                        Activity.kind == "form_submission")).details["consent"]
    assert event["text"] == "Send me product news." and event["ip"] == "203.0.113.9" and event["held_for_review"]
    review = open_reviews(ada)["marketing_consent"]
    assert review.current_value.startswith("off (unsubscribed")


def test_consent_turned_off_by_hand_is_not_switched_back_on_by_a_form(client, consent_form, ada):
    ada.marketing_consent, ada.consent_at = False, ada.created_at  # given once, withdrawn since
    db.session.commit()
    submit(client, {**ATTACK, "consent": "yes"})
    assert fresh(ada).marketing_consent is False
    assert "marketing_consent" in open_reviews(ada)


def test_a_lead_that_never_withdrew_gets_consent_recorded(client, consent_form, ada):
    submit(client, {**ATTACK, "consent": "yes"}, environ_base={"REMOTE_ADDR": "203.0.113.9"})
    lead = fresh(ada)
    assert lead.marketing_consent is True and "203.0.113.9" in lead.consent_source
    assert "marketing_consent" not in open_reviews(ada)
    assert db.session.get(CaptureForm, consent_form.id).submission_count == 1
