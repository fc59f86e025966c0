"""CSV import screens (/imports/…) and the lead list export (/leads/export.csv)."""

from __future__ import annotations

from datetime import date

from flask import Blueprint, Response, abort, current_app, flash, request, url_for
from flask_login import current_user, login_required

from leadflow.db import begin_mode, parse_page
from leadflow.errors import ValidationFailed
from leadflow.extensions import db
from leadflow.files import store as files
from leadflow.imports import export_jobs, queries, runner, services
from leadflow.imports.export import csv_line, export_csv
from leadflow.imports.forms import ConfirmForm, FileSettingsForm, StartForm, UploadForm
from leadflow.imports.models import DUPLICATE_POLICIES
from leadflow.jobs.runner import start as start_in_background
from leadflow.leads.queries import LeadFilters
from leadflow.web.forms import apply_errors
from leadflow.web.htmx import redirect_to, render_page
from leadflow.web.permissions import roles_required

bp = Blueprint("imports", __name__)
importer_required = roles_required(*services.IMPORT_ROLES)


@bp.url_value_preprocessor
def allow_large_uploads(endpoint, _values):
    """Uploads may be larger than other forms. This runs before the CSRF check reads the body."""
    if endpoint == "imports.new" and request.method == "POST":
        request.max_content_length = services.max_upload_bytes() + 64 * 1024


def _upload_page(form, status: int):
    return render_page("imports/new.html", form=form, status=status,
                       max_size=services.size_label(services.max_upload_bytes()))


@bp.errorhandler(413)
def upload_too_large(_error):
    """A body over the request limit (``IMPORT_MAX_BYTES`` plus room for the form): the same
    message as a file found too large while it is stored."""
    form = UploadForm(formdata=None)
    apply_errors(form, services.UploadTooLarge().errors)
    return _upload_page(form, 413)


def _job(job_id: int):
    return services.get_job(job_id)  # NotFound: the app's 404


def _csv_response(head: str, generate, filename: str, *args) -> Response:
    """Stream ``head`` then ``generate(*args)`` as a CSV download. The rows are read while the
    response is sent, after the request has ended, in an app context of its own and a
    read-only transaction (entered only once the head has gone out)."""
    app = current_app._get_current_object()

    def chunks():
        yield head
        with app.app_context():
            token = begin_mode.set("DEFERRED")
            try:
                yield from generate(*args)
            finally:
                db.session.rollback()
                begin_mode.reset(token)

    response = Response(chunks(), mimetype="text/csv")
    response.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    response.headers["Cache-Control"] = "private, no-store"
    return response


@bp.get("/imports")
@importer_required
def index():
    return render_page("imports/index.html", **queries.jobs_context(parse_page(request.args.get("page", 1))))


@bp.route("/imports/new", methods=["GET", "POST"])
@importer_required
def new():
    form = UploadForm()
    status = 200
    if form.validate_on_submit():
        upload = form.file.data
        try:
            job = services.create_job(current_user, upload.stream, upload.filename or "upload.csv")
        except ValidationFailed as exc:
            db.session.rollback()
            apply_errors(form, exc.errors)
            status = 413 if isinstance(exc, services.UploadTooLarge) else 422
        else:
            flash(f"Uploaded {job.filename}. Check how its columns map to lead fields.", "success")
            return redirect_to(url_for("imports.mapping", job_id=job.id))
    elif form.is_submitted():
        status = 422
    return _upload_page(form, status)


def _mapping_page(job, settings_form=None, problems=None, status=200):
    if settings_form is None:
        settings_form = FileSettingsForm(formdata=None, encoding=job.encoding, delimiter=job.delimiter,
                                         has_header=job.has_header, decimal_separator=job.decimal_separator or "")
    return render_page("imports/mapping.html", status=status,
                       **queries.mapping_context(job, settings_form, problems))


def _ask_formats(job):
    """Back to the mapping page, whose questions say what the file's formats still need."""
    flash("Say how the file writes its numbers or dates (see the questions on this page) before the preview.",
          "warning")
    return redirect_to(url_for("imports.mapping", job_id=job.id))


