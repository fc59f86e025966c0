"""The stage list as every select and filter offers it. Read by the lead pages, capture-form
builder and lead forms, which sit below the pipeline's own pages and services."""

from __future__ import annotations

from leadflow.extensions import db
from leadflow.pipeline.models import Pipeline, Stage
from leadflow.web import refcache


def stage_choices() -> tuple[tuple[int, str], ...]:
    """Every stage of every live pipeline, for filters and selects."""
    return refcache.cached(("pipelines",), "stages", _load_stages)[0]


def stage_names() -> dict[int, str]:
    """Every stage's own name by id, archived pipelines' too: what a list shows for a lead."""
    return dict(refcache.cached(("pipelines",), "stages", _load_stages)[1])


def open_stage_weights() -> dict[int, int | None]:
    """Every open stage's win probability (percent) by id, kept for the process: the home page
    lists open leads and weighs the open pipeline with these on every view."""
    return dict(refcache.cached(("pipelines",), "open stage weights", lambda: tuple(
        (stage_id, probability) for stage_id, probability in db.session.execute(
            db.select(Stage.id, Stage.probability).where(Stage.kind == "open").order_by(Stage.id)))))


def _load_stages() -> tuple[tuple[tuple[int, str], ...], tuple[tuple[int, str], ...]]:
    """(the choices, every stage's (id, name)): one query for both."""
    rows = db.session.execute(
        db.select(Stage.id, Stage.name, Pipeline.name.label("pipeline"), Pipeline.archived_at)
        .join(Pipeline, Stage.pipeline_id == Pipeline.id)
        .order_by(Pipeline.position, Pipeline.id, Stage.position)
    ).all()
    live = [r for r in rows if r.archived_at is None]
    many = len({r.pipeline for r in live}) > 1
    return (tuple((r.id, f"{r.pipeline}: {r.name}" if many else r.name) for r in live),
            tuple((r.id, r.name) for r in rows))
