"""Timeline, tasks, "My work" and the calendar feed."""

from __future__ import annotations

from flask import Blueprint, abort, current_app, flash, make_response, request, url_for
from flask_login import current_user, login_required
from sqlalchemy.orm.exc import StaleDataError

from leadflow.accounts.models import User
from leadflow.accounts.views import safe_next_url
from leadflow.accounts.zones import user_zone
from leadflow.activities import queries, services
from leadflow.activities.forms import ActivityForm, next_step_form, task_form_data
from leadflow.activities.ical import build_calendar
from leadflow.activities.models import CALL_OUTCOMES, TASK_KIND_LABELS, Task, kind_label
from leadflow.db import get_by_id, utcnow
from leadflow.errors import ValidationFailed, VersionConflict
from leadflow.extensions import db, limiter
from leadflow.leads.models import Lead
from leadflow.leads.page import lead_detail_context
from leadflow.leads.policy import can_edit_lead
from leadflow.leads.queries import load_lead_for_page
from leadflow.pipeline import board
from leadflow.pipeline.board import BoardFilters
from leadflow.web import formatting
from leadflow.web.forms import apply_errors
from leadflow.web.htmx import is_fragment_request, redirect_to, render_page, retarget
from leadflow.web.permissions import writer_required

bp = Blueprint("activities", __name__)

LEAD_PAGE = "leads/detail.html"
MY_WORK = "activities/my_work.html"


bp.add_app_template_global(kind_label, "kind_label")
bp.add_app_template_global(CALL_OUTCOMES, "call_outcomes")
bp.add_app_template_global(TASK_KIND_LABELS, "task_kind_labels")


@bp.app_template_global()
def calendar_feed_of(user):
    return services.calendar_feed_of(user)


@bp.app_template_global()
def due_text(task, zone, now):
    return formatting.due_text(task.due_at, zone, now)


def _lead_or_404(lead_id: int) -> Lead:
    lead = load_lead_for_page(lead_id)
    if lead is None or lead.deleted_at is not None:
        abort(404)
    return lead


def _task_or_404(task_id: int) -> Task:
    task = db.session.get(Task, task_id)
    if task is None or task.lead is None or task.lead.deleted_at is not None:
        abort(404)
    return task


def _version(form) -> int | None:
    try:
        return int(form.get("version", ""))
    except ValueError:
        return None


# --- timeline ------------------------------------------------------------------------------

@bp.get("/leads/<int:lead_id>/timeline")
@login_required
def timeline(lead_id: int):
    """The lead page with its timeline filtered (``type``), or for htmx the timeline alone;
    with ``after`` (a cursor) the next older entries, for scrolling."""
    lead = _lead_or_404(lead_id)
    after = queries.parse_cursor(request.args.get("after"))
    context = lead_detail_context(lead, current_user, timeline_kind=request.args.get("type", ""))
    if after is not None:
        context.update(queries.timeline_context(lead, request.args.get("type", ""), after))
        return render_page(LEAD_PAGE, block="timeline_more", **context)
    return render_page(LEAD_PAGE, block="timeline", **context)


@bp.post("/leads/<int:lead_id>/activities")
@login_required
def log_activity(lead_id: int):
    lead = _lead_or_404(lead_id)
    if not services.can_log_activity(current_user, lead):
        abort(403)
    form = ActivityForm()
    try:
        activity = services.log_activity(current_user, lead, {
            "kind": form.kind.data, "outcome": form.outcome.data, "duration_minutes": form.duration_minutes.data,
            "subject": form.subject.data, "body": form.body.data})
    except ValidationFailed as exc:
        db.session.rollback()
        apply_errors(form, exc.errors)
        context = lead_detail_context(_lead_or_404(lead_id), current_user, activity_form=form)
        response = render_page(LEAD_PAGE, block="log_form", status=422, **context)
        return retarget(response, "#log-activity") if is_fragment_request() else response
    if not is_fragment_request():
        flash("Activity logged.", "success")
        return redirect_to(url_for("leads.detail", lead_id=lead_id))
    lead = _lead_or_404(lead_id)
    context = lead_detail_context(lead, current_user)
    prompt = not context["open_tasks"]
    if prompt:
        context["task_form"] = next_step_form(lead, current_user, context["now"],
                                              title=f"Follow up with {lead.name}"[:200])
    context["next_step_prompt"] = prompt
    return render_page("activities/_logged.html", entry=activity, trigger={"activity-logged": {"lead": lead.id}},
                       **context)


