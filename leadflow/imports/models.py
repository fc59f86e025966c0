"""CSV imports: the job (file, settings, mapping, progress, counts) and its noteworthy rows."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, ForeignKey, Index, Integer, String, Text, false
from sqlalchemy.orm import Mapped, mapped_column, relationship

from leadflow.db import UTCDateTime, utcnow
from leadflow.extensions import db
from leadflow.jobs.models import JobColumns

JOB_STATUSES = ("draft", "queued", "running", "done", "failed", "undoing", "undone")
ACTIVE_STATUSES = ("queued", "running", "undoing")  # a worker has (or will take) the job
STATUS_LABELS = {
    "draft": "Not started", "queued": "Waiting to start", "running": "Importing",
    "done": "Finished", "failed": "Stopped with an error", "undoing": "Undoing",
    "undone": "Undone",
}
DUPLICATE_POLICIES = ("skip", "update", "create")
POLICY_LABELS = {
    "skip": "Skip rows that match an existing lead",
    "update": "Update the existing lead with the file's non-empty values",
    # An email belongs to one live lead (the database refuses a second): a row with a live
    # lead's email is skipped with a message saying which lead has it, even in this mode.
    "create": "Create a new lead anyway (rows with an existing lead's email are skipped)",
}


class ImportJob(db.Model):
    """One CSV file on its way into the lead list.

    The uploaded file is kept in the database (``leadflow.files``, named ``stored_name``;
    ``leadflow.imports.csvfile``); the job keeps how
    to read it (encoding, delimiter, header), how its columns map to lead fields, and how
    far the import got: ``rows_done`` counts the data rows of the file already committed,
    so a job that stops half-way is continued from there. A worker holds the job with a
    lease (``lease_owner``/``lease_until``) and renews it after every chunk; ``lease_owner``
    is also the worker's heartbeat id (``leadflow.scheduler.heartbeat``). The ``jobs``
    sweep (``leadflow.jobs``) runs a queued job, and takes over one whose worker's heartbeat
    is stale or whose lease ran out.
    """

    __tablename__ = "import_jobs"
    __table_args__ = (Index("ix_import_jobs_status_lease", "status", "lease_until"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    filename: Mapped[str] = mapped_column(String(255))
    stored_name: Mapped[str] = mapped_column(String(64))
    size_bytes: Mapped[int] = mapped_column(Integer, default=0)
    encoding: Mapped[str] = mapped_column(String(16), default="utf-8")
    detected_encoding: Mapped[str] = mapped_column(String(16), default="utf-8")
    delimiter: Mapped[str] = mapped_column(String(1), default=",")
    detected_delimiter: Mapped[str] = mapped_column(String(1), default=",")
    has_header: Mapped[bool] = mapped_column(default=True)
    columns: Mapped[list] = mapped_column(JSON, default=list)  # header names (or "Column 1", …)
    mapping: Mapped[list] = mapped_column(JSON, default=list)  # one target per column
    duplicate_policy: Mapped[str] = mapped_column(String(8), default="skip")
    # The new leads are handled like new enquiries (``leads.arrived`` on the "import" channel):
    # routed when they have no owner, scored, and the workflow rules for new leads run.
    new_lead_rules: Mapped[bool] = mapped_column(default=False, server_default=false())
    # How the file writes numbers and dates (``leadflow.imports.formats``): the decimal
    # separator of its amounts ("." or ","; None while it is to be asked) and what was
    # detected, and each date column's format by column index ("3": "dd.mm.yyyy"; None
    # while it is to be asked).
    decimal_separator: Mapped[str | None] = mapped_column(String(1))
    detected_decimal_separator: Mapped[str | None] = mapped_column(String(1))
    date_formats: Mapped[dict | None] = mapped_column(JSON, default=dict)

    status: Mapped[str] = mapped_column(String(10), default="draft")
    total_rows: Mapped[int | None] = mapped_column(Integer)
    rows_done: Mapped[int] = mapped_column(Integer, default=0)
    created_count: Mapped[int] = mapped_column(Integer, default=0)
    updated_count: Mapped[int] = mapped_column(Integer, default=0)
    skipped_count: Mapped[int] = mapped_column(Integer, default=0)
    failed_count: Mapped[int] = mapped_column(Integer, default=0)
    # Rows imported (created or updated) with a bad optional cell left out: a part of
    # created_count + updated_count, each with an ImportRow "warned".
    warned_count: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    error: Mapped[str | None] = mapped_column(Text)
    lease_owner: Mapped[str | None] = mapped_column(String(64))
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The worker (``lease_owner``: its scheduler's heartbeat id, host:pid:…) that wrote the
    # last rows and finished the import: another node's when this one's worker died.
    finished_by: Mapped[str | None] = mapped_column(String(64))
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Undo: how many updated rows have been put back so far (progress), who and when.
    undo_done: Mapped[int] = mapped_column(Integer, default=0)
    undone_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    undone_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))

    created_by = relationship("User", foreign_keys=[created_by_id])

    @property
    def status_label(self) -> str:
        return STATUS_LABELS.get(self.status, self.status)

    @property
    def is_active(self) -> bool:
        return self.status in ACTIVE_STATUSES

    @property
    def percent(self) -> int:
        if self.status == "undoing":
            total = (self.created_count or 0) + (self.updated_count or 0)
            return 100 if not total else min(100, int(self.undo_done * 100 / total))
        if not self.total_rows:
            return 100 if self.status == "done" else 0
        return min(100, int(self.rows_done * 100 / self.total_rows))


class ImportRow(db.Model):
    """A row of the file worth remembering: one that failed, was skipped or was imported
    with warnings (with the original cells, for the failed- and warned-rows downloads), or
    one that updated a lead (with the lead's values before and after, so undo can put them
    back). A row that updated a lead with warnings has both: an "updated" row and a "warned" one."""

    __tablename__ = "import_rows"
    __table_args__ = (Index("ix_import_rows_job_outcome", "job_id", "outcome", "row_number"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    job_id: Mapped[int] = mapped_column(ForeignKey("import_jobs.id", ondelete="CASCADE"))
    row_number: Mapped[int] = mapped_column(Integer)  # as a spreadsheet shows it: the header is row 1
    outcome: Mapped[str] = mapped_column(String(8))  # failed | skipped | warned | updated
    message: Mapped[str | None] = mapped_column(Text)
    # The problems' codes (``leadflow.imports.problems``), space-separated: what the job
    # page groups by. None on "updated" rows and on rows noted before codes existed.
    kinds: Mapped[str | None] = mapped_column(String(200))
    cells: Mapped[list | None] = mapped_column(JSON)
    lead_id: Mapped[int | None] = mapped_column(ForeignKey("leads.id", ondelete="SET NULL"))
    before: Mapped[dict | None] = mapped_column(JSON)
    after: Mapped[dict | None] = mapped_column(JSON)




class ExportJob(JobColumns, db.Model):
    """The lead list as a CSV file, written in the background when it is too long to stream
    (``leadflow.imports.export``). The leads (in the list's order) and the custom field
    columns are fixed when the job starts (``job_leads``, ``custom_names``); each step writes
    the next rows as one chunk of ``file`` and commits it with ``position`` (the last snapshot
    position written), so a job taken over goes on after the last committed chunk."""

    __tablename__ = "export_jobs"
    __table_args__ = (Index("ix_export_jobs_status_lease", "status", "lease_until"),)

    filter_query: Mapped[str] = mapped_column(Text, default="")
    custom_names: Mapped[list] = mapped_column(JSON, default=list)
    snapshot_taken: Mapped[bool] = mapped_column(default=False)
    position: Mapped[int] = mapped_column(Integer, default=-1)
    file_id: Mapped[int | None] = mapped_column(ForeignKey("stored_files.id", ondelete="SET NULL"))

    created_by = relationship("User")
