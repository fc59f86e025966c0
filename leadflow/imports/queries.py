"""What the import screens show. Full pages and their htmx fragments use the same context."""

from __future__ import annotations

import math
from collections.abc import Iterator

from sqlalchemy import func
from sqlalchemy.orm import joinedload

from leadflow.accounts.zones import user_zone
from leadflow.extensions import db
from leadflow.governance.settings import get_setting
from leadflow.imports import csvfile
from leadflow.imports.export import CsvBuffer, neutralise
from leadflow.imports.formats import DATE_FORMATS, DATE_TARGETS, DECIMAL_SEPARATORS
from leadflow.imports.mapping import TARGETS, mapping_problems
from leadflow.imports.models import POLICY_LABELS, ImportJob, ImportRow
from leadflow.imports.planner import all_rows_fail, first_records, plan_reasons
from leadflow.imports.problems import group_reasons
from leadflow.imports.services import decimal_label, open_questions
from leadflow.web.formatting import money

PER_PAGE = 25
SAMPLE_ROWS = 3
SHOWN_ROWS = 100


def jobs_context(page: int) -> dict:
    total = db.session.scalar(db.select(func.count(ImportJob.id)))
    pages = max(1, math.ceil(total / PER_PAGE))
    page = min(max(1, page), pages)
    jobs = db.session.scalars(
        db.select(ImportJob).options(joinedload(ImportJob.created_by))
        .order_by(ImportJob.created_at.desc(), ImportJob.id.desc()).limit(PER_PAGE).offset((page - 1) * PER_PAGE)
    ).all()
    return {"jobs": jobs, "page": page, "pages": pages, "total": total}


def sample_values(job: ImportJob) -> list[list[str]]:
    """For each column, the first few values of the file (what the mapping step shows)."""
    samples: list[list[str]] = [[] for _ in job.columns]
    for record in first_records(job, SAMPLE_ROWS):
        for column, value in enumerate(record[: len(samples)]):
            if value.strip():
                samples[column].append(value.strip()[:60])
    return samples


def mapping_context(job: ImportJob, settings_form, problems: list[str] | None = None) -> dict:
    """The mapping page. A column mapped to a date has its format (None: to be chosen)."""
    formats = job.date_formats or {}
    date_formats = [formats.get(str(i)) if target in DATE_TARGETS else False for i, target in enumerate(job.mapping)]
    return {
        "job": job, "settings_form": settings_form, "targets": TARGETS,
        "columns": list(zip(range(len(job.columns)), job.columns, job.mapping, sample_values(job), date_formats)),
        "problems": problems if problems is not None else mapping_problems(job.mapping),
        "questions": open_questions(job), "date_format_labels": DATE_FORMATS,
        "decimal_label": decimal_label(job.decimal_separator),
        "detected_decimal": DECIMAL_SEPARATORS.get(job.detected_decimal_separator),
        "encodings": csvfile.ENCODINGS, "delimiters": csvfile.DELIMITERS,
    }


PREVIEW_FIELDS = (
    ("Name", lambda v: " ".join(p for p in (v.get("first_name"), v.get("last_name")) if p)),
    ("Email", lambda v: v.get("email")),
    ("Phone", lambda v: v.get("phone")),
    ("Organization", lambda v: v.get("organization_name")),
    ("Details", lambda v: ", ".join(filter(None, (
        v.get("title"), v.get("country"), v.get("source"), v.get("lifecycle"),
        ("tags: " + ", ".join(v["tags"])) if v.get("tags") else None,
    )))),
)
def _first_cell(cells: list[str], indexes: list[int]) -> str:
    for index in indexes:
        if index < len(cells) and cells[index].strip():
            return cells[index].strip()
    return ""


def readings(job: ImportJob, plan, currency: str, zone) -> list[str]:
    """How the row's amount and dates were read, each beside its cell: "2500,00 → €2,500.00",
    "18.11.2027 → 2027-11-18" (a cell that could not be read: "→ not read")."""
    out = []
    v = plan.values
    for target, label in (("value", "Value"), ("expected_close_date", "Closes"), ("created_at", "Created")):
        raw = _first_cell(plan.cells, [i for i, t in enumerate(job.mapping) if t == target])
        if not raw:
            continue
        if target == "value" and v.get("value_cents") is not None:
            read = money(v["value_cents"], v.get("currency", currency), exact=True)
        elif target == "expected_close_date" and v.get("expected_close_date"):
            read = v["expected_close_date"].isoformat()
        elif target == "created_at" and v.get("created_at"):
            read = v["created_at"].astimezone(zone).strftime("%Y-%m-%d %H:%M")
        else:
            read = "not read"
        out.append(f"{label}: {raw} → {read}")
    return out