# --- tasks on the lead page ---------------------------------------------------------------

def _create_task(lead: Lead):
    """Create the next step posted for ``lead``: (task, None), or (None, the form with its errors)."""
    form = next_step_form(lead, current_user, utcnow(), data=request.form)
    try:
        task = services.create_task(current_user, lead, task_form_data(form))
        return task, form
    except ValidationFailed as exc:
        db.session.rollback()
        apply_errors(form, exc.errors)
        return None, form


@bp.post("/leads/<int:lead_id>/tasks")
@writer_required
def create_task(lead_id: int):
    lead = _lead_or_404(lead_id)
    task, form = _create_task(lead)
    if task is None:
        context = lead_detail_context(_lead_or_404(lead_id), current_user, task_form=form, next_step_open=True)
        return render_page(LEAD_PAGE, block="tasks", status=422, **context)
    if not is_fragment_request():
        flash(f"Next step added: {task.title}.", "success")
        return redirect_to(url_for("leads.detail", lead_id=lead_id))
    context = lead_detail_context(_lead_or_404(lead_id), current_user, task_message=f"Next step added: {task.title}.")
    return render_page(LEAD_PAGE, block="tasks", trigger={"task-changed": {"task": task.id}}, **context)


# --- the next-step form elsewhere: board cards and "My work" ------------------------------

PLACES = ("card", "work")


def _place_query(place: str) -> str:
    """What the answer is drawn with travels with the form: a card's board filters, or
    whose "My work" page it is."""
    from urllib.parse import urlencode

    if place == "card":
        return BoardFilters.from_args(request.args).query_string()
    user = request.args.get("user", "")
    return urlencode({"user": user}) if user.isdigit() else ""


def _place() -> str:
    place = request.values.get("place", "card")
    if place not in PLACES:
        abort(400, description="place must be card or work.")
    return place


@bp.get("/leads/<int:lead_id>/next-step")
@writer_required
def next_step(lead_id: int):
    """The "Add next step" button of a board card or a "My work" row, or with ``open=1`` its form."""
    lead = _lead_or_404(lead_id)
    if not can_edit_lead(current_user, lead):
        abort(403)
    opening = request.args.get("open") == "1"
    form = next_step_form(lead, current_user, utcnow()) if opening else None
    place = _place()
    return render_page("activities/_next_step.html", lead=lead, form=form, place=place,
                       extra_query=_place_query(place), opening=opening)


@bp.post("/leads/<int:lead_id>/next-step")
@writer_required
def add_next_step(lead_id: int):
    """Create the next step from a card (answers with the card) or "My work" (the sections)."""
    lead = _lead_or_404(lead_id)
    place = _place()
    task, form = _create_task(lead)
    if task is None:
        response = render_page("activities/_next_step.html", status=422, lead=lead, form=form, place=place,
                               extra_query=_place_query(place), opening=True)
        return retarget(response, f"#next-step-{lead.id}", "innerHTML") if is_fragment_request() else response
    trigger = {"task-changed": {"task": task.id}}
    if not is_fragment_request():
        flash(f"Next step added: {task.title}.", "success")
        return redirect_to(url_for("activities.my_work") if place == "work" else url_for("pipeline.board_page"))
    if place == "work":
        person = _work_person()
        return render_page(MY_WORK, block="sections", trigger=trigger,
                           message=f"Next step added for {lead.name}: {task.title}.",
                           **queries.my_work_context(person, utcnow(), current_user))
    lead = _lead_or_404(lead_id)
    if lead.pipeline is None:
        return redirect_to(url_for("leads.detail", lead_id=lead.id))
    context = board.board_context_light(lead.pipeline, board.BoardFilters.from_args(request.args), current_user)
    return render_page("pipeline/_card.html", lead=lead, trigger=trigger, **context)


# --- task actions (anywhere a task row is shown) ------------------------------------------

def _task_row(task_id: int, *, status: int = 200, message: str | None = None, trigger=None, rescheduling=False,
              errors=(), due_value: str | None = None):
    task = _task_or_404(task_id)
    zone = user_zone(current_user)
    return render_page("activities/task.html", block="row", status=status, trigger=trigger, task=task, now=utcnow(),
                       zone=zone, conflict=status == 409,
                       can_manage=lambda t: services.can_manage_task(current_user, t), show_lead=True,
                       message=message, rescheduling=rescheduling, errors=list(errors),
                       due_value=due_value if due_value is not None else formatting.local_input_value(task.due_at, zone))


