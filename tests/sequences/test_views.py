from __future__ import annotations

import pytest
from sqlalchemy import select

from leadflow.extensions import db
from leadflow.sequences.models import EmailTemplate, Enrollment, Sequence


def test_a_manager_writes_a_template_and_bad_input_comes_back_with_422(login_as):
    _, client = login_as("manager")
    bad = client.post("/sequences/templates/new", data={"name": "", "subject": "Hi {{ first_name", "body": ""})
    assert bad.status_code == 422
    page = bad.get_data(as_text=True)
    assert "Give the template a name" in page and "does not read as a template" in page and "Write the message" in page
    assert db.session.scalar(select(EmailTemplate)) is None
    ok = client.post("/sequences/templates/new", data={"name": "Welcome", "subject": "Hi {{ first_name }}",
                                                        "body": "Hello {{ nickname }}"})
    assert ok.status_code == 303
    template = db.session.scalar(select(EmailTemplate))
    editor = client.get(f"/sequences/templates/{template.id}").get_data(as_text=True)
    assert "Unknown merge field: nickname" in editor


def test_the_preview_renders_the_draft_for_the_chosen_lead(login_as, make_lead):
    _, client = login_as("manager", htmx=True)
    lead = make_lead(first_name="Grace")
    response = client.post("/sequences/templates/preview",
                           data={"name": "x", "subject": "Hi {{ first_name }}", "body": "<b>{{ first_name }}</b>",
                                 "lead_id": str(lead.id)})
    page = response.get_data(as_text=True)
    assert response.status_code == 200 and "Hi Grace" in page
    assert "&lt;b&gt;Grace&lt;/b&gt;" in page and "<b>Grace</b>" not in page


@pytest.mark.parametrize("role", ["rep", "viewer"])
def test_reps_and_viewers_cannot_edit_templates_or_sequences(login_as, role):
    _, client = login_as(role)
    assert client.get("/sequences/templates").status_code == 403
    assert client.post("/sequences/", data={"name": "Mine"}).status_code == 403
    assert client.post("/sequences/templates/preview", data={"subject": "x", "body": "y"}).status_code == 403
    assert client.get("/sequences/").status_code == 200  # the list is readable
    assert db.session.scalar(select(Sequence)) is None


def test_sequence_editor_adds_reorders_and_removes_steps(login_as, make_template):
    _, client = login_as("manager")
    template = make_template(name="Intro")
    assert client.get("/sequences/").get_data(as_text=True).count("No sequences yet") == 1
    created = client.post("/sequences/", data={"name": "Trial"})
    sequence = db.session.scalar(select(Sequence))
    assert created.headers["Location"].endswith(f"/sequences/{sequence.id}")
    client.post(f"/sequences/{sequence.id}/steps", data={"kind": "send", "template_id": template.id})
    client.post(f"/sequences/{sequence.id}/steps", data={"kind": "wait", "wait_amount": "2", "wait_unit": "days"})
    refused = client.post(f"/sequences/{sequence.id}/steps", data={"kind": "wait", "wait_amount": "-1"})
    assert refused.status_code == 303
    db.session.expire_all()
    assert [s.summary for s in sequence.steps] == ["Send “Intro”", "Wait 2 days"]
    wait = sequence.steps[1]
    client.post(f"/sequences/{sequence.id}/steps/{wait.id}/move", data={"direction": "up"})
    db.session.expire_all()
    assert [s.kind for s in sequence.steps] == ["wait", "send"]
    client.post(f"/sequences/{sequence.id}/steps/{wait.id}/delete")
    db.session.expire_all()
    assert [s.kind for s in sequence.steps] == ["send"]
    page = client.get(f"/sequences/{sequence.id}").get_data(as_text=True)
    assert "No enrolments." in page
    bad = client.post(f"/sequences/{sequence.id}", data={"name": "Trial", "exit_score_at_least": "lots"})
    assert bad.status_code == 422 and "whole number" in bad.get_data(as_text=True)


def test_a_rep_enrols_their_lead_from_the_lead_page_once(login_as, make_sequence, consenting_lead, make_lead):
    rep, client = login_as("rep")
    sequence = make_sequence(name="Trial nurture")
    lead = consenting_lead()
    lead.owner_id = rep.id
    db.session.commit()
    page = client.get(f"/leads/{lead.id}").get_data(as_text=True)
    assert "Trial nurture" in page and "Enrol in" in page
    for _ in range(2):
        assert client.post(f"/sequences/enrol/{lead.id}", data={"sequence_id": sequence.id}).status_code == 303
    assert len(db.session.scalars(select(Enrollment)).all()) == 1
    assert "active, step 1" in client.get(f"/leads/{lead.id}").get_data(as_text=True)
    no_consent = make_lead()
    no_consent.owner_id = rep.id
    db.session.commit()
    client.post(f"/sequences/enrol/{no_consent.id}", data={"sequence_id": sequence.id})
    assert "not given marketing consent" in client.get(f"/leads/{no_consent.id}").get_data(as_text=True)


