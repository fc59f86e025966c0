"""Storing scores: thresholds, lifecycle, the timeline entry and event, and when scores are worked out."""

from datetime import timedelta

import pytest
from sqlalchemy import select

from leadflow.activities.models import Activity
from leadflow.activities.services import log_activity
from leadflow.db import utcnow
from leadflow.extensions import db
from leadflow.leads import events
from leadflow.leads.services import update_lead
from leadflow.scoring import services


@pytest.fixture
def heard():
    """The score.changed events emitted during the test."""
    seen = []

    def listener(changes, actor):
        seen.extend((lead.id, {"old": old, "new": new}) for lead, old, new in changes)

    events.bus.on(events.SCORE_CHANGED, listener)
    yield seen
    events.bus.off(events.SCORE_CHANGED, listener)


def score_changes(lead):
    return list(db.session.scalars(select(Activity.subject).where(Activity.lead_id == lead.id,
                                                                  Activity.kind == "score_change")))


def test_without_rules_leads_are_not_scored_and_keep_a_temperature_set_by_hand(make_user, make_lead):
    admin = make_user(role="admin")
    lead = make_lead(admin, temperature="hot")
    assert (lead.score, lead.temperature, lead.score_breakdown) == (0, "hot", None)
    assert score_changes(lead) == []


def test_once_the_last_rule_is_gone_a_rescore_takes_scores_back_to_zero(make_user, make_lead, make_rule):
    admin = make_user(role="admin")
    rule = make_rule(name="Director", field="title", operator="contains", value="director", points=35)
    lead = make_lead(admin, title="IT Director")
    assert lead.score == 35
    services.delete_rule(admin, rule)
    assert services.rescore_leads([lead]) == 1
    assert (lead.score, lead.score_breakdown, lead.temperature) == (0, [], "cold")
    assert score_changes(lead) == ["Score 0 → 35", "Score 35 → 0"]
    assert services.rescore_leads([lead]) == 0  # and nothing more to do after that


def test_new_lead_is_scored_on_arrival_with_timeline_entry_and_event(make_user, make_lead, make_rule, heard):
    make_rule(name="Director", field="title", operator="contains", value="director", points=35)
    lead = make_lead(make_user(role="admin"), title="IT Director")
    assert lead.score == 35
    assert lead.temperature == "warm"
    assert lead.score_breakdown[0]["name"] == "Director"
    assert score_changes(lead) == ["Score 0 → 35"]
    assert heard == [(lead.id, {"old": 0, "new": 35})]


def test_a_batch_of_new_leads_is_one_score_event_with_each_leads_change(make_user, make_lead, make_rule):
    admin = make_user(role="admin")
    leads = [make_lead(admin, title=title) for title in ("IT Director", "Intern", "Director of sales")]
    make_rule(name="Director", field="title", operator="contains", value="director", points=35)
    batches = []

    def listener(changes, actor):
        batches.append([(lead.id, old, new) for lead, old, new in changes])

    events.bus.on(events.SCORE_CHANGED, listener)
    try:
        services.score_new_leads(events.Arrivals((lead.id, "api", None) for lead in leads))
    finally:
        events.bus.off(events.SCORE_CHANGED, listener)
    assert batches == [[(leads[0].id, 0, 35), (leads[2].id, 0, 35)]]  # the intern's score did not move
    assert [score_changes(lead) for lead in leads] == [["Score 0 → 35"], [], ["Score 0 → 35"]]


def test_editing_a_field_rescores_and_moves_lifecycle_forward(make_user, make_lead, make_rule, heard):
    admin = make_user(role="admin")
    make_rule(name="Big deal", field="value", operator="gte", value="10000", points=45)
    lead = make_lead(admin)
    assert lead.score == 0 and lead.lifecycle == "lead"
    version = lead.version
    update_lead(admin, lead, {"value": "25000"})
    db.session.refresh(lead)
    assert lead.score == 45
    assert lead.lifecycle == "mql"
    assert score_changes(lead) == ["Score 0 → 45 · now MQL"]
    assert heard[-1][1] == {"old": 0, "new": 45}
    # The score is written without bumping the version an open editor holds (the edit itself bumped it once).
    assert lead.version == version + 1


