"""A lead's custom fields as people use them: the "More details" panel of the lead page (shown
with their labels, edited, added and removed in place), the timeline, and the list search."""

from __future__ import annotations

import re

import pytest

from leadflow.activities.models import Activity
from leadflow.db import utcnow
from leadflow.errors import ValidationFailed, VersionConflict
from leadflow.extensions import db
from leadflow.governance.models import AuditEntry
from leadflow.leads import services, store
from leadflow.leads.custom_fields import inline_field, readable_name
from leadflow.leads.fields import CUSTOM_KEY_MAX, CUSTOM_VALUE_MAX, MAX_CUSTOM_FIELDS, search_text_for
from leadflow.leads.models import Lead

from tests.capture.conftest import builder_data, form_token
from tests.factories import TEST_SETUP


def with_custom(lead: Lead, **custom) -> Lead:
    """The lead with these custom fields, kept as an import or a form keeps them."""
    store.update_lead(lead, {"custom_fields": custom}, TEST_SETUP, audit=False, announce=[])
    db.session.commit()
    return lead


def fresh(lead_id: int) -> Lead:
    db.session.expire_all()
    return db.session.get(Lead, lead_id)


def audit_entries(lead_id: int) -> list[tuple[str, str, str]]:
    return [(e.field, e.old_value, e.new_value) for e in db.session.scalars(
        db.select(AuditEntry).where(AuditEntry.entity_type == "lead", AuditEntry.entity_id == lead_id,
                                    AuditEntry.field.like("custom field%")).order_by(AuditEntry.id))]


def panel(page: str) -> str:
    match = re.search(r'<article id="custom-fields".*?</article>', page, re.S)
    assert match, "no More details panel on the page"
    return match.group(0)


def row_url(lead: Lead, key: str, suffix: str = "") -> str:
    from urllib.parse import quote

    return f"/leads/{lead.id}/custom-field{suffix}?key={quote(key)}"


# --- names and labels -----------------------------------------------------------------------

@pytest.mark.parametrize("key, label", [
    ("annual_revenue", "Annual revenue"), ("Lead Status", "Lead Status"), ("message", "Message"),
    ("  no._of__employees ", "No. of employees"),
])
def test_a_custom_field_without_a_form_label_is_named_readably(key, label):
    assert readable_name(key) == label


# --- the lead page --------------------------------------------------------------------------

def test_lead_page_shows_a_form_submissions_custom_fields_under_the_forms_labels(app, client, make_user, login_as):
    from leadflow.capture import services as capture

    app.config["CAPTURE_MIN_FILL_SECONDS"] = 0
    admin = make_user("admin")
    capture.create_form(admin, builder_data(custom=[
        {"key": "company_size", "label": "How big is your team?", "type": "text", "options": "", "required": False,
         "order": 20, "remove": False},
        {"key": "message", "label": "Your message", "type": "textarea", "options": "", "required": False,
         "order": 21, "remove": False},
    ]))
    db.session.commit()
    token = form_token(client, "contact-us")
    response = client.post("/f/contact-us", data={
        "first_name": "Ada", "email": "ada@example.com", "company_size": "11-50",
        "message": "Line one\nLine <two> & more", "form_token": token})
    assert response.status_code in (200, 303), response.get_data(as_text=True)[:300]
    lead = db.session.scalar(db.select(Lead).where(Lead.email_key == "ada@example.com"))
    _, user_client = login_as("manager")
    page = user_client.get(f"/leads/{lead.id}").text
    more = panel(page)
    assert "How big is your team?" in more and "11-50" in more
    assert '<span class="multiline">Line one\nLine &lt;two&gt; &amp; more</span>' in more
    assert "Line <two>" not in page
    # the timeline's entry for the submission: "Label: value" lines, never a dict
    timeline = page[page.index('id="timeline"'):]
    assert "<dt>How big is your team?</dt><dd>11-50</dd>" in timeline
    assert "<dt>Your message</dt><dd>Line one\nLine &lt;two&gt; &amp; more</dd>" in timeline
    assert "{&#39;" not in page and "{'" not in page