def _task_action(task_id: int, action, done_message: str):
    task = _task_or_404(task_id)
    if not services.can_manage_task(current_user, task):
        abort(403)
    try:
        changed = action(task)
        db.session.flush()
    except ValidationFailed as exc:
        db.session.rollback()
        return _task_row(task_id, status=422, rescheduling=True, due_value=request.form.get("due", ""),
                         errors=[m for ms in exc.errors.values() for m in ms])
    except (VersionConflict, StaleDataError):
        db.session.rollback()
        return _task_row(task_id, status=409,
                         message="Someone else changed this task meanwhile. This is how it is now; try again if needed.")
    if not is_fragment_request():
        flash(done_message if changed else "Nothing to change.", "success")
        back = request.form.get("next")
        return redirect_to(safe_next_url(back) if back else url_for("activities.my_work"))
    return _task_row(task_id, message=done_message if changed else None,
                     trigger={"task-changed": {"task": task_id}} if changed else None)


@bp.post("/tasks/<int:task_id>/complete")
@writer_required
def complete_task(task_id: int):
    return _task_action(task_id, lambda t: services.complete_task(
        current_user, t, expected_version=_version(request.form)), "Done. It is on the lead's timeline.")


@bp.post("/tasks/<int:task_id>/reopen")
@writer_required
def reopen_task(task_id: int):
    return _task_action(task_id, lambda t: services.reopen_task(
        current_user, t, expected_version=_version(request.form)), "Reopened.")


@bp.get("/tasks/<int:task_id>/reschedule")
@writer_required
def reschedule_form(task_id: int):
    task = _task_or_404(task_id)
    if not services.can_manage_task(current_user, task):
        abort(403)
    return _task_row(task_id, rescheduling=request.args.get("cancel") != "1")


@bp.post("/tasks/<int:task_id>/reschedule")
@writer_required
def reschedule_task(task_id: int):
    return _task_action(task_id, lambda t: services.reschedule_task(
        current_user, t, request.form.get("due"), expected_version=_version(request.form)), "Rescheduled.")


# --- My work -------------------------------------------------------------------------------

def _work_person() -> User:
    """Whose work to show: mine, or for managers and admins anyone's (``?user=``)."""
    raw = request.values.get("user", "")
    if not raw or raw == str(current_user.id):
        return current_user._get_current_object()
    if current_user.role not in ("admin", "manager"):
        abort(403)
    person = get_by_id(User, raw)
    if person is None:
        abort(404)
    return person


@bp.get("/tasks")
@login_required
def my_work():
    context = queries.my_work_context(_work_person(), utcnow(), current_user)
    return render_page(MY_WORK, block="sections", **context)


# --- calendar feed ---------------------------------------------------------------------------

@bp.get("/calendar/<token>.ics")
@limiter.limit(lambda: current_app.config["CALENDAR_FEED_RATE_LIMIT"])  # per client address, any token
def calendar_feed(token: str):
    """A user's tasks for calendar apps. No sign-in: the secret address is the key."""
    user = services.user_for_calendar_token(token)
    if user is None:
        abort(404)
    now = utcnow()
    body = build_calendar(
        services.calendar_tasks(user, now), name=f"LeadFlow tasks · {user.name}", now=now,
        lead_url=lambda lead_id: url_for("leads.detail", lead_id=lead_id, _external=True),
        domain=request.host.split(":")[0] or "leadflow")
    response = make_response(body)
    response.headers["Content-Type"] = "text/calendar; charset=utf-8"
    response.headers["Content-Disposition"] = 'inline; filename="leadflow-tasks.ics"'
    response.headers["Cache-Control"] = "private, no-store"
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


def _feed_section(token: str | None = None, message: str | None = None):
    return render_page("activities/calendar_feed.html", block="feed",
                       feed=services.calendar_feed_of(current_user), token=token, message=message,
                       feed_url=url_for("activities.calendar_feed", token=token, _external=True) if token else None)


@bp.post("/account/calendar")
@login_required
def new_calendar_feed():
    token = services.issue_calendar_token(current_user)
    return _feed_section(token, "Your new calendar address is below. Any earlier address no longer works.")


@bp.post("/account/calendar/revoke")
@login_required
def revoke_calendar_feed():
    revoked = services.revoke_calendar_feed(current_user)
    return _feed_section(message="Calendar address turned off. Calendars using it stop updating."
                         if revoked else "There was no calendar address to turn off.")

