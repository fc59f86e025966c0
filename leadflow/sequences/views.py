"""Sequences and e-mail templates: ``/sequences``. Managers and admins edit; anyone who may
edit a lead enrols it. Parse, call ``services``, commit once, render; form errors are the
page again with 422."""

from __future__ import annotations

from flask import Blueprint, abort, flash, request, url_for
from flask_login import current_user, login_required

from leadflow.db import get_by_id
from leadflow.errors import DomainError, ValidationFailed
from leadflow.extensions import db
from leadflow.leads.models import Lead
from leadflow.leads.policy import can_edit_lead
from leadflow.sequences import queries, services
from leadflow.sequences.models import EmailTemplate, Enrollment, Sequence, SequenceStep
from leadflow.sequences.templates import TemplateError, render_for_lead, unknown_fields
from leadflow.web.admin import act_and_redirect, apply_or_flash, save_and_redirect
from leadflow.web.htmx import redirect_to, render_page
from leadflow.web.permissions import roles_required

bp = Blueprint("sequences", __name__, url_prefix="/sequences")

manager_required = roles_required("admin", "manager")
TEMPLATE_FIELDS = ("name", "subject", "body")


# --- sequences ------------------------------------------------------------------------------

@bp.get("/")
@login_required
def index():
    return render_page("sequences/index.html", sequences=queries.sequences_list(),
                       can_manage=services.can_manage_sequences(current_user), values={}, errors={})


@bp.post("/")
@manager_required
def create():
    values = request.form.to_dict()
    try:
        sequence = services.create_sequence(current_user, {**values, "active": "y", "exit_on_reply": "y",
                                                           "exit_on_won_lost": "y"})
    except ValidationFailed as error:
        db.session.rollback()
        return render_page("sequences/index.html", status=422, sequences=queries.sequences_list(), can_manage=True,
                           values=values, errors=error.errors)
    flash(f"Sequence “{sequence.name}” created. Add its steps.", "success")
    return redirect_to(url_for("sequences.edit", sequence_id=sequence.id))


def _sequence(sequence_id: int) -> Sequence:
    return db.get_or_404(Sequence, sequence_id)


@bp.get("/<int:sequence_id>")
@login_required
def edit(sequence_id: int):
    sequence = _sequence(sequence_id)
    return render_page("sequences/edit.html", block="enrollments", errors={},
                       can_manage=services.can_manage_sequences(current_user),
                       **queries.editor_context(sequence, request.args.get("state")))


@bp.post("/<int:sequence_id>")
@manager_required
def update(sequence_id: int):
    sequence = _sequence(sequence_id)
    try:
        services.update_sequence(current_user, sequence, request.form.to_dict())
    except ValidationFailed as error:
        db.session.rollback()
        return render_page("sequences/edit.html", status=422, errors=error.errors, can_manage=True,
                           **queries.editor_context(_sequence(sequence_id)))
    flash(f"Sequence “{sequence.name}” saved.", "success")
    return redirect_to(url_for("sequences.edit", sequence_id=sequence.id))


@bp.post("/<int:sequence_id>/delete")
@manager_required
def delete(sequence_id: int):
    sequence = _sequence(sequence_id)
    return act_and_redirect(lambda: services.delete_sequence(current_user, sequence),
                            f"Sequence “{sequence.name}” deleted.", url_for("sequences.index"))


@bp.post("/<int:sequence_id>/steps")
@manager_required
def add_step(sequence_id: int):
    sequence = _sequence(sequence_id)
    return act_and_redirect(lambda: services.add_step(current_user, sequence, request.form.to_dict()), "Step added.",
                            _steps_url(sequence_id))


def _steps_url(sequence_id: int) -> str:
    return url_for("sequences.edit", sequence_id=sequence_id) + "#steps"


def _step(sequence_id: int, step_id: int) -> SequenceStep:
    step = db.get_or_404(SequenceStep, step_id)
    if step.sequence_id != sequence_id:
        abort(404)
    return step


@bp.post("/<int:sequence_id>/steps/<int:step_id>/move")
@manager_required
def move_step(sequence_id: int, step_id: int):
    step = _step(sequence_id, step_id)
    offset = -1 if request.form.get("direction") == "up" else 1
    return act_and_redirect(lambda: services.move_step(current_user, step, offset), "Step moved.",
                            _steps_url(sequence_id))


@bp.post("/<int:sequence_id>/steps/<int:step_id>/delete")
@manager_required
def remove_step(sequence_id: int, step_id: int):
    step = _step(sequence_id, step_id)
    return act_and_redirect(lambda: services.remove_step(current_user, step), "Step removed.",
                            _steps_url(sequence_id))


