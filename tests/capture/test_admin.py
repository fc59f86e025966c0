"""The form builder at /settings/forms: admins only."""

from __future__ import annotations

import pytest

from leadflow.accounts.models import Team
from leadflow.capture import services
from leadflow.capture.models import CaptureForm
from leadflow.errors import PermissionDenied, ValidationFailed
from leadflow.extensions import db
from leadflow.leads.models import Lead
from leadflow.pipeline.services import ensure_default_pipeline
from leadflow.routing.models import RoutingRule

from tests.capture.conftest import builder_data, form_token


def post_data(**overrides) -> dict:
    """The builder page's fields as the browser posts them."""
    data = {"name": "Contact us", "slug": "", "active": "y", "button_label": "Send", "default_source": "web form",
            "owner_rule": "none", "consent_text": "", "redirect_url": "", "thank_you_message": "",
            "std-first_name-include": "y", "std-first_name-required": "y", "std-first_name-order": "1",
            "std-first_name-label": "Your name",
            "std-email-include": "y", "std-email-required": "y", "std-email-order": "2", "std-email-label": "Email",
            "custom-0-label": "Message", "custom-0-key": "", "custom-0-type": "textarea", "custom-0-order": "3"}
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not None}


@pytest.mark.parametrize("role", ["manager", "rep", "viewer"])
def test_only_admins_reach_the_builder(login_as, role):
    _, client = login_as(role)
    assert client.get("/settings/forms").status_code == 403
    assert client.get("/settings/forms/new").status_code == 403
    assert client.post("/settings/forms/new", data=post_data()).status_code == 403
    assert db.session.scalar(db.select(db.func.count(CaptureForm.id))) == 0


def test_services_refuse_non_admins(make_user, app):
    ensure_default_pipeline()
    with pytest.raises(PermissionDenied):
        services.create_form(make_user("manager"), builder_data())


def test_empty_list_says_what_to_do(login_as):
    _, client = login_as("admin")
    page = client.get("/settings/forms").get_data(as_text=True)
    assert "No capture forms yet" in page and "Create your first form" in page


def test_admin_creates_a_form_and_sees_the_embed_snippet(login_as, app):
    ensure_default_pipeline()
    _, client = login_as("admin")
    response = client.post("/settings/forms/new", data=post_data())
    assert response.status_code == 303
    form = db.session.scalar(db.select(CaptureForm))
    assert form.slug == "contact-us" and form.active
    assert [(f["key"], f["label"], f["required"]) for f in form.fields] == [
        ("first_name", "Your name", True), ("email", "Email", True), ("message", "Message", False)]
    assert form.fields[2]["custom"] and form.fields[2]["type"] == "textarea"
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "Form “Contact us” created" in page
    assert "&lt;script src=&#34;http://localhost/f/contact-us/embed.js&#34; async&gt;&lt;/script&gt;" in page
    assert "Copy snippet" in page and "http://localhost/f/contact-us" in page
    listing = client.get("/settings/forms").get_data(as_text=True)
    assert "/f/contact-us" in listing and "Capture forms" in listing


@pytest.mark.parametrize("overrides, field, message", [
    ({"name": ""}, "name", "Give the form a name"),
    ({"slug": "Bad Slug!"}, "slug", "lower-case letters"),
    ({"redirect_url": "javascript:alert(1)"}, "redirect_url", "starting with https://"),
    ({"redirect_url": "/thanks"}, "redirect_url", "starting with https://"),
    ({"redirect_url": "ftp://example.com/x"}, "redirect_url", "starting with https://"),
    ({"redirect_url": "https://user:pw@example.com/"}, "redirect_url", "user name or password"),
    ({"redirect_url": "https://exa mple.com/"}, "redirect_url", "spaces"),
    ({"std-email-include": None}, "fields", "Include Email or Phone"),
    ({"owner_rule": "user"}, "owner_id", "Choose who receives"),
    ({"owner_rule": "round_robin"}, "team_id", "Choose the team"),
    ({"custom-0-key": "email"}, "custom-0-key", "is taken"),
    ({"custom-0-type": "select"}, "custom-0-options", "List the choices"),
])
def test_builder_refuses_bad_settings_with_422(login_as, overrides, field, message):
    ensure_default_pipeline()
    _, client = login_as("admin")
    response = client.post("/settings/forms/new", data=post_data(**overrides))
    page = response.get_data(as_text=True)
    assert response.status_code == 422
    assert "The form was not saved" in page and message in page
    assert db.session.scalar(db.select(db.func.count(CaptureForm.id))) == 0


