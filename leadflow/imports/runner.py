"""Carrying out an import (and its undo) in chunks: the ``import`` kind of ``leadflow.jobs``.

The jobs module claims the job for a worker (a lease, ``lease_owner``/``lease_until``, taken
by one conditional UPDATE) and calls ``carry_out``, in a thread of the scheduler (or inline,
with ``JOBS_RUN_INLINE``: tests, the CLI). The file is read as a stream and handled
``CHUNK_ROWS`` rows at a time. Each chunk commits its leads together with the job's new
``rows_done`` and a renewed lease (``leadflow.jobs.leases.renew``), in one transaction, and
only while the worker still holds the lease. The file is read and cleaned a few chunks ahead
by a producer thread (or process, ``leadflow.imports.cleaning``) while this thread looks up
duplicates and writes.

The worker beats its heartbeat when it claims, with every chunk, and from a thread of its
process every 10 seconds, however long a chunk takes. When the process dies its heartbeat
goes stale within 30 seconds, and the ``jobs`` sweep takes the job over then, without waiting
for the lease to run out (as it still does for a live worker that stopped renewing it), and
goes on after the last committed row, so no row is imported twice.

New leads are written as tuples through the driver (multi-row ``VALUES`` on SQLite, ``COPY`` on
PostgreSQL; leads through the lead store's ``insert_rows``, whose ``ON CONFLICT`` skips a row
whose email a live lead got meanwhile: that row is reported as skipped; tags and notes through ``leadflow.imports.rawsql``;
each lead's "Lead created" timeline entry and stage change are ``INSERT … SELECT`` from the
chunk's new leads; on PostgreSQL the leads, their tags and that history are one statement,
``store.insert_imported``), with every derived column set by the lead store's own rules
(``store.stage_columns``, ``store.new_card_rank``, ``search_text_for``); the board's stage totals get each chunk's counts
and sums in the same transaction. The audit log gets one entry when the import starts and
one when it finishes (the job and its rows are the record of what it created). Rows that update an existing lead go through ``leads.services.update_lead``,
one by one, so every rule and the audit log apply. Imports do not run the new-lead arrival
steps (no speed-to-lead alerts for a bulk load).
"""

from __future__ import annotations

import logging
from collections import Counter, defaultdict
from contextlib import closing, contextmanager
from dataclasses import dataclass, field

from sqlalchemy import insert, select, update
from sqlalchemy.orm import joinedload, selectinload

from leadflow.accounts.models import User
from leadflow.accounts.system import on_behalf_of
from leadflow.activities.models import Activity
from leadflow.db import insert_missing, tidy_after_bulk_write, utcnow
from leadflow.errors import DomainError
from leadflow.extensions import db
from leadflow.governance.audit import record_event
from leadflow.imports import cleaning, csvfile
from leadflow.imports.models import ACTIVE_STATUSES, ImportJob, ImportRow
from leadflow.imports.cleaning import FileSpec, cleaned_chunks
from leadflow.imports.planner import EMAIL_BELONGS_TO_ONE, RowPlan, find_duplicates, make_cleaner
from leadflow.imports.problems import join_codes
from leadflow.imports.rawsql import RawWriter
from leadflow.imports.rows import NOTE_LIMIT, RowCleaner, input_form
from leadflow.jobs import leases
from leadflow.jobs import runner as jobs
from leadflow.leads import store
from leadflow.leads.fields import search_text_for
from leadflow.leads.forms import current_input_value
from leadflow.leads.models import Lead, Tag, lead_tags
from leadflow.leads.services import update_lead
from leadflow.organizations.models import Organization
from leadflow.organizations.names import add_organizations

log = logging.getLogger(__name__)

CHUNK_ROWS = 5000
# The lead columns an import fills from the file, in the order ChunkWriter._create builds them.
LEAD_COLUMNS = ["first_name", "last_name", "email", "email_key", "phone", "title", "country", "organization_id",
                "source", "utm_source", "utm_medium", "utm_campaign", "utm_term", "utm_content", "owner_id",
                "lifecycle", "pipeline_id", "stage_id", "value_cents", "currency", "expected_close_date",
                "custom_fields", "stage_entered_at", "search_text", "board_rank"]
