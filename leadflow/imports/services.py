"""The steps of a CSV import a person takes: upload, file settings, mapping, preview, start,
undo. Services take the actor, raise domain errors and flush; the caller commits.
The work itself (chunks, leases, undo) is in ``leadflow.imports.runner``."""

from __future__ import annotations

from flask import current_app

from leadflow.errors import NotFound, PermissionDenied, ValidationFailed
from leadflow.extensions import db
from leadflow.governance.audit import record_event
from leadflow.imports import csvfile
from leadflow.imports.formats import (DATE_FORMATS, DATE_TARGETS, DECIMAL_NAMES, DECIMAL_SEPARATORS,
                                      detect_date_format, detect_decimal_separator)
from leadflow.imports.mapping import mapping_problems, suggest_mapping
from leadflow.imports.models import DUPLICATE_POLICIES, ImportJob
from leadflow.imports.planner import PREVIEW_ROWS, RowPlan, all_rows_fail, first_records, plan_preview, plan_reasons

DEFAULT_MAX_BYTES = 64 * 1024 * 1024
FORMAT_SAMPLE_ROWS = 2000  # data rows read to tell a file's decimal separator and date formats
IMPORT_ROLES = ("admin", "manager")


def can_import(user) -> bool:
    return bool(user is not None and getattr(user, "is_authenticated", False) and user.role in IMPORT_ROLES)


def _require_importer(actor) -> None:
    if not can_import(actor):
        raise PermissionDenied("Only admins and managers can import leads.")


def max_upload_bytes() -> int:
    return int(current_app.config.get("IMPORT_MAX_BYTES", DEFAULT_MAX_BYTES))


def size_label(size: int) -> str:
    return f"{size / (1024 * 1024):,.0f} MB" if size >= 1024 * 1024 else f"{max(1, size // 1024):,} KB"


class UploadTooLarge(ValidationFailed):
    """The upload is over ``IMPORT_MAX_BYTES`` (views answer 413)."""

    def __init__(self):
        super().__init__({"file": [f"The file is larger than {size_label(max_upload_bytes())}. "
                                   "Split it into smaller files and import each."]})


def create_job(actor, stream, filename: str) -> ImportJob:
    """Store an uploaded file and detect how to read it. Raises ValidationFailed with a
    message for the ``file`` field when it is too large (UploadTooLarge), empty, not text
    (a spreadsheet, an image…) or not a CSV we can read; nothing is kept then."""
    _require_importer(actor)
    try:
        stored, size = csvfile.save_upload(stream, max_upload_bytes())
    except csvfile.FileTooLarge:
        raise UploadTooLarge() from None
    path = csvfile.stored_path(stored)
    if size == 0:
        csvfile.remove_stored(stored)
        raise ValidationFailed({"file": ["The file is empty."]})
    if kind := csvfile.binary_kind(path):
        csvfile.remove_stored(stored)
        raise ValidationFailed({"file": [f"This file is not a CSV text file: it looks like {kind}."]})
    encoding = csvfile.detect_encoding(path)
    delimiter = csvfile.detect_delimiter(csvfile.read_sample(path, encoding))
    columns = csvfile.header_and_width(path, encoding, delimiter, True)
    if not columns:
        csvfile.remove_stored(stored)
        raise ValidationFailed({"file": ["The file has no rows."]})
    if len(columns) > 200:
        csvfile.remove_stored(stored)
        raise ValidationFailed({"file": [f"The file has {len(columns)} columns; at most 200 can be imported. "
                                         "Is it really a CSV file?"]})
    job = ImportJob(
        created_by_id=actor.id, filename=(filename or "upload.csv")[-255:], stored_name=stored, size_bytes=size,
        encoding=encoding, detected_encoding=encoding, delimiter=delimiter, detected_delimiter=delimiter,
        has_header=True, columns=columns, mapping=suggest_mapping(columns), duplicate_policy="skip",
        status="draft",
    )
    detect_formats(job)
    db.session.add(job)
    db.session.flush()
    return job


def get_job(job_id: int) -> ImportJob:
    job = db.session.get(ImportJob, job_id)
    if job is None:
        raise NotFound("There is no such import.")
    return job


def _require_draft(job: ImportJob) -> None:
    if job.status != "draft":
        raise ValidationFailed({"job": ["This import has already started; its settings can no longer change."]})


