"""The contexts of the scoring screens."""

from __future__ import annotations

from collections import defaultdict

from sqlalchemy import func, select

from leadflow.extensions import db
from leadflow.leads.models import Lead
from leadflow.pipeline.models import Stage
from leadflow.scoring import jobs, services
from leadflow.scoring.models import RescoreJob, ScoringRule

BAND_WIDTH = 20
TOP_BAND = 100  # scores from here on share one band


def band_of(score: int) -> int:
    return min(max(score or 0, 0), TOP_BAND) // BAND_WIDTH


def band_label(band: int) -> str:
    low = band * BAND_WIDTH
    return f"{low}+" if low >= TOP_BAND else f"{low}–{low + BAND_WIDTH - 1}"


def admin_context() -> dict:
    rules = services.list_rules()
    return {
        "rules": [(rule, services.describe_rule(rule)) for rule in rules],
        "settings": services.scoring_settings(),
        "job": jobs.active_job() or jobs.latest_job(),
        "scores_stale": scores_are_stale(),
    }


def scores_are_stale() -> bool:
    """Whether rules or thresholds changed after the last rescore of every lead started (a
    rescore queued, running or done since then clears it; a failed one does not)."""
    since = services.scores_stale_since()
    if since is None or not services.active_rules():
        return False
    rescored = db.session.scalar(select(func.count(RescoreJob.id)).where(
        RescoreJob.created_at >= since, RescoreJob.status != "failed"))
    return not rescored


def calibration_context() -> dict:
    """Won rate by score band for leads closed won or lost (live leads only)."""
    rows = db.session.execute(
        select(Lead.score, Stage.kind, func.count(Lead.id))
        .join(Stage, Stage.id == Lead.stage_id)
        .where(Lead.deleted_at.is_(None), Stage.kind.in_(("won", "lost")))
        .group_by(Lead.score, Stage.kind))
    counts: dict[int, dict[str, int]] = defaultdict(lambda: {"won": 0, "lost": 0})
    for score, kind, count in rows:
        counts[band_of(score)][kind] += count
    bands = []
    for band in range(TOP_BAND // BAND_WIDTH + 1):
        won, lost = counts[band]["won"], counts[band]["lost"]
        closed = won + lost
        bands.append({"label": band_label(band), "won": won, "lost": lost, "closed": closed,
                      "rate": round(won * 100 / closed) if closed else None})
    closed_total = sum(b["closed"] for b in bands)
    won_total = sum(b["won"] for b in bands)
    return {"bands": bands, "closed_total": closed_total,
            "overall_rate": round(won_total * 100 / closed_total) if closed_total else None,
            "has_rules": db.session.scalar(select(func.count(ScoringRule.id))) > 0}
