"""Pipeline and stage settings for admins and managers: ``/settings/pipelines``.

Parse, call a service from ``leadflow.pipeline.services``, commit once, render. Every form
error is a 422 with the page (or, for an inline stage edit, the stage row) re-rendered.
"""

from __future__ import annotations

from flask import Blueprint, flash, request, url_for
from flask_login import current_user
from sqlalchemy.orm import selectinload

from leadflow.errors import ValidationFailed
from leadflow.extensions import db
from leadflow.pipeline import services
from leadflow.pipeline.models import Pipeline, Stage
from leadflow.web.admin import save_and_redirect
from leadflow.web.htmx import is_fragment_request, redirect_to, render_page
from leadflow.web.permissions import roles_required

bp = Blueprint("pipeline_admin", __name__, url_prefix="/settings/pipelines")
manager_required = roles_required(*services.SETTINGS_ROLES)


def settings_context(errors: dict | None = None, values: dict | None = None) -> dict:
    """Everything the settings page shows: pipelines with their stages and lead counts."""
    pipelines = list(db.session.scalars(
        db.select(Pipeline).options(selectinload(Pipeline.stages))
        .order_by(Pipeline.position, Pipeline.id)
    ))
    return {
        "active": [p for p in pipelines if p.archived_at is None],
        "archived": sorted((p for p in pipelines if p.archived_at is not None),
                           key=lambda p: p.archived_at, reverse=True),
        "counts": services.stage_lead_counts(),
        "kind_labels": services.STAGE_KIND_LABELS,
        "errors": errors or {},
        "values": values or {},
    }


def _pipeline(pipeline_id: int) -> Pipeline:
    return db.get_or_404(Pipeline, pipeline_id)


def _stage(stage_id: int) -> Stage:
    return db.get_or_404(Stage, stage_id)


def _back_url(pipeline_id: int | None = None) -> str:
    return url_for("pipeline_admin.index", _anchor=f"pipeline-{pipeline_id}" if pipeline_id else None)


def _back(pipeline_id: int | None = None):
    return redirect_to(_back_url(pipeline_id))


def _save(action, success, *, form_key: str, pipeline_id: int | None = None, unchanged: str | None = None):
    """Run a service call: commit, flash ``success(result)`` and go back to the pipeline, or re-show
    the page with the errors under ``form_key`` (422)."""
    def refused(errors):
        return render_page("pipeline_admin/index.html", status=422,
                           **settings_context({form_key: errors}, {form_key: request.form}))
    return save_and_redirect(action, refused, success, lambda _result: _back_url(pipeline_id), unchanged)


@bp.get("")
@manager_required
def index():
    return render_page("pipeline_admin/index.html", **settings_context())


@bp.post("")
@manager_required
def create():
    return _save(lambda: services.create_pipeline(current_user, request.form.get("name")),
                 lambda pipeline: f"Pipeline “{pipeline.name}” created with the standard sales stages.",
                 form_key="create")


@bp.post("/<int:pipeline_id>/rename")
@manager_required
def rename(pipeline_id: int):
    pipeline = _pipeline(pipeline_id)
    old = pipeline.name
    return _save(lambda: services.rename_pipeline(current_user, pipeline, request.form.get("name")),
                 lambda _changed: f"Pipeline “{old}” renamed to “{pipeline.name}”.",
                 form_key=f"rename-{pipeline_id}", pipeline_id=pipeline_id, unchanged="The name was not changed.")


def _move(service, item, noun: str, ends: tuple[str, str], pipeline_id: int):
    """A "Move up" / "Move down" button of a pipeline or a stage; ``noun`` starts the messages."""
    direction = request.form.get("direction", "")
    return _save(lambda: service(current_user, item, direction), lambda _moved: f"{noun} moved {direction}.",
                 form_key=f"pipeline-{pipeline_id}", pipeline_id=pipeline_id,
                 unchanged=f"{noun} is already {ends[0] if direction == 'up' else ends[1]}.")


@bp.post("/<int:pipeline_id>/move")
@manager_required
def move(pipeline_id: int):
    pipeline = _pipeline(pipeline_id)
    return _move(services.move_pipeline, pipeline, f"Pipeline “{pipeline.name}”", ("at the top", "at the bottom"),
                 pipeline_id)


def _pipeline_action(pipeline_id: int, service, message: str, *, anchor: bool = True):
    """A pipeline's button (make default, archive, unarchive); ``message`` is formatted with ``name=``."""
    pipeline = _pipeline(pipeline_id)
    return _save(lambda: service(current_user, pipeline), lambda _result: message.format(name=pipeline.name),
                 form_key=f"pipeline-{pipeline_id}", pipeline_id=pipeline_id if anchor else None)


