"""Organization pages: list and search, create, view, edit, trash and restore."""

from __future__ import annotations

from flask import Blueprint, abort, flash, request, url_for
from flask_login import current_user, login_required
from sqlalchemy.orm.exc import StaleDataError

from leadflow.db import parse_page
from leadflow.errors import ValidationFailed, VersionConflict
from leadflow.extensions import db
from leadflow.leads.policy import can_delete_organizations, can_manage_organizations
from leadflow.organizations import services as service
from leadflow.organizations.forms import OrganizationForm
from leadflow.web.admin import act_and_redirect, save_and_redirect
from leadflow.web.forms import apply_errors
from leadflow.web.htmx import redirect_to, render_page

bp = Blueprint("organizations", __name__, url_prefix="/organizations")

CONFLICT_MESSAGE = ("This organization was changed by someone else while you were editing it. "
                    "Here is its current state; your changes were not saved.")


def _require(allowed: bool) -> None:
    if not allowed:
        abort(403)


def _load(org_id: int):
    return service.get_organization(org_id)  # NotFound: the app's 404


def _permissions() -> dict:
    return {"can_manage": can_manage_organizations(current_user),
            "can_delete": can_delete_organizations(current_user)}


@bp.get("")
@login_required
def index():
    context = service.organization_list_context(service.OrganizationFilters.from_args(request.args))
    return render_page("organizations/index.html", block="results", **context, **_permissions())


@bp.route("/new", methods=["GET", "POST"])
@login_required
def new():
    _require(can_manage_organizations(current_user))
    form = OrganizationForm()

    def page(errors: dict | None = None):  # the form again; refused when it was sent
        apply_errors(form, errors or {})
        return render_page("organizations/form.html", form=form, org=None, status=422 if form.is_submitted() else 200)
    if not form.validate_on_submit():
        return page()
    return save_and_redirect(lambda: service.create_organization(current_user, form.service_data()), page,
                             "Organization {saved.name} created.",
                             lambda org: url_for("organizations.detail", org_id=org.id))


@bp.get("/<int:org_id>")
@login_required
def detail(org_id: int):
    org = _load(org_id)
    return render_page("organizations/detail.html", **service.organization_detail_context(org), **_permissions())


@bp.route("/<int:org_id>/edit", methods=["GET", "POST"])
@login_required
def edit(org_id: int):
    _require(can_manage_organizations(current_user))
    org = _load(org_id)
    if org.deleted_at is not None:
        flash(f"{org.name} is in the trash. Restore it before editing it; nothing was changed.", "warning")
        return redirect_to(url_for("organizations.detail", org_id=org.id))
    if request.method == "GET":
        form = OrganizationForm(obj=org)
        form.version.data = org.version
        return render_page("organizations/form.html", form=form, org=org)
    form = OrganizationForm()
    if not form.validate_on_submit():
        return render_page("organizations/form.html", form=form, org=org, status=422)
    expected = form.expected_version()
    if expected is None:  # no way to tell which state the user edited: show the current one
        return _conflict(org_id, attempted=form.service_data())
    try:
        changed = service.update_organization(current_user, org, form.service_data(), expected_version=expected)
        db.session.flush()
    except ValidationFailed as exc:
        db.session.rollback()
        apply_errors(form, exc.errors)
        return render_page("organizations/form.html", form=form, org=org, status=422)
    except (VersionConflict, StaleDataError):
        db.session.rollback()
        return _conflict(org_id, attempted=form.service_data())
    flash(f"Saved {org.name}." if changed else "Nothing to save: no field was changed.",
          "success" if changed else "info")
    return redirect_to(url_for("organizations.detail", org_id=org.id))


def _conflict(org_id: int, attempted: dict):
    """The edit form again, filled with the current state, and the user's own input beside it."""
    current = _load(org_id)
    form = OrganizationForm(formdata=None, obj=current)
    form.version.data = current.version
    try:
        attempted = service.clean_organization_input(attempted)
    except ValidationFailed:
        pass
    mine = {name: value for name, value in attempted.items()
            if (value or None) != (getattr(current, name) or None)}
    return render_page("organizations/form.html", form=form, org=current, conflict=CONFLICT_MESSAGE,
                       attempted=mine, status=409)


@bp.post("/<int:org_id>/delete")
@login_required
def delete(org_id: int):
    org = _load(org_id)
    return act_and_redirect(lambda: service.delete_organization(current_user, org),
                            f"{org.name} moved to the trash. Its leads keep it; restore it from the trash at any time.",
                            url_for("organizations.index"))


@bp.post("/<int:org_id>/restore")
@login_required
def restore(org_id: int):
    org = _load(org_id)
    try:
        service.restore_organization(current_user, org)
    except ValidationFailed as exc:
        db.session.rollback()
        for messages in exc.errors.values():
            for message in messages:
                flash(message, "error")
        org = _load(org_id)
        return render_page("organizations/detail.html", status=409,
                           **service.organization_detail_context(org), **_permissions())
    flash(f"{org.name} restored.", "success")
    return redirect_to(url_for("organizations.detail", org_id=org.id))


@bp.get("/trash")
@login_required
def trash():
    page = parse_page(request.args.get("page", 1))
    return render_page("organizations/trash.html", **service.organization_trash_context(page), **_permissions())
