"""Pipelines and their stages."""

from __future__ import annotations

from sqlalchemy import case, func

from leadflow.db import get_by_id, utcnow
from leadflow.errors import PermissionDenied, ValidationFailed
from leadflow.extensions import db
from leadflow.governance.audit import record_changes, record_event
from leadflow.governance.ordering import move_in_order
from leadflow.leads import store
from leadflow.leads.models import Lead
from leadflow.pipeline.models import STAGE_KINDS, Pipeline, Stage

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


# --- Pipeline and stage settings (admins and managers) ------------------------------------
#
# Plain functions: they take the acting user and raw form values, raise ValidationFailed or
# PermissionDenied, write audit entries, and flush. The caller commits once.

SETTINGS_ROLES = ("admin", "manager")
STAGE_KIND_LABELS = {"open": "Open", "won": "Won", "lost": "Lost"}
PIPELINE_NAME_MAX = 120
STAGE_NAME_MAX = 80
ROTTING_DAYS_MAX = 365


def can_manage_pipelines(actor) -> bool:
    return getattr(actor, "role", None) in SETTINGS_ROLES


def _require_manager(actor) -> None:
    if not can_manage_pipelines(actor):
        raise PermissionDenied("Only admins and managers can change pipelines and stages.")


def _name_key(name: str) -> str:
    return " ".join(name.split()).casefold()


def _clean_name(raw, *, label: str, limit: int) -> tuple[str | None, list[str]]:
    name = " ".join(str(raw or "").split())
    if not name:
        return None, [f"Enter a {label} name."]
    if len(name) > limit:
        return None, [f"Keep the {label} name to {limit} characters or fewer."]
    return name, []


def _active_pipelines() -> list[Pipeline]:
    return list(db.session.scalars(
        db.select(Pipeline).where(Pipeline.archived_at.is_(None)).order_by(Pipeline.position, Pipeline.id)
    ))


def _check_pipeline_name_free(name: str, exclude_id: int | None = None) -> list[str]:
    key = _name_key(name)
    for other in _active_pipelines():
        if other.id != exclude_id and _name_key(other.name) == key:
            return [f"An active pipeline is already called “{other.name}”. Choose another name."]
    return []


def _require_active(pipeline: Pipeline) -> None:
    if pipeline.archived_at is not None:
        raise ValidationFailed({"pipeline": [
            f"The pipeline “{pipeline.name}” is archived. Unarchive it before changing it."]})


def create_pipeline(actor, name) -> Pipeline:
    """A new active pipeline with the common sales stages; the default when there is none."""
    _require_manager(actor)
    cleaned, errors = _clean_name(name, label="pipeline", limit=PIPELINE_NAME_MAX)
    if cleaned:
        errors = _check_pipeline_name_free(cleaned)
    if errors:
        raise ValidationFailed({"name": errors})
    has_default = db.session.scalar(
        db.select(func.count(Pipeline.id)).where(Pipeline.is_default.is_(True), Pipeline.archived_at.is_(None))
    )
    last_position = db.session.scalar(db.select(func.max(Pipeline.position)))
    pipeline = Pipeline(name=cleaned, position=(last_position + 1) if last_position is not None else 0,
                        is_default=not has_default)
    for position, (stage_name, probability, kind, rotting) in enumerate(DEFAULT_STAGES):
        pipeline.stages.append(Stage(name=stage_name, position=position, probability=probability,
                                     kind=kind, rotting_days=rotting))
    db.session.add(pipeline)
    db.session.flush()
    record_event(actor, "pipeline", pipeline.id, "create", cleaned)
    return pipeline


def rename_pipeline(actor, pipeline: Pipeline, name) -> bool:
    """Rename; leads keep their pipeline and stage. Returns whether anything changed."""
    _require_manager(actor)
    cleaned, errors = _clean_name(name, label="pipeline", limit=PIPELINE_NAME_MAX)
    if cleaned and pipeline.archived_at is None:
        errors = _check_pipeline_name_free(cleaned, exclude_id=pipeline.id)
    if errors:
        raise ValidationFailed({"name": errors})
    if cleaned == pipeline.name:
        return False
    record_changes(actor, "pipeline", pipeline.id, {"name": pipeline.name}, {"name": cleaned})
    pipeline.name = cleaned
    db.session.flush()
    return True


def move_pipeline(actor, pipeline: Pipeline, direction: str) -> bool:
    """Move an active pipeline one place up or down. Returns False when it is already at that end."""
    _require_manager(actor)
    _require_active(pipeline)
    return move_in_order(actor, "pipeline", _active_pipelines(), pipeline, direction)