def test_lifecycle_set_by_hand_is_kept_and_never_moved_backwards(make_user, make_lead, make_rule):
    admin = make_user(role="admin")
    make_rule(field="value", operator="gte", value="10000", points=80)
    lead = make_lead(admin, value="20000")
    assert lead.lifecycle == "sql"
    update_lead(admin, lead, {"lifecycle": "lead"})
    assert lead.lifecycle == "lead"  # the person's choice stands
    update_lead(admin, lead, {"value": "100"})  # score drops to 0
    db.session.refresh(lead)
    assert lead.score == 0 and lead.lifecycle == "lead" and lead.temperature == "cold"


def test_opportunities_and_customers_keep_their_lifecycle(make_user, make_lead, make_rule):
    admin = make_user(role="admin")
    make_rule(field="title", operator="is_set", points=90)
    lead = make_lead(admin, lifecycle="customer", title="CEO")
    assert lead.score == 90 and lead.lifecycle == "customer" and lead.temperature == "hot"


def test_logging_an_activity_rescores(make_user, make_lead, make_rule):
    admin = make_user(role="admin")
    make_rule(name="Calls", category="engagement", activity_kind="call", points=12, field=None, operator=None)
    lead = make_lead(admin)
    log_activity(admin, lead, {"kind": "call", "subject": "Intro call", "outcome": "connected"})
    log_activity(admin, lead, {"kind": "call", "subject": "Follow-up", "outcome": "connected"})
    db.session.refresh(lead)
    assert lead.score == 24
    assert score_changes(lead) == ["Score 0 → 12", "Score 12 → 24"]


def test_rescoring_with_nothing_new_writes_nothing(make_user, make_lead, make_rule, count_queries):
    make_rule(field="title", operator="is_set", points=10)
    lead = make_lead(make_user(role="admin"), title="CEO")
    with count_queries() as queries:
        assert services.rescore_lead(lead) is False
    assert not [q for q in queries if q.lstrip().upper().startswith(("UPDATE", "INSERT"))]
    # One query for the rules (written in this transaction: not kept), one for the lead's
    # activities; the settings are kept for the process while none changes.
    assert len(queries) == 2


def test_a_change_no_rule_reads_leaves_the_score_unread_and_a_change_one_reads_rescores(
        make_user, make_lead, make_rule, count_queries):
    admin = make_user(role="admin")
    make_rule(field="title", operator="is_set", points=10)
    lead = make_lead(admin, title="CEO")
    assert lead.score == 10
    with count_queries() as queries:
        update_lead(admin, lead, {"last_name": "Renamed"})
    assert not [q for q in queries if "FROM activities" in q]  # nothing of the lead's score was read
    assert lead.score == 10
    update_lead(admin, lead, {"title": ""})
    db.session.refresh(lead)
    assert lead.score == 0


def test_a_change_no_rule_reads_reads_no_rule_either(make_user, make_lead, make_rule, count_queries):
    # Which fields the active rules read is kept for the process: a moved card or a new owner
    # (most changes) costs no read of the rules.
    admin = make_user(role="admin")
    make_rule(field="title", operator="is_set", points=10)
    lead = make_lead(admin, title="CEO")
    db.session.commit()
    update_lead(admin, lead, {"last_name": "Kept"})  # the readers are now kept
    db.session.commit()
    with count_queries() as queries:
        update_lead(admin, lead, {"last_name": "Renamed"})
    assert not [q for q in queries if "FROM scoring_rules" in q], queries
    make_rule(field="last_name", operator="is_set", points=5)  # a rule that reads it: rescored
    db.session.commit()
    update_lead(admin, lead, {"last_name": "Again"})
    db.session.refresh(lead)
    assert lead.score == 15


def test_inactivity_changes_the_score_as_time_passes(make_user, make_lead, make_rule):
    make_rule(field="title", operator="is_set", points=30)
    make_rule(name="Gone quiet", category="inactivity", days=30, points=-25, field=None, operator=None)
    lead = make_lead(make_user(role="admin"), title="CEO")
    assert lead.score == 30
    services.rescore_lead(lead, utcnow() + timedelta(days=31))
    assert lead.score == 5
    assert lead.score_breakdown[-1]["name"] == "Gone quiet"