@pytest.mark.real_commits  # the changes are committed by a connection of their own, as another process would
def test_kept_labels_follow_a_change_to_a_forms_fields_but_not_its_submissions(app, make_user, make_lead, login_as,
                                                                              count_queries):
    import json

    from sqlalchemy import text

    from leadflow.capture import services as capture
    from leadflow.web import refcache

    form = capture.create_form(make_user("admin"), builder_data(custom=[
        {"key": "budget", "label": "Budget (EUR)", "type": "text", "options": "", "required": False,
         "order": 20, "remove": False}]))
    lead = with_custom(make_lead(first_name="Kept"), budget="10k")
    db.session.commit()
    form_id, lead_id = form.id, lead.id
    _, client = login_as("manager")
    assert "Budget (EUR)" in panel(client.get(f"/leads/{lead_id}").text)
    with count_queries() as queries:
        assert "Budget (EUR)" in panel(client.get(f"/leads/{lead_id}").text)
    assert not [q for q in queries if "FROM capture_forms" in q]  # kept for the process
    db.session.rollback()
    before = refcache.versions()["capture_forms"]
    db.session.rollback()
    with db.engine.begin() as other:  # a submission's counters: nothing to reload
        other.execute(text("UPDATE capture_forms SET submission_count = submission_count + 1, "
                           "rotation_counter = rotation_counter + 1 WHERE id = :id"), {"id": form_id})
    assert refcache.versions()["capture_forms"] == before
    db.session.rollback()
    with db.engine.begin() as other:  # raw SQL, no ORM event: the trigger alone tells
        fields = other.scalar(text("SELECT fields FROM capture_forms WHERE id = :id"), {"id": form_id})
        fields = (fields if isinstance(fields, str) else json.dumps(fields)).replace("Budget (EUR)", "Budget (USD)")
        other.execute(text("UPDATE capture_forms SET fields = :f WHERE id = :id"), {"f": fields, "id": form_id})
    more = panel(client.get(f"/leads/{lead_id}").text)
    assert "Budget (USD)" in more and "Budget (EUR)" not in more


def test_old_timeline_entries_show_their_custom_fields_as_lines(login_as, make_lead):
    """Submissions stored before the values were wrapped ("values"), and after: the same lines."""
    lead = make_lead(first_name="Old")
    db.session.add_all([
        Activity(lead_id=lead.id, kind="form_submission", subject="Submitted a form", occurred_at=utcnow(),
                 details={"first_name": "Old", "custom_fields": {"message": "From 2025"}}),
        Activity(lead_id=lead.id, kind="system", subject="Lead received through the API", occurred_at=utcnow(),
                 details={"values": {"email": "old@example.com", "custom_fields": {"plan_tier": "gold", "seats": 12}},
                          "created": False, "channel": "api", "token": "lf_abc"}),
    ])
    db.session.commit()
    _, client = login_as("manager")
    page = client.get(f"/leads/{lead.id}").text
    assert "<dt>Message</dt><dd>From 2025</dd>" in page
    assert "<dt>Plan tier</dt><dd>gold</dd>" in page and "<dt>Seats</dt><dd>12</dd>" in page
    assert "{&#39;" not in page and "&#39;message&#39;" not in page


def test_lead_page_says_when_there_are_no_more_details(login_as, make_lead):
    lead = make_lead(first_name="Plain")
    db.session.commit()
    _, client = login_as("manager")
    more = panel(client.get(f"/leads/{lead.id}").text)
    assert "No more details on this lead yet." in more and "Add a field" in more


def test_viewer_sees_the_fields_but_no_editing(login_as, make_lead):
    lead = with_custom(make_lead(first_name="Seen"), product="Acme Widgets 3000")
    _, client = login_as("viewer")
    more = panel(client.get(f"/leads/{lead.id}").text)
    assert "Acme Widgets 3000" in more and "Product" in more
    assert "Edit" not in more and "Add a field" not in more


# --- editing in place -----------------------------------------------------------------------

def test_manager_edits_a_custom_field_in_place_and_it_is_audited(login_as, make_lead):
    lead = with_custom(make_lead(first_name="Ed"), product="Widget", annual_revenue="1M")
    user, client = login_as("manager", htmx=True)
    editor = client.get(row_url(lead, "product", "/edit"))
    assert editor.status_code == 200
    assert "<textarea" in editor.text and ">Widget</textarea>" in editor.text and 'name="version"' in editor.text
    response = client.post(row_url(lead, "product"), data={"value": "  Acme Widgets 3000\r\nDeluxe  ", "version": lead.version})
    assert response.status_code == 200
    assert response.headers["HX-Trigger"] == "lead-updated"
    assert "Saved." in response.text and "Acme Widgets 3000\nDeluxe" in response.text
    saved = fresh(lead.id)
    assert saved.custom_fields == {"product": "Acme Widgets 3000\nDeluxe", "annual_revenue": "1M"}
    assert audit_entries(lead.id) == [("custom field product", "Widget", "Acme Widgets 3000\nDeluxe")]
    assert "acme widgets 3000 deluxe" in saved.search_text


