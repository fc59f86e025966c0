"""What job tables share: the lease and progress columns (``JobColumns``), and the snapshot
of the leads a job works over (``JobLead``), taken once when it starts so the set is stable.

``JobColumns`` is a mixin for the newer job tables (``bulk_jobs``, ``export_jobs``); the import
and rescore tables declare the same lease columns themselves.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Integer, String, Text
from sqlalchemy.orm import Mapped, declared_attr, mapped_column

from leadflow.db import UTCDateTime, utcnow
from leadflow.extensions import db

ACTIVE_STATUSES = ("queued", "running")
STATUS_LABELS = {"queued": "Waiting to start", "running": "Working", "done": "Done", "failed": "Stopped"}


class JobColumns:
    """Status, progress (``done`` of ``total``), the error that stopped it, who started it, the
    lease (``leadflow.jobs.leases``) and the moments of a job row."""

    id: Mapped[int] = mapped_column(primary_key=True)
    status: Mapped[str] = mapped_column(String(8), default="queued")
    total: Mapped[int] = mapped_column(Integer, default=0)
    done: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(Text)
    lease_owner: Mapped[str | None] = mapped_column(String(64))
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    @declared_attr
    def created_by_id(cls) -> Mapped[int | None]:
        return mapped_column(db.ForeignKey("users.id", ondelete="SET NULL"), index=True)

    @property
    def is_active(self) -> bool:
        return self.status in ACTIVE_STATUSES

    @property
    def status_label(self) -> str:
        return STATUS_LABELS.get(self.status, self.status)

    @property
    def percent(self) -> int:
        if self.status == "done":
            return 100
        return min(100, int(self.done * 100 / self.total)) if self.total else 0


class JobLead(db.Model):
    """Lead ``lead_id`` is the ``position``-th (from 0) a job of ``kind`` works over. Written
    once when the job starts; the job's cursor is a position, so a job taken over goes on
    after the last position it committed. Deleted when the job is done."""

    __tablename__ = "job_leads"

    kind: Mapped[str] = mapped_column(String(16), primary_key=True)
    job_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    position: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    lead_id: Mapped[int] = mapped_column(Integer)