def update_file_settings(actor, job: ImportJob, *, encoding: str, delimiter: str, has_header: bool,
                         decimal_separator: str | None = None) -> None:
    """Read the file again with other settings. When that changes the columns, their
    mapping, decimal separator and date formats are suggested afresh; otherwise the
    decimal separator chosen is kept (None leaves it as it is)."""
    _require_importer(actor)
    _require_draft(job)
    errors: dict[str, list[str]] = {}
    if encoding not in csvfile.ENCODINGS:
        errors["encoding"] = ["Choose an encoding from the list."]
    elif encoding.startswith("utf-8") and not job.detected_encoding.startswith("utf-8"):
        errors["encoding"] = ["This file is not valid UTF-8. Choose Windows-1252 or Latin-1."]
    if delimiter not in csvfile.DELIMITERS:
        errors["delimiter"] = ["Choose a delimiter from the list."]
    if decimal_separator is not None and decimal_separator not in DECIMAL_SEPARATORS:
        errors["decimal_separator"] = ["Choose the decimal separator the file's amounts use: a point (1,234.56) "
                                       "or a comma (1.234,56)."]
    if errors:
        raise ValidationFailed(errors)
    path = csvfile.stored_path(job.stored_name)
    columns = csvfile.header_and_width(path, encoding, delimiter, has_header)
    if len(columns) > 200:
        raise ValidationFailed({"delimiter": [f"With this delimiter the file has {len(columns)} columns; "
                                              "at most 200 can be imported. Try another delimiter."]})
    job.encoding, job.delimiter, job.has_header = encoding, delimiter, has_header
    if columns != job.columns:
        job.columns = columns
        job.mapping = suggest_mapping(columns)
        job.date_formats = {}
        detect_formats(job)
    elif decimal_separator is not None:
        job.decimal_separator = decimal_separator
    db.session.flush()


def update_mapping(actor, job: ImportJob, mapping: list[str], date_formats: dict[int, str] | None = None) -> None:
    """Save the mapping, and the date format chosen for each date column (``date_formats``:
    column index → format; "" or a missing column keeps the format it had, or detects one).
    A date column whose format cannot be told, or money columns whose decimal separator
    cannot, are left to ask (``open_questions``)."""
    _require_importer(actor)
    _require_draft(job)
    mapping = list(mapping) + ["ignore"] * (len(job.columns) - len(mapping))
    mapping = mapping[: len(job.columns)]
    problems = mapping_problems(mapping)
    for index, fmt in (date_formats or {}).items():
        if fmt and fmt not in DATE_FORMATS and index < len(mapping) and mapping[index] in DATE_TARGETS:
            problems.append(f"Choose a date format from the list for the column “{job.columns[index]}”.")
    if problems:
        raise ValidationFailed({"mapping": problems})
    kept = {key: fmt for key, fmt in (job.date_formats or {}).items()
            if int(key) < len(mapping) and mapping[int(key)] in DATE_TARGETS}
    kept.update({str(i): fmt for i, fmt in (date_formats or {}).items()
                 if fmt and i < len(mapping) and mapping[i] in DATE_TARGETS})
    money_changed = _money_columns(mapping) != _money_columns(job.mapping)
    job.mapping = mapping
    job.date_formats = kept
    detect_formats(job, decimal=money_changed)
    db.session.flush()


# --- how the file writes numbers and dates -------------------------------------------------

def _money_columns(mapping: list[str]) -> list[int]:
    return [i for i, target in enumerate(mapping) if target == "value"]


def _date_columns(mapping: list[str]) -> list[int]:
    return [i for i, target in enumerate(mapping) if target in DATE_TARGETS]


def _column_samples(job: ImportJob, indexes: list[int]) -> dict[int, list[str]]:
    """The non-empty cells of these columns in the file's first ``FORMAT_SAMPLE_ROWS`` rows."""
    samples: dict[int, list[str]] = {i: [] for i in indexes}
    if not indexes:
        return samples
    for record in first_records(job, FORMAT_SAMPLE_ROWS):
        for i in indexes:
            if i < len(record) and record[i].strip():
                samples[i].append(record[i])
    return samples


