"""The stage list as every select and filter offers it. Read by the lead pages, capture-form
builder and lead forms, which sit below the pipeline's own pages and services."""

from __future__ import annotations

from leadflow.extensions import db
from leadflow.pipeline.models import Pipeline, Stage
from leadflow.web import refcache


def stage_choices() -> tuple[tuple[int, str], ...]:
    """Every stage of every live pipeline, for filters and selects."""
    return refcache.cached(("pipelines",), "stage choices", _load_stage_choices)


def stage_names() -> dict[int, str]:
    """Every stage's own name by id, archived pipelines' too: what a list shows for a lead."""
    return dict(refcache.cached(("pipelines",), "stage names", lambda: tuple(
        (r.id, r.name) for r in db.session.execute(db.select(Stage.id, Stage.name)))))


def _load_stage_choices() -> tuple[tuple[int, str], ...]:
    rows = db.session.execute(
        db.select(Stage.id, Stage.name, Pipeline.name.label("pipeline"))
        .join(Pipeline, Stage.pipeline_id == Pipeline.id)
        .where(Pipeline.archived_at.is_(None))
        .order_by(Pipeline.position, Pipeline.id, Stage.position)
    ).all()
    many = len({r.pipeline for r in rows}) > 1
    return tuple((r.id, f"{r.pipeline}: {r.name}" if many else r.name) for r in rows)
