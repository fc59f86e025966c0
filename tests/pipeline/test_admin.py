"""Pipeline and stage settings at /settings/pipelines: who may use them and every rule they keep."""

from __future__ import annotations

import re

import pytest

from leadflow.activities.models import Activity
from leadflow.extensions import db
from leadflow.governance.models import AuditEntry
from leadflow.leads import services as lead_services
from leadflow.leads.models import Lead
from leadflow.pipeline.models import Pipeline, Stage, StageChange, StageTotals
from leadflow.pipeline.services import DEFAULT_STAGES, ensure_default_pipeline

URL = "/settings/pipelines"


# --- helpers ---------------------------------------------------------------------------------

def sales() -> Pipeline:
    pipeline = ensure_default_pipeline()
    db.session.commit()
    return pipeline


def stage_named(pipeline: Pipeline, name: str) -> Stage:
    return db.session.scalar(db.select(Stage).where(Stage.pipeline_id == pipeline.id, Stage.name == name))


def stage_names(pipeline_id: int) -> list[str]:
    return list(db.session.scalars(
        db.select(Stage.name).where(Stage.pipeline_id == pipeline_id).order_by(Stage.position)))


def active_pipeline_names() -> list[str]:
    return list(db.session.scalars(
        db.select(Pipeline.name).where(Pipeline.archived_at.is_(None)).order_by(Pipeline.position, Pipeline.id)))


def audit(entity_type: str, entity_id: int | None = None, action: str | None = None) -> list[AuditEntry]:
    query = db.select(AuditEntry).where(AuditEntry.entity_type == entity_type)
    if entity_id is not None:
        query = query.where(AuditEntry.entity_id == entity_id)
    if action is not None:
        query = query.where(AuditEntry.action == action)
    return list(db.session.scalars(query.order_by(AuditEntry.id)))


def text(response) -> str:
    return response.get_data(as_text=True)


def make_pipeline(name: str) -> Pipeline:
    from leadflow.pipeline.services import create_pipeline
    from tests.factories import make_user

    pipeline = create_pipeline(make_user("admin"), name)
    db.session.commit()
    return pipeline


STAGE_FORM = {"name": "Demo booked", "probability": "50", "kind": "open", "rotting_days": "5"}


# --- who may use the page ----------------------------------------------------------------------

@pytest.mark.parametrize("role", ["viewer", "rep"])
def test_viewers_and_reps_are_refused_every_page_and_action(login_as, role):
    pipeline = sales()
    stage = pipeline.stages[0]
    _, client = login_as(role)
    for url in (URL, f"{URL}/stages/{stage.id}/edit", f"{URL}/stages/{stage.id}/delete", f"{URL}/stages/{stage.id}"):
        assert client.get(url).status_code == 403, url
    posts = {
        URL: {"name": "Sneaky"},
        f"{URL}/{pipeline.id}/rename": {"name": "Renamed"},
        f"{URL}/{pipeline.id}/move": {"direction": "down"},
        f"{URL}/{pipeline.id}/stages": STAGE_FORM,
        f"{URL}/stages/{stage.id}": {**STAGE_FORM, "name": "Changed"},
        f"{URL}/stages/{stage.id}/move": {"direction": "down"},
        f"{URL}/stages/{stage.id}/delete": {},
    }
    for url, data in posts.items():
        assert client.post(url, data=data).status_code == 403, url
    db.session.expire_all()
    assert active_pipeline_names() == ["Sales"]
    assert stage_names(pipeline.id) == [s[0] for s in DEFAULT_STAGES]
    assert audit("pipeline") == [] and audit("stage") == []


def test_signed_out_visitor_is_sent_to_sign_in(client):
    response = client.get(URL)
    assert response.status_code == 302
    assert "/login" in response.headers["Location"]


