"""The shared intake service: capture forms and the API bring outside leads in through it."""

from __future__ import annotations

import pytest

from leadflow.accounts.system import system_actor
from leadflow.activities.models import Activity
from leadflow.errors import ValidationFailed
from leadflow.extensions import db
from leadflow.leads import events
from leadflow.leads.fields import consent_source_text
from leadflow.leads.intake import intake_lead
from leadflow.leads.models import Lead
from leadflow.pipeline.services import ensure_default_pipeline

pytestmark = pytest.mark.usefixtures("app")

FORM = system_actor("Capture form “Test”")  # who sends; the API passes its token's user


@pytest.fixture(autouse=True)
def pipeline(app):
    pipeline = ensure_default_pipeline()
    db.session.commit()
    return pipeline


def count(model, *where) -> int:
    return db.session.scalar(db.select(db.func.count()).select_from(model).where(*where))


def activities(lead, kind="form_submission"):
    return list(db.session.scalars(db.select(Activity).where(Activity.lead_id == lead.id, Activity.kind == kind)
                                   .order_by(Activity.id)))


def test_new_email_creates_a_lead_with_the_callers_defaults(make_user):
    owner = make_user("rep")
    result = intake_lead(
        {"first_name": "Ada", "email": "ada@example.com", "utm_source": "newsletter", "custom_fields": {"message": "Hi"}},
        channel="form", actor=FORM, defaults={"owner_id": owner.id, "source": "web form"}, activity_subject="Form “Contact”",
    )
    db.session.commit()
    lead = result.lead
    assert result.created
    assert (lead.first_name, lead.email, lead.owner_id, lead.source) == ("Ada", "ada@example.com", owner.id, "web form")
    assert lead.utm_source == "newsletter"
    assert lead.custom_fields == {"message": "Hi"}
    assert lead.last_activity_at is not None
    [activity] = activities(lead)
    assert activity.subject == "Form “Contact”"
    assert activity.details["values"]["email"] == "ada@example.com"
    assert activity.details["values"]["custom_fields"] == {"message": "Hi"}


def test_fields_the_sender_must_not_set_are_ignored(make_user):
    someone = make_user("admin")
    db.session.commit()
    result = intake_lead({"first_name": "Eve", "email": "eve@example.com", "owner_id": someone.id, "score": 99,
                          "lifecycle": "customer", "temperature": "hot", "stage_id": 999999},
                         channel="api", actor=FORM)
    lead = result.lead
    assert lead.owner_id is None and lead.score == 0
    assert lead.lifecycle == "lead" and lead.temperature == "cold"
    assert lead.stage is not None and lead.stage.name == "New"


def test_same_email_through_the_api_updates_the_existing_lead_instead_of_duplicating(make_user, make_lead):
    owner = make_user("rep")
    existing = make_lead(first_name="Ada", email="Ada@Example.com", owner_id=owner.id, utm_source="first-touch",
                         tags="vip")
    existing.custom_fields = {"plan": "basic"}
    stage_id = existing.stage_id
    db.session.commit()
    result = intake_lead({"first_name": "Ada", "last_name": "Lovelace", "email": "ada@example.COM",
                          "phone": "+44 20 7946 0958", "utm_source": "second-touch", "tags": ["webinar"],
                          "custom_fields": {"message": "Call me"}},
                         channel="api", actor=FORM, defaults={"owner_id": None, "stage_id": None})
    db.session.commit()
    assert not result.created and result.lead.id == existing.id
    assert count(Lead) == 1
    lead = db.session.get(Lead, existing.id)
    assert lead.last_name == "Lovelace" and lead.phone == "+442079460958"
    assert lead.owner_id == owner.id and lead.stage_id == stage_id, "owner and stage are kept"
    assert lead.utm_source == "first-touch", "the first touch is kept"
    assert sorted(t.name for t in lead.tags) == ["vip", "webinar"]
    assert lead.custom_fields == {"plan": "basic", "message": "Call me"}
    assert len(activities(lead)) == 1
    assert activities(lead)[0].details["values"]["utm_source"] == "second-touch", "the timeline keeps what was sent"


def test_a_submission_for_an_existing_lead_reads_its_phone_in_the_leads_country(make_lead):
    existing = make_lead(first_name="Alan", email="alan@example.co.uk", country="GB")
    db.session.commit()
    result = intake_lead({"first_name": "Alan", "email": "alan@example.co.uk", "phone": "07700 900123"},
                         channel="api", actor=FORM, region="US")
    assert not result.created and db.session.get(Lead, existing.id).phone == "+447700900123"
    other = intake_lead({"first_name": "Di", "email": "di@example.com", "phone": "0049 30 901820"},
                        channel="form", actor=FORM, region="US")
    assert other.created and other.lead.phone == "+4930901820"


def test_a_lead_in_the_trash_does_not_absorb_a_new_submission(make_lead):
    old = make_lead(email="gone@example.com")
    from leadflow.db import utcnow

    old.deleted_at = utcnow()
    db.session.commit()
    result = intake_lead({"first_name": "Back", "email": "gone@example.com"}, channel="form", actor=FORM)
    assert result.created and result.lead.id != old.id


