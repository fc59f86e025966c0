"""What the workflow screens show."""

from __future__ import annotations

from sqlalchemy import func

from leadflow.accounts.models import User
from leadflow.extensions import db
from leadflow.governance.money import base_currency
from leadflow.pipeline.models import Pipeline, Stage
from leadflow.sequences.models import EmailTemplate, Sequence
from leadflow.workflows import actions, triggers, webhooks
from leadflow.workflows.models import OUTCOME_LABELS, WorkflowRule, WorkflowRun

RUNS_PER_PAGE = 25


def rules_context() -> dict:
    last_run = (db.select(WorkflowRun.rule_id, func.max(WorkflowRun.created_at).label("at"))
                .group_by(WorkflowRun.rule_id).subquery())
    rows = db.session.execute(db.select(WorkflowRule, last_run.c.at)
                              .outerjoin(last_run, last_run.c.rule_id == WorkflowRule.id)
                              .order_by(WorkflowRule.name, WorkflowRule.id)).all()
    return {"rules": [(rule, at) for rule, at in rows], "triggers": triggers.TRIGGERS}


def editor_choices() -> dict:
    stages = db.session.execute(db.select(Stage.id, Pipeline.id, Pipeline.name, Stage.name).join(Pipeline)
                                .where(Pipeline.archived_at.is_(None)).order_by(Pipeline.position, Pipeline.id, Stage.position)).all()
    users = db.session.execute(db.select(User.id, User.name).where(User.active.is_(True), User.role != "viewer")
                               .order_by(User.name)).all()
    try:
        with db.session.begin_nested():
            templates = db.session.execute(db.select(EmailTemplate.id, EmailTemplate.name)
                                           .order_by(EmailTemplate.name)).all()
            sequences = db.session.execute(db.select(Sequence.id, Sequence.name).where(Sequence.active.is_(True))
                                           .order_by(Sequence.name)).all()
    except Exception:  # the e-mail templates of sequences are not set up in this database yet
        templates, sequences = [], []
    base = base_currency()
    return {
        "trigger_choices": triggers.TRIGGERS, "watchable_fields": triggers.WATCHABLE_FIELDS,
        "condition_fields": {**triggers.CONDITION_FIELDS, "value": f"Value ({base}, base currency)"},
        "base_currency": base, "operators": triggers.OPERATORS,
        "action_choices": actions.ACTIONS, "settable_fields": actions.SETTABLE_FIELDS,
        "task_kinds": actions.TASK_KINDS,
        "stage_groups": _grouped(stages),
        "users": [tuple(u) for u in users], "email_templates": [tuple(t) for t in templates],
        "sequences": [tuple(q) for q in sequences],
    }


def _grouped(stages) -> list[tuple[str, list[tuple[int, str]]]]:
    """``(stage id, pipeline id, pipeline name, stage name)`` rows in pipeline order -> one
    ``(pipeline name, [(stage id, stage name)])`` group per pipeline."""
    groups: dict[int, tuple[str, list[tuple[int, str]]]] = {}
    for sid, pipeline_id, pipeline, name in stages:
        groups.setdefault(pipeline_id, (pipeline, []))[1].append((sid, name))
    return list(groups.values())


def runs_context(rule: WorkflowRule, page: int) -> dict:
    page = max(1, page)
    total = db.session.scalar(db.select(func.count()).select_from(WorkflowRun).where(WorkflowRun.rule_id == rule.id))
    runs = db.session.scalars(db.select(WorkflowRun).where(WorkflowRun.rule_id == rule.id)
                              .order_by(WorkflowRun.created_at.desc(), WorkflowRun.id.desc())
                              .offset((page - 1) * RUNS_PER_PAGE).limit(RUNS_PER_PAGE)).all()
    return {"rule": rule, "runs": runs, "page": page, "total": total,
            "has_next": page * RUNS_PER_PAGE < total, "outcome_labels": OUTCOME_LABELS,
            "deliveries": webhooks.deliveries_of_runs(rule.id, [run.id for run in runs]),
            "max_attempts": webhooks.MAX_ATTEMPTS}
