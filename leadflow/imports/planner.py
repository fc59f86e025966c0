"""Deciding, chunk by chunk, what each row of a file becomes: a new lead, an update of an
existing one, a skipped duplicate or a failure with its reason. Nothing is written here:
the preview shows these plans, and the runner carries them out.

Duplicates follow ``leads.duplicates``: the same normalised email or the same E.164 phone
as a live lead. They are looked up for a whole chunk in two queries, and within the file
against the rows before."""

from __future__ import annotations

import csv
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field

from leadflow.accounts.zones import user_zone
from leadflow.governance.settings import get_setting
from leadflow.imports import csvfile
from leadflow.imports.models import ImportJob
from leadflow.imports.problems import Problem, failure_message, group_reasons, join_codes, warnings_message
from leadflow.imports.rawsql import RawWriter
from leadflow.imports.rows import MAX_CELL, RowCleaner
from leadflow.leads.fields import FieldError, normalise_phone, phone_region, search_text_for

PREVIEW_ROWS = 20
LOOKUP_BATCH = 900  # values per IN (…) list (within SQLite's oldest limit of 999 parameters)


@dataclass
class RowPlan:
    number: int  # the row as a spreadsheet numbers it (the header is row 1)
    cells: list[str]
    action: str  # create | update | skip | fail
    values: dict = field(default_factory=dict)
    message: str | None = None  # why the row fails or is skipped
    lead_id: int | None = None
    # The new lead's search text as the row gives it (computed while cleaning, which may run
    # in another process); the writer recomputes it when the organization is spelt otherwise.
    search_text: str | None = None
    kinds: str | None = None  # the codes of why it fails or is skipped (``leadflow.imports.problems``)
    warnings: list[Problem] | None = None  # the cells a created or updated lead leaves out

    def __reduce__(self):  # a plain tuple: chunks of plans cross a process boundary
        return RowPlan, (self.number, self.cells, self.action, self.values, self.message, self.lead_id,
                         self.search_text, self.kinds, self.warnings)

    @property
    def warned(self) -> bool:
        """Imported (created or updated) with a bad optional cell left out."""
        return bool(self.warnings) and self.action in ("create", "update")

    @property
    def warning_message(self) -> str | None:
        """What the noted row says: "Imported; phone ‘…’ could not be read and was left out."."""
        return warnings_message(self.warnings) if self.warned else None

    def skip(self, kind: str, message: str) -> None:
        self.action, self.kinds, self.message = "skip", kind, message

    def fail(self, kind: str, message: str) -> None:
        self.action, self.kinds, self.message = "fail", kind, message


def make_cleaner(job: ImportJob) -> RowCleaner:
    return RowCleaner(job.columns, job.mapping, region=get_setting("default_phone_region") or "US",
                      default_currency=get_setting("default_currency") or "USD",
                      decimal_separator=job.decimal_separator or ".", date_formats=job.date_formats,
                      zone=user_zone(job.created_by))


def data_records(job: ImportJob, handle, skip: int = 0) -> Iterator[tuple[int, list[str] | csv.Error]]:
    """(row number, cells) for every data row after the first ``skip``; blank lines are left
    out and not counted."""
    seen_header = not job.has_header
    index = 0
    for number, record in enumerate(csvfile.iter_rows(handle, job.delimiter), start=1):
        if isinstance(record, list) and not record:
            continue
        if not seen_header:
            seen_header = True
            continue
        index += 1
        if index <= skip:
            continue
        yield number, record


def first_records(job: ImportJob, limit: int) -> Iterator[list[str]]:
    """The cells of the file's first ``limit`` data rows (rows that cannot be read left out)."""
    with csvfile.open_text(csvfile.stored_path(job.stored_name), job.encoding) as handle:
        for count, (_, record) in enumerate(data_records(job, handle)):
            if count >= limit:
                return
            if not isinstance(record, csv.Error):
                yield record


def _broken(cleaner: RowCleaner, number: int, record) -> RowPlan | None:
    """A plan for a row that cannot even be read as cells of this file, else None."""
    if isinstance(record, csv.Error):
        return RowPlan(number, [], "fail", message=f"This row could not be read: {record}.", kinds="row:unreadable")
    if len(record) != cleaner.width:
        extra = record[cleaner.width:]
        if len(record) < cleaner.width or any(c.strip() for c in extra):
            return RowPlan(number, record, "fail",
                           message=f"The row has {len(record)} cells; the header has {cleaner.width}. "
                                   "Check for a stray delimiter or a missing quote.", kinds="row:width")
        del record[cleaner.width:]  # trailing empty cells, as spreadsheets often leave
    if record and max(map(len, record)) > MAX_CELL:
        return RowPlan(number, record, "fail", message=f"A cell is longer than {MAX_CELL:,} characters.",
                       kinds="row:cell_too_long")
    return None


