from __future__ import annotations

from flask import Blueprint, abort, flash, g, request, url_for
from flask_login import current_user, login_required
from jinja2 import pass_context
from sqlalchemy.orm.exc import StaleDataError

from leadflow.accounts.views import safe_next_url
from leadflow.accounts.zones import user_zone
from leadflow.db import parse_id, parse_page
from leadflow.errors import DomainError, PermissionDenied, ValidationFailed, VersionConflict
from leadflow.extensions import db
from leadflow.jobs.runner import start as start_job
from leadflow.leads import bulk, custom_fields, duplicate_pairs, merge, page, queries, reviews, services
from leadflow.leads.duplicates import duplicates_of, find_duplicates
from leadflow.leads.fields import FieldError, normalise_email, normalise_phone, phone_region
from leadflow.leads.forms import INLINE_FIELDS, LeadForm
from leadflow.leads.models import Lead
from leadflow.leads.policy import can_edit_lead
from leadflow.organizations.names import find_organization
from leadflow.retry import after_commit
from leadflow.web.admin import act_and_redirect, apply_or_flash, save_and_redirect
from leadflow.web.formatting import reader_zone
from leadflow.web.forms import apply_errors
from leadflow.web.htmx import is_fragment_request, redirect_to, render_page
from leadflow.web.permissions import writer_required

bp = Blueprint("leads", __name__, url_prefix="/leads")


@bp.get("")
@login_required
def index():
    filters = queries.LeadFilters.from_args(request.args)
    context = queries.lead_list_context(filters, current_user)
    return render_page("leads/index.html", block="results", **context, **bulk.bulk_context(current_user))


@bp.post("/bulk")
@writer_required
def bulk_action():
    """Queue one bulk action (``leads.bulk.BULK_ACTIONS``) over the leads ticked on the list, or
    over every lead its filter matches, as a job; show its outcome on the list when it ran
    already (``JOBS_RUN_INLINE``), else its progress page."""
    return_query = request.form.get("return_query", "")
    try:
        job = bulk.queue_bulk_job(current_user, request.form.get("action", ""), request.form.getlist("lead_ids"),
                                  request.form, return_query=return_query, return_to=request.form.get("return_to", ""),
                                  filter_query=return_query if request.form.get("scope") == "filter" else None)
    except ValidationFailed as exc:
        for messages in exc.errors.values():
            flash(" ".join(messages), "error")
        if request.form.get("return_to"):  # started on another page (a review queue): back there
            return redirect_to(safe_next_url(request.form["return_to"]))
        filters = queries.LeadFilters.from_args(request.args)
        return render_page("leads/index.html", status=422, **queries.lead_list_context(filters, current_user),
                           **bulk.bulk_context(current_user))
    if start_job(bulk.KIND, job.id):  # it runs after the request's commit; then say how it went
        after_commit(lambda job_id=job.id: _flash_outcome(db.session.get(bulk.BulkJob, job_id, populate_existing=True)))
        return redirect_to(_bulk_back(job)[0])
    return redirect_to(url_for("leads.bulk_job", bulk_id=job.id))  # its progress, then its outcome


def _flash_outcome(job) -> None:
    flash(bulk.job_summary(job), "warning" if bulk.job_refused_some(job) else "success")


def _bulk_job_page(job):
    back, back_label = _bulk_back(job)
    return render_page("leads/bulk_job.html", block="status", job=job, back=back, back_label=back_label,
                       summary=bulk.job_summary(job), refused_some=bulk.job_refused_some(job))


def _list_url(query: str) -> str:
    """The lead list with the filters of ``query`` (a query string)."""
    return url_for("leads.index") + ("?" + query if query else "")


def _bulk_back(job) -> tuple[str, str]:
    """Where the job was started from, and the link's words: a page that named itself
    (``return_to``, a path on this site: a report's review queue), else the lead list with
    its filters."""
    return_to = job.form_data.get("return_to", "")
    if return_to:
        return safe_next_url(return_to), "Back to the review queue"
    return _list_url(job.form_data.get("return_query", "")), "Back to the leads"