@bp.get("/imports/<int:job_id>/mapping")
@importer_required
def mapping(job_id: int):
    job = _job(job_id)
    if job.status != "draft":
        return redirect_to(url_for("imports.detail", job_id=job.id))
    return _mapping_page(job)


@bp.post("/imports/<int:job_id>/settings")
@importer_required
def file_settings(job_id: int):
    job = _job(job_id)
    form = FileSettingsForm()
    if form.validate_on_submit():
        try:
            services.update_file_settings(
                current_user, job, encoding=form.encoding.data, delimiter=form.delimiter.data,
                has_header=form.has_header.data,
                decimal_separator=form.decimal_separator.data if "decimal_separator" in request.form else None)
            flash("The file was read again with these settings. Check the columns below.", "success")
            return redirect_to(url_for("imports.mapping", job_id=job.id))
        except ValidationFailed as exc:
            db.session.rollback()
            apply_errors(form, exc.errors)
    return _mapping_page(_job(job_id), settings_form=form, status=422)


@bp.post("/imports/<int:job_id>/mapping")
@importer_required
def save_mapping(job_id: int):
    job = _job(job_id)
    chosen = [request.form.get(f"map-{i}", "ignore") for i in range(len(job.columns))]
    date_formats = {i: request.form[f"date-{i}"] for i in range(len(job.columns)) if f"date-{i}" in request.form}
    try:
        services.update_mapping(current_user, job, chosen, date_formats)
    except ValidationFailed as exc:
        db.session.rollback()
        job = _job(job_id)
        job.mapping = chosen  # show the user's choices with the problems (never saved)
        response = _mapping_page(job, problems=[m for ms in exc.errors.values() for m in ms], status=422)
        db.session.rollback()
        return response
    if services.open_questions(job):
        return _ask_formats(job)
    return redirect_to(url_for("imports.preview", job_id=job.id))


@bp.get("/imports/<int:job_id>/preview")
@importer_required
def preview(job_id: int):
    job = _job(job_id)
    if job.status != "draft":
        return redirect_to(url_for("imports.detail", job_id=job.id))
    if services.open_questions(job):
        return _ask_formats(job)
    policy = request.args.get("duplicate_policy", job.duplicate_policy)
    policy = policy if policy in DUPLICATE_POLICIES else "skip"
    form = StartForm(formdata=None, duplicate_policy=policy)
    context = queries.preview_context(job, services.preview(job, policy), policy, form)
    return render_page("imports/preview.html", block="preview_rows", **context)


@bp.post("/imports/<int:job_id>/start")
@importer_required
def start(job_id: int):
    job = _job(job_id)
    form = StartForm()
    try:
        if not form.validate_on_submit():
            raise ValidationFailed({"duplicate_policy": ["Choose what to do with duplicates."]})
        services.start_job(current_user, job, form.duplicate_policy.data, new_lead_rules=form.new_lead_rules.data)
    except ValidationFailed as exc:
        db.session.rollback()
        job = _job(job_id)
        if job.status != "draft":
            flash("This import has already started.", "info")
            return redirect_to(url_for("imports.detail", job_id=job.id))
        policy = form.duplicate_policy.data if form.duplicate_policy.data in DUPLICATE_POLICIES else "skip"
        apply_errors(form, exc.errors)
        context = queries.preview_context(job, services.preview(job, policy), policy, form)
        return render_page("imports/preview.html", status=422, **context)
    ran = start_in_background(runner.KIND, job_id)
    flash("Import finished." if ran else "Import started. You can leave this page; it goes on in the background.",
          "success")
    return redirect_to(url_for("imports.detail", job_id=job_id))


@bp.get("/imports/<int:job_id>")
@importer_required
def detail(job_id: int):
    job = _job(job_id)
    if job.status == "draft":
        return redirect_to(url_for("imports.mapping", job_id=job.id))
    return render_page("imports/job.html", block="status", **queries.job_context(job))


@bp.get("/imports/<int:job_id>/progress")
@importer_required
def progress(job_id: int):
    """The job's status block: the progress bar polls this every second until the job ends."""
    job = _job(job_id)
    return render_page("imports/job.html", block="status", **queries.job_context(job))


