"""The board: /pipeline (default pipeline) and /pipeline/<id>."""

from __future__ import annotations

from flask import Blueprint, abort, flash, request, url_for
from htmx_flask import make_response
from jinja2_fragments.flask import render_block
from flask_login import current_user, login_required
from sqlalchemy.orm.exc import StaleDataError

from leadflow.db import commit_with_next_statement, parse_id
from leadflow.errors import PermissionDenied, ValidationFailed, VersionConflict
from leadflow.extensions import db
from leadflow.leads.models import Lead
from leadflow.leads.policy import can_edit_lead
from leadflow.accounts.zones import user_zone
from leadflow.pipeline import board, history
from leadflow.pipeline.models import Pipeline, Stage
from leadflow.pipeline.moves import MoveNeedsDetails, lead_to_move, move_lead
from leadflow.governance.money import current_rates
from leadflow.governance.settings import set_setting
from leadflow.web.formatting import local_today
from leadflow.web.htmx import redirect_to, render_page, retarget
from leadflow.web.permissions import admin_required

bp = Blueprint("pipeline", __name__, url_prefix="/pipeline")


def _pipeline_or_404(pipeline_id: int | None) -> Pipeline:
    if pipeline_id is None:
        pipeline = board.default_pipeline()
    else:
        pipeline = db.session.get(Pipeline, pipeline_id)
    if pipeline is None or pipeline.archived_at is not None:
        abort(404)
    return pipeline


@bp.get("", defaults={"pipeline_id": None})
@bp.get("/<int:pipeline_id>")
@login_required
def board_page(pipeline_id: int | None):
    live = board.live_pipelines()
    pipeline = board.pick_pipeline(live.pipelines, pipeline_id)
    if pipeline is None and pipeline_id is not None:
        abort(404)
    if pipeline is None:
        return render_page("pipeline/board.html", pipeline=None, pipelines=[], columns=[])
    filters = board.BoardFilters.from_args(request.args)
    if "as_of" in request.args:  # the board as it stood at the end of a past day, read-only
        zone = user_zone(current_user)
        as_of = history.parse_as_of(request.args["as_of"], local_today(zone))
        return render_page("pipeline/board_as_of.html", block="board", status=400 if as_of.problem else 200,
                           pipelines=live.pipelines, **history.as_of_context(pipeline, as_of, zone, filters, current_user))
    return render_page("pipeline/board.html", block="board",
                       **board.board_context(pipeline, filters, current_user, live))


@bp.get("/<int:pipeline_id>/stamp")
@login_required
def stamp(pipeline_id: int):
    """Polled by open boards: 204 while nothing changed, else an event that reloads the board."""
    pipeline = _pipeline_or_404(pipeline_id)
    changed = request.args.get("seen") != board.board_stamp(pipeline)
    response = make_response("", 200 if changed else 204, trigger="board-stale" if changed else None)
    response.vary.add("HX-Request")
    return response


@bp.get("/<int:pipeline_id>/stages/<int:stage_id>/cards")
@login_required
def more_cards(pipeline_id: int, stage_id: int):
    stage = board.column_stage(stage_id)
    if stage is None or stage.pipeline_id != pipeline_id:
        abort(404)
    try:
        rank, lead_id = request.args.get("after", "").split(":", 1)
        after = (float(rank), int(lead_id))
    except ValueError:
        abort(400, description="The 'after' argument must look like <rank>:<id>.")
    filters = board.BoardFilters.from_args(request.args)
    fields = board.card_fields()
    cards, has_more = board.column_cards(stage, filters, current_user, after=after, fields=fields)
    context = board.board_context_light(stage.pipeline, filters, current_user, fields)
    return render_page("pipeline/_cards.html", stage=stage, cards=cards, has_more=has_more, **context)


@bp.get("/leads/<int:lead_id>/move-control")
@login_required
def move_control(lead_id: int):
    """A card's "Move to…" control: the button, or with ``pick=1`` the stage picker."""
    lead = db.session.get(Lead, lead_id)
    if lead is None or lead.deleted_at is not None or lead.pipeline is None:
        abort(404)
    if not can_edit_lead(current_user, lead):
        abort(403)
    filters = board.BoardFilters.from_args(request.args)
    context = board.board_context_light(lead.pipeline, filters, current_user)
    return render_page("pipeline/_move_control.html", lead=lead, picking=request.args.get("pick") == "1",
                       stages=lead.pipeline.stages, **context)