def test_thresholds_are_checked_and_saved(make_user):
    admin = make_user(role="admin")
    with pytest.raises(services.ValidationFailed) as caught:
        services.update_scoring_settings(admin, {"warm_at": "50", "hot_at": "40", "mql_at": "x", "sql_at": "90",
                                                 "half_life_days": "0"})
    assert set(caught.value.errors) == {"mql_at"}
    with pytest.raises(services.ValidationFailed) as caught:
        services.update_scoring_settings(admin, {"warm_at": "50", "hot_at": "40", "mql_at": "40", "sql_at": "90",
                                                 "half_life_days": "0"})
    assert caught.value.errors == {"hot_at": ["Hot must start at a higher score than warm."]}
    services.update_scoring_settings(admin, {"warm_at": "20", "hot_at": "40", "mql_at": "30", "sql_at": "50",
                                             "half_life_days": "14", "lifecycle_auto": ""})
    assert services.scoring_settings() == {"warm_at": 20, "hot_at": 40, "lifecycle_auto": False, "mql_at": 30,
                                           "sql_at": 50, "half_life_days": 14}


def test_only_admins_change_rules(make_user):
    with pytest.raises(services.PermissionDenied):
        services.create_rule(make_user(role="manager"), {"name": "x", "category": "fit", "points": "5",
                                                         "field": "title", "operator": "is_set"})


@pytest.mark.parametrize("data, field", [
    ({"name": "", "category": "fit", "points": "5", "field": "title", "operator": "is_set"}, "name"),
    ({"name": "A", "category": "fit", "points": "0", "field": "title", "operator": "is_set"}, "points"),
    ({"name": "A", "category": "fit", "points": "five", "field": "title", "operator": "is_set"}, "points"),
    ({"name": "A", "category": "fit", "points": "5", "field": "nope", "operator": "is_set"}, "field"),
    ({"name": "A", "category": "fit", "points": "5", "field": "title", "operator": "contains", "value": ""}, "value"),
    ({"name": "A", "category": "fit", "points": "5", "field": "value", "operator": "gte", "value": "lots"}, "value"),
    ({"name": "A", "category": "fit", "points": "5", "field": "title", "operator": "gte", "value": "3"}, "operator"),
    ({"name": "A", "category": "fit", "points": "5", "field": "custom", "operator": "is_set"}, "custom_key"),
    ({"name": "A", "category": "engagement", "points": "5", "activity_kind": "stage_change"}, "activity_kind"),
    ({"name": "A", "category": "engagement", "points": "5", "activity_kind": "call", "cap": "-3"}, "cap"),
    ({"name": "A", "category": "inactivity", "points": "-5", "days": ""}, "days"),
    ({"name": "A", "category": "other", "points": "5"}, "category"),
])
def test_bad_rule_input_is_refused_with_a_message(data, field):
    with pytest.raises(services.ValidationFailed) as caught:
        services.clean_rule_input(data)
    assert field in caught.value.errors


def test_a_value_rule_is_described_in_the_base_currency(make_rule, make_user):
    from leadflow.governance.money import set_base_currency

    rule = make_rule(field="value", operator="gte", value="5000")
    assert services.describe_rule(rule) == "Deal value is at least “5000 USD”"
    set_base_currency(make_user(role="admin"), "EUR")
    assert services.describe_rule(rule) == "Deal value is at least “5000 EUR”"
    assert services.describe_rule(make_rule(field="title", operator="contains", value="director")) == \
        "Job title contains “director”"


@pytest.mark.real_commits
def test_the_active_rules_and_thresholds_are_read_once_and_again_after_a_change(make_user, make_rule, count_queries):
    admin = make_user(role="admin")
    rule = make_rule(name="Director", field="title", operator="contains", value="director", points=35)
    db.session.commit()
    assert [r.points for r in services.active_rules()] == [35]
    assert services.scoring_settings()["hot_at"] == 60
    db.session.commit()
    with count_queries() as queries:
        assert [r.points for r in services.active_rules()] == [35]
        assert services.scoring_settings()["hot_at"] == 60
    assert not [q for q in queries if "scoring_rules" in q or "FROM settings" in q]  # kept for the process
    services.update_rule(admin, rule, {**services.rule_input_from_model(rule), "points": "50"})
    services.update_scoring_settings(admin, {"warm_at": 20, "hot_at": 45, "mql_at": 30, "sql_at": 70,
                                             "half_life_days": 0, "lifecycle_auto": "1"})
    db.session.commit()
    assert [r.points for r in services.active_rules()] == [50]
    assert services.scoring_settings()["hot_at"] == 45