UNDO_CHUNK = 200
KIND = "import"  # an import and its undo: one row of import_jobs, the status says which
IMPORT_CACHE_KIB = 128 * 1024
# WAL pages before a checkpoint while importing (the default is 1,000): every chunk dirties
# thousands of index pages, and copying them back after each commit would double the writes.
IMPORT_CHECKPOINT_PAGES = 100_000


def _renew(job_id: int, worker: str, **values) -> None:
    leases.renew(ImportJob, job_id, worker, **values)


def _release(job_id: int, worker: str, **values) -> None:
    leases.release(ImportJob, job_id, worker, **values)


def run_job(job_id: int, worker: str | None = None) -> bool:
    """Claim the job and carry it out (import or undo) to the end, in this thread; False
    when another worker holds it, it has nothing left to do, or it was taken over."""
    return jobs.run(KIND, job_id, worker)


def _failure_message(exc: Exception, undoing: bool) -> str:
    if isinstance(exc, UnicodeDecodeError):
        return ("The file is not valid text in the chosen encoding. The rows before the problem were imported; "
                "undo this import, then import the file again with another encoding.")
    if isinstance(exc, DomainError):
        return str(exc)
    if isinstance(exc, FileNotFoundError):
        return "The uploaded file is no longer on the server. Upload it again."
    what = "Undoing" if undoing else "The import"
    return f"{what} stopped because of an unexpected error ({type(exc).__name__}). The error was logged."


def _stop(job_id: int, worker: str, exc: Exception) -> None:
    """The job stopped with ``exc``: say why on its page (an undo that stops counts as done:
    what it put back stays); the stored file of an import is no longer needed."""
    job = db.session.get(ImportJob, job_id)
    undoing = job.status == "undoing"
    _release(job_id, worker, status="failed" if not undoing else "done", error=_failure_message(exc, undoing),
             finished_at=utcnow())
    db.session.commit()
    if not undoing:
        csvfile.remove_stored(job.stored_name)
        db.session.commit()


def carry_out(job_id: int, worker: str) -> None:
    """The import (status queued or running) or its undo (undoing), from where it got to."""
    job = db.session.get(ImportJob, job_id)
    if job.status == "undoing":
        _undo(job, worker)
    else:
        _import(job, worker)


# --- the import ---------------------------------------------------------------------------

def _actor(user_id: int | None) -> User | None:
    return db.session.get(User, user_id) if user_id else None


def _import(job: ImportJob, worker: str) -> None:
    path = csvfile.stored_path(job.stored_name)
    actor = _actor(job.created_by_id)
    if actor is None:
        raise DomainError("The person who started this import no longer exists.")
    actor = on_behalf_of(actor, f"Import #{job.id}")
    cleaner = make_cleaner(job)
    cleaner.preload()  # the users and stages it matches against: cleaning then needs no database
    writer = ChunkWriter(job.id, job.filename, actor.id, cleaner, new_lead_rules=job.new_lead_rules)
    cleaning.prepare(path)  # the fork server of a cleaning process starts while the rows are counted
    if job.total_rows is None:  # counted before cleaning starts, which would compete for Python's lock
        total = csvfile.count_records(path, job.encoding, job.delimiter, job.has_header)
        _renew(job.id, worker, total_rows=total, started_at=utcnow(), status="running")
        db.session.commit()
    spec = FileSpec(path, job.encoding, job.delimiter, job.has_header, job.rows_done)
    with closing(cleaned_chunks(cleaner, spec, CHUNK_ROWS)) as cleaned:
        _write_chunks(job, worker, actor, writer, cleaned)
    csvfile.remove_stored(job.stored_name)
    db.session.commit()


