"""A bulk action on the lead list, run as a job (``leadflow.leads.bulk``)."""

from __future__ import annotations

from sqlalchemy import JSON, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from leadflow.extensions import db
from leadflow.jobs.models import JobColumns


class BulkJob(JobColumns, db.Model):
    """Action ``action`` by ``created_by`` over the ticked ``lead_ids`` or, when they are None,
    every lead the list filter ``filter_query`` (the list's query string) matched when the job
    started (its snapshot, ``job_leads``). ``form_data`` is what the action was given (the
    assignee, the sequence). ``position`` is the cursor: the last snapshot position whose lead
    is done, committed with the batch. ``result`` adds up the batches' outcomes (counts and a
    few names, see ``BulkResult.as_dict``)."""

    __tablename__ = "bulk_jobs"
    __table_args__ = (Index("ix_bulk_jobs_status_lease", "status", "lease_until"),)

    action: Mapped[str] = mapped_column(String(32))
    lead_ids: Mapped[list | None] = mapped_column(JSON)
    filter_query: Mapped[str | None] = mapped_column(Text)
    form_data: Mapped[dict] = mapped_column(JSON, default=dict)
    snapshot_taken: Mapped[bool] = mapped_column(default=False)
    position: Mapped[int] = mapped_column(Integer, default=-1)
    result: Mapped[dict] = mapped_column(JSON, default=dict)

    created_by = relationship("User")