@pytest.mark.parametrize("role", ["admin", "manager"])
def test_admins_and_managers_see_pipelines_with_stages_in_order_and_live_lead_counts(login_as, make_lead, role):
    pipeline = sales()
    qualified = stage_named(pipeline, "Qualified")
    make_lead(stage_id=qualified.id)
    make_lead(stage_id=qualified.id)
    trashed = make_lead(stage_id=qualified.id)
    trashed.deleted_at = trashed.created_at
    db.session.commit()
    _, client = login_as(role)

    response = client.get(URL)

    assert response.status_code == 200
    page = text(response)
    positions = [page.index(f">{name}</th>") for name, *_ in DEFAULT_STAGES]
    assert positions == sorted(positions)
    row = re.search(rf'<tr id="stage-{qualified.id}".*?</tr>', page, re.S).group(0)
    cells = re.findall(r"<t[dh][^>]*>(.*?)</t[dh]>", row, re.S)
    assert [c.strip() for c in cells[:6]] == ["3", "Qualified", "40%", '<span class="badge stage-kind-open">Open</span>',
                                              "14 days", "2"]
    assert 'name="csrf_token"' in page
    assert "Default" in page


def test_settings_page_query_count_does_not_grow_with_pipelines_or_leads(login_as, make_lead, count_queries):
    sales()
    _, client = login_as("admin")
    client.get(URL)
    with count_queries() as few:
        client.get(URL)
    for name in ("Partners", "Renewals", "Enterprise"):
        pipeline = make_pipeline(name)
        for stage in pipeline.stages[:3]:
            make_lead(stage_id=stage.id)
    db.session.commit()
    with count_queries() as many:
        assert client.get(URL).status_code == 200
    assert len(many) == len(few)


def test_empty_state_says_how_to_start(login_as):
    _, client = login_as("admin")
    page = text(client.get(URL))
    assert "No active pipelines." in page
    assert "Create one below" in page
    assert "No archived pipelines." in page


# --- pipelines ----------------------------------------------------------------------------------

def test_create_pipeline_copies_the_default_stages_and_is_audited(login_as):
    sales()
    admin, client = login_as("admin")

    response = client.post(URL, data={"name": "  Partnerships  "})

    assert response.status_code == 303
    pipeline = db.session.scalar(db.select(Pipeline).where(Pipeline.name == "Partnerships"))
    assert pipeline is not None and not pipeline.is_default
    assert [(s.name, s.probability, s.kind, s.rotting_days) for s in pipeline.stages] == list(DEFAULT_STAGES)
    assert active_pipeline_names() == ["Sales", "Partnerships"]
    [entry] = audit("pipeline", pipeline.id, "create")
    assert entry.actor_id == admin.id and entry.new_value == "Partnerships"
    assert "Pipeline “Partnerships” created" in text(client.get(URL))


def test_first_pipeline_created_becomes_the_default(login_as):
    _, client = login_as("manager")
    assert client.post(URL, data={"name": "Sales"}).status_code == 303
    assert db.session.scalar(db.select(Pipeline)).is_default


@pytest.mark.parametrize("name, message", [
    ("", "Enter a pipeline name."),
    ("   ", "Enter a pipeline name."),
    ("x" * 121, "120 characters or fewer"),
    ("sales", "already called “Sales”"),
    (" SALES ", "already called “Sales”"),
])
def test_create_pipeline_refuses_missing_long_or_duplicate_names(login_as, name, message):
    sales()
    _, client = login_as("admin")

    response = client.post(URL, data={"name": name})

    assert response.status_code == 422
    assert message in text(response)
    assert active_pipeline_names() == ["Sales"]
    assert audit("pipeline") == []


def test_a_name_used_only_by_an_archived_pipeline_can_be_reused(login_as):
    sales()
    old = make_pipeline("Partners")
    old.archived_at = old.created_at
    db.session.commit()
    _, client = login_as("admin")
    assert client.post(URL, data={"name": "Partners"}).status_code == 303
    assert active_pipeline_names() == ["Sales", "Partners"]


def test_rename_keeps_every_lead_in_its_pipeline_and_stage(login_as, make_lead):
    pipeline = sales()
    stage = stage_named(pipeline, "Contacted")
    leads = [make_lead(stage_id=stage.id) for _ in range(3)]
    db.session.commit()
    _, client = login_as("manager")

    response = client.post(f"{URL}/{pipeline.id}/rename", data={"name": "New business"})

    assert response.status_code == 303
    db.session.expire_all()
    assert db.session.get(Pipeline, pipeline.id).name == "New business"
    for lead in leads:
        lead = db.session.get(Lead, lead.id)
        assert (lead.pipeline_id, lead.stage_id) == (pipeline.id, stage.id)
    [entry] = audit("pipeline", pipeline.id, "update")
    assert (entry.field, entry.old_value, entry.new_value) == ("name", "Sales", "New business")