def test_the_history_panel_names_a_custom_field_by_its_label(login_as, make_lead):
    lead = with_custom(make_lead(first_name="Hist"), annual_revenue="1M")
    _, client = login_as("manager", htmx=True)
    client.post(row_url(lead, "annual_revenue"), data={"value": "2M", "version": lead.version})
    history = client.get(f"/leads/{lead.id}/history").text
    assert "<strong>Annual revenue</strong>" in history and "2M" in history


def test_a_plain_form_post_saves_and_goes_back_to_the_lead_page(login_as, make_lead):
    lead = with_custom(make_lead(first_name="NoJs"), product="Widget")
    _, client = login_as("manager")
    response = client.post(row_url(lead, "product"), data={"value": "Gadget", "version": lead.version})
    assert response.status_code == 303 and response.headers["Location"].endswith(f"/leads/{lead.id}#custom-fields")
    assert fresh(lead.id).custom_fields == {"product": "Gadget"}
    assert "Product saved." in client.get(f"/leads/{lead.id}").text


@pytest.mark.parametrize("value, message", [
    ("   ", "Enter a value, or remove the field."),
    ("x" * (CUSTOM_VALUE_MAX + 1), f"Use at most {CUSTOM_VALUE_MAX} characters."),
])
def test_a_bad_value_comes_back_in_the_editor_with_the_reason(login_as, make_lead, value, message):
    lead = with_custom(make_lead(first_name="Bad"), product="Widget")
    _, client = login_as("manager", htmx=True)
    response = client.post(row_url(lead, "product"), data={"value": value, "version": lead.version})
    assert response.status_code == 422
    assert message in response.text and 'aria-invalid="true"' in response.text and "<textarea" in response.text
    assert fresh(lead.id).custom_fields == {"product": "Widget"}
    assert audit_entries(lead.id) == []


def test_a_stale_edit_is_refused_with_the_current_value(login_as, make_lead):
    lead = with_custom(make_lead(first_name="Race"), product="Widget")
    stale = lead.version
    _, client = login_as("manager", htmx=True)
    assert client.post(row_url(lead, "product"), data={"value": "First", "version": stale}).status_code == 200
    second = client.post(row_url(lead, "product"), data={"value": "Second", "version": stale})
    assert second.status_code == 409
    assert "Someone else changed this lead" in second.text and "First" in second.text
    assert fresh(lead.id).custom_fields == {"product": "First"}


def test_editing_a_field_someone_removed_meanwhile_says_so(login_as, make_lead):
    lead = with_custom(make_lead(first_name="Gone"), product="Widget", plan="Gold")
    version = lead.version
    services.update_custom_field(TEST_SETUP, fresh(lead.id), "product", None)
    db.session.commit()
    _, client = login_as("manager", htmx=True)
    response = client.post(row_url(lead, "product"), data={"value": "Back", "version": version})
    assert response.status_code == 409
    assert "Someone else removed this field meanwhile." in response.text and 'id="custom-fields"' in response.text
    assert fresh(lead.id).custom_fields == {"plan": "Gold"}


def test_rep_cannot_change_the_custom_fields_of_someone_elses_lead(login_as, make_lead, make_user):
    other = make_user("rep")
    lead = with_custom(make_lead(first_name="Theirs", owner_id=other.id), product="Widget")
    _, client = login_as("rep", htmx=True)
    assert "Edit product" not in client.get(f"/leads/{lead.id}").text
    assert client.get(row_url(lead, "product", "/edit")).status_code == 403
    assert client.post(row_url(lead, "product"), data={"value": "Hijack", "version": lead.version}).status_code == 403
    assert client.post(row_url(lead, "product", "/remove"), data={"version": lead.version}).status_code == 403
    assert client.post(f"/leads/{lead.id}/custom-fields", data={"key": "x", "value": "y"}).status_code == 403
    assert fresh(lead.id).custom_fields == {"product": "Widget"}
    assert audit_entries(lead.id) == []


