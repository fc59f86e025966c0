"""Routing rules: which new lead goes to whom, and the rotation state round-robin needs."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Boolean, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from leadflow.db import UTCDateTime, utcnow
from leadflow.extensions import db

STRATEGIES = ("round_robin", "least_open")
STRATEGY_LABELS = {"round_robin": "round-robin", "least_open": "fewest open leads"}
TARGET_KINDS = ("user", "team")


class RoutingRule(db.Model):
    """Leads matching every condition go to ``target_user`` or to a member of ``target_team``.

    ``conditions`` is a dict checked by ``routing.services.clean_conditions``: lists under
    ``sources``, ``countries``, ``languages``, ``size_bands``, ``form_ids`` and an optional
    ``interest`` {"field": ..., "contains": ...}. ``rotation`` counts round-robin turns; it is
    only ever changed by one atomic UPDATE, so concurrent arrivals never take the same turn.
    """

    __tablename__ = "routing_rules"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(120))
    position: Mapped[int] = mapped_column(Integer, default=0, index=True)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    conditions: Mapped[dict] = mapped_column(JSON, default=dict)
    target_kind: Mapped[str] = mapped_column(String(8), default="user")
    target_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    target_team_id: Mapped[int | None] = mapped_column(ForeignKey("teams.id", ondelete="SET NULL"))
    strategy: Mapped[str] = mapped_column(String(16), default="round_robin")
    rotation: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    target_user = relationship("User")
    target_team = relationship("Team")


class RoutingAssignee(db.Model):
    """When routing (or a bulk reassign) last gave a lead to this user: least-open ties go to
    whoever has waited longest."""

    __tablename__ = "routing_assignees"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    last_assigned_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