def test_rename_to_another_active_pipelines_name_is_refused(login_as):
    pipeline = sales()
    make_pipeline("Partners")
    _, client = login_as("admin")

    response = client.post(f"{URL}/{pipeline.id}/rename", data={"name": "partners"})

    assert response.status_code == 422
    assert "An active pipeline is already called “Partners”" in text(response)
    db.session.expire_all()
    assert db.session.get(Pipeline, pipeline.id).name == "Sales"


def test_move_buttons_reorder_pipelines(login_as):
    sales()
    partners = make_pipeline("Partners")
    make_pipeline("Renewals")
    _, client = login_as("admin")

    assert client.post(f"{URL}/{partners.id}/move", data={"direction": "up"}).status_code == 303
    db.session.expire_all()
    assert active_pipeline_names() == ["Partners", "Sales", "Renewals"]
    assert client.post(f"{URL}/{partners.id}/move", data={"direction": "down"}).status_code == 303
    assert client.post(f"{URL}/{partners.id}/move", data={"direction": "down"}).status_code == 303
    db.session.expire_all()
    assert active_pipeline_names() == ["Sales", "Renewals", "Partners"]
    page = text(client.get(URL))
    assert page.index("Stages of Sales") < page.index("Stages of Renewals") < page.index("Stages of Partners")
    assert audit("pipeline", partners.id, "reorder")


def test_moving_the_last_pipeline_down_changes_nothing(login_as):
    sales()
    partners = make_pipeline("Partners")
    _, client = login_as("admin")
    client.post(f"{URL}/{partners.id}/move", data={"direction": "down"})
    assert active_pipeline_names() == ["Sales", "Partners"]
    assert "already at the bottom" in text(client.get(URL))
    assert audit("pipeline", partners.id, "reorder") == []


def test_a_bad_direction_is_refused(login_as):
    pipeline = sales()
    _, client = login_as("admin")
    response = client.post(f"{URL}/{pipeline.id}/move", data={"direction": "sideways"})
    assert response.status_code == 422
    assert "Choose up or down." in text(response)


def test_make_default_leaves_exactly_one_default(login_as):
    pipeline = sales()
    partners = make_pipeline("Partners")
    _, client = login_as("manager")

    assert client.post(f"{URL}/{partners.id}/default").status_code == 303

    db.session.expire_all()
    defaults = list(db.session.scalars(db.select(Pipeline.name).where(Pipeline.is_default.is_(True))))
    assert defaults == ["Partners"]
    assert audit("pipeline", pipeline.id) and audit("pipeline", partners.id)


def test_archiving_the_default_pipeline_is_refused_with_a_clear_message(login_as):
    pipeline = sales()
    _, client = login_as("admin")

    response = client.post(f"{URL}/{pipeline.id}/archive")

    assert response.status_code == 422
    assert "is the default pipeline, so it cannot be archived" in text(response)
    db.session.expire_all()
    assert db.session.get(Pipeline, pipeline.id).archived_at is None
    assert audit("pipeline") == []


def test_archive_keeps_leads_in_their_stage_and_unarchive_brings_it_back(login_as, make_lead):
    sales()
    partners = make_pipeline("Partners")
    stage = stage_named(partners, "Qualified")
    lead = make_lead(stage_id=stage.id)
    db.session.commit()
    _, client = login_as("admin")

    assert client.post(f"{URL}/{partners.id}/archive").status_code == 303

    db.session.expire_all()
    assert db.session.get(Pipeline, partners.id).archived_at is not None
    assert db.session.get(Lead, lead.id).stage_id == stage.id
    page = text(client.get(URL))
    archived_section = page[page.index('id="archived-pipelines"'):]
    assert "Partners" in archived_section and "Unarchive" in archived_section
    assert active_pipeline_names() == ["Sales"]
    assert audit("pipeline", partners.id, "archive")

    assert client.post(f"{URL}/{partners.id}/unarchive").status_code == 303
    db.session.expire_all()
    assert active_pipeline_names() == ["Sales", "Partners"]
    assert db.session.get(Lead, lead.id).stage_id == stage.id