ACTION_LABELS = {"create": "New lead", "update": "Updates", "skip": "Skipped", "fail": "Fails"}


def preview_context(job: ImportJob, plans, policy: str, start_form) -> dict:
    counts = {action: sum(1 for p in plans if p.action == action) for action in ACTION_LABELS}
    currency, zone = get_setting("default_currency") or "USD", user_zone(job.created_by)
    return {"job": job, "plans": plans, "fields": PREVIEW_FIELDS, "action_labels": ACTION_LABELS,
            "readings": {p.number: readings(job, p, currency, zone) for p in plans},
            "counts": counts, "warned": sum(1 for p in plans if p.warned), "policy": policy,
            "policy_labels": POLICY_LABELS, "start_form": start_form, "reasons": plan_reasons(plans, COMMON_REASONS),
            "all_fail": all_rows_fail(plans),
            "mapped": [(name, TARGETS[t]) for name, t in zip(job.columns, job.mapping) if t != "ignore"]}


NOTED_OUTCOMES = ("failed", "skipped", "warned")
OUTCOME_LABELS = {"failed": "Failed", "skipped": "Skipped", "warned": "Imported with warnings"}


def job_context(job: ImportJob) -> dict:
    rows = db.session.scalars(
        db.select(ImportRow).where(ImportRow.job_id == job.id, ImportRow.outcome.in_(NOTED_OUTCOMES))
        .order_by(ImportRow.outcome, ImportRow.row_number).limit(SHOWN_ROWS)
    ).all()
    total = job.failed_count + job.skipped_count + job.warned_count
    reasons = common_reasons(job) if rows and not job.is_active else []
    # Worth showing when it sums up: more rows than reasons (one row's reason is in the table).
    reasons = reasons if sum(count for _, _, count in reasons) > len(reasons) else []
    return {"job": job, "problem_rows": rows, "shown_rows": SHOWN_ROWS, "problem_total": total,
            "outcome_labels": OUTCOME_LABELS, "common_reasons": reasons,
            "imported": job.created_count + job.updated_count}


COMMON_REASONS = 5


def common_reasons(job: ImportJob) -> list[tuple[str, str, int]]:
    """The most frequent kinds of problem: (outcome, what, rows), most first; failures,
    skips and warnings apart. Many rows usually share a cause (a column mapped to the wrong
    field, an owner who has no account, phones written for another country): this shows it
    without reading thousands of rows. Rows are grouped by their codes (``ImportRow.kinds``),
    rows noted before codes existed by their message."""
    count = db.func.count(ImportRow.id)
    legacy_message = db.case((ImportRow.kinds.is_(None), ImportRow.message))
    return group_reasons(db.session.execute(
        db.select(ImportRow.outcome, ImportRow.kinds, legacy_message, count)
        .where(ImportRow.job_id == job.id, ImportRow.outcome.in_(NOTED_OUTCOMES))
        .group_by(ImportRow.outcome, ImportRow.kinds, legacy_message)
        .order_by(ImportRow.outcome, ImportRow.kinds, legacy_message)), COMMON_REASONS)


def failed_rows_csv(job_id: int, outcome: str = "failed") -> Iterator[str]:
    """The rows with this outcome (failed, or warned: imported with cells left out), as CSV
    (after the header): the file's own cells, then the reason."""
    job = db.session.get(ImportJob, job_id)
    width = len(job.columns)
    out = CsvBuffer()
    last = 0
    while True:
        rows = db.session.execute(
            db.select(ImportRow.id, ImportRow.row_number, ImportRow.cells, ImportRow.message)
            .where(ImportRow.job_id == job.id, ImportRow.outcome == outcome, ImportRow.id > last)
            .order_by(ImportRow.id).limit(1000)
        ).all()
        if not rows:
            return
        for row in rows:
            cells = (list(row.cells or []) + [""] * width)[:width]
            out.writer.writerow([neutralise(c) for c in cells] + [f"Row {row.row_number}: {row.message}"])
        last = rows[-1].id
        yield out.take()