def _matches(column: str, values: list[str]) -> dict[str, tuple[int, int | None]]:
    """value → (lead id, import job id) of the oldest live lead with it (``column`` is
    ``email_key`` or ``phone``, both indexed); one ``IN (…)`` query per batch of values.

    Trashed leads are left out here, not in SQL: with ``deleted_at IS NULL`` in the query
    SQLite's planner picks an index that starts with ``deleted_at`` and reads every live
    lead for each batch (an import then slows down as the table grows)."""
    found: dict[str, tuple[int, int | None]] = {}
    if not values:
        return found
    rows = RawWriter().select_in(
        f"SELECT {column}, id, import_job_id, deleted_at FROM leads WHERE {column} {{in}}",
        sorted(set(values)), LOOKUP_BATCH)
    for value, lead_id, job_id, deleted_at in sorted(rows, key=lambda row: row[1]):
        if deleted_at is None:
            found.setdefault(value, (lead_id, job_id))
    return found


def clean_records(cleaner: RowCleaner, records: list[tuple[int, list[str] | csv.Error]]) -> list[RowPlan]:
    """A plan for each row from its cells alone (no database): create (with the cells it
    leaves out as warnings), or fail with the reasons."""
    plans: list[RowPlan] = []
    clean = cleaner.clean
    for number, record in records:
        plan = _broken(cleaner, number, record)
        if plan is None:
            values, problems = clean(record)
            if problems and problems[0].fatal:
                plan = RowPlan(number, record, "fail", values, failure_message(problems), kinds=join_codes(problems))
            else:
                get = values.get
                plan = RowPlan(number, record, "create", values, search_text=search_text_for(
                    get("first_name", ""), get("last_name", ""), get("email"), get("phone"),
                    get("organization_name"), custom_fields=get("custom_fields")), warnings=problems or None)
        plans.append(plan)
    return plans


def find_duplicates(job: ImportJob, plans: list[RowPlan], seen: dict[str, int], policy: str | None = None) -> None:
    """Turn the new leads of a chunk that repeat an existing lead or an earlier row into
    skips or updates, as the policy says. ``seen`` maps the emails and phones of earlier
    rows of this file, and the ids of the leads they updated ("l:<id>"), to their row
    numbers; it is updated. (A resumed import starts it from the rows it updated before.)"""
    policy = policy or job.duplicate_policy
    if policy == "create":
        _skip_taken_emails(job, plans, seen)
        return
    candidates = [p for p in plans if p.action == "create"]
    by_email = _matches("email_key", [p.values["email_key"] for p in candidates if p.values.get("email_key")])
    by_phone = _matches("phone", [p.values["phone"] for p in candidates if p.values.get("phone")])
    for plan in candidates:
        email_key, phone = plan.values.get("email_key"), plan.values.get("phone")
        match = (email_key and by_email.get(email_key)) or (phone and by_phone.get(phone))
        earlier = ((email_key and seen.get("e:" + email_key)) or (phone and seen.get("p:" + phone))
                   or (match and seen.get(f"l:{match[0]}")))
        what = "email" if (email_key and (seen.get("e:" + email_key) or by_email.get(email_key))) else "phone"
        if earlier:
            plan.skip("duplicate:file", f"Same {what} as row {earlier} of this file.")
        elif match and match[1] == job.id:
            plan.skip("duplicate:file", f"Same {what} as an earlier row of this file.")
        elif match and policy == "skip":
            plan.skip("duplicate:lead", f"Same {what} as an existing lead (#{match[0]}).")
            plan.lead_id = match[0]
        elif match:
            plan.action, plan.lead_id = "update", match[0]
        if plan.action in ("create", "update"):
            if plan.lead_id:
                seen.setdefault(f"l:{plan.lead_id}", plan.number)
            if email_key:
                seen.setdefault("e:" + email_key, plan.number)
            if phone:
                seen.setdefault("p:" + phone, plan.number)
    read_phones_in_lead_country([p for p in candidates if p.action == "update"])