def test_unarchive_refused_while_an_active_pipeline_has_its_name(login_as):
    sales()
    old = make_pipeline("Partners")
    old.archived_at = old.created_at
    db.session.commit()
    make_pipeline("Partners")
    _, client = login_as("admin")

    response = client.post(f"{URL}/{old.id}/unarchive")

    assert response.status_code == 422
    assert "Rename one of them first" in text(response)
    db.session.expire_all()
    assert db.session.get(Pipeline, old.id).archived_at is not None


def test_stages_of_an_archived_pipeline_cannot_be_changed(login_as):
    sales()
    partners = make_pipeline("Partners")
    partners.archived_at = partners.created_at
    db.session.commit()
    stage = partners.stages[0]
    _, client = login_as("admin")

    response = client.post(f"{URL}/{partners.id}/stages", data=STAGE_FORM)
    assert response.status_code == 422
    assert "is archived. Unarchive it" in text(response)
    response = client.post(f"{URL}/stages/{stage.id}", data={**STAGE_FORM, "name": "Changed"}, headers={"HX-Request": "true"})
    assert response.status_code == 422
    db.session.expire_all()
    assert stage_names(partners.id) == [s[0] for s in DEFAULT_STAGES]


# --- stages: add ----------------------------------------------------------------------------------

def test_add_open_stage_goes_before_won_and_lost_and_is_audited(login_as):
    pipeline = sales()
    _, client = login_as("manager")

    response = client.post(f"{URL}/{pipeline.id}/stages", data=STAGE_FORM)

    assert response.status_code == 303
    assert stage_names(pipeline.id) == ["New", "Contacted", "Qualified", "Proposal sent", "Negotiation",
                                        "Demo booked", "Won", "Lost"]
    stage = stage_named(pipeline, "Demo booked")
    assert (stage.probability, stage.kind, stage.rotting_days) == (50, "open", 5)
    assert audit("stage", stage.id, "create")
    assert "Stage “Demo booked” added" in text(client.get(URL))


def test_add_lost_stage_goes_last_with_no_rotting_limit(login_as):
    pipeline = sales()
    _, client = login_as("admin")
    data = {"name": "No budget", "probability": "0", "kind": "lost", "rotting_days": ""}
    assert client.post(f"{URL}/{pipeline.id}/stages", data=data).status_code == 303
    assert stage_names(pipeline.id)[-1] == "No budget"
    assert stage_named(pipeline, "No budget").rotting_days is None


@pytest.mark.parametrize("field, value, message", [
    ("probability", "101", "whole number from 0 to 100"),
    ("probability", "-1", "whole number from 0 to 100"),
    ("probability", "fifty", "whole number from 0 to 100"),
    ("probability", "", "whole number from 0 to 100"),
    ("rotting_days", "0", "from 1 to 365"),
    ("rotting_days", "366", "from 1 to 365"),
    ("rotting_days", "2.5", "from 1 to 365"),
    ("kind", "maybe", "Choose open, won or lost."),
    ("name", "", "Enter a stage name."),
    ("name", "qualified", "already has a stage called “qualified”"),
])
def test_add_stage_with_bad_input_is_refused_and_saves_nothing(login_as, field, value, message):
    pipeline = sales()
    _, client = login_as("admin")

    response = client.post(f"{URL}/{pipeline.id}/stages", data={**STAGE_FORM, field: value})

    assert response.status_code == 422
    assert message in text(response)
    assert stage_names(pipeline.id) == [s[0] for s in DEFAULT_STAGES]
    assert audit("stage") == []


def test_add_stage_error_keeps_what_was_typed(login_as):
    pipeline = sales()
    _, client = login_as("admin")
    page = text(client.post(f"{URL}/{pipeline.id}/stages", data={**STAGE_FORM, "probability": "150"}))
    assert 'value="Demo booked"' in page and 'value="150"' in page
    assert '<details open>\n    <summary>Add a stage to “Sales”' in page


# --- stages: inline edit (htmx) -----------------------------------------------------------------

def test_edit_link_swaps_in_an_editor_row_with_labelled_inputs(login_as):
    pipeline = sales()
    stage = stage_named(pipeline, "Qualified")
    _, client = login_as("admin", htmx=True)

    response = client.get(f"{URL}/stages/{stage.id}/edit")

    assert response.status_code == 200
    html = text(response)
    assert html.lstrip().startswith(f'<tr id="stage-{stage.id}"')
    assert "<html" not in html
    assert f'hx-target="#stage-{stage.id}"' in html
    for name in ("name", "probability", "kind", "rotting_days"):
        assert f'<label for="edit-stage-{stage.id}-{name}"' in html
    assert 'name="csrf_token"' in html
    assert 'value="Qualified"' in html and 'value="40"' in html