def detect_formats(job: ImportJob, decimal: bool = True) -> None:
    """Tell the decimal separator of the money columns (when ``decimal``) and the format of
    each date column that has none yet from the file's first rows. What cannot be told is
    left None: the mapping page asks."""
    dates = [i for i in _date_columns(job.mapping) if not (job.date_formats or {}).get(str(i))]
    money = _money_columns(job.mapping) if decimal else []
    samples = _column_samples(job, sorted(set(dates) | set(money)))
    if decimal:
        detected = detect_decimal_separator(cell for i in money for cell in samples[i])
        job.detected_decimal_separator = job.decimal_separator = detected
    if dates:
        job.date_formats = {**(job.date_formats or {}),
                            **{str(i): detect_date_format(samples[i]) for i in dates}}


def open_questions(job: ImportJob) -> list[str]:
    """What the person importing must still say about the file's formats, in their words:
    nothing is imported (or previewed) until it is answered."""
    questions = []
    money = _money_columns(job.mapping)
    if money and job.decimal_separator not in DECIMAL_SEPARATORS:
        names = ", ".join(f"“{job.columns[i]}”" for i in money)
        questions.append(f"The amounts in {names} read both ways (such as “1.234” or “2,500”): under File settings, "
                         "choose whether the file writes decimals with a point or a comma.")
    formats = job.date_formats or {}
    for i in _date_columns(job.mapping):
        if str(i) in formats and formats[str(i)] not in DATE_FORMATS:
            questions.append(f"The dates in “{job.columns[i]}” read both as dd/mm/yyyy and mm/dd/yyyy (every day "
                             "is 12 or less): choose the column's date format.")
    return questions


def decimal_label(separator: str | None) -> str:
    return f"decimal {DECIMAL_NAMES[separator][0]}" if separator in DECIMAL_NAMES else "decimal separator to choose"


def preview(job: ImportJob, policy: str | None = None) -> list[RowPlan]:
    """The first rows as they would be saved, each with its problems or what would happen."""
    return plan_preview(job, PREVIEW_ROWS, policy if policy in DUPLICATE_POLICIES else None)


def nothing_to_import_message(plans: list[RowPlan]) -> str:
    """Why an import whose every previewed row fails is not started, by kind of problem."""
    reasons = "; ".join(f"{count:,} {'row' if count == 1 else 'rows'}: {what}"
                        for _, what, count in plan_reasons(plans))
    first = "the only row" if len(plans) == 1 else f"all of the first {len(plans)} rows"
    return (f"Nothing would be imported: {first} of the file would fail ({reasons}). "
            "Change the mapping, or fix the file and upload it again.")


def start_job(actor, job: ImportJob, policy: str, *, new_lead_rules: bool = False) -> None:
    """Queue the import; the caller starts it (``jobs.runner.start``, which acts after the commit).
    ``new_lead_rules``: its new leads go through routing, scoring and the workflow rules for
    new leads, as leads from a form do (no new-lead e-mails: they are not fresh enquiries)."""
    _require_importer(actor)
    _require_draft(job)
    if policy not in DUPLICATE_POLICIES:
        raise ValidationFailed({"duplicate_policy": ["Choose what to do with duplicates."]})
    problems = mapping_problems(job.mapping) + open_questions(job)
    if problems:
        raise ValidationFailed({"mapping": problems})
    plans = preview(job, policy)
    if all_rows_fail(plans):
        raise ValidationFailed({"job": [nothing_to_import_message(plans)]})
    job.duplicate_policy = policy
    job.new_lead_rules = bool(new_lead_rules)
    job.status = "queued"
    job.rows_done = 0
    record_event(actor, "import_job", job.id, "create", job.filename)
    db.session.flush()


def start_undo(actor, job: ImportJob) -> None:
    """Queue undoing a finished import: its new leads go to the trash (restorable for the
    trash retention period) and the leads it updated get their previous values back."""
    _require_importer(actor)
    if job.status not in ("done", "failed"):
        raise ValidationFailed({"job": ["Only a finished or stopped import can be undone."]})
    if not (job.created_count or job.updated_count):
        raise ValidationFailed({"job": ["This import did not create or change any lead: there is nothing to undo."]})
    job.status = "undoing"
    job.undo_done = 0
    job.undone_by_id = actor.id
    job.error = None
    job.lease_owner = None
    job.lease_until = None
    record_event(actor, "import_job", job.id, "undo", job.filename)
    db.session.flush()


def discard_draft(actor, job: ImportJob) -> None:
    """Forget an import that never started, and its file."""
    _require_importer(actor)
    _require_draft(job)
    csvfile.remove_stored(job.stored_name)
    db.session.delete(job)
    db.session.flush()