@bp.get("/bulk/<int:bulk_id>")
@writer_required
def bulk_job(bulk_id: int):
    """A bulk action's progress; once it is done, its outcome as a message on the list it
    was started from (the progress block the page polls shows the outcome in place)."""
    job = bulk.get_job(current_user, bulk_id)
    if job.status == "done":
        _flash_outcome(job)
        return redirect_to(_bulk_back(job)[0])
    return _bulk_job_page(job)


@bp.get("/bulk/<int:bulk_id>/progress")
@writer_required
def bulk_job_progress(bulk_id: int):
    """The job's status block: the page polls it every second until the job ends."""
    return _bulk_job_page(bulk.get_job(current_user, bulk_id))


@bp.route("/new", methods=["GET", "POST"])
@writer_required
def new():
    form = LeadForm()
    if request.method == "GET":
        form.lifecycle.data = "lead"
        if current_user.role == "rep":
            form.owner_id.data = str(current_user.id)
    duplicates, email_holder = [], None

    def page(errors: dict | None = None, status: int | None = None):  # the form again; refused when sent
        apply_errors(form, errors or {})
        return render_page("leads/new.html", form=form, duplicates=duplicates, email_holder=email_holder,
                           status=status or (422 if form.is_submitted() else 200))
    if not form.validate_on_submit():
        return page()
    data = form.service_data()
    try:
        email_key, duplicates = _duplicates_of_input(data)
    except ValidationFailed as exc:
        return page(exc.errors)
    email_holder = next((m.lead for m in duplicates if email_key and m.lead.email_key == email_key), None)
    if email_holder is not None:
        return page(status=409)  # an email belongs to one live lead: no box to add it anyway
    if duplicates and not form.confirm_duplicate.data:
        return page(status=409)  # shown above the form, with a box to add the lead anyway
    return save_and_redirect(lambda: services.create_lead(current_user, data), page, "Lead {saved.name} created.",
                             lambda lead: url_for("leads.detail", lead_id=lead.id))


def _duplicates_of_input(data: dict) -> tuple[str | None, list]:
    """The new lead's email key, and the live leads its email, phone, or name at its
    organization may repeat."""
    cleaned = services.clean_lead_input({k: data[k] for k in ("email", "phone")})
    return cleaned.get("email_key"), find_duplicates(
        email_key=cleaned.get("email_key"), phone=cleaned.get("phone"),
        first_name=data["first_name"], last_name=data["last_name"],
        organization_id=_organization_id(data["organization"]))


def _organization_id(name: str | None) -> int | None:
    organization = find_organization(name) if (name or "").strip() else None
    return organization.id if organization is not None else None


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
        phone = normalise_phone(form.get("phone"), phone_region(form.get("country"), services._region()))
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
    lead = queries.load_lead_for_page(lead_id)
    if lead is None or lead.deleted_at is not None:
        survivor = merge.merged_into(lead_id) if lead is not None else None
        if survivor is None:
            abort(404)
        # An old link (a bookmark, a reminder e-mail) to a lead that was merged: go where it lives on.
        flash(f"Lead #{lead_id} was merged into {survivor.name}; this is that lead now.", "info")
        return redirect_to(url_for("leads.detail", lead_id=survivor.id))
    return render_page("leads/detail.html", **page.lead_detail_context(lead, current_user))


@bp.get("/<int:lead_id>/history")
@login_required
def history(lead_id: int):
    lead = _load(lead_id)
    return render_page("leads/detail.html", block="history", **page.lead_detail_context(lead, current_user))


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
        value=field.current_value(lead) if value is None else value,
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
    _editable_or_403(lead)
    return _render_field(lead, field, editing=True)