@pytest.mark.parametrize("url", ["https://example.com/thanks", "http://example.com:8080/a?b=c#d"])
def test_redirect_url_accepts_web_addresses(url):
    assert services.check_redirect_url(url) is None


def test_slug_must_be_unique(make_form, login_as):
    make_form()
    _, client = login_as("admin")
    response = client.post("/settings/forms/new", data=post_data(slug="contact-us"))
    assert response.status_code == 422 and "already uses the address /f/contact-us" in response.get_data(as_text=True)


def test_a_second_form_with_the_same_name_gets_the_next_free_address(make_form, login_as):
    make_form()  # /f/contact-us
    _, client = login_as("admin")
    for expected in ("contact-us-2", "contact-us-3"):
        response = client.post("/settings/forms/new", data=post_data())
        assert response.status_code in (302, 303)
        assert db.session.scalar(db.select(CaptureForm.id).where(CaptureForm.slug == expected)) is not None


def test_choices_typed_for_a_field_that_is_not_a_choice_are_refused(login_as):
    ensure_default_pipeline()
    _, client = login_as("admin")
    response = client.post("/settings/forms/new", data=post_data(**{"custom-0-options": "Small\nLarge"}))
    assert response.status_code == 422
    assert "Choices are only for a “Choice from a list” field" in response.get_data(as_text=True)
    assert db.session.scalar(db.select(db.func.count(CaptureForm.id))) == 0


def test_admin_edits_fields_order_and_removes_a_custom_field(make_form, login_as):
    form = make_form()
    _, client = login_as("admin")
    page = client.get(f"/settings/forms/{form.id}").get_data(as_text=True)
    assert 'name="custom-0-remove"' in page and 'value="Contact us"' in page
    response = client.post(f"/settings/forms/{form.id}", data=post_data(**{
        "slug": "contact-us", "std-email-order": "0", "custom-0-key": "message", "custom-0-saved": "1",
        "custom-0-remove": "y", "consent_text": "Email me news."}))
    assert response.status_code == 303
    db.session.expire_all()
    form = db.session.get(CaptureForm, form.id)
    assert [f["key"] for f in form.fields] == ["email", "first_name"]
    assert form.consent_text == "Email me news."


def test_preview_renders_the_public_form_as_edited(login_as):
    _, client = login_as("admin", htmx=True)
    response = client.post("/settings/forms/preview", data=post_data(
        **{"name": "Demo", "std-phone-include": "y", "std-phone-label": "Mobile", "consent_text": "Yes please"}))
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "Mobile" in page and "Yes please" in page and "Your name" in page
    assert "disabled" in page and "form_token" not in page


def test_deactivate_activate_and_delete(make_form, login_as, client, app):
    app.config["CAPTURE_MIN_FILL_SECONDS"] = 0
    form_id = make_form().id
    token = form_token(client, "contact-us")
    client.post("/f/contact-us", data={"first_name": "Al", "email": "al@example.com", "form_token": token})
    _, staff = login_as("admin")
    response = staff.post(f"/settings/forms/{form_id}/active", data={"active": "0"})
    assert response.status_code == 303
    assert client.get("/f/contact-us").status_code == 404
    assert "is deactivated" in staff.get("/settings/forms").get_data(as_text=True)
    staff.post(f"/settings/forms/{form_id}/active", data={"active": "1"})
    assert client.get("/f/contact-us").status_code == 200
    response = staff.post(f"/settings/forms/{form_id}/delete")
    assert response.status_code == 303
    assert db.session.scalar(db.select(db.func.count(CaptureForm.id))) == 0
    assert db.session.scalar(db.select(db.func.count(Lead.id))) == 1, "the form's leads stay"
    assert staff.get(f"/settings/forms/{form_id}").status_code == 404


def test_a_form_a_routing_rule_depends_on_is_not_deleted(make_form, make_user, login_as):
    form = make_form()
    db.session.add(RoutingRule(name="Website to Ana", conditions={"form_ids": [form.id]}, target_kind="user",
                               target_user_id=make_user("rep").id))
    db.session.commit()
    _, staff = login_as("admin")
    response = staff.post(f"/settings/forms/{form.id}/delete", follow_redirects=True)
    page = response.get_data(as_text=True)
    assert "is a condition of the routing rule “Website to Ana”" in page and "deactivate the form instead" in page
    assert db.session.get(CaptureForm, form.id) is not None


def test_settings_nav_links_to_capture_forms_for_admins(login_as):
    _, client = login_as("admin")
    assert 'href="/settings/forms"' in client.get("/settings").get_data(as_text=True)