def test_edit_without_javascript_opens_a_whole_page(login_as):
    pipeline = sales()
    stage = stage_named(pipeline, "Qualified")
    _, client = login_as("admin")
    html = text(client.get(f"{URL}/stages/{stage.id}/edit"))
    assert "<html" in html and f'<tr id="stage-{stage.id}"' in html


def test_inline_edit_saves_and_returns_the_row_with_an_event(login_as):
    pipeline = sales()
    stage = stage_named(pipeline, "Qualified")
    admin, client = login_as("admin", htmx=True)

    response = client.post(f"{URL}/stages/{stage.id}",
                           data={"name": "Discovery done", "probability": "45", "kind": "open", "rotting_days": ""})

    assert response.status_code == 200
    assert response.headers["HX-Trigger"] == "stage-changed"
    html = text(response)
    assert html.lstrip().startswith(f'<tr id="stage-{stage.id}"')
    assert "Discovery done" in html and "45%" in html and "no limit" in html and "saved" in html
    db.session.expire_all()
    stage = db.session.get(Stage, stage.id)
    assert (stage.name, stage.probability, stage.rotting_days) == ("Discovery done", 45, None)
    fields = {(e.field, e.old_value, e.new_value) for e in audit("stage", stage.id, "update")}
    assert fields == {("name", "Qualified", "Discovery done"), ("probability", "40", "45"), ("rotting_days", "14", None)}
    assert all(e.actor_id == admin.id for e in audit("stage", stage.id))


def test_inline_edit_without_javascript_redirects_with_a_flash(login_as):
    pipeline = sales()
    stage = stage_named(pipeline, "Qualified")
    _, client = login_as("manager")
    response = client.post(f"{URL}/stages/{stage.id}", data={**STAGE_FORM, "name": "Discovery"})
    assert response.status_code == 303
    assert "Stage “Discovery” saved." in text(client.get(URL))


@pytest.mark.parametrize("probability", ["101", "-5", "abc"])
def test_probability_out_of_range_gives_422_with_the_row_re_rendered(login_as, probability):
    pipeline = sales()
    stage = stage_named(pipeline, "Qualified")
    _, client = login_as("admin", htmx=True)

    response = client.post(f"{URL}/stages/{stage.id}",
                           data={"name": "Renamed too", "probability": probability, "kind": "open", "rotting_days": "9"})

    assert response.status_code == 422
    html = text(response)
    assert html.lstrip().startswith(f'<tr id="stage-{stage.id}"')
    assert "Enter the win probability as a whole number from 0 to 100." in html
    assert f'value="{probability}"' in html and 'value="Renamed too"' in html
    assert 'aria-invalid="true"' in html
    db.session.expire_all()
    stage = db.session.get(Stage, stage.id)
    assert (stage.name, stage.probability, stage.rotting_days) == ("Qualified", 40, 14)
    assert audit("stage") == []


def test_changing_the_only_won_stage_to_open_is_refused(login_as):
    pipeline = sales()
    won = stage_named(pipeline, "Won")
    _, client = login_as("admin", htmx=True)

    response = client.post(f"{URL}/stages/{won.id}",
                           data={"name": "Won", "probability": "100", "kind": "open", "rotting_days": ""})

    assert response.status_code == 422
    assert "must keep at least one open, one won and one lost stage" in text(response)
    assert "without one won stage" in text(response)
    db.session.expire_all()
    assert db.session.get(Stage, won.id).kind == "won"


def test_cancel_returns_the_plain_row(login_as):
    pipeline = sales()
    stage = stage_named(pipeline, "Qualified")
    _, client = login_as("admin", htmx=True)
    html = text(client.get(f"{URL}/stages/{stage.id}"))
    assert html.lstrip().startswith(f'<tr id="stage-{stage.id}"') and "<form class=\"stage-editor\"" not in html
    assert "Edit stage Qualified" in html


