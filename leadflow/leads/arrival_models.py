"""New leads whose arrival steps (routing, scoring, alerts, workflow rules) are still to run:
``leadflow.leads.arrivals`` queues and runs them."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from leadflow.db import UTCDateTime, utcnow
from leadflow.extensions import db


class LeadArrival(db.Model):
    """One new lead waiting for ``leads.arrived``: written in the transaction that creates the
    lead, deleted in the transaction that runs its handlers."""

    __tablename__ = "lead_arrivals"

    id: Mapped[int] = mapped_column(primary_key=True)
    lead_id: Mapped[int] = mapped_column(ForeignKey("leads.id", ondelete="CASCADE"), index=True)
    channel: Mapped[str] = mapped_column(String(16))
    # What the caller knew beside the row (``events.arriving``: the capture form it came through).
    context: Mapped[dict | None] = mapped_column(JSON)
    # The lead's first history, written by the sweep that runs the arrival (``leads.store``'s
    # ``first_history``: its first stage and lifecycle, its first timeline entries, its audit
    # entry); None when the create wrote it itself.
    history: Mapped[dict | None] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