def _write_chunks(job: ImportJob, worker: str, actor: User, writer: ChunkWriter, cleaned) -> None:
    # The leads this import updated before it was interrupted (if it was) count as earlier
    # rows of the file: a later row with the same email is a duplicate, not a second update.
    seen: dict[str, int] = {f"l:{lead_id}": number for number, lead_id in db.session.execute(
        select(ImportRow.row_number, ImportRow.lead_id)
        .where(ImportRow.job_id == job.id, ImportRow.outcome == "updated"))}
    with _large_page_cache():
        # While this thread looks up duplicates and writes a chunk (SQLite works outside
        # Python's lock), the producer reads and cleans the next ones.
        chunks = iter(cleaned)
        while True:
            plans = next(chunks, None)  # an unreadable file raises here; what was written stays
            if plans is None:
                break
            find_duplicates(job, plans, seen)
            _finish_chunk(job, worker, plans, writer.write(plans, actor))
        _release(job.id, worker, status="done", finished_at=utcnow(), finished_by=worker)
        db.session.refresh(job)
        record_event(actor, "import_job", job.id, "finish", outcome_summary(job))
        db.session.commit()
    tidy_after_bulk_write(db.session, rows_written=job.rows_done)
    db.session.commit()


def outcome_summary(job: ImportJob) -> str:
    """What an import did, in one line (its audit entry)."""
    return (f"{job.filename}: {job.created_count:,} created, {job.updated_count:,} updated, "
            f"{job.skipped_count:,} skipped, {job.failed_count:,} failed"
            + (f", {job.warned_count:,} imported with warnings" if job.warned_count else ""))[:1000]


@contextmanager
def _large_page_cache():
    """On SQLite, a page cache big enough for the lead table's 20 indexes while a large
    import writes to them (with the default 2 MB most index inserts read from disk), and
    checkpoints only every ``IMPORT_CHECKPOINT_PAGES``. What an interrupted chunk wrote is
    rolled back before the settings are put back."""
    if db.session.get_bind().dialect.name != "sqlite":
        yield
        return
    connection = db.session.connection()
    cache = int(connection.exec_driver_sql("PRAGMA cache_size").scalar())
    checkpoint = int(connection.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar())
    connection.exec_driver_sql(f"PRAGMA cache_size=-{IMPORT_CACHE_KIB}")
    if checkpoint > 0:
        connection.exec_driver_sql(f"PRAGMA wal_autocheckpoint={IMPORT_CHECKPOINT_PAGES}")
    try:
        yield
    except BaseException:
        db.session.rollback()
        raise
    finally:
        connection = db.session.connection()
        connection.exec_driver_sql(f"PRAGMA cache_size={cache}")
        connection.exec_driver_sql(f"PRAGMA wal_autocheckpoint={checkpoint}")
        db.session.commit()


def _finish_chunk(job: ImportJob, worker: str, plans: list[RowPlan], totals: dict[tuple[int, str], list[int]]) -> None:
    """Commit the chunk's writes with the job's progress and the board totals."""
    store.add_to_totals(totals)
    counts = Counter(plan.action for plan in plans)
    _renew(job.id, worker, rows_done=ImportJob.rows_done + len(plans),
           created_count=ImportJob.created_count + counts["create"],
           updated_count=ImportJob.updated_count + counts["update"],
           skipped_count=ImportJob.skipped_count + counts["skip"],
           failed_count=ImportJob.failed_count + counts["fail"],
           warned_count=ImportJob.warned_count + sum(1 for p in plans if p.warned), status="running")
    db.session.commit()


def _count(total: list[int], value_cents: int | None, sign: int) -> None:
    total[0] += sign
    total[1] += sign * (value_cents is not None)
    total[2] += sign * (value_cents or 0)


@dataclass
class PreparedLeads:
    """A chunk's new leads as ``ChunkWriter._insert`` writes them (built by ``ChunkWriter._prepare``)."""

    at: object  # the creation time, as the driver binds it
    rows: list[tuple] = field(default_factory=list)
    by_rank: dict[float, RowPlan] = field(default_factory=dict)
    links: list[tuple[float, int]] = field(default_factory=list)  # (board rank, tag id)
    notes: list[tuple[float, str]] = field(default_factory=list)  # (board rank, note)
    # (stage id, currency) → [leads, leads with a value, value cents], as ``add_to_totals`` takes them
    totals: dict[tuple[int, str], list[int]] = field(default_factory=lambda: defaultdict(lambda: [0, 0, 0]))
    default_stage_id: int | None = None
    default_currency: str | None = None