def test_saving_unchanged_values_writes_no_audit(login_as):
    pipeline = sales()
    stage = stage_named(pipeline, "New")
    _, client = login_as("admin", htmx=True)
    response = client.post(f"{URL}/stages/{stage.id}",
                           data={"name": "New", "probability": "10", "kind": "open", "rotting_days": "3"})
    assert response.status_code == 200
    assert "HX-Trigger" not in response.headers
    assert "Nothing changed." in text(response)
    assert audit("stage") == []


# --- stages: reorder --------------------------------------------------------------------------------

def test_stage_up_and_down_buttons_reorder_stages(login_as):
    pipeline = sales()
    negotiation = stage_named(pipeline, "Negotiation")
    _, client = login_as("manager")

    assert client.post(f"{URL}/stages/{negotiation.id}/move", data={"direction": "up"}).status_code == 303
    assert stage_names(pipeline.id)[3:5] == ["Negotiation", "Proposal sent"]
    assert client.post(f"{URL}/stages/{negotiation.id}/move", data={"direction": "down"}).status_code == 303
    assert client.post(f"{URL}/stages/{negotiation.id}/move", data={"direction": "down"}).status_code == 303
    assert stage_names(pipeline.id) == ["New", "Contacted", "Qualified", "Proposal sent", "Won", "Negotiation", "Lost"]
    assert audit("stage", negotiation.id, "reorder")
    page = text(client.get(URL))
    assert page.index(">Won</th>") < page.index(">Negotiation</th>") < page.index(">Lost</th>")


def test_first_stage_up_button_is_disabled_and_moving_it_up_changes_nothing(login_as):
    pipeline = sales()
    first = stage_named(pipeline, "New")
    _, client = login_as("admin")
    assert 'aria-label="Move stage New up" disabled' in text(client.get(URL))
    client.post(f"{URL}/stages/{first.id}/move", data={"direction": "up"})
    assert stage_names(pipeline.id) == [s[0] for s in DEFAULT_STAGES]


# --- stages: delete ---------------------------------------------------------------------------------

def test_delete_empty_stage_needs_no_target(login_as):
    pipeline = sales()
    stage_id = stage_named(pipeline, "Contacted").id
    admin, client = login_as("admin")

    page = text(client.get(f"{URL}/stages/{stage_id}/delete"))
    assert "No leads are in this stage." in page and "target_stage_id" not in page

    response = client.post(f"{URL}/stages/{stage_id}/delete")

    assert response.status_code == 303
    assert "Contacted" not in stage_names(pipeline.id)
    [entry] = audit("stage", stage_id, "delete")
    assert entry.actor_id == admin.id and "Deleted stage Contacted of Sales" in entry.new_value
    assert "Stage “Contacted” deleted." in text(client.get(URL))
    positions = list(db.session.scalars(db.select(Stage.position).where(Stage.pipeline_id == pipeline.id)
                                        .order_by(Stage.position)))
    assert positions == list(range(len(DEFAULT_STAGES) - 1))


def test_delete_form_for_a_stage_with_leads_asks_where_to_move_them(login_as, make_lead):
    pipeline = sales()
    stage = stage_named(pipeline, "Contacted")
    make_lead(stage_id=stage.id)
    trashed = make_lead(stage_id=stage.id)
    trashed.deleted_at = trashed.created_at
    db.session.commit()
    _, client = login_as("admin")

    page = text(client.get(f"{URL}/stages/{stage.id}/delete"))

    assert "This stage holds 1 live lead and 1 in the trash." in page
    assert '<label for="target_stage_id">Move its leads to' in page
    select = re.search(r'<select id="target_stage_id".*?</select>', page, re.S).group(0)
    options = re.findall(r'<option value="(\d+)"', select)
    assert [int(o) for o in options] == [s.id for s in pipeline.stages if s.id != stage.id]
    assert 'name="csrf_token"' in page


def test_delete_stage_with_leads_without_a_target_is_refused_and_changes_nothing(login_as, make_lead):
    pipeline = sales()
    stage = stage_named(pipeline, "Contacted")
    lead = make_lead(stage_id=stage.id)
    lead.deleted_at = lead.created_at  # even a trashed lead needs a new home
    db.session.commit()
    _, client = login_as("admin")

    response = client.post(f"{URL}/stages/{stage.id}/delete", data={"target_stage_id": ""})

    assert response.status_code == 422
    assert "holds 1 lead. Choose the stage to move them to." in text(response)
    db.session.expire_all()
    assert db.session.get(Stage, stage.id) is not None
    assert db.session.get(Lead, lead.id).stage_id == stage.id
    assert audit("stage") == []