def set_default_pipeline(actor, pipeline: Pipeline) -> bool:
    _require_manager(actor)
    _require_active(pipeline)
    if pipeline.is_default:
        return False
    for other in db.session.scalars(db.select(Pipeline).where(Pipeline.is_default.is_(True))):
        record_changes(actor, "pipeline", other.id, {"is_default": True}, {"is_default": False})
        other.is_default = False
    record_changes(actor, "pipeline", pipeline.id, {"is_default": False}, {"is_default": True})
    pipeline.is_default = True
    db.session.flush()
    return True


def archive_pipeline(actor, pipeline: Pipeline) -> bool:
    """Hide a pipeline from boards and new leads. Its leads keep their stage."""
    _require_manager(actor)
    if pipeline.archived_at is not None:
        return False
    if pipeline.is_default:
        raise ValidationFailed({"pipeline": [
            f"“{pipeline.name}” is the default pipeline, so it cannot be archived. "
            "Make another pipeline the default first."]})
    pipeline.archived_at = utcnow()
    record_changes(actor, "pipeline", pipeline.id, {"archived": False}, {"archived": True}, action="archive")
    db.session.flush()
    return True


def unarchive_pipeline(actor, pipeline: Pipeline) -> bool:
    _require_manager(actor)
    if pipeline.archived_at is None:
        return False
    errors = _check_pipeline_name_free(pipeline.name, exclude_id=pipeline.id)
    if errors:
        raise ValidationFailed({"pipeline": [
            f"An active pipeline is already called “{pipeline.name}”. Rename one of them first."]})
    last_position = db.session.scalar(
        db.select(func.max(Pipeline.position)).where(Pipeline.archived_at.is_(None)))
    pipeline.archived_at = None
    pipeline.position = (last_position + 1) if last_position is not None else 0
    record_changes(actor, "pipeline", pipeline.id, {"archived": True}, {"archived": False}, action="unarchive")
    db.session.flush()
    return True


def clean_stage_input(data: dict, *, pipeline: Pipeline, stage: Stage | None = None) -> dict:
    """Stage fields from raw form values; every problem is reported at once."""
    errors: dict[str, list[str]] = {}
    out: dict = {}
    name, name_errors = _clean_name(data.get("name"), label="stage", limit=STAGE_NAME_MAX)
    if name:
        key = _name_key(name)
        if any(_name_key(s.name) == key for s in pipeline.stages if s is not stage):
            name_errors = [f"This pipeline already has a stage called “{name}”."]
    if name_errors:
        errors["name"] = name_errors
    out["name"] = name

    raw = str(data.get("probability") or "").strip().rstrip("%").strip()
    try:
        probability = int(raw)
    except ValueError:
        probability = None
    if probability is None or not 0 <= probability <= 100:
        errors["probability"] = ["Enter the win probability as a whole number from 0 to 100."]
    out["probability"] = probability

    kind = str(data.get("kind") or "").strip().lower()
    if kind not in STAGE_KINDS:
        errors["kind"] = ["Choose open, won or lost."]
    out["kind"] = kind

    raw = str(data.get("rotting_days") or "").strip()
    rotting = None
    if raw:
        try:
            rotting = int(raw)
        except ValueError:
            rotting = 0
        if not 1 <= rotting <= ROTTING_DAYS_MAX:
            errors["rotting_days"] = [
                f"Enter the rotting limit as a whole number of days from 1 to {ROTTING_DAYS_MAX}, "
                "or leave it empty for no limit."]
    out["rotting_days"] = rotting
    if errors:
        raise ValidationFailed(errors)
    return out


def _stage_snapshot(stage: Stage) -> dict:
    return {"name": stage.name, "probability": stage.probability, "kind": stage.kind,
            "rotting_days": stage.rotting_days}


def _ordered(stages) -> list[Stage]:
    """Stages by position: the loaded collection keeps its old order until it is reloaded."""
    return sorted(stages, key=lambda s: (s.position, s.id or 0))


def _missing_kinds(kinds) -> list[str]:
    present = set(kinds)
    return [kind for kind in STAGE_KINDS if kind not in present]


def _kinds_message(pipeline: Pipeline, missing: list[str], verb: str) -> str:
    kinds = " and ".join(f"one {k}" for k in missing)
    return (f"“{pipeline.name}” must keep at least one open, one won and one lost stage: "
            f"{verb} would leave it without {kinds} stage. Add or change another stage first.")


def add_stage(actor, pipeline: Pipeline, data: dict) -> Stage:
    """Add a stage. Open stages go before the first won/lost stage; won and lost ones go last."""
    _require_manager(actor)
    _require_active(pipeline)
    values = clean_stage_input(data, pipeline=pipeline)
    stages = _ordered(pipeline.stages)
    index = len(stages)
    if values["kind"] == "open":
        index = next((i for i, s in enumerate(stages) if s.kind != "open"), len(stages))
    stage = Stage(**values)
    stages.insert(index, stage)
    pipeline.stages.append(stage)
    for position, each in enumerate(stages):
        each.position = position
    db.session.flush()
    record_event(actor, "stage", stage.id, "create", f"{stage.name} in {pipeline.name}")
    return stage