class ChunkWriter:
    """Writes one chunk's plans; keeps the organization and tag ids it looked up."""

    def __init__(self, job_id: int, filename: str, actor_id: int, cleaner: RowCleaner, *,
                 new_lead_rules: bool = False):
        self.job_id = job_id
        self.new_lead_rules = new_lead_rules
        self.actor_id = actor_id
        self.cleaner = cleaner
        self.subject = f"Lead created (imported from {filename})"[:200]
        self.currency = cleaner.default_currency
        self.orgs: dict[str, tuple[int, str]] = {}
        self.tags: dict[str, int] = {}

    def write(self, plans: list[RowPlan], actor: User) -> dict[tuple[int, str], list[int]]:
        """Carry out the chunk's updates and inserts, and record the rows that need it;
        returns the board totals to add for the new leads (see ``PreparedLeads.totals``)."""
        updates = [p for p in plans if p.action == "update"]
        if updates:
            self._update(updates, actor)
        creates = [p for p in plans if p.action == "create"]
        totals = self._create(creates, utcnow()) if creates else {}
        self._remember_rows(plans)  # after the inserts: a row whose email was taken meanwhile is a skip
        if self.new_lead_rules:
            # In the chunk's transaction: a chunk's leads are committed with their owners and scores.
            store.announce_imported([p.lead_id for p in creates if p.lead_id is not None])
        return totals

    # new leads
    def _organizations(self, names: dict[str, str]) -> None:
        missing = [k for k in names if k not in self.orgs]
        self._live_organizations(missing)
        new = {k: names[k] for k in missing if k not in self.orgs}
        if new:
            # ON CONFLICT DO NOTHING: one that a request or another import adds meanwhile is used, not doubled.
            add_organizations(new)
            self._live_organizations(list(new))

    def _live_organizations(self, keys: list[str]) -> None:
        for start in range(0, len(keys), 500):
            # Trashed ones are left out here, not in SQL (see ``planner._matches``: the
            # planner would otherwise read every live organization through deleted_at's index).
            for org_id, key, name, deleted_at in db.session.execute(
                select(Organization.id, Organization.name_key, Organization.name, Organization.deleted_at)
                .where(Organization.name_key.in_(keys[start:start + 500]))
            ):
                if deleted_at is None:  # one at most: a unique index keeps live names apart
                    self.orgs[key] = (org_id, name)

    def _tag_ids(self, names: dict[str, str]) -> None:
        missing = [k for k in names if k not in self.tags]
        if not missing:
            return
        insert_missing(Tag.__table__, [{"name": names[k], "name_key": k} for k in missing], ["name_key"])
        for tag_id, key in db.session.execute(select(Tag.id, Tag.name_key).where(Tag.name_key.in_(missing))):
            self.tags[key] = tag_id

    def _create(self, plans: list[RowPlan], now) -> dict[tuple[int, str], list[int]]:
        """Look up or add the chunk's organizations and tags, then insert its new leads."""
        org_names = {}
        tag_names = {}
        for plan in plans:
            name = plan.values.get("organization_name")
            if name:
                org_names.setdefault(name.lower(), name)
            for tag in plan.values.get("tags", ()):
                tag_names.setdefault(tag.lower(), tag)
        self._organizations(org_names)
        self._tag_ids(tag_names)
        raw = RawWriter()
        return self._insert(raw, self._prepare(raw, plans, now))

    def _prepare(self, raw: RawWriter, plans: list[RowPlan], now) -> PreparedLeads:
        """The new leads' rows (``LEAD_COLUMNS`` and the constant columns), their tags and notes by
        board rank, their board totals."""
        default_stage = self.cleaner.default_stage_id()
        at = raw.time(now)
        currency = self.currency
        # What a stage decides (pipeline, time in stage, "customer" on a won stage) comes from
        # the lead store's own rule, worked out once per stage of the chunk.
        by_stage = {None: store.stage_columns(None, at)}
        tags = self.tags
        tail = ("cold", 0, False, at, at, 1, self.job_id)  # created_at is the file's created date when it has one
        prepared = PreparedLeads(at, default_stage_id=default_stage, default_currency=currency)
        rows, by_rank, links, notes, totals = (prepared.rows, prepared.by_rank, prepared.links, prepared.notes,
                                               prepared.totals)
        for index, plan in enumerate(plans):
            v = plan.values
            get = v.get
            stage_id = get("stage_id") or default_stage
            if stage_id not in by_stage:
                by_stage[stage_id] = store.stage_columns(self.cleaner.stage(stage_id), at)
            columns = by_stage[stage_id]
            org_name = get("organization_name")
            org = self.orgs[org_name.lower()] if org_name else None
            first, last, email, phone = get("first_name", ""), get("last_name", ""), get("email"), get("phone")
            # As if created one after another in file order: later rows sit higher on the board.
            rank = store.new_card_rank(now, index)
            by_rank[rank] = plan
            value_cents = get("value_cents")
            rows.append((
                first, last, email, get("email_key"), phone, get("title"), get("country"),
                org[0] if org else None, get("source"), get("utm_source"), get("utm_medium"), get("utm_campaign"),
                get("utm_term"), get("utm_content"), get("owner_id"),
                columns.get("lifecycle") or get("lifecycle", "lead"), columns["pipeline_id"], stage_id,
                value_cents, get("currency", currency), raw.day(get("expected_close_date")),
                raw.json(get("custom_fields")), columns["stage_entered_at"],
                plan.search_text if plan.search_text is not None and (org is None or org[1] == org_name)
                else search_text_for(first, last, email, phone, org[1] if org else None,
                                     custom_fields=get("custom_fields")), rank,
            ) + (tail if "created_at" not in v
                 else ("cold", 0, False, raw.time(v["created_at"]), at, 1, self.job_id)))
            for tag in get("tags", ()):
                links.append((rank, tags[tag.lower()]))
            if get("note"):
                notes.append((rank, v["note"][:NOTE_LIMIT]))
            if stage_id:
                _count(totals[stage_id, get("currency", currency)], value_cents, 1)
        return prepared

    def _insert(self, raw: RawWriter, prepared: PreparedLeads) -> dict[tuple[int, str], list[int]]:
        """The leads with their tags, timeline and stage history (on PostgreSQL in one statement,
        ``store.insert_imported``), then their notes. (The audit log has one entry for the whole
        import: the job and its rows record what it created.) Returns the board totals to add."""
        columns = LEAD_COLUMNS + ["temperature", "score", "marketing_consent", "created_at", "updated_at", "version",
                                  "import_job_id"]
        if raw.sqlite:
            ids = self._insert_sqlite(raw, columns, prepared)
        else:
            ids = store.insert_imported(raw, columns, prepared.rows, prepared.links, actor_id=self.actor_id,
                                        subject=self.subject, at=prepared.at)
        if len(ids) < len(prepared.by_rank):
            self._skip_not_inserted(prepared, ids)
        for rank, plan in prepared.by_rank.items():
            plan.lead_id = ids[rank]
        at = prepared.at
        raw.insert_many(Activity.__table__, ["lead_id", "kind", "actor_id", "occurred_at", "subject", "body",
                                             "created_at"],
                        [(ids[rank], "note", self.actor_id, at, "Imported note", body, at)
                         for rank, body in prepared.notes if rank in ids])
        return prepared.totals

    def _insert_sqlite(self, raw: RawWriter, columns: list[str], prepared: PreparedLeads) -> dict[float, int]:
        """SQLite: the leads, their ids (``_new_ids``), their tags and first history; returns
        board rank → id of the leads inserted."""
        last_id = raw.scalar("SELECT COALESCE(MAX(id), 0) FROM leads")
        store.insert_rows(raw, columns, prepared.rows)
        ids = self._new_ids(raw, prepared, last_id)
        raw.insert_many(lead_tags, ["lead_id", "tag_id"], [(ids[rank], tag) for rank, tag in prepared.links
                                                           if rank in ids])
        store.insert_imported_history(raw, self.job_id, last_id, actor_id=self.actor_id, subject=self.subject,
                                      at=prepared.at)
        return ids

    @staticmethod
    def _skip_not_inserted(prepared: PreparedLeads, ids: dict[float, int]) -> None:
        """Rows the lead store did not insert: a live lead got their email after the chunk was
        planned (another writer, at the same time). Each becomes a skip naming that lead, and
        leaves the board totals and the rows to insert after the leads."""
        missing = {rank: plan for rank, plan in prepared.by_rank.items() if rank not in ids}
        holders = store.email_holders([plan.values.get("email_key") for plan in missing.values()])
        for rank, plan in missing.items():
            del prepared.by_rank[rank]
            holder = holders.get(plan.values.get("email_key"))
            plan.skip("duplicate:email_taken", f"Lead #{holder} already has this email (it was added while the "
                      f"import ran): {EMAIL_BELONGS_TO_ONE}")
            plan.lead_id = holder
            stage_id = plan.values.get("stage_id") or prepared.default_stage_id
            if stage_id:
                _count(prepared.totals[stage_id, plan.values.get("currency", prepared.default_currency)],
                       plan.values.get("value_cents"), -1)

    def _new_ids(self, raw: RawWriter, prepared: PreparedLeads, last_id: int) -> dict[float, int]:
        """Board rank → id of the leads just inserted. On SQLite, which numbers new rows
        max(id) + 1 in the order of the VALUES list (and this transaction holds the write
        lock), they are the ids after ``last_id`` in order, as a check of the new maximum
        confirms; otherwise they are read back by job and rank."""
        count = len(prepared.rows)
        if raw.sqlite and raw.scalar("SELECT MAX(id) FROM leads") == last_id + count:
            return dict(zip(prepared.by_rank, range(last_id + 1, last_id + 1 + count)))
        return dict(raw.rows("SELECT board_rank, id FROM leads WHERE import_job_id = ? AND id > ?",
                             (self.job_id, last_id)))

    # existing leads
    def _update(self, plans: list[RowPlan], actor: User) -> None:
        ids = [p.lead_id for p in plans]
        leads = {lead.id: lead for lead in db.session.scalars(
            select(Lead).options(selectinload(Lead.tags), joinedload(Lead.organization), joinedload(Lead.owner),
                                 joinedload(Lead.stage))
            .where(Lead.id.in_(ids)))}
        for plan in plans:
            lead = leads.get(plan.lead_id)
            if lead is None:
                plan.fail("lead:deleted", "The matching lead was deleted during the import.")
                continue
            update_existing(actor, lead, plan)

    def _remember_rows(self, plans: list[RowPlan]) -> None:
        """Note the rows that failed, were skipped or were imported with warnings (with their
        cells, for the downloads) and those that updated a lead (with what undo puts back)."""
        rows = []
        for plan in plans:
            if plan.action == "create" and not plan.warnings:
                continue
            row = {"job_id": self.job_id, "row_number": plan.number, "lead_id": plan.lead_id, "before": None,
                   "after": None}
            if plan.warned:
                rows.append({**row, "outcome": "warned", "message": plan.warning_message, "cells": plan.cells,
                             "kinds": join_codes(plan.warnings)})
            if plan.action == "update":
                rows.append({**row, "outcome": "updated", "message": None, "cells": None, "kinds": None,
                             "before": plan.values.get("_before"), "after": plan.values.get("_after")})
            elif plan.action in ("fail", "skip"):
                rows.append({**row, "outcome": "failed" if plan.action == "fail" else "skipped",
                             "message": plan.message, "cells": plan.cells, "kinds": plan.kinds})
        if rows:
            db.session.execute(insert(ImportRow.__table__), rows)


