"""Scoring rules admin (``/settings/scoring``, admins) and the calibration report
(``/reports/scoring``, managers and admins). Form errors come back as the page with 422."""

from __future__ import annotations

from flask import Blueprint, flash, request, url_for
from flask_login import current_user

from leadflow.errors import ValidationFailed
from leadflow.extensions import db
from leadflow.jobs.runner import start as start_in_background
from leadflow.retry import after_commit
from leadflow.scoring import jobs, queries, services
from leadflow.scoring.forms import RuleForm, ThresholdsForm
from leadflow.scoring.models import RescoreJob, ScoringRule
from leadflow.web.admin import act_and_redirect, move_and_redirect, save_and_redirect
from leadflow.web.forms import apply_errors
from leadflow.web.htmx import redirect_to, render_page
from leadflow.web.permissions import admin_required, roles_required

bp = Blueprint("scoring", __name__)  # /settings/scoring/… and /reports/scoring

RESCORE_HINT = "Existing leads keep their score until you rescore them."


def _index(thresholds: ThresholdsForm | None = None, status: int = 200, job: RescoreJob | None = None):
    """The admin page; with ``job``, an htmx request gets only that job's progress."""
    context = queries.admin_context()
    if job is not None:
        context["job"] = job
    thresholds = thresholds or ThresholdsForm(data=context["settings"])
    return render_page("scoring/index.html", block="job" if job is not None else None, status=status,
                       thresholds=thresholds, **context)


def _rule_page(form: RuleForm, rule: ScoringRule | None, status: int = 200):
    return render_page("scoring/rule.html", status=status, form=form, rule=rule)


def _save_rule(form: RuleForm, rule: ScoringRule | None, action, message: str):
    if not form.validate_on_submit():
        return _rule_page(form, rule, status=422)

    def refused(errors):
        apply_errors(form, errors)
        return _rule_page(form, rule, status=422)
    return save_and_redirect(lambda: action(form.values()), refused, f"{message} {RESCORE_HINT}",
                             lambda saved: url_for("scoring.index"))


@bp.get("/settings/scoring")
@admin_required
def index():
    return _index()


@bp.route("/settings/scoring/rules/new", methods=["GET", "POST"])
@admin_required
def new_rule():
    form = RuleForm(data={"category": request.args.get("category", "fit")})
    if request.method == "GET":
        return _rule_page(form, None)
    return _save_rule(form, None, lambda values: services.create_rule(current_user, values), "Rule “{saved.name}” added.")


@bp.route("/settings/scoring/rules/<int:rule_id>", methods=["GET", "POST"])
@admin_required
def edit_rule(rule_id: int):
    rule = db.get_or_404(ScoringRule, rule_id)
    form = RuleForm(data=services.rule_input_from_model(rule))
    if request.method == "GET":
        return _rule_page(form, rule)
    return _save_rule(form, rule, lambda values: services.update_rule(current_user, rule, values),
                      "Rule “{saved.name}” saved.")


@bp.post("/settings/scoring/rules/<int:rule_id>/active")
@admin_required
def set_rule_active(rule_id: int):
    rule = db.get_or_404(ScoringRule, rule_id)
    active = request.form.get("active") == "1"
    return act_and_redirect(lambda: services.set_rule_active(current_user, rule, active),
                            f"Rule “{rule.name}” {'is on again' if active else 'is paused'}. {RESCORE_HINT}",
                            url_for("scoring.index"))


@bp.post("/settings/scoring/rules/<int:rule_id>/move")
@admin_required
def move_rule(rule_id: int):
    rule = db.get_or_404(ScoringRule, rule_id)
    direction = request.form.get("direction", "")
    return move_and_redirect(lambda: services.move_rule(current_user, rule, direction), f"Rule “{rule.name}”",
                             direction, url_for("scoring.index"))


@bp.post("/settings/scoring/rules/<int:rule_id>/delete")
@admin_required
def delete_rule(rule_id: int):
    rule = db.get_or_404(ScoringRule, rule_id)
    return act_and_redirect(lambda: services.delete_rule(current_user, rule),
                            f"Rule “{rule.name}” deleted. {RESCORE_HINT}", url_for("scoring.index"))


@bp.post("/settings/scoring/thresholds")
@admin_required
def save_thresholds():
    form = ThresholdsForm()
    if not form.validate_on_submit():
        return _index(form, status=422)
    try:
        services.update_scoring_settings(current_user, form.values())
    except ValidationFailed as exc:
        db.session.rollback()
        apply_errors(form, exc.errors)
        return _index(form, status=422)
    flash(f"Thresholds saved. {RESCORE_HINT}", "success")
    return redirect_to(url_for("scoring.index"))


@bp.post("/settings/scoring/rescore")
@admin_required
def rescore_all():
    job = jobs.queue_rescore_all(current_user)
    if start_in_background(jobs.KIND, job.id):  # it runs after the request's commit; then say how it went
        after_commit(lambda job_id=job.id: _flash_rescored(job_id))
    else:
        flash("Rescoring all leads in the background. You can leave this page; the work goes on.", "info")
    return redirect_to(url_for("scoring.index"))


def _flash_rescored(job_id: int) -> None:
    job = db.session.get(RescoreJob, job_id, populate_existing=True)
    flash(f"Rescored {job.done:,} leads; {job.changed:,} got a new score.", "success")


@bp.get("/settings/scoring/jobs/<int:job_id>")
@admin_required
def job_progress(job_id: int):
    return _index(job=db.get_or_404(RescoreJob, job_id))


@bp.get("/reports/scoring")
@roles_required("admin", "manager")
def calibration():
    return render_page("scoring/calibration.html", **queries.calibration_context())
