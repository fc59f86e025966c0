"""The alerts due for new leads (speed-to-lead, escalation): ``leadflow.leads.alerts`` plans
and sends them."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from leadflow.db import UTCDateTime, utcnow
from leadflow.extensions import db


class LeadAlert(db.Model):
    """An alert due for a new lead unless someone responds first (speed-to-lead, escalation)."""

    __tablename__ = "lead_alerts"
    __table_args__ = (
        UniqueConstraint("kind", "lead_id", name="uq_lead_alerts_kind_lead"),
        Index("ix_lead_alerts_open_due", "done_at", "due_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    lead_id: Mapped[int] = mapped_column(ForeignKey("leads.id", ondelete="CASCADE"), index=True)
    due_at: Mapped[datetime] = mapped_column(UTCDateTime)
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    done_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # alerted: the e-mail was queued; answered: someone responded in time; skipped: nothing to do.
    outcome: Mapped[str | None] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