def test_a_rep_cannot_enrol_or_stop_someone_elses_lead(login_as, make_sequence, consenting_lead, make_user, enrol):
    _, client = login_as("rep")
    sequence = make_sequence()
    lead = consenting_lead()
    lead.owner_id = make_user(role="rep").id
    enrollment = enrol(lead, sequence)
    db.session.commit()
    assert client.post(f"/sequences/enrol/{lead.id}", data={"sequence_id": sequence.id}).status_code == 403
    assert client.post(f"/sequences/enrollments/{enrollment.id}/stop").status_code == 403
    assert db.session.get(Enrollment, enrollment.id).state == "active"


def test_bulk_enrol_from_the_lead_list_skips_leads_without_consent(login_as, make_sequence, consenting_lead,
                                                                   make_lead):
    from leadflow.sequences.services import unsubscribe_lead

    _, client = login_as("manager")
    sequence = make_sequence(name="Bulk nurture")
    yes, no = consenting_lead(first_name="Yes"), make_lead(first_name="No")
    gone = consenting_lead(first_name="Gone")
    unsubscribe_lead(gone)
    db.session.commit()
    assert "Bulk nurture" in client.get("/leads").get_data(as_text=True)
    response = client.post("/leads/bulk", data={"action": "enrol_sequence", "sequence_id": sequence.id,
                                                "lead_ids": [yes.id, no.id, gone.id]})
    assert response.status_code in (302, 303)
    assert [e.lead_id for e in db.session.scalars(select(Enrollment))] == [yes.id]
    flash = client.get("/leads").get_data(as_text=True)
    assert ("Enrolled 1 lead. 1 skipped (no marketing consent): No Example. "
            "1 skipped (no marketing consent: unsubscribed): Gone Example.") in flash
    client.post("/leads/bulk", data={"action": "enrol_sequence", "sequence_id": sequence.id, "lead_ids": [yes.id]})
    assert "Enrolled 0 leads. 1 already in the sequence." in client.get("/leads").get_data(as_text=True)
    assert len(db.session.scalars(select(Enrollment)).all()) == 1
    missing = client.post("/leads/bulk", data={"action": "enrol_sequence", "lead_ids": [yes.id]})
    assert missing.status_code == 422 and "Choose the sequence" in missing.get_data(as_text=True)


def test_bulk_enrol_reports_leads_a_rep_cannot_edit_as_refused_not_skipped(login_as, make_sequence, make_lead,
                                                                            make_user):
    rep, client = login_as("rep")
    other = make_user(role="rep")
    sequence = make_sequence(name="Rep nurture")
    theirs = make_lead(first_name="Theirs", owner_id=other.id)  # no consent either: still "cannot edit"
    mine = make_lead(first_name="Mine", owner_id=rep.id)
    db.session.commit()
    client.post("/leads/bulk", data={"action": "enrol_sequence", "sequence_id": sequence.id,
                                     "lead_ids": [theirs.id, mine.id]})
    flash = client.get("/leads").get_data(as_text=True)
    assert ("Enrolled 0 leads. 1 skipped (no marketing consent): Mine Example. "
            "1 not changed because you cannot edit them: Theirs Example.") in flash
    assert db.session.scalar(select(Enrollment)) is None


def test_the_enrolments_list_shows_state_and_filters_by_htmx(login_as, make_sequence, consenting_lead, enrol):
    _, client = login_as("manager", htmx=True)
    sequence = make_sequence(name="States")
    active, gone = consenting_lead(first_name="Active"), consenting_lead(first_name="Gone")
    enrol(active, sequence)
    from leadflow.sequences.services import unsubscribe_lead
    enrol(gone, sequence)
    unsubscribe_lead(gone)
    db.session.commit()
    fragment = client.get(f"/sequences/{sequence.id}?state=exited")
    text = fragment.get_data(as_text=True)
    assert fragment.status_code == 200 and "<html" not in text and "HX-Request" in fragment.headers["Vary"]
    assert "Gone" in text and "Exited: Unsubscribed" in text and "Active Example" not in text


def test_a_manager_deletes_a_sequence_and_its_enrolments_stop(login_as, make_sequence, consenting_lead, enrol):
    _, client = login_as("manager")
    sequence = make_sequence(name="Old")
    enrol(consenting_lead(), sequence)
    db.session.commit()
    assert "0 e-mails sent" in client.get(f"/sequences/{sequence.id}").get_data(as_text=True)
    assert client.post(f"/sequences/{sequence.id}/delete").status_code == 303
    assert db.session.scalar(select(Sequence)) is None and db.session.scalar(select(Enrollment)) is None