def update_stage(actor, stage: Stage, data: dict) -> bool:
    """Change a stage's name, probability, kind and rotting limit. Returns whether anything changed."""
    _require_manager(actor)
    pipeline = stage.pipeline
    _require_active(pipeline)
    values = clean_stage_input(data, pipeline=pipeline, stage=stage)
    if values["kind"] != stage.kind:
        missing = _missing_kinds([*(s.kind for s in pipeline.stages if s is not stage), values["kind"]])
        if missing:
            raise ValidationFailed({"kind": [_kinds_message(pipeline, missing, "this change")]})
    before = _stage_snapshot(stage)
    if before == values:
        return False
    record_changes(actor, "stage", stage.id, before, values)
    for key, value in values.items():
        setattr(stage, key, value)
    db.session.flush()
    return True


def move_stage(actor, stage: Stage, direction: str) -> bool:
    _require_manager(actor)
    _require_active(stage.pipeline)
    return move_in_order(actor, "stage", _ordered(stage.pipeline.stages), stage, direction)


def stage_lead_counts(stage_ids=None) -> dict[int, tuple[int, int]]:
    """``{stage_id: (live leads, trashed leads)}`` in one grouped query."""
    query = (
        db.select(Lead.stage_id,
                  func.sum(case((Lead.deleted_at.is_(None), 1), else_=0)),
                  func.sum(case((Lead.deleted_at.is_not(None), 1), else_=0)))
        .where(Lead.stage_id.is_not(None))
        .group_by(Lead.stage_id)
    )
    if stage_ids is not None:
        query = query.where(Lead.stage_id.in_(list(stage_ids)))
    return {stage_id: (int(live or 0), int(trashed or 0)) for stage_id, live, trashed in db.session.execute(query)}


def stage_delete_problem(stage: Stage) -> str | None:
    """Why this stage cannot be deleted (its pipeline would lose its last open, won or lost stage)."""
    if stage.pipeline.archived_at is not None:
        return f"The pipeline “{stage.pipeline.name}” is archived. Unarchive it before changing it."
    missing = _missing_kinds(s.kind for s in stage.pipeline.stages if s is not stage)
    if missing:
        return _kinds_message(stage.pipeline, missing, "deleting this stage")
    return None


def delete_stage(actor, stage: Stage, target_stage_id=None) -> int:
    """Delete a stage, first moving every lead in it (live or trashed) to another stage of the
    same pipeline, through the lead store's set-based move, so a stage with many thousands of
    leads goes quickly. Returns how many leads were moved."""
    _require_manager(actor)
    pipeline = stage.pipeline
    _require_active(pipeline)
    # Lock the stage row (PostgreSQL): anyone moving a lead into it now waits and then fails,
    # instead of leaving a lead without a stage after we delete it.
    db.session.execute(db.select(Stage.id).where(Stage.id == stage.id).with_for_update())

    problem = stage_delete_problem(stage)
    if problem:
        raise ValidationFailed({"stage": [problem]})

    live, trashed = stage_lead_counts([stage.id]).get(stage.id, (0, 0))
    target = None
    if target_stage_id not in (None, ""):
        target = get_by_id(Stage, target_stage_id)
        if target is None or target.pipeline_id != pipeline.id or target.id == stage.id:
            raise ValidationFailed({"target_stage_id": [
                f"Choose another stage of “{pipeline.name}” to move the leads to."]})
    if (live or trashed) and target is None:
        raise ValidationFailed({"target_stage_id": [
            f"“{stage.name}” holds {live + trashed} lead{'s' if live + trashed != 1 else ''}. "
            "Choose the stage to move them to."]})

    moved = 0
    if target is not None:
        # The lead store moves them like any other move (history, timeline, totals, and
        # ``leads.moved`` for workflow rules and sequences), set-based, with the rows locked
        # (PostgreSQL: someone moving one of them meanwhile waits, then gets a version conflict).
        moved = sum(len(group) for group in store.move_leads(
            Lead.__table__.c.stage_id == stage.id, target, actor, note=f"stage {stage.name} was deleted").values())

    detail = f"Deleted stage {stage.name} of {pipeline.name}"
    if target is not None:
        detail += f"; moved {moved} lead{'s' if moved != 1 else ''} to {target.name}"
    record_event(actor, "stage", stage.id, "delete", detail)
    store.add_pending_totals()  # the move's totals name the stage: written while it exists
    pipeline.stages.remove(stage)  # delete-orphan: the stage row goes on flush
    for position, each in enumerate(_ordered(pipeline.stages)):
        each.position = position
    db.session.flush()
    return moved