def _snapshot(lead: Lead, keys) -> dict:
    return {key: current_input_value(lead, key) for key in keys}


def update_existing(actor: User, lead: Lead, plan: RowPlan) -> None:
    """Apply a row's non-empty values to a matching lead, remembering what it had before."""
    data = input_form(plan.values)
    keys = list(data)
    before = _snapshot(lead, keys)
    before_custom = dict(lead.custom_fields or {})
    try:
        with db.session.begin_nested():
            changed = update_lead(actor, lead, data)
            after = _snapshot(lead, keys)
            after_custom = {**before_custom, **plan.values.get("custom_fields", {})}
            if after_custom != before_custom:
                store.update_lead(lead, {"custom_fields": after_custom}, actor, audit=False,
                                  announce=["custom_fields"])
                changed.append("custom_fields")
            note_id = None
            if plan.values.get("note"):
                note = Activity(lead_id=lead.id, kind="note", actor_id=actor.id, subject="Imported note",
                                body=plan.values["note"][:NOTE_LIMIT], occurred_at=utcnow())
                db.session.add(note)
                db.session.flush()
                note_id = note.id
    except DomainError as exc:
        plan.fail("lead:refused", str(exc))
        return
    if not changed and note_id is None:
        plan.skip("lead:unchanged", f"Lead #{lead.id} already has these values.")
        return
    plan.values["_before"] = {"fields": {k: before[k] for k in keys if before[k] != after[k]},
                              "custom_fields": before_custom}
    plan.values["_after"] = {"fields": {k: after[k] for k in keys if before[k] != after[k]},
                             "custom_fields": after_custom, "note_id": note_id}


