"""Workflow rules, their execution log, the once-only firing keys and webhook deliveries."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Boolean, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from leadflow.db import UTCDateTime, utcnow
from leadflow.extensions import db

OUTCOMES = ("done", "skipped", "refused", "failed")
OUTCOME_LABELS = {"done": "Done", "skipped": "Skipped: conditions not met", "refused": "Refused",
                  "failed": "Failed"}
DELIVERY_STATES = ("pending", "delivered", "failed")


class WorkflowRule(db.Model):
    """When ``trigger`` happens to a lead that meets every condition, run ``actions`` in order.

    ``trigger_config`` holds the trigger's parameters (``to_stage_id``, ``threshold``,
    ``field``, ``days``); ``conditions`` is a list of ``{field, operator, value}``;
    ``actions`` a list of ``{type, ...}``. ``secret`` signs this rule's webhook calls.
    """

    __tablename__ = "workflow_rules"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(120))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    trigger: Mapped[str] = mapped_column(String(32), index=True)
    trigger_config: Mapped[dict] = mapped_column(JSON, default=dict)
    conditions: Mapped[list] = mapped_column(JSON, default=list)
    actions: Mapped[list] = mapped_column(JSON, default=list)
    secret: Mapped[str] = mapped_column(String(64))
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class WorkflowRun(db.Model):
    """One execution of a rule for a lead: what triggered it, how it ended, each action's result."""

    __tablename__ = "workflow_runs"
    __table_args__ = (Index("ix_workflow_runs_rule_created", "rule_id", "created_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    rule_id: Mapped[int] = mapped_column(ForeignKey("workflow_rules.id", ondelete="CASCADE"))
    lead_id: Mapped[int | None] = mapped_column(ForeignKey("leads.id", ondelete="SET NULL"))
    trigger: Mapped[str] = mapped_column(String(32))
    outcome: Mapped[str] = mapped_column(String(16))
    results: Mapped[list] = mapped_column(JSON, default=list)
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    lead = relationship("Lead")


class WorkflowFiring(db.Model):
    """The once-only key of a time-based firing: one row per (rule, lead, what, since when).

    ``subject`` is ``idle`` (no activity since ``anchor_at``) or ``task:<id>`` (overdue since
    ``anchor_at``). The unique constraint makes concurrent sweeps fire each occurrence once.
    """

    __tablename__ = "workflow_firings"
    __table_args__ = (UniqueConstraint("rule_id", "lead_id", "subject", "anchor_at",
                                       name="uq_workflow_firings_occurrence"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    rule_id: Mapped[int] = mapped_column(ForeignKey("workflow_rules.id", ondelete="CASCADE"))
    lead_id: Mapped[int] = mapped_column(ForeignKey("leads.id", ondelete="CASCADE"))
    subject: Mapped[str] = mapped_column(String(40))
    anchor_at: Mapped[datetime] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class WebhookDelivery(db.Model):
    """One webhook call to make: sent by the delivery sweep under a lease, retried with back-off."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (Index("ix_webhook_deliveries_state_due", "state", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    rule_id: Mapped[int | None] = mapped_column(ForeignKey("workflow_rules.id", ondelete="SET NULL"))
    lead_id: Mapped[int | None] = mapped_column(ForeignKey("leads.id", ondelete="SET NULL"))
    url: Mapped[str] = mapped_column(String(2000))
    payload: Mapped[str] = mapped_column(Text)
    delivery_key: Mapped[str] = mapped_column(String(200), unique=True)
    state: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    response_code: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(String(1000))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