def test_rep_edits_the_custom_fields_of_their_own_lead(login_as, make_lead):
    user, client = login_as("rep", htmx=True)
    lead = with_custom(make_lead(first_name="Mine", owner_id=user.id), product="Widget")
    assert client.post(row_url(lead, "product"), data={"value": "Mine now", "version": lead.version}).status_code == 200
    assert fresh(lead.id).custom_fields == {"product": "Mine now"}


def test_an_unknown_custom_field_is_404(login_as, make_lead):
    lead = with_custom(make_lead(first_name="None"), product="Widget")
    _, client = login_as("manager", htmx=True)
    assert client.get(row_url(lead, "nope", "/edit")).status_code == 404
    assert client.get(row_url(lead, "nope")).status_code == 404


def test_a_field_name_with_any_characters_is_edited_by_its_name(login_as, make_lead):
    key = "Zip/Postal Code & more?"
    lead = with_custom(make_lead(first_name="Odd"), **{key: "10115"})
    _, client = login_as("manager", htmx=True)
    assert client.get(row_url(lead, key, "/edit")).status_code == 200
    assert client.post(row_url(lead, key), data={"value": "10117", "version": lead.version}).status_code == 200
    assert fresh(lead.id).custom_fields == {key: "10117"}


# --- adding and removing --------------------------------------------------------------------

def test_adding_a_field_shows_it_in_the_panel_and_audits_it(login_as, make_lead):
    lead = make_lead(first_name="Add")
    db.session.commit()
    _, client = login_as("manager", htmx=True)
    response = client.post(f"/leads/{lead.id}/custom-fields", data={"key": " Preferred  contact time ", "value": "Mornings"})
    assert response.status_code == 200 and response.headers["HX-Trigger"] == "lead-updated"
    assert 'id="custom-fields"' in response.text and "Added “Preferred contact time”." in response.text
    assert "Mornings" in response.text
    assert fresh(lead.id).custom_fields == {"Preferred contact time": "Mornings"}
    assert audit_entries(lead.id) == [("custom field Preferred contact time", None, "Mornings")]


@pytest.mark.parametrize("data, field, message", [
    ({"key": "", "value": "x"}, "key", "Give the field a name."),
    ({"key": "k" * (CUSTOM_KEY_MAX + 1), "value": "x"}, "key", f"Use at most {CUSTOM_KEY_MAX} characters for the name."),
    ({"key": "PRODUCT", "value": "x"}, "key", "This lead already has a field named “PRODUCT”"),
    ({"key": "colour", "value": ""}, "value", "Enter a value, or remove the field."),
])
def test_a_field_that_cannot_be_added_comes_back_with_the_reason(login_as, make_lead, data, field, message):
    lead = with_custom(make_lead(first_name="No"), product="Widget")
    _, client = login_as("manager", htmx=True)
    response = client.post(f"/leads/{lead.id}/custom-fields", data=data)
    assert response.status_code == 422
    assert message in response.text
    assert f'id="custom-new-{field}-error"' in response.text and "<details class=\"add-custom-field\" open>" in response.text
    assert fresh(lead.id).custom_fields == {"product": "Widget"}


def test_a_lead_has_at_most_the_custom_fields_intake_allows(make_lead):
    lead = with_custom(make_lead(first_name="Full"), **{f"f{i}": "v" for i in range(MAX_CUSTOM_FIELDS)})
    with pytest.raises(ValidationFailed) as refused:
        services.add_custom_field(TEST_SETUP, lead, "one_more", "v")
    assert f"at most {MAX_CUSTOM_FIELDS} fields" in refused.value.errors["key"][0]


def test_a_plain_form_post_with_a_bad_field_shows_the_lead_page_with_the_errors(login_as, make_lead):
    lead = make_lead(first_name="Page")
    db.session.commit()
    _, client = login_as("manager")
    response = client.post(f"/leads/{lead.id}/custom-fields", data={"key": "colour", "value": " "})
    assert response.status_code == 422
    assert "<h1>" in response.text and "Enter a value, or remove the field." in response.text
    assert 'value="colour"' in response.text


