"""The form builder for admins: ``/settings/forms``.

Parse, call a service from ``leadflow.capture.services``, commit once, render. Form
errors come back as the page re-rendered with 422.
"""

from __future__ import annotations

from flask import Blueprint, request, url_for
from flask_login import current_user

from leadflow.capture import forms, services
from leadflow.capture.models import OWNER_RULE_LABELS, CaptureForm
from leadflow.extensions import db
from leadflow.web.admin import act_and_redirect, save_and_redirect
from leadflow.web.htmx import render_page
from leadflow.web.permissions import admin_required

bp = Blueprint("capture_admin", __name__, url_prefix="/settings/forms")


def _form(form_id: int) -> CaptureForm:
    return db.get_or_404(CaptureForm, form_id)


def _editor(template_form: CaptureForm | None, values: dict, errors: dict | None = None, status: int = 200):
    preview = services.preview_form(values)
    return render_page("capture/admin/edit.html", status=status, capture_form=template_form, values=values,
                       errors=errors or {}, preview=preview, owner_rules=OWNER_RULE_LABELS,
                       custom_types=services.CUSTOM_TYPES, standard_fields=services.STANDARD_FIELDS,
                       **services.builder_choices())


def _save(action, capture_form: CaptureForm | None, values: dict, success: str):
    return save_and_redirect(action, lambda errors: _editor(capture_form, values, errors, status=422), success,
                             lambda saved: url_for("capture_admin.edit", form_id=saved.id))


@bp.get("")
@admin_required
def index():
    return render_page("capture/admin/index.html", capture_forms=services.list_forms())


@bp.route("/new", methods=["GET", "POST"])
@admin_required
def new():
    if request.method == "GET":
        return _editor(None, forms.blank_builder_input())
    values = forms.builder_input(request.form)
    return _save(lambda: services.create_form(current_user, values), None, values,
                 "Form “{saved.name}” created. It takes submissions at /f/{saved.slug}.")


@bp.route("/<int:form_id>", methods=["GET", "POST"])
@admin_required
def edit(form_id: int):
    capture_form = _form(form_id)
    if request.method == "GET":
        return _editor(capture_form, forms.builder_input_from_model(capture_form))
    values = forms.builder_input(request.form)

    def action():
        services.update_form(current_user, capture_form, values)
        return capture_form
    return _save(action, capture_form, values, "Form “{saved.name}” saved.")


@bp.post("/preview")
@admin_required
def preview():
    """The live preview: the public form as it would look with the builder's current input."""
    return render_page("capture/admin/_preview.html", preview=services.preview_form(forms.builder_input(request.form)))


@bp.post("/<int:form_id>/active")
@admin_required
def set_active(form_id: int):
    capture_form = _form(form_id)
    active = request.form.get("active") == "1"
    if active:
        message = f"Form “{capture_form.name}” is active again at /f/{capture_form.slug}."
    else:
        message = f"Form “{capture_form.name}” is deactivated: its page and embeds no longer take submissions."
    return act_and_redirect(lambda: services.set_form_active(current_user, capture_form, active), message,
                            url_for("capture_admin.index"), "success" if active else "info")


@bp.post("/<int:form_id>/delete")
@admin_required
def delete(form_id: int):
    capture_form = _form(form_id)
    return act_and_redirect(lambda: services.delete_form(current_user, capture_form),
                            f"Form “{capture_form.name}” deleted. The leads it brought in are kept.",
                            url_for("capture_admin.index"))