@bp.post("/<int:lead_id>/fields/<name>")
@login_required
def update_field(lead_id: int, name: str):
    lead, field = _load(lead_id), _field_or_404(name)
    _editable_or_403(lead)
    raw = request.form.get("value", "")
    if field.kind == "checkbox":
        raw = request.form.get("value") == "y"
    try:
        expected = int(request.form.get("version", ""))
    except ValueError:
        expected = None
    try:
        changed = services.update_lead(current_user, lead, {name: raw}, expected_version=expected)
        db.session.flush()
    except ValidationFailed as exc:
        db.session.rollback()
        messages = exc.errors.get(name) or [m for ms in exc.errors.values() for m in ms]
        return _render_field(_load(lead_id), field, editing=True, value=str(raw), errors=messages, status=422)
    except (VersionConflict, StaleDataError):
        db.session.rollback()
        return _render_field(_load(lead_id), field, status=409, conflict=True,
                             message="Someone else changed this lead. This is its current value; edit again if needed.")
    fresh = _load(lead_id)
    duplicates = duplicates_of(fresh, limit=5) if changed and name in IDENTITY_FIELDS else []
    return _render_field(fresh, field, trigger="lead-updated" if changed else None,
                         message="Saved." if changed else None, duplicates=duplicates)


# --- custom fields ("More details") --------------------------------------------------------
# A row is shown, edited and saved like the fields above (leads/_field.html); adding and
# removing a field answers with the whole panel (the "custom_fields" block of the lead page).

def _custom_field_or_404(lead: Lead):
    key = request.args.get("key", "")
    if key not in (lead.custom_fields or {}):
        abort(404)
    return custom_fields.inline_field(key)


def _editable_or_403(lead: Lead) -> None:
    if not can_edit_lead(current_user, lead):
        abort(403)


def _custom_panel(lead_id: int, *, status: int = 200, trigger: str | None = None, **context):
    """The "More details" panel (the whole lead page for a request without htmx)."""
    context = page.lead_detail_context(_load(lead_id), current_user, **context)
    return render_page("leads/detail.html", block="custom_fields", status=status, trigger=trigger, **context)


def _custom_saved(lead_id: int, message: str):
    """After a change: the panel for htmx, else back to the lead page with the message."""
    if is_fragment_request():
        return _custom_panel(lead_id, trigger="lead-updated", custom_message=message)
    flash(message, "success")
    return redirect_to(url_for("leads.detail", lead_id=lead_id) + "#custom-fields")


def _conflict_panel(lead_id: int, message: str):
    return _custom_panel(lead_id, status=409, custom_message=message, custom_error=True)


CUSTOM_CONFLICT = "Someone else changed this lead. These are its current details; edit again if needed."


@bp.get("/<int:lead_id>/custom-field")
@login_required
def custom_field(lead_id: int):
    lead = _load(lead_id)
    return _render_field(lead, _custom_field_or_404(lead))


@bp.get("/<int:lead_id>/custom-field/edit")
@login_required
def edit_custom_field(lead_id: int):
    lead = _load(lead_id)
    field = _custom_field_or_404(lead)
    _editable_or_403(lead)
    return _render_field(lead, field, editing=True)


@bp.post("/<int:lead_id>/custom-field")
@login_required
def update_custom_field(lead_id: int):
    lead = _load(lead_id)
    _editable_or_403(lead)
    key, raw = request.args.get("key", ""), request.form.get("value", "")
    if key not in (lead.custom_fields or {}):
        return _conflict_panel(lead_id, "Someone else removed this field meanwhile.")
    field = custom_fields.inline_field(key)
    try:
        changed = services.set_custom_field(current_user, lead, key, raw, expected_version=_version("version"))
        db.session.flush()
    except ValidationFailed as exc:
        db.session.rollback()
        messages = [m for ms in exc.errors.values() for m in ms]
        return _render_field(_load(lead_id), field, editing=True, value=raw, errors=messages, status=422)
    except (VersionConflict, StaleDataError):
        db.session.rollback()
        lead = _load(lead_id)
        if key not in (lead.custom_fields or {}):
            return _conflict_panel(lead_id, "Someone else removed this field meanwhile.")
        return _render_field(lead, field, status=409, conflict=True,
                             message="Someone else changed this lead. This is its current value; edit again if needed.")
    if not is_fragment_request():
        if changed:
            flash(f"{field.label} saved.", "success")
        return redirect_to(url_for("leads.detail", lead_id=lead_id) + "#custom-fields")
    return _render_field(_load(lead_id), field, trigger="lead-updated" if changed else None,
                         message="Saved." if changed else None)


