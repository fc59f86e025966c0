"""The start page: what needs attention today."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func
from sqlalchemy.orm import joinedload

from leadflow.db import utcnow
from leadflow.extensions import db
from leadflow.leads.models import LIFECYCLES, Lead


def dashboard_context(viewer) -> dict:
    live = Lead.deleted_at.is_(None)
    week_ago = utcnow() - timedelta(days=7)
    counts = dict(db.session.execute(
        db.select(Lead.lifecycle, func.count(Lead.id)).where(live).group_by(Lead.lifecycle)
    ).all())
    mine = db.session.scalar(db.select(func.count(Lead.id)).where(live, Lead.owner_id == viewer.id))
    unassigned = db.session.scalar(db.select(func.count(Lead.id)).where(live, Lead.owner_id.is_(None)))
    new_this_week = db.session.scalar(db.select(func.count(Lead.id)).where(live, Lead.created_at >= week_ago))
    recent = db.session.scalars(
        db.select(Lead).options(joinedload(Lead.organization), joinedload(Lead.owner))
        .where(live).order_by(Lead.created_at.desc(), Lead.id.desc()).limit(8)
    ).all()
    return {
        "total": sum(counts.values()), "mine": mine, "unassigned": unassigned,
        "new_this_week": new_this_week, "recent": recent,
        "by_lifecycle": [(key, counts.get(key, 0)) for key in LIFECYCLES],
    }
