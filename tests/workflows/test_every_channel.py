"""Workflow rules and sequences hear what the system does to leads, not only what people do:
a temperature scoring sets, leads moved because their stage was deleted."""

from __future__ import annotations

from leadflow.activities.models import Activity
from leadflow.extensions import db
from leadflow.leads.services import update_lead
from leadflow.pipeline.models import StageChange, StageTotals
from leadflow.pipeline.services import delete_stage, ensure_default_pipeline
from leadflow.scoring.models import ScoringRule
from leadflow.sequences.models import Enrollment, Sequence


def _tags(lead):
    db.session.refresh(lead)
    return sorted(t.name for t in lead.tags)


def test_a_lead_scoring_makes_hot_fires_the_temperature_rule(make_rule, make_user, make_lead, runs_of):
    """The demo's "hot lead" rule: nobody typed "hot", scoring set it, and the rule still fires."""
    admin = make_user(role="admin")
    rule = make_rule("field_changed", [{"type": "add_tag", "tag": "call-now"}], field="temperature",
                     conditions=[{"field": "temperature", "operator": "is", "value": "hot"}])
    db.session.add(ScoringRule(name="Directors", category="fit", active=True, points=70, position=1,
                               field="title", operator="contains", value="director"))
    lead = make_lead(title="Engineer")
    assert lead.temperature == "cold" and _tags(lead) == []

    update_lead(admin, lead, {"title": "Sales Director"})

    assert lead.temperature == "hot"
    assert _tags(lead) == ["call-now"]
    assert [run.outcome for run in runs_of(rule)] == ["done"]


def test_leads_moved_by_deleting_their_stage_reach_rules_and_sequences(make_rule, make_user, make_lead, runs_of):
    admin = make_user(role="admin")
    pipeline = ensure_default_pipeline()
    doomed, target = [s for s in pipeline.stages if s.kind == "open"][1:3]
    rule = make_rule("stage_changed", [{"type": "add_tag", "tag": "re-staged"}], to_stage_id=target.id)
    leads = [make_lead(stage_id=doomed.id, value="100", currency="EUR"),
             make_lead(stage_id=doomed.id, value="50", currency="USD")]
    sequence = Sequence(name="Nurture", exit_on_stage_change=True, created_by_id=admin.id)
    db.session.add(sequence)
    db.session.flush()
    enrolled = Enrollment(sequence_id=sequence.id, lead_id=leads[0].id, state="active")
    db.session.add(enrolled)
    db.session.commit()
    before = db.session.get(StageTotals, target.id)
    before_count = before.lead_count if before else 0

    assert delete_stage(admin, doomed, target.id) == 2
    db.session.commit()

    assert [_tags(lead) for lead in leads] == [["re-staged"], ["re-staged"]]
    assert len(runs_of(rule)) == 2
    db.session.refresh(enrolled)
    assert enrolled.state == "exited" and enrolled.exit_reason == "stage_changed"
    assert db.session.get(StageTotals, target.id).lead_count == before_count + 2
    history = db.session.scalars(db.select(StageChange.lead_id).where(   # the deleted stage's id is gone
        StageChange.lead_id.in_([lead.id for lead in leads]), StageChange.to_stage_id == target.id)).all()
    assert sorted(history) == sorted(lead.id for lead in leads)
    subjects = db.session.scalars(db.select(Activity.subject).where(
        Activity.lead_id == leads[0].id, Activity.kind == "stage_change")).all()
    assert subjects == [f"Moved from {doomed.name} to {target.name} (stage {doomed.name} was deleted)"]