# --- enrolment -------------------------------------------------------------------------------

def _editable_lead(lead_id: int) -> Lead:
    lead = db.get_or_404(Lead, lead_id)
    if not can_edit_lead(current_user, lead):
        abort(403)
    return lead


@bp.post("/enrol/<int:lead_id>")
@login_required
def enrol(lead_id: int):
    lead = _editable_lead(lead_id)
    sequence = get_by_id(Sequence, request.form.get("sequence_id"))
    if sequence is None:
        flash("Choose the sequence to enrol the lead in.", "error")
    else:
        apply_or_flash(lambda: services.enroll(lead, sequence, current_user),
                        f"{lead.name} is enrolled in “{sequence.name}”. The first step runs within a minute.")
    return redirect_to(url_for("leads.detail", lead_id=lead.id) + "#sequences")


@bp.post("/enrollments/<int:enrollment_id>/stop")
@login_required
def stop(enrollment_id: int):
    enrollment = db.get_or_404(Enrollment, enrollment_id)
    apply_or_flash(lambda: services.stop_enrollment(current_user, enrollment),
                    f"{enrollment.lead.name} left “{enrollment.sequence.name}”.")
    back = request.form.get("back")
    if back != "sequence":
        return redirect_to(url_for("leads.detail", lead_id=enrollment.lead_id) + "#sequences")
    return redirect_to(url_for("sequences.edit", sequence_id=enrollment.sequence_id))


# --- templates ------------------------------------------------------------------------------

@bp.get("/templates")
@manager_required
def templates():
    return render_page("sequences/templates.html", templates=queries.templates_list())


def _template_values(source=None) -> dict:
    source = source if source is not None else request.form
    return {key: source.get(key, "") for key in TEMPLATE_FIELDS}


def _template_page(template: EmailTemplate | None, values: dict, errors=None, status: int = 200):
    return render_page("sequences/template_edit.html", status=status,
                       unknown=unknown_fields(values["subject"], values["body"]),
                       **queries.template_editor_context(template, values, current_user, errors))


def _save_template(action, template: EmailTemplate | None, values: dict, success: str):
    return save_and_redirect(action, lambda errors: _template_page(template, values, errors, status=422), success,
                             lambda saved: url_for("sequences.edit_template", template_id=saved.id))


@bp.route("/templates/new", methods=["GET", "POST"])
@manager_required
def new_template():
    if request.method == "GET":
        return _template_page(None, {"name": "", "subject": "", "body": "Hi {{ first_name }},\n\n\n{{ owner_signature }}"})
    values = _template_values()
    return _save_template(lambda: services.create_template(current_user, values), None, values,
                          "Template “{saved.name}” created.")


@bp.route("/templates/<int:template_id>", methods=["GET", "POST"])
@manager_required
def edit_template(template_id: int):
    template = db.get_or_404(EmailTemplate, template_id)
    if request.method == "GET":
        return _template_page(template, {key: getattr(template, key) for key in TEMPLATE_FIELDS})
    values = _template_values()
    return _save_template(lambda: services.update_template(current_user, template, values), template, values,
                          "Template “{saved.name}” saved.")


@bp.post("/templates/<int:template_id>/delete")
@manager_required
def delete_template(template_id: int):
    template = db.get_or_404(EmailTemplate, template_id)
    return act_and_redirect(lambda: services.delete_template(current_user, template),
                            f"Template “{template.name}” deleted. Steps that sent it are skipped.",
                            url_for("sequences.templates"))


@bp.post("/templates/preview")
@manager_required
def preview_template():
    """The preview pane: the typed subject and body rendered for the chosen lead (htmx)."""
    values = _template_values()
    lead_id = request.form.get("lead_id", "")
    lead = get_by_id(Lead, lead_id)
    preview, error = None, None
    if lead is not None and can_edit_lead(current_user, lead) and lead.deleted_at is None:
        try:
            preview = render_for_lead(type("Draft", (), values), lead)
        except TemplateError as problem:
            error = str(problem)
    return render_page("sequences/_preview.html", preview=preview, error=error, lead=lead,
                       unknown=unknown_fields(values["subject"], values["body"]))


@bp.errorhandler(DomainError)
def domain_error(error):  # a service refusal that no view above expected: say why, never a 500
    db.session.rollback()
    flash(str(error), "error")
    return redirect_to(url_for("sequences.index"))


@bp.app_template_global("sequence_choices")
def sequence_choices() -> list[tuple[int, str]]:
    """``(id, name)`` of the sequences that take enrolments, for the lead list's bulk bar."""
    return queries.active_sequences()