def read_phones_in_lead_country(plans: list[RowPlan]) -> None:
    """A row that updates a lead and gives no country of its own has its phone read in the
    lead's country (a GB lead's "07700 900123" is +447700900123), not the workspace's region:
    the number replaces the one read before, or is left out with a warning when the lead's
    country cannot read it. (A phone that matched the lead's own number is kept as it is.)"""
    plans = [p for p in plans if "_phone_cell" in p.values]
    if not plans:
        return
    leads = {lead_id: (country, phone) for lead_id, country, phone in RawWriter().select_in(
        "SELECT id, country, phone FROM leads WHERE id {in}", sorted({p.lead_id for p in plans}), LOOKUP_BATCH)}
    for plan in plans:
        country, lead_phone = leads.get(plan.lead_id, (None, None))
        raw, region = plan.values["_phone_cell"]
        lead_region = phone_region(country, region)
        if lead_region == region or (lead_phone and plan.values.get("phone") == lead_phone):
            continue
        warnings = [w for w in plan.warnings or () if not w.code.startswith("phone:")]
        plan.values.pop("phone", None)
        try:
            plan.values["phone"] = normalise_phone(raw, lead_region)
        except FieldError as exc:
            warnings.append(Problem("phone:invalid", f"Phone: {exc}", raw))
        plan.warnings = warnings or None


EMAIL_BELONGS_TO_ONE = "an email belongs to one lead, so no second lead was created."


def _skip_taken_emails(job: ImportJob, plans: list[RowPlan], seen: dict[str, int]) -> None:
    """"Create a new lead anyway" still cannot give a second live lead an email (the database
    refuses it): such rows are skipped, each with a message naming the lead or row that has
    it, so none is lost silently. Phones and names may repeat: those rows are created."""
    candidates = [p for p in plans if p.action == "create" and p.values.get("email_key")]
    by_email = _matches("email_key", [p.values["email_key"] for p in candidates])
    for plan in candidates:
        key = plan.values["email_key"]
        earlier, match = seen.get("e:" + key), by_email.get(key)
        if earlier:
            plan.skip("duplicate:file", f"Same email as row {earlier} of this file: {EMAIL_BELONGS_TO_ONE}")
        elif match and match[1] == job.id:
            plan.skip("duplicate:file", f"Same email as an earlier row of this file: {EMAIL_BELONGS_TO_ONE}")
        elif match:
            plan.skip("duplicate:email_taken", f"Lead #{match[0]} already has this email: {EMAIL_BELONGS_TO_ONE} "
                      "Import with “Update the existing lead” to add the row to it.")
            plan.lead_id = match[0]
        else:
            seen["e:" + key] = plan.number


def plan_chunk(job: ImportJob, cleaner: RowCleaner, records: list[tuple[int, list[str] | csv.Error]],
               seen: dict[str, int], policy: str | None = None) -> list[RowPlan]:
    """What each row of the chunk becomes (``clean_records`` then ``find_duplicates``)."""
    plans = clean_records(cleaner, records)
    find_duplicates(job, plans, seen, policy)
    return plans


def plan_preview(job: ImportJob, limit: int, policy: str | None = None) -> list[RowPlan]:
    cleaner = make_cleaner(job)
    records = []
    with csvfile.open_text(csvfile.stored_path(job.stored_name), job.encoding) as handle:
        for item in data_records(job, handle):
            records.append(item)
            if len(records) >= limit:
                break
    return plan_chunk(job, cleaner, records, {}, policy)


PLAN_OUTCOMES = {"fail": "failed", "skip": "skipped"}  # the outcome an ImportRow of the plan gets


def plan_reasons(plans: list[RowPlan], limit: int = 5) -> list[tuple[str, str, int]]:
    """As ``queries.common_reasons``, for the preview's plans: failures, skips and warnings by kind."""
    groups = Counter()
    for plan in plans:
        if plan.action in PLAN_OUTCOMES:
            groups[PLAN_OUTCOMES[plan.action], plan.kinds, plan.message] += 1
        elif plan.warned:
            groups["warned", join_codes(plan.warnings), None] += 1
    return group_reasons(((*key, count) for key, count in groups.items()), limit)


def all_rows_fail(plans) -> bool:
    """Every previewed row fails: starting the import would create nothing (the start button
    is not offered, and ``services.start_job`` refuses)."""
    return bool(plans) and all(p.action == "fail" for p in plans)