@bp.post("/<int:lead_id>/custom-field/remove")
@login_required
def remove_custom_field(lead_id: int):
    lead = _load(lead_id)
    _editable_or_403(lead)
    key = request.args.get("key", "")
    label = custom_fields.inline_field(key).label
    try:
        removed = services.update_custom_field(current_user, lead, key, None, expected_version=_version("version"))
        db.session.flush()
    except (VersionConflict, StaleDataError):
        db.session.rollback()
        return _conflict_panel(lead_id, CUSTOM_CONFLICT)
    return _custom_saved(lead_id, f"Removed “{label}”." if removed else f"“{label}” was removed already.")


@bp.post("/<int:lead_id>/custom-fields")
@login_required
def add_custom_field(lead_id: int):
    lead = _load(lead_id)
    _editable_or_403(lead)
    raw_key, raw_value = request.form.get("key", ""), request.form.get("value", "")
    try:
        key = services.add_custom_field(current_user, lead, raw_key, raw_value)
        db.session.flush()
    except ValidationFailed as exc:
        db.session.rollback()
        return _custom_panel(lead_id, status=422, custom_errors=exc.errors,
                             custom_input={"key": raw_key, "value": raw_value})
    except (VersionConflict, StaleDataError):
        db.session.rollback()
        return _conflict_panel(lead_id, CUSTOM_CONFLICT)
    return _custom_saved(lead_id, f"Added “{custom_fields.inline_field(key).label}”.")


# --- values a public form submitted that differ from the lead -------------------------------

@bp.post("/<int:lead_id>/reviews/<int:review_id>/<any(keep, apply):action>")
@login_required
def resolve_review(lead_id: int, review_id: int, action: str):
    """"Keep current" or "Use new" on one submitted value; answers with the refreshed panel."""
    lead = _load(lead_id)
    review = reviews.get_review(lead, review_id)
    if review is None:
        abort(404)
    _editable_or_403(lead)
    status, error, field_name = 200, False, review.field
    try:
        if action == "apply":
            message = reviews.use_new(current_user, review, expected_version=_version("version"))
        else:
            message = reviews.keep_current(current_user, review)
        db.session.flush()
    except ValidationFailed as exc:
        db.session.rollback()
        status, error = 422, True
        message = "The submitted value cannot be used: " + " ".join(m for ms in exc.errors.values() for m in ms)
    except (VersionConflict, StaleDataError):
        db.session.rollback()
        status, error = 409, True
        message = "Someone else changed this lead meanwhile. Check its current values and choose again."
    if not is_fragment_request():
        flash(message, "error" if error else "success")
        return redirect_to(url_for("leads.detail", lead_id=lead_id))
    context = page.lead_detail_context(_load(lead_id), current_user, review_message=message, review_error=error,
                                          applied_field=field_name if action == "apply" and not error else None)
    return render_page("leads/detail.html", block="reviews", status=status,
                       trigger=None if error else "lead-updated", **context)


@bp.app_template_global()
def review_text(review) -> str:
    return reviews.review_text(review)


@bp.app_template_global()
@pass_context
def review_current(ctx, review) -> str:
    return reviews.current_value(review, reader_zone(ctx))


def _custom_labels():
    """The capture forms' custom field labels, read once per request."""
    if "custom_field_labels" not in g:
        g.custom_field_labels = custom_fields.custom_field_labels()
    return g.custom_field_labels


@bp.app_template_global()
def review_label(field: str) -> str:
    return reviews.field_label(field, _custom_labels())


@bp.app_template_global()
@pass_context
def submission_rows(ctx, details: dict) -> list[tuple[str, str, str]]:
    return reviews.submission_rows(details, _custom_labels(), reader_zone(ctx))


@bp.post("/<int:lead_id>/delete")
@login_required
def delete(lead_id: int):
    lead = _load(lead_id)
    return act_and_redirect(lambda: services.delete_lead(current_user, lead),
                            f"Lead {lead.name} moved to the trash. You can restore it from the trash for 30 days.",
                            url_for("leads.index"))


@bp.post("/<int:lead_id>/restore")
@login_required
def restore(lead_id: int):
    lead = _load(lead_id, allow_deleted=True)
    if apply_or_flash(lambda: services.restore_lead(current_user, lead), f"Lead {lead.name} restored."):
        return redirect_to(url_for("leads.detail", lead_id=lead.id))
    return redirect_to(url_for("leads.trash"))


