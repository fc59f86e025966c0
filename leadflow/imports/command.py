"""``flask leadflow import-csv FILE``: the same import as the web screens, for scripts."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from leadflow.accounts.models import User
from leadflow.errors import PermissionDenied, ValidationFailed
from leadflow.extensions import db
from leadflow.imports import services
from leadflow.imports.csvfile import ENCODINGS
from leadflow.imports.models import ImportJob, ImportRow
from leadflow.imports.runner import run_job

SHOWN_FAILURES = 20


@dataclass
class Outcome:
    code: int  # 0 done, 1 the import stopped, 2 the input was refused
    lines: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


def import_csv_file(path: Path, *, user_email: str, policy: str, encoding: str | None = None,
                    delimiter: str | None = None, decimal: str | None = None,
                    date_format: str | None = None, new_lead_rules: bool = False) -> Outcome:
    """Import the file as ``user_email`` with the suggested mapping; commits. ``decimal``
    ("point"/"comma") and ``date_format`` (for every date column) override what is detected."""
    actor = db.session.scalar(db.select(User).where(db.func.lower(User.email) == user_email.strip().lower()))
    if actor is None or not actor.active:
        return Outcome(2, errors=[f"There is no active user {user_email}."])
    if encoding is not None and encoding not in ENCODINGS:
        return Outcome(2, errors=[f"Unknown encoding {encoding}; use one of {', '.join(ENCODINGS)}."])
    try:
        with open(path, "rb") as handle:
            job = services.create_job(actor, handle, path.name)
        if encoding or delimiter:
            services.update_file_settings(actor, job, encoding=encoding or job.encoding,
                                          delimiter=DELIMITER_NAMES.get(delimiter, delimiter) if delimiter else job.delimiter,
                                          has_header=True)
        if decimal:
            services.update_file_settings(actor, job, encoding=job.encoding, delimiter=job.delimiter,
                                          has_header=job.has_header, decimal_separator=DECIMAL_NAMES[decimal])
        if date_format:
            services.update_mapping(actor, job, job.mapping, {i: date_format for i in range(len(job.columns))})
        services.start_job(actor, job, policy, new_lead_rules=new_lead_rules)
        db.session.commit()
    except PermissionDenied as exc:
        db.session.rollback()
        return Outcome(2, errors=[str(exc)])
    except ValidationFailed as exc:
        db.session.rollback()
        return Outcome(2, errors=[f"{key}: {message}" for key, messages in exc.errors.items() for message in messages])
    mapped = ", ".join(f"{c} → {t}" for c, t in zip(job.columns, job.mapping) if t != "ignore")
    lines = [f"Mapping: {mapped}"]
    job_id = job.id
    run_job(job_id)
    db.session.expire_all()
    job = db.session.get(ImportJob, job_id)
    lines.append(f"Import {job.id} of {job.filename}: {job.created_count} created, {job.updated_count} updated, "
                 f"{job.skipped_count} skipped, {job.failed_count} failed"
                 + (f", {job.warned_count} imported with warnings (cells left out)." if job.warned_count else "."))
    failures = db.session.scalars(
        db.select(ImportRow).where(ImportRow.job_id == job.id, ImportRow.outcome == "failed")
        .order_by(ImportRow.row_number).limit(SHOWN_FAILURES)).all()
    errors = [f"Row {r.row_number}: {r.message}" for r in failures]
    if job.failed_count > len(failures):
        errors.append(f"… and {job.failed_count - len(failures)} more failed rows (see Imports in the app).")
    if job.status != "done":
        return Outcome(1, lines, [job.error or "The import stopped."] + errors)
    return Outcome(0, lines, errors)


DELIMITER_NAMES = {"comma": ",", "semicolon": ";", "tab": "\t"}
DECIMAL_NAMES = {"point": ".", "comma": ","}
