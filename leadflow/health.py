"""``GET /healthz``: is this node fit to serve? For load balancers and monitoring.

No sign-in, no rate limit, no secrets: it answers whether the database answers (one
``SELECT``) and how long ago the freshest scheduler heartbeat was (one more). Heartbeats
live in the database, so a web node that runs no scheduler of its own
(``SCHEDULER_ENABLED=0``) still sees the separate ``flask leadflow scheduler`` process.

200 when the database answers and, when a scheduler is expected (``HEALTHZ_EXPECT_SCHEDULER``,
on by default), a heartbeat is younger than ``STALE_AFTER_SECONDS``; 503 otherwise.
"""

from __future__ import annotations

import logging

from flask import Blueprint, current_app, jsonify
from sqlalchemy import func, select, text

from leadflow.db import utcnow
from leadflow.extensions import db, limiter
from leadflow.scheduler.heartbeat import STALE_AFTER_SECONDS, SchedulerHeartbeat

log = logging.getLogger(__name__)
bp = Blueprint("health", __name__)


def health() -> tuple[dict, bool]:
    """The report and whether it is healthy."""
    expect_scheduler = bool(current_app.config.get("HEALTHZ_EXPECT_SCHEDULER", True))
    try:
        db.session.execute(text("SELECT 1"))
        last = db.session.scalar(select(func.max(SchedulerHeartbeat.beat_at)))
    except Exception as exc:  # any failure of the database is the answer, not a 500
        log.warning("Health check: the database did not answer (%s)", type(exc).__name__)
        db.session.rollback()
        return {"database": "unreachable", "scheduler": {"ok": False, "last_beat_seconds_ago": None}}, False
    finally:
        db.session.rollback()  # read only; ends the transaction now
    ago = None if last is None else max(0, round((utcnow() - last).total_seconds()))
    fresh = ago is not None and ago <= STALE_AFTER_SECONDS
    report = {"database": "ok", "scheduler": {"ok": fresh, "expected": expect_scheduler,
                                              "last_beat_seconds_ago": ago}}
    return report, fresh or not expect_scheduler


@bp.get("/healthz")
@limiter.exempt
def healthz():
    report, ok = health()
    response = jsonify(report)
    response.status_code = 200 if ok else 503
    response.headers["Cache-Control"] = "no-store"
    return response
