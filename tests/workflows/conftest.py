from __future__ import annotations

import pytest

from leadflow.extensions import db
from leadflow.workflows.models import WorkflowRule, WorkflowRun


@pytest.fixture
def make_rule(app):
    """``make_rule("field_changed", [actions], field="temperature")``: a stored, active rule
    (stored as the editor would store it, without the editor's checks)."""

    def _make(trigger, actions, conditions=None, active=True, name=None, **config):
        rule = WorkflowRule(name=name or f"Rule on {trigger}", active=active, trigger=trigger,
                            trigger_config=config, conditions=conditions or [], actions=actions,
                            secret="s3cret-for-tests")
        db.session.add(rule)
        db.session.flush()
        return rule

    return _make


@pytest.fixture
def runs_of(app):
    def _runs(rule):
        return db.session.scalars(db.select(WorkflowRun).where(WorkflowRun.rule_id == rule.id)
                                  .order_by(WorkflowRun.id)).all()

    return _runs