def test_delete_stage_refuses_a_target_in_another_pipeline(login_as, make_lead):
    pipeline = sales()
    other = make_pipeline("Partners")
    stage = stage_named(pipeline, "Contacted")
    make_lead(stage_id=stage.id)
    db.session.commit()
    _, client = login_as("admin")

    for target in (other.stages[0].id, stage.id, "abc", 999999):
        response = client.post(f"{URL}/stages/{stage.id}/delete", data={"target_stage_id": target})
        assert response.status_code == 422, target
        assert "Choose another stage of “Sales” to move the leads to." in text(response)
    assert db.session.get(Stage, stage.id) is not None


def test_delete_stage_with_leads_moves_every_lead_and_records_each_move(login_as, make_lead):
    pipeline = sales()
    stage = stage_named(pipeline, "Contacted")
    stage_id = stage.id
    target = stage_named(pipeline, "Qualified")
    already_there = make_lead(stage_id=target.id, value="100")
    live = [make_lead(stage_id=stage.id, value="250") for _ in range(3)]
    trashed = make_lead(stage_id=stage.id, value="999")
    trashed.deleted_at = trashed.created_at
    db.session.commit()
    versions = {lead.id: lead.version for lead in [*live, trashed]}
    moved_ids = set(versions)
    admin, client = login_as("manager")

    response = client.post(f"{URL}/stages/{stage_id}/delete", data={"target_stage_id": str(target.id)})

    assert response.status_code == 303
    db.session.expire_all()
    assert db.session.get(Stage, stage_id) is None
    leads = {lead.id: lead for lead in db.session.scalars(db.select(Lead))}
    assert all(lead.stage_id == target.id and lead.pipeline_id == pipeline.id for lead in leads.values())
    assert all(leads[i].version == versions[i] + 1 for i in moved_ids)  # open boards see the change
    assert all(leads[i].stage_entered_at is not None for i in moved_ids)
    changes = list(db.session.scalars(db.select(StageChange).where(StageChange.to_stage_id == target.id,
                                                                   StageChange.actor_id == admin.id)))
    assert {c.lead_id for c in changes} == moved_ids and len(changes) == 4
    timeline = list(db.session.scalars(db.select(Activity).where(Activity.kind == "stage_change",
                                                                 Activity.lead_id.in_(moved_ids))))
    assert {a.lead_id for a in timeline} == moved_ids
    assert all("Moved from Contacted to Qualified" in a.subject for a in timeline)
    [entry] = audit("stage", stage_id, "delete")
    assert "moved 4 leads to Qualified" in entry.new_value
    totals = db.session.get(StageTotals, target.id)
    assert (totals.lead_count, totals.value_cents) == (4, 100_00 + 3 * 250_00)
    assert "Stage “Contacted” deleted. 4 leads moved." in text(client.get(URL))
    assert already_there.id in leads


def test_moving_leads_to_a_won_stage_makes_them_customers(login_as, make_lead):
    pipeline = sales()
    negotiation, won = stage_named(pipeline, "Negotiation"), stage_named(pipeline, "Won")
    lead = make_lead(stage_id=negotiation.id, lifecycle="opportunity")
    db.session.commit()
    assert lead.lifecycle == "opportunity"
    _, client = login_as("admin")

    response = client.post(f"{URL}/stages/{negotiation.id}/delete", data={"target_stage_id": won.id})

    assert response.status_code == 303
    db.session.expire_all()
    lead = db.session.get(Lead, lead.id)
    assert (lead.stage_id, lead.lifecycle) == (won.id, "customer")


@pytest.mark.parametrize("name, kind", [("Won", "won"), ("Lost", "lost")])
def test_cannot_delete_the_last_won_or_lost_stage(login_as, name, kind):
    pipeline = sales()
    stage = stage_named(pipeline, name)
    _, client = login_as("admin")

    page = text(client.get(f"{URL}/stages/{stage.id}/delete"))
    assert f"without one {kind} stage" in page
    assert "Delete stage</button>" not in page

    response = client.post(f"{URL}/stages/{stage.id}/delete")

    assert response.status_code == 422
    assert "must keep at least one open, one won and one lost stage" in text(response)
    assert db.session.get(Stage, stage.id) is not None
    assert audit("stage") == []