@bp.post("/move")
@login_required
def move():
    form = request.form
    try:
        lead_id, stage_id = int(form.get("lead_id", "")), int(form.get("stage_id", ""))
    except ValueError:
        abort(400, description="lead_id and stage_id must be numbers.")
    if parse_id(lead_id) is None or parse_id(stage_id) is None:
        abort(404)  # larger than any id: there is no such lead or stage
    lead, target = lead_to_move(lead_id, stage_id)  # the move takes ``target`` from the session
    if lead is None or lead.deleted_at is not None:
        abort(404)
    try:
        expected = int(form["version"]) if form.get("version") else None
    except ValueError:
        expected = None
    mode = "select" if form.get("mode") == "select" else "drag"
    details = {"lost_reason": form.get("lost_reason"), "value": form.get("value"),
               "expected_close_date": form.get("expected_close_date"), "won_reason": form.get("won_reason"),
               "confirm": form.get("confirm") == "y"}
    filters = board.BoardFilters.from_args(request.args)
    # The answer's rates (its headers, the card), read before the move: the reference versions
    # come with them, so the other areas' listeners, whose rules are kept for the process, find
    # them read and run no statement (nor a savepoint of their own) to check them.
    rates = current_rates()
    try:
        result = move_lead(current_user, lead, stage_id, expected_version=expected,
                           above_id=form.get("above_id"), below_id=form.get("below_id"), details=details)
        db.session.flush()
    except MoveNeedsDetails as needs:
        db.session.rollback()
        stage = db.session.get(Stage, stage_id)
        response = render_page("pipeline/_move_dialog.html", lead=db.session.get(Lead, lead_id), stage=stage,
                               kind=needs.kind, form=form, mode=mode, errors={}, filters=filters)
        return retarget(response, "#board-dialog", "innerHTML")
    except ValidationFailed as exc:
        db.session.rollback()
        stage = db.session.get(Stage, stage_id)
        if stage is not None and stage.kind in ("won", "lost") and form.get("from_dialog"):
            response = render_page("pipeline/_move_dialog.html", status=422, lead=db.session.get(Lead, lead_id),
                                   stage=stage, kind=stage.kind, form=form, mode=mode, errors=exc.errors,
                                   filters=filters)
            return retarget(response, "#board-dialog", "innerHTML")
        return _board_refresh(lead.pipeline_id, filters, str(exc), 422)
    except (VersionConflict, StaleDataError):
        db.session.rollback()
        fresh = db.session.get(Lead, lead_id)
        return _board_refresh(fresh.pipeline_id, filters,
                              f"{fresh.name} was changed by someone else meanwhile. The board now shows its "
                              "current state; move it again if needed.", 409)
    except PermissionDenied:
        db.session.rollback()
        return _board_refresh(lead.pipeline_id, filters, "You can only move leads you own or unassigned leads.", 403)
    context = board.board_context_light(result.lead.pipeline, filters, current_user, rates=rates)
    with commit_with_next_statement():  # the headers' statement, which adds the move's totals, is its last
        headers = board.column_headers(result.columns, filters, current_user, rates, card=result.lead)
    return render_page("pipeline/_move_result.html", lead=result.lead, headers=headers, mode=mode,
                       moved_stage=result.changed_stage, from_dialog=bool(form.get("from_dialog")), **context,
                       trigger={"stage-changed": {"lead": result.lead.id}},
                       reswap="delete" if mode == "select" or request.form.get("from_dialog") else None)


def _board_refresh(pipeline_id: int | None, filters, message: str, status: int):
    pipeline = _pipeline_or_404(pipeline_id)
    body = render_block("pipeline/board.html", "board", message=message,
                        **board.board_context(pipeline, filters, current_user))
    return retarget(make_response(body, status), "#board", "outerHTML")


@bp.get("/<int:pipeline_id>/forecast")
@login_required
def forecast(pipeline_id: int):
    pipeline = board.forecast_pipeline(pipeline_id)
    if pipeline is None:
        abort(404)
    filters = board.BoardFilters.from_args(request.args)
    return render_page("pipeline/_forecast.html", pipeline=pipeline, filters=filters,
                       forecast=board.forecast(pipeline, filters, current_user))


@bp.route("/card-fields", methods=["GET", "POST"])
@admin_required
def card_fields():
    """Admins choose which extra fields every board card shows."""
    status = 200
    errors = []
    if request.method == "POST":
        chosen = request.form.getlist("fields")
        unknown = [f for f in chosen if f not in board.CARD_FIELD_CHOICES]
        if unknown:
            errors.append("Choose only from the listed fields.")
            status = 422
        else:
            set_setting(current_user, "board_card_fields", chosen)
            flash("Card fields saved. Every board card now shows them.", "success")
            return redirect_to(url_for("pipeline.board_page"))
    return render_page("pipeline/card_fields.html", status=status, errors=errors,
                       choices=board.CARD_FIELD_CHOICES, chosen=board.card_fields())
