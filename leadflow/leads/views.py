from __future__ import annotations

from flask import Blueprint, abort, flash, request, url_for
from flask_login import current_user, login_required
from sqlalchemy.orm.exc import StaleDataError

from leadflow.errors import NotFound, PermissionDenied, ValidationFailed, VersionConflict
from leadflow.extensions import db
from leadflow.leads import queries, services
from leadflow.leads.duplicates import duplicates_of, find_duplicates
from leadflow.leads.fields import FieldError, normalise_email, normalise_phone
from leadflow.leads.forms import INLINE_FIELDS, LeadForm, current_input_value
from leadflow.leads.models import Lead
from leadflow.leads.policy import can_edit_lead
from leadflow.web.forms import apply_errors
from leadflow.web.htmx import redirect_to, render_page
from leadflow.web.permissions import writer_required

bp = Blueprint("leads", __name__, url_prefix="/leads")


@bp.get("")
@login_required
def index():
    filters = queries.LeadFilters.from_args(request.args)
    context = queries.lead_list_context(filters, current_user)
    return render_page("leads/index.html", block="results", **context)


@bp.route("/new", methods=["GET", "POST"])
@writer_required
def new():
    form = LeadForm()
    if request.method == "GET":
        form.lifecycle.data = "lead"
        if current_user.role == "rep":
            form.owner_id.data = str(current_user.id)
    status, duplicates = 200, []
    if form.validate_on_submit():
        data = form.service_data()
        try:
            cleaned = services.clean_lead_input({k: data[k] for k in ("email", "phone")})
            duplicates = find_duplicates(
                email_key=cleaned.get("email_key"), phone=cleaned.get("phone"),
                first_name=data["first_name"], last_name=data["last_name"],
                organization_id=_organization_id(data["organization"]),
            )
            if duplicates and not form.confirm_duplicate.data:
                status = 409
            else:
                lead = services.create_lead(current_user, data)
                db.session.commit()
                flash(f"Lead {lead.name} created.", "success")
                return redirect_to(url_for("leads.detail", lead_id=lead.id))
        except ValidationFailed as exc:
            db.session.rollback()
            apply_errors(form, exc.errors)
            status = 422
    elif form.is_submitted():
        status = 422
    return render_page("leads/new.html", form=form, duplicates=duplicates, status=status)


def _organization_id(name: str | None) -> int | None:
    from leadflow.leads.models import Organization

    key = " ".join((name or "").split()).lower()
    if not key:
        return None
    return db.session.scalar(db.select(Organization.id).where(
        Organization.name_key == key, Organization.deleted_at.is_(None)).limit(1))


@bp.post("/check-duplicates")
@writer_required
def check_duplicates():
    """Live warning on the new-lead form while the user types."""
    form = request.form
    try:
        _, email_key = normalise_email(form.get("email"))
    except FieldError:
        email_key = None
    try:
        phone = normalise_phone(form.get("phone"), services._region())
    except FieldError:
        phone = None
    duplicates = find_duplicates(email_key=email_key, phone=phone, first_name=form.get("first_name"),
                                 last_name=form.get("last_name"),
                                 organization_id=_organization_id(form.get("organization")))
    return render_page("leads/_duplicates.html", duplicates=duplicates)


def _load(lead_id: int, *, allow_deleted: bool = False) -> Lead:
    lead = queries.load_lead_for_page(lead_id)
    if lead is None or (lead.deleted_at is not None and not allow_deleted):
        abort(404)
    return lead


@bp.get("/<int:lead_id>")
@login_required
def detail(lead_id: int):
    lead = _load(lead_id)
    return render_page("leads/detail.html", **queries.lead_detail_context(lead, current_user))


@bp.get("/<int:lead_id>/history")
@login_required
def history(lead_id: int):
    lead = _load(lead_id)
    return render_page("leads/detail.html", block="history", **queries.lead_detail_context(lead, current_user))


def _field_or_404(name: str):
    field = INLINE_FIELDS.get(name)
    if field is None:
        abort(404)
    return field


IDENTITY_FIELDS = ("first_name", "last_name", "email", "phone", "organization")


def _render_field(lead, field, *, editing=False, value=None, errors=(), status=200, trigger=None, message=None,
                  conflict=False, duplicates=()):
    return render_page(
        "leads/_field.html", status=status, trigger=trigger, lead=lead, field=field, editing=editing,
        value=current_input_value(lead, field.name) if value is None else value,
        errors=list(errors), message=message, conflict=conflict, field_duplicates=list(duplicates), can_edit=can_edit_lead(current_user, lead),
        choices=field.choices() if field.choices else [],
    )


@bp.get("/<int:lead_id>/fields/<name>")
@login_required
def field(lead_id: int, name: str):
    return _render_field(_load(lead_id), _field_or_404(name))


@bp.get("/<int:lead_id>/fields/<name>/edit")
@login_required
def edit_field(lead_id: int, name: str):
    lead, field = _load(lead_id), _field_or_404(name)
    if not can_edit_lead(current_user, lead):
        abort(403)
    return _render_field(lead, field, editing=True)


@bp.post("/<int:lead_id>/fields/<name>")
@login_required
def update_field(lead_id: int, name: str):
    lead, field = _load(lead_id), _field_or_404(name)
    if not can_edit_lead(current_user, lead):
        abort(403)
    raw = request.form.get("value", "")
    if field.kind == "checkbox":
        raw = request.form.get("value") == "y"
    try:
        expected = int(request.form.get("version", ""))
    except ValueError:
        expected = None
    try:
        changed = services.update_lead(current_user, lead, {name: raw}, expected_version=expected)
        db.session.commit()
    except ValidationFailed as exc:
        db.session.rollback()
        messages = exc.errors.get(name) or [m for ms in exc.errors.values() for m in ms]
        return _render_field(_load(lead_id), field, editing=True, value=str(raw), errors=messages, status=422)
    except (VersionConflict, StaleDataError):
        db.session.rollback()
        return _render_field(_load(lead_id), field, status=409, conflict=True,
                             message="Someone else changed this lead. This is its current value; edit again if needed.")
    except PermissionDenied:
        db.session.rollback()
        abort(403)
    fresh = _load(lead_id)
    duplicates = duplicates_of(fresh, limit=5) if changed and name in IDENTITY_FIELDS else []
    return _render_field(fresh, field, trigger="lead-updated" if changed else None,
                         message="Saved." if changed else None, duplicates=duplicates)


@bp.post("/<int:lead_id>/delete")
@login_required
def delete(lead_id: int):
    lead = _load(lead_id)
    try:
        services.delete_lead(current_user, lead)
    except PermissionDenied:
        abort(403)
    db.session.commit()
    flash(f"Lead {lead.name} moved to the trash. You can restore it from the trash for 30 days.", "success")
    return redirect_to(url_for("leads.index"))


@bp.post("/<int:lead_id>/restore")
@login_required
def restore(lead_id: int):
    lead = _load(lead_id, allow_deleted=True)
    try:
        services.restore_lead(current_user, lead)
    except PermissionDenied:
        abort(403)
    db.session.commit()
    flash(f"Lead {lead.name} restored.", "success")
    return redirect_to(url_for("leads.detail", lead_id=lead.id))


@bp.get("/trash")
@login_required
def trash():
    try:
        page = max(1, int(request.args.get("page", 1)))
    except ValueError:
        page = 1
    return render_page("leads/trash.html", **queries.trash_context(current_user, page))


@bp.errorhandler(NotFound)
def not_found(error):
    abort(404)