def test_consent_is_recorded_on_the_lead_and_in_the_timeline():
    text = "I agree to receive product news by email."
    result = intake_lead({"first_name": "Cy", "email": "cy@example.com"}, channel="form", actor=FORM,
                         consent={"text": text, "source": "Form “Contact us”", "ip": "203.0.113.5"})
    db.session.commit()
    lead = result.lead
    assert lead.marketing_consent is True and lead.consent_at is not None
    assert lead.consent_source == f"Form “Contact us” — text: {text} — IP 203.0.113.5"
    consent = activities(lead)[0].details["consent"]
    assert consent["text"] == text and consent["ip"] == "203.0.113.5" and consent["at"]


def test_a_long_consent_text_is_shortened_in_the_lead_but_kept_whole_in_the_timeline():
    text = "I agree. " * 60
    result = intake_lead({"first_name": "Cy", "email": "cy@example.com"}, channel="form", actor=FORM,
                         consent={"text": text, "source": "Form “X”", "ip": "203.0.113.5"})
    assert len(result.lead.consent_source) <= 200 and result.lead.consent_source.endswith("IP 203.0.113.5")
    assert activities(result.lead)[0].details["consent"]["text"] == text
    assert len(consent_source_text({"text": "x" * 500, "source": "s" * 300, "ip": "1.2.3.4"})) <= 200


@pytest.mark.parametrize("data, field", [
    ({"first_name": "Al", "email": 12345}, "email"),
    ({"first_name": ["Al"], "email": "al@example.com"}, "first_name"),
    ({"first_name": "Al", "email": "al@example.com", "tags": {"a": 1}}, "tags"),
    ({"first_name": "Al", "email": "al@example.com", "custom_fields": ["x"]}, "custom_fields"),
    ({"first_name": "Al", "email": "al@example.com", "custom_fields": {"note": {"deep": 1}}}, "note"),
    ({"first_name": "Al", "email": "not an email"}, "email"),
    ({"email": "al@example.com"}, "first_name"),
    ({"first_name": "Al"}, "email"),
])
def test_bad_input_is_refused_per_field_and_writes_nothing(data, field):
    with pytest.raises(ValidationFailed) as caught:
        intake_lead(data, channel="api", actor=FORM)
    assert field in caught.value.errors
    db.session.rollback()
    assert count(Lead) == 0 and count(Activity) == 0


def test_refused_update_leaves_the_existing_lead_untouched(make_lead):
    lead = make_lead(first_name="Ada", email="ada@example.com", phone="+14155550132")
    db.session.commit()
    with pytest.raises(ValidationFailed):
        intake_lead({"first_name": "Changed", "email": "ada@example.com", "phone": "12"}, channel="form", actor=FORM)
    db.session.rollback()
    assert db.session.get(Lead, lead.id).first_name == "Ada"


def test_a_failing_arrival_step_does_not_lose_the_lead(monkeypatch):
    def exploding_step(ids, channel):
        db.session.add(Activity(lead_id=ids[0], kind="system", subject="half-done"))
        db.session.flush()
        raise RuntimeError("the alert service is down")

    monkeypatch.setitem(events.bus._handlers, events.ARRIVED, [(50, exploding_step)])
    result = intake_lead({"first_name": "Di", "email": "di@example.com"}, channel="form", actor=FORM)
    db.session.commit()
    assert db.session.get(Lead, result.lead.id) is not None
    assert count(Activity, Activity.subject == "half-done") == 0, "the failed step was rolled back"
    assert len(activities(result.lead)) == 1


def test_a_round_robin_turn_is_taken_right_before_the_leads_insert(make_form, make_user, client, app, count_queries,
                                                                   monkeypatch):
    """A round-robin turn locks the form's row until the commit, and every submission to the form
    waits for that lock: the organization the lead names is found (or added) before the turn,
    so the lead's INSERT comes straight after it (before: the organization's SELECT between)."""
    from leadflow.accounts.models import Team
    from tests.capture.conftest import form_token

    app.config["CAPTURE_MIN_FILL_SECONDS"] = 0
    monkeypatch.setitem(app.config, "ARRIVALS_RUN_INLINE", False)  # the sweep's statements are not the request's
    team = Team(name="Inbound turns")
    db.session.add(team)
    db.session.flush()
    member = make_user("rep", team_id=team.id)
    make_form(owner_rule="round_robin", team_id=str(team.id))
    token = form_token(client, "contact-us")
    with count_queries() as statements:
        response = client.post("/f/contact-us", data={"first_name": "Tess", "email": "tess@example.com",
                                                      "organization": "Turnwell Ltd", "form_token": token})
    assert response.status_code == 200, response.get_data(as_text=True)[:300]
    turn = next(i for i, sql in enumerate(statements) if sql.lstrip().startswith("UPDATE capture_forms"))
    assert "INSERT INTO leads" in statements[turn + 1], statements[turn:turn + 3]
    assert not any("FROM organizations" in sql for sql in statements[turn + 1:]), statements[turn + 1:]
    lead = db.session.scalar(db.select(Lead).where(Lead.email_key == "tess@example.com"))
    assert (lead.owner_id, lead.organization.name) == (member.id, "Turnwell Ltd")
