"""Leads with a past, for the time-in-stage, forecast and velocity reports: each written
through the lead store's ``insert_past_leads`` with its stage history at the given moments,
as the demo writes its workspace."""

from __future__ import annotations

import itertools
from datetime import date, datetime, timezone

from leadflow.extensions import db
from leadflow.leads import store
from leadflow.leads.models import Lead
from leadflow.pipeline.models import Stage
from leadflow.pipeline.services import ensure_default_pipeline

UTC = timezone.utc
_seq = itertools.count(1)


def at(month: int, day: int, hour: int = 12, year: int = 2026, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def stages() -> dict[str, Stage]:
    """The default pipeline's stages by name: New, Contacted, Qualified, Proposal sent,
    Negotiation (open, 10/20/40/60/80 %), Won, Lost."""
    return {stage.name: stage for stage in ensure_default_pipeline().stages}


def past_lead(name: str, created: datetime, stage: str | None = "New", moves=(), *, history: bool = True,
              value: int | None = None, currency: str = "USD", close: date | None = None,
              deleted: datetime | None = None, owner_id: int | None = None, source: str | None = None) -> int:
    """A lead created at ``created`` in ``stage`` (with a change entering it unless ``history``
    is False, as an older row has none), then moved as ``moves`` says: (moment, stage name)."""
    by_name = stages()
    changes = []
    if stage is not None and history:
        changes.append({"from_stage_id": None, "to_stage_id": by_name[stage].id, "actor_id": None, "at": created})
    current, entered = stage, created
    for moment, to in moves:
        changes.append({"from_stage_id": by_name[current].id if current else None, "to_stage_id": by_name[to].id,
                        "actor_id": None, "at": moment})
        current, entered = to, moment
    stage_row = by_name[current] if current else None
    n = next(_seq)
    values = {
        "first_name": name, "last_name": "Example", "email": f"flow{n}@example.com", "email_key": f"flow{n}@example.com",
        "owner_id": owner_id, "source": source,
        "lifecycle": "customer" if stage_row is not None and stage_row.kind == "won" else "lead",
        "temperature": "cold", "score": 0, "marketing_consent": False,
        "pipeline_id": stage_row.pipeline_id if stage_row else None, "stage_id": stage_row.id if stage_row else None,
        "stage_entered_at": entered if stage_row else None, "value_cents": value, "currency": currency,
        "expected_close_date": close, "created_at": created, "updated_at": entered, "deleted_at": deleted,
        "board_rank": -entered.timestamp(), "version": 1,
    }
    [lead_id] = store.insert_past_leads([store.NewLead(values)], [changes], [[]])
    db.session.flush()
    return lead_id


def live_leads():
    """The lead scope a report gets: every live lead (``report_lead_ids`` narrows it further)."""
    return db.select(Lead.id).where(Lead.deleted_at.is_(None))