# --- undo -------------------------------------------------------------------------------

def _undo(job: ImportJob, worker: str) -> None:
    actor = _actor(job.undone_by_id)
    if actor is None:
        raise DomainError("The person who asked for the undo no longer exists.")
    actor = on_behalf_of(actor, f"Undo of import #{job.id}")
    if job.undo_done < job.created_count:
        trashed = trash_created_leads(job.id, actor.id)
        _renew(job.id, worker, undo_done=job.created_count)
        db.session.commit()
        log.info("Undo of import %s: %s leads moved to the trash", job.id, trashed)
    while True:
        rows = db.session.scalars(
            select(ImportRow).where(ImportRow.job_id == job.id, ImportRow.outcome == "updated")
            .order_by(ImportRow.id).offset(job.undo_done - job.created_count).limit(UNDO_CHUNK)
        ).all()
        if not rows:
            break
        for row in rows:
            restore_updated(actor, row)
        _renew(job.id, worker, undo_done=ImportJob.undo_done + len(rows))
        db.session.commit()
    _release(job.id, worker, status="undone", undone_at=utcnow())
    db.session.commit()


def trash_created_leads(job_id: int, actor_id: int) -> int:
    """Move the leads the import created (and that are still live) to the trash."""
    actor = db.session.get(User, actor_id)
    return len(store.trash_leads(Lead.__table__.c.import_job_id == job_id, actor))


