"""Pipelines and their stages."""

from __future__ import annotations

from leadflow.extensions import db
from leadflow.pipeline.models import Pipeline, Stage

# The common sales stages: name, win probability %, kind, rotting days.
DEFAULT_STAGES = (
    ("New", 10, "open", 3),
    ("Contacted", 20, "open", 7),
    ("Qualified", 40, "open", 14),
    ("Proposal sent", 60, "open", 14),
    ("Negotiation", 80, "open", 10),
    ("Won", 100, "won", None),
    ("Lost", 0, "lost", None),
)


def ensure_default_pipeline() -> Pipeline:
    """The default pipeline, created with the common sales stages when there is none."""
    pipeline = db.session.scalar(db.select(Pipeline).where(Pipeline.is_default.is_(True)).limit(1))
    if pipeline is not None:
        return pipeline
    pipeline = Pipeline(name="Sales", position=0, is_default=True)
    for position, (name, probability, kind, rotting) in enumerate(DEFAULT_STAGES):
        pipeline.stages.append(Stage(name=name, position=position, probability=probability,
                                     kind=kind, rotting_days=rotting))
    db.session.add(pipeline)
    db.session.flush()
    return pipeline


def stage_choices() -> list[tuple[int, str]]:
    """Every stage of every live pipeline, for filters and selects."""
    rows = db.session.execute(
        db.select(Stage.id, Stage.name, Pipeline.name.label("pipeline"))
        .join(Pipeline, Stage.pipeline_id == Pipeline.id)
        .where(Pipeline.archived_at.is_(None))
        .order_by(Pipeline.position, Pipeline.id, Stage.position)
    ).all()
    many = len({r.pipeline for r in rows}) > 1
    return [(r.id, f"{r.pipeline}: {r.name}" if many else r.name) for r in rows]