# --- owner rules -----------------------------------------------------------------------

def _submit(client, slug="contact-us", email="a@example.com"):
    token = form_token(client, slug)
    return client.post(f"/f/{slug}", data={"first_name": "A", "email": email, "form_token": token})


def test_round_robin_rotates_among_active_team_members(make_form, make_user, client, app):
    app.config["CAPTURE_MIN_FILL_SECONDS"] = 0
    team = Team(name="Inbound")
    db.session.add(team)
    db.session.flush()
    first, second = make_user("rep", team_id=team.id), make_user("rep", team_id=team.id)
    make_user("rep", team_id=team.id, active=False)
    make_user("viewer", team_id=team.id)
    make_form(owner_rule="round_robin", team_id=str(team.id))
    for n in range(4):
        _submit(client, email=f"p{n}@example.com")
    owners = [lead.owner_id for lead in db.session.scalars(db.select(Lead).order_by(Lead.id))]
    assert owners == [first.id, second.id, first.id, second.id]
    _submit(client, email="p0@example.com")
    assert db.session.scalar(db.select(Lead.owner_id).where(Lead.email_key == "p0@example.com")) == first.id, \
        "an update keeps the owner and takes no turn"


def test_single_owner_rule_and_an_inactive_owner(make_form, make_user, client, app):
    app.config["CAPTURE_MIN_FILL_SECONDS"] = 0
    owner = make_user("rep")
    form = make_form(owner_rule="user", owner_id=str(owner.id))
    _submit(client, email="one@example.com")
    owner.active = False
    db.session.commit()
    _submit(client, email="two@example.com")
    owners = dict(db.session.execute(db.select(Lead.email, Lead.owner_id)).all())
    assert owners == {"one@example.com": owner.id, "two@example.com": None}
    assert form.id


def test_a_form_owner_out_of_office_lets_the_routing_rules_decide(make_form, make_user, client, app):
    """The form names Olga, but she is away: the lead goes by the routing rules (to Ray),
    not to an inbox nobody reads until she is back."""
    from datetime import timedelta

    from leadflow.db import utcnow
    from leadflow.routing.services import create_rule

    app.config["CAPTURE_MIN_FILL_SECONDS"] = 0
    admin = make_user("admin")
    away, cover = make_user("rep", name="Olga Away"), make_user("rep", name="Ray Cover")
    create_rule(admin, {"name": "Everything to Ray", "target_kind": "user", "target_user_id": str(cover.id),
                        "strategy": "round_robin", "active": "y"})
    make_form(owner_rule="user", owner_id=str(away.id))
    _submit(client, email="before@example.com")
    away.out_of_office_until = utcnow() + timedelta(days=3)
    db.session.commit()
    _submit(client, email="during@example.com")

    owners = dict(db.session.execute(db.select(Lead.email, Lead.owner_id)).all())
    assert owners == {"before@example.com": away.id, "during@example.com": cover.id}
    from leadflow.activities.models import Activity

    assigned = db.session.scalars(db.select(Activity.subject).join(Lead, Lead.id == Activity.lead_id).where(
        Lead.email == "during@example.com", Activity.kind == "assignment")).all()
    assert len(assigned) == 1 and "Everything to Ray" in assigned[0]


def test_a_round_robin_form_skips_members_at_their_cap(make_form, make_user, client, app):
    app.config["CAPTURE_MIN_FILL_SECONDS"] = 0
    team = Team(name="Inbound")
    db.session.add(team)
    db.session.flush()
    full = make_user("rep", team_id=team.id, max_open_leads=0)
    free = make_user("rep", team_id=team.id)
    make_form(owner_rule="round_robin", team_id=str(team.id))
    for n in range(3):
        _submit(client, email=f"q{n}@example.com")
    owners = {lead.owner_id for lead in db.session.scalars(db.select(Lead))}
    assert owners == {free.id} and full.id not in owners


def test_form_stage_and_source_are_applied(make_form, client, app):
    app.config["CAPTURE_MIN_FILL_SECONDS"] = 0
    pipeline = ensure_default_pipeline()
    stage = pipeline.stages[1]
    db.session.commit()
    make_form(stage_id=str(stage.id), default_source="event")
    _submit(client)
    lead = db.session.scalar(db.select(Lead))
    assert lead.stage_id == stage.id and lead.source == "event"


def test_builder_rejects_a_stage_that_does_not_exist(app, make_user):
    ensure_default_pipeline()
    with pytest.raises(ValidationFailed) as caught:
        services.create_form(make_user("admin"), builder_data(stage_id="999999"))
    assert "stage_id" in caught.value.errors