def test_cannot_delete_the_last_open_stage(login_as):
    pipeline = sales()
    from leadflow.pipeline.services import delete_stage
    admin, client = login_as("admin")
    opens = [s for s in pipeline.stages if s.kind == "open"]
    for stage in opens[:-1]:
        delete_stage(admin, stage)
    db.session.commit()
    last_open = opens[-1]

    response = client.post(f"{URL}/stages/{last_open.id}/delete")

    assert response.status_code == 422
    assert "without one open stage" in text(response)
    assert stage_names(pipeline.id) == ["Negotiation", "Won", "Lost"]


def test_deleting_a_stage_with_many_leads_uses_a_fixed_number_of_queries(login_as, count_queries):
    pipeline = sales()
    stage = stage_named(pipeline, "Contacted")
    target = stage_named(pipeline, "Qualified")
    db.session.execute(db.insert(Lead), [
        {"first_name": f"Bulk{i}", "last_name": "Lead", "stage_id": stage.id, "pipeline_id": pipeline.id,
         "search_text": f"bulk{i}"} for i in range(3000)])
    db.session.commit()
    _, client = login_as("admin")
    client.token()

    with count_queries() as queries:
        response = client.post(f"{URL}/stages/{stage.id}/delete", data={"target_stage_id": target.id})

    assert response.status_code == 303
    assert len(queries) < 40
    assert db.session.scalar(db.select(db.func.count()).select_from(Lead).where(Lead.stage_id == target.id)) == 3000
    assert db.session.scalar(db.select(db.func.count()).select_from(StageChange)
                             .where(StageChange.to_stage_id == target.id)) == 3000


# --- forms carry their CSRF token ------------------------------------------------------------------

def test_post_without_csrf_token_is_refused(login_as, client):
    sales()
    login_as("admin")
    response = client.post(URL, data={"name": "No token"})
    assert response.status_code == 400
    assert active_pipeline_names() == ["Sales"]


def test_every_form_on_the_settings_pages_carries_a_csrf_token(login_as, make_lead):
    pipeline = sales()
    stage = stage_named(pipeline, "Contacted")
    make_lead(stage_id=stage.id)
    db.session.commit()
    _, client = login_as("admin")
    pages = [text(client.get(URL)), text(client.get(f"{URL}/stages/{stage.id}/delete")),
             text(client.get(f"{URL}/stages/{stage.id}/edit"))]
    for page in pages:
        main = page[page.index('<main'):]
        forms = re.findall(r"<form\b.*?</form>", main, re.S)
        assert forms
        for form in forms:
            assert 'name="csrf_token"' in form, form[:200]


def test_several_reorders_in_one_session_follow_the_current_order(make_user):
    from leadflow.pipeline.services import add_stage, move_stage

    manager = make_user("manager")
    pipeline = ensure_default_pipeline()
    lost = stage_named(pipeline, "Lost")
    move_stage(manager, lost, "up")
    move_stage(manager, lost, "up")
    add_stage(manager, pipeline, {"name": "Demo", "probability": "30", "kind": "open"})
    db.session.commit()
    assert stage_names(pipeline.id) == ["New", "Contacted", "Qualified", "Proposal sent", "Demo", "Lost",
                                        "Negotiation", "Won"]


def test_service_refuses_roles_other_than_admin_and_manager(make_user):
    from leadflow.errors import PermissionDenied
    from leadflow.pipeline.services import create_pipeline

    for role in ("rep", "viewer"):
        with pytest.raises(PermissionDenied):
            create_pipeline(make_user(role), "Partners")
    assert db.session.scalar(db.select(db.func.count()).select_from(Pipeline)) == 0


def test_lead_service_moves_still_work_after_stage_changes(login_as, make_lead):
    """A lead can be moved into a stage added here, through the ordinary lead service."""
    pipeline = sales()
    admin, client = login_as("admin")
    client.post(f"{URL}/{pipeline.id}/stages", data=STAGE_FORM)
    lead = make_lead()
    db.session.commit()
    new_stage = stage_named(pipeline, "Demo booked")
    lead_services.update_lead(admin, lead, {"stage_id": new_stage.id})
    db.session.commit()
    assert db.session.get(Lead, lead.id).stage_id == new_stage.id