def test_removing_a_field_takes_it_off_the_lead_and_audits_it(login_as, make_lead):
    lead = with_custom(make_lead(first_name="Rm"), product="Acme Widgets 3000", plan="Gold")
    _, client = login_as("manager", htmx=True)
    response = client.post(row_url(lead, "product", "/remove"), data={"version": lead.version})
    assert response.status_code == 200 and response.headers["HX-Trigger"] == "lead-updated"
    assert "Removed “Product”." in response.text and "Acme Widgets 3000" not in response.text
    saved = fresh(lead.id)
    assert saved.custom_fields == {"plan": "Gold"}
    assert "acme" not in saved.search_text
    assert audit_entries(lead.id) == [("custom field product", "Acme Widgets 3000", None)]


def test_removing_with_a_stale_version_is_refused(login_as, make_lead):
    lead = with_custom(make_lead(first_name="Stale"), product="Widget")
    stale = lead.version
    services.update_custom_field(TEST_SETUP, fresh(lead.id), "product", "Newer")
    db.session.commit()
    _, client = login_as("manager", htmx=True)
    response = client.post(row_url(lead, "product", "/remove"), data={"version": stale})
    assert response.status_code == 409 and "Someone else changed this lead" in response.text
    assert fresh(lead.id).custom_fields == {"product": "Newer"}


def test_the_service_refuses_a_stale_version(make_lead):
    lead = with_custom(make_lead(first_name="Svc"), product="Widget")
    with pytest.raises(VersionConflict):
        services.set_custom_field(TEST_SETUP, lead, "product", "x", expected_version=lead.version - 1)


# --- search ---------------------------------------------------------------------------------

def test_search_text_for_keeps_its_positional_form():
    assert search_text_for("Ada", "Lovelace", "ada@example.com", "+441234", "Engines") == \
        "ada lovelace ada@example.com engines +441234 441234"
    assert search_text_for("Ada", "", None, None, None, custom_fields={"a": "Acme  Widgets\n3000", "b": None, "c": 7}) == \
        "ada acme widgets 3000 7"


def test_list_and_board_search_find_a_lead_by_a_custom_field_value(login_as, make_lead):
    found = with_custom(make_lead(first_name="Found"), product="Acme Widgets 3000")
    other = with_custom(make_lead(first_name="Other"), product="Something else")
    _, client = login_as("manager")
    page = client.get("/leads?q=Acme+Widgets+3000").text
    assert f"/leads/{found.id}" in page and f"/leads/{other.id}\"" not in page
    board = client.get("/pipeline?q=widgets+3000").text
    assert f"/leads/{found.id}" in board and f"/leads/{other.id}\"" not in board


def test_a_lead_from_the_api_is_found_by_its_custom_field(make_user):
    from leadflow.leads.intake import intake_lead

    user = make_user("manager")
    result = intake_lead({"first_name": "Api", "email": "api@example.com", "custom_fields": {"product": "Acme Widgets 3000"}},
                         channel="api", actor=user)
    assert "acme widgets 3000" in result.lead.search_text


@pytest.mark.real_commits  # the migration runs on a connection of its own
def test_the_rebuild_migration_adds_custom_fields_to_old_search_text(app, make_lead):
    """An existing lead whose search text was made before custom fields counted."""
    import importlib.util
    from pathlib import Path

    from alembic.migration import MigrationContext
    from alembic.operations import Operations

    lead = make_lead(first_name="Legacy")
    lead.custom_fields = {"product": "Acme Widgets 3000"}
    lead.search_text = "legacy"
    plain = make_lead(first_name="Plain")
    db.session.commit()
    path = next(Path("migrations/versions").glob("c1f4e7a9b2d6_*.py"))
    spec = importlib.util.spec_from_file_location("search_custom_migration", path)
    migration = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(migration)
    migration.BATCH = 1
    with db.engine.begin() as conn:
        with Operations.context(Operations(MigrationContext.configure(conn))):
            migration.upgrade()
    db.session.expire_all()
    assert "acme widgets 3000" in db.session.get(Lead, lead.id).search_text
    assert db.session.get(Lead, plain.id).search_text == search_text_for("Plain", "Example", plain.email, None, None)


def test_inline_field_labels_come_from_capture_forms(make_user):
    from leadflow.capture import services as capture

    capture.create_form(make_user("admin"), builder_data(custom=[
        {"key": "budget", "label": "Your budget", "type": "text", "options": "", "required": False,
         "order": 20, "remove": False}]))
    db.session.flush()
    assert inline_field("budget").label == "Your budget"
    assert inline_field("annual_revenue").label == "Annual revenue"