def _noted_rows_download(job_id: int, outcome: str, last_column: str, name: str) -> Response:
    job = _job(job_id)
    stem = "".join(c for c in job.filename.rsplit(".", 1)[0][:60] if c.isalnum() or c in "-_ ") or "import"
    return _csv_response(csv_line([*job.columns, last_column], bom=True), queries.failed_rows_csv,
                         f"{stem}-{name}.csv", job.id, outcome)


@bp.get("/imports/<int:job_id>/failed.csv")
@importer_required
def failed_rows(job_id: int):
    return _noted_rows_download(job_id, "failed", "Import error", "failed-rows")


@bp.get("/imports/<int:job_id>/warned.csv")
@importer_required
def warned_rows(job_id: int):
    """The rows imported with a cell left out, with the file's cells and what was left out."""
    return _noted_rows_download(job_id, "warned", "Import warning", "rows-with-warnings")


@bp.route("/imports/<int:job_id>/undo", methods=["GET", "POST"])
@importer_required
def undo(job_id: int):
    job = _job(job_id)
    form = ConfirmForm()
    if form.validate_on_submit():
        try:
            services.start_undo(current_user, job)
        except ValidationFailed as exc:
            db.session.rollback()
            for messages in exc.errors.values():
                for message in messages:
                    flash(message, "error")
            return redirect_to(url_for("imports.detail", job_id=job_id))
        ran = start_in_background(runner.KIND, job_id)
        flash("Import undone: its new leads are in the trash and updated leads have their previous values."
              if ran else "Undoing the import. You can leave this page; it goes on in the background.", "success")
        return redirect_to(url_for("imports.detail", job_id=job_id))
    return render_page("imports/undo.html", job=job, form=form, status=422 if form.is_submitted() else 200)


@bp.post("/imports/<int:job_id>/discard")
@importer_required
def discard(job_id: int):
    job = _job(job_id)
    form = ConfirmForm()
    if not form.validate_on_submit():
        abort(400)
    name = job.filename
    try:
        services.discard_draft(current_user, job)
    except ValidationFailed:
        db.session.rollback()
        flash("This import has already started and cannot be discarded; you can undo it instead.", "error")
        return redirect_to(url_for("imports.detail", job_id=job_id))
    flash(f"Discarded the upload {name}.", "success")
    return redirect_to(url_for("imports.index"))


@bp.get("/leads/export.csv")
@login_required
def export_leads():
    """The lead list with the same filters as /leads, every page of it: streamed, or when it is
    longer than ``EXPORT_STREAM_MAX_ROWS``, a page offering to prepare it in the background."""
    filters = LeadFilters.from_args(request.args)
    if export_jobs.too_long_to_stream(filters, current_user):
        return render_page("imports/export_start.html", query=request.query_string.decode(),
                           limit=export_jobs.stream_limit(), recent=export_jobs.recent_exports(current_user))
    return _csv_response("\ufeff", export_csv, f"leads-{date.today().isoformat()}.csv",
                         filters, current_user.id)


@bp.post("/leads/export")
@login_required
def queue_export():
    """Prepare the export of the list (its query string in ``query``) as a job."""
    job = export_jobs.queue_export(current_user, request.form.get("query", ""))  # flushed: it has its id
    start_in_background(export_jobs.KIND, job.id)  # after this request's commit
    return redirect_to(url_for("imports.export_detail", export_id=job.id))


def _export_page(export_id: int):
    job = export_jobs.get_export(current_user, export_id)
    return render_page("imports/export_job.html", block="status", job=job,
                       back=url_for("leads.index") + ("?" + job.filter_query if job.filter_query else ""))


@bp.get("/exports/<int:export_id>")
@login_required
def export_detail(export_id: int):
    """An export's progress, then its download link."""
    return _export_page(export_id)


@bp.get("/exports/<int:export_id>/progress")
@login_required
def export_progress(export_id: int):
    """The export's status block: the page polls it every second until the job ends."""
    return _export_page(export_id)


@bp.get("/exports/<int:export_id>/download")
@login_required
def export_download(export_id: int):
    """The finished file, read from the database a chunk at a time (any node can serve it)."""
    stored = export_jobs.download_file(current_user, export_id)  # NotFound: the app's 404
    response = _csv_response(b"", files.chunks, stored.filename, stored.id)
    response.headers["Content-Length"] = str(stored.size)
    return response