def restore_updated(actor: User, row: ImportRow) -> bool:
    """Put back what the import changed on a lead, field by field, unless someone has
    changed that field again since (their change is kept)."""
    lead = db.session.get(Lead, row.lead_id) if row.lead_id else None
    if lead is None or lead.deleted_at is not None or not row.after:
        return False
    before, after = row.before or {}, row.after
    fields = after.get("fields", {})
    current = _snapshot(lead, fields)
    data = {k: before["fields"][k] for k in fields if current[k] == fields[k] and k in before.get("fields", {})}
    try:
        with db.session.begin_nested():
            if data:
                update_lead(actor, lead, data)
            if (lead.custom_fields or {}) == after.get("custom_fields"):
                store.update_lead(lead, {"custom_fields": before.get("custom_fields") or None}, actor, audit=False,
                                  announce=["custom_fields"])
            if after.get("note_id"):
                note = db.session.get(Activity, after["note_id"])
                if note is not None and note.lead_id == lead.id:
                    db.session.delete(note)
            db.session.flush()
    except DomainError:
        log.warning("Could not restore lead %s from import row %s", row.lead_id, row.id)
        return False
    return True


def register_sweeps(add) -> None:
    """This area's periodic work, for the scheduler (``leadflow.wiring.schedule``): uploads
    left on this node's disk (it runs as the scheduler starts, then hourly)."""
    add("import_uploads", every_seconds=3600, func=csvfile.tidy_local_uploads)


def register_jobs(add) -> None:
    """This area's kind of long work, for the jobs module (``leadflow.wiring.schedule``)."""
    add(KIND, carry_out, model=ImportJob, statuses=ACTIVE_STATUSES, on_error=_stop)