@bp.post("/<int:pipeline_id>/default")
@manager_required
def make_default(pipeline_id: int):
    return _pipeline_action(pipeline_id, services.set_default_pipeline,
                            "“{name}” is now the default pipeline for new leads.")


@bp.post("/<int:pipeline_id>/archive")
@manager_required
def archive(pipeline_id: int):
    # It leaves the list of active pipelines, so the page opens at the top.
    return _pipeline_action(pipeline_id, services.archive_pipeline,
                            "Pipeline “{name}” archived. Its leads keep their stage.", anchor=False)


@bp.post("/<int:pipeline_id>/unarchive")
@manager_required
def unarchive(pipeline_id: int):
    return _pipeline_action(pipeline_id, services.unarchive_pipeline, "Pipeline “{name}” is active again.")


@bp.post("/<int:pipeline_id>/stages")
@manager_required
def add_stage(pipeline_id: int):
    pipeline = _pipeline(pipeline_id)
    return _save(lambda: services.add_stage(current_user, pipeline, request.form),
                 lambda stage: f"Stage “{stage.name}” added to “{pipeline.name}”.",
                 form_key=f"add-stage-{pipeline_id}", pipeline_id=pipeline_id)


def _render_stage_row(stage: Stage, *, editing=False, errors=None, values=None, message=None, status=200,
                      trigger=None):
    """One stage row: the htmx target of an inline edit. A whole page holds it for plain requests."""
    return render_page(
        "pipeline_admin/stage_edit.html", block="row", status=status, trigger=trigger,
        stage=stage, pipeline=stage.pipeline, editing=editing, row_errors=errors or {},
        row_values=values or {}, message=message, counts=services.stage_lead_counts([stage.id]),
        kind_labels=services.STAGE_KIND_LABELS,
    )


@bp.get("/stages/<int:stage_id>")
@manager_required
def stage_row(stage_id: int):
    return _render_stage_row(_stage(stage_id))


@bp.get("/stages/<int:stage_id>/edit")
@manager_required
def edit_stage(stage_id: int):
    return _render_stage_row(_stage(stage_id), editing=True)


@bp.post("/stages/<int:stage_id>")
@manager_required
def update_stage(stage_id: int):
    stage = _stage(stage_id)
    try:
        changed = services.update_stage(current_user, stage, request.form)
    except ValidationFailed as exc:
        db.session.rollback()
        return _render_stage_row(_stage(stage_id), editing=True, errors=exc.errors, values=request.form,
                                 status=422)
    message = f"Stage “{stage.name}” saved." if changed else "Nothing changed."
    if not is_fragment_request():
        flash(message, "success" if changed else "info")
        return _back(stage.pipeline_id)
    return _render_stage_row(stage, message=message, trigger="stage-changed" if changed else None)


@bp.post("/stages/<int:stage_id>/move")
@manager_required
def move_stage(stage_id: int):
    stage = _stage(stage_id)
    return _move(services.move_stage, stage, f"Stage “{stage.name}”", ("first", "last"), stage.pipeline_id)


def _render_delete(stage: Stage, errors=None, status=200):
    live, trashed = services.stage_lead_counts([stage.id]).get(stage.id, (0, 0))
    return render_page(
        "pipeline_admin/stage_delete.html", status=status, stage=stage, pipeline=stage.pipeline,
        live=live, trashed=trashed, targets=[s for s in stage.pipeline.stages if s.id != stage.id],
        problem=services.stage_delete_problem(stage), errors=errors or {},
        selected=request.form.get("target_stage_id", ""),
    )


@bp.get("/stages/<int:stage_id>/delete")
@manager_required
def confirm_delete_stage(stage_id: int):
    return _render_delete(_stage(stage_id))


@bp.post("/stages/<int:stage_id>/delete")
@manager_required
def delete_stage(stage_id: int):
    stage = _stage(stage_id)
    name, pipeline_id = stage.name, stage.pipeline_id

    def deleted(moved: int) -> str:
        note = f" {moved} lead{'s' if moved != 1 else ''} moved." if moved else ""
        return f"Stage “{name}” deleted.{note}"
    return save_and_redirect(lambda: services.delete_stage(current_user, stage, request.form.get("target_stage_id")),
                             lambda errors: _render_delete(_stage(stage_id), errors=errors, status=422),
                             deleted, lambda _moved: _back_url(pipeline_id))