@bp.get("/trash")
@login_required
def trash():
    page = parse_page(request.args.get("page", 1))
    return render_page("leads/trash.html", **queries.trash_context(current_user, page))


# --- possible duplicates and merging ------------------------------------------------------

def _page_arg() -> int:
    return parse_page(request.args.get("page", 1))


@bp.get("/duplicates")
@login_required
def duplicates():
    context = duplicate_pairs.duplicates_queue_context(current_user, _page_arg())
    return render_page("leads/duplicates_queue.html", block="pairs", **context)


def _lead_arg(name: str) -> Lead:
    lead_id = parse_id(request.values.get(name, ""))
    return _load(lead_id) if lead_id is not None else abort(404)


@bp.post("/duplicates/dismiss")
@writer_required
def dismiss_duplicate():
    first, second = _lead_arg("first"), _lead_arg("second")
    try:
        dismissed = duplicate_pairs.dismiss_pair(current_user, first, second)
    except ValidationFailed:
        abort(400)
    flash(f"{first.name} and {second.name} marked as different people." if dismissed
          else "That pair was already marked as different people.", "success")
    if request.htmx:
        return render_page("leads/_pair_dismissed.html")
    return redirect_to(url_for("leads.duplicates"))


@bp.get("/<int:lead_id>/merge")
@writer_required
def merge_page(lead_id: int):
    survivor = _load(lead_id)
    if not can_edit_lead(current_user, survivor):  # nothing to choose: merging it would be refused
        abort(403)
    if not request.args.get("with"):
        return render_page("leads/merge_choose.html", lead=survivor, duplicates=duplicates_of(survivor, limit=10))
    absorbed = _lead_arg("with")
    if absorbed.id == survivor.id:
        flash("Choose another lead to merge with.", "error")
        return redirect_to(url_for("leads.merge_page", lead_id=lead_id))
    if not can_edit_lead(current_user, absorbed):
        abort(403)
    return render_page("leads/merge.html", **merge.merge_page_context(survivor, absorbed, zone=user_zone(current_user)))


def _version(name: str) -> int | None:
    raw = request.form.get(name, "")
    return int(raw) if raw.isdigit() else None


@bp.post("/<int:lead_id>/merge")
@writer_required
def merge_leads(lead_id: int):
    survivor, absorbed = _load(lead_id), _lead_arg("with")
    choices = merge.choices_from_form(request.form)
    try:
        merge.merge_leads(current_user, survivor, absorbed, choices,
                          expected_versions=(_version("survivor_version"), _version("absorbed_version")))
        db.session.flush()
    except (VersionConflict, StaleDataError):
        db.session.rollback()
        survivor, absorbed = _load(lead_id), _lead_arg("with")
        return render_page("leads/merge.html", status=409, conflict=True,
                           **merge.merge_page_context(survivor, absorbed, choices, user_zone(current_user)))
    except ValidationFailed as exc:
        db.session.rollback()
        return render_page("leads/merge.html", status=422, errors=exc.errors,
                           **merge.merge_page_context(_load(lead_id), _lead_arg("with"), choices,
                                                             user_zone(current_user)))
    flash(f"Merged {absorbed.name} into {survivor.name}. You can undo this from the history panel.", "success")
    return redirect_to(url_for("leads.detail", lead_id=survivor.id))


@bp.post("/merges/<int:merge_id>/undo")
@writer_required
def undo_merge(merge_id: int):
    record = merge.get_merge(merge_id)
    survivor_id = record.survivor_id
    try:
        absorbed = merge.undo_merge(current_user, record)
    except PermissionDenied:
        raise  # a DomainError, but not one to flash: the app's handler answers 403 and rolls back
    except DomainError as exc:
        db.session.rollback()
        flash(str(exc), "error")
    else:
        flash(f"Merge undone: {absorbed.name} is back as a lead of its own.", "success")
    return redirect_to(url_for("leads.detail", lead_id=survivor_id) if survivor_id else url_for("leads.index"))


@bp.app_template_global()
def undoable_merge(entry):
    """For the history list: the merge an entry records, while it can be undone."""
    return merge.undoable_merge(entry)

