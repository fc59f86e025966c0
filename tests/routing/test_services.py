"""Routing decisions, strategies, skips and the arrival step, called directly."""

from __future__ import annotations

import threading
from collections import Counter
from datetime import timedelta

import pytest
from sqlalchemy.exc import OperationalError

from leadflow.accounts.system import SYSTEM
from leadflow.activities.models import Activity
from leadflow.db import utcnow
from leadflow.errors import ValidationFailed
from leadflow.extensions import db
from leadflow.governance.models import AuditEntry
from leadflow.leads import services as lead_services
from leadflow.leads.events import arriving
from leadflow.leads.models import Lead
from leadflow.pipeline.models import Stage
from leadflow.routing import services
from leadflow.routing.models import RoutingRule

from tests.factories import TEST_SETUP


def _decide(lead, **kw):
    return services.route_lead(lead, utcnow(), **kw)


def test_round_robin_takes_members_in_turn_and_is_fair_over_1000(make_team, make_rule, make_lead):
    team, users = make_team(size=3)
    rule = make_rule("Everyone", target_team_id=team.id, strategy="round_robin")
    lead = make_lead(channel="form")
    assert lead.owner_id == users[0].id  # its own arrival took the first turn
    picks = [_decide(lead).user_id for _ in range(1000)]
    assert picks[:6] == [users[1].id, users[2].id, users[0].id] * 2
    counts = Counter(picks)
    assert max(counts.values()) - min(counts.values()) <= 1
    assert db.session.get(RoutingRule, rule.id).rotation == 1001  # the lead's own arrival took one turn


def test_least_open_picks_fewest_open_leads_then_longest_waiting(make_team, make_rule, make_lead):
    team, (ana, ben, cy) = make_team(size=3)
    make_lead(owner_id=ana.id)
    make_lead(owner_id=ana.id)
    make_lead(owner_id=ben.id)
    make_rule("Balance", target_team_id=team.id, strategy="least_open")
    assert _decide(make_lead(owner_id=ana.id)).user_id == cy.id
    # ben and cy tie once cy has one: the one assigned longest ago wins
    services.note_assignment(ben.id, utcnow() - timedelta(hours=2))
    services.note_assignment(cy.id, utcnow())
    make_lead(owner_id=cy.id)
    assert _decide(make_lead(owner_id=ana.id)).user_id == ben.id


def test_leads_in_won_or_deleted_state_do_not_count_as_open(make_team, make_rule, make_lead):
    team, (ana, ben) = make_team(size=2)
    make_lead(owner_id=ben.id)  # also makes the default pipeline
    won = db.session.scalar(db.select(Stage).where(Stage.kind == "won")) or pytest.skip("no won stage")
    for _ in range(2):
        lead_services.update_lead(SYSTEM, make_lead(owner_id=ana.id), {"stage_id": won.id})
    lead_services.delete_lead(SYSTEM, make_lead(owner_id=ana.id))
    assert services.open_lead_counts([ana.id, ben.id]) == {ana.id: 0, ben.id: 1}


def test_workload_cap_inactive_and_out_of_office_are_skipped(make_team, make_rule, make_lead):
    team, (capped, gone, away, free) = make_team(size=4)
    capped.max_open_leads = 1
    make_lead(owner_id=capped.id)
    gone.active = False
    away.out_of_office_until = utcnow() + timedelta(days=2)
    make_rule("Team", target_team_id=team.id, strategy="round_robin")
    picks = {_decide(make_lead(owner_id=free.id)).user_id for _ in range(8)}
    assert picks == {free.id}
    away.out_of_office_until = utcnow() - timedelta(minutes=1)  # back now
    assert away.id in {_decide(make_lead(owner_id=free.id)).user_id for _ in range(4)}


def test_fallback_owner_when_no_rule_matches_or_everyone_is_away(make_user, make_rule, make_lead):
    boss, rep = make_user("manager"), make_user("rep")
    lead = make_lead(country="FR")
    assert _decide(lead).user_id is None and "no rule matched" in _decide(lead).reason
    services.set_fallback_owner(SYSTEM, boss.id)
    assert _decide(lead) == services.RoutingDecision(boss.id, None, "as fallback owner (no rule matched)")
    make_rule("Rep", target_user_id=rep.id)
    rep.out_of_office_until = utcnow() + timedelta(hours=1)
    decision = _decide(lead)
    assert decision.user_id == boss.id and "unavailable" in decision.reason


def test_first_matching_rule_in_order_wins(make_user, make_rule, make_lead):
    de_rep, any_rep = make_user("rep"), make_user("rep")
    catch_all = make_rule("Everyone", target_user_id=any_rep.id)
    dach = make_rule("DACH", target_user_id=de_rep.id, countries="DE, AT")
    lead = make_lead(country="DE")
    assert _decide(lead).rule.id == catch_all.id
    services.move_rule(SYSTEM, dach, "up")
    assert _decide(lead).user_id == de_rep.id and _decide(lead).reason == "by rule 'DACH' (direct)"
    services.set_rule_active(SYSTEM, dach, False)
    assert _decide(lead).rule.id == catch_all.id


@pytest.mark.parametrize("conditions, matching, other", [
    ({"sources": ["partner", "event"]}, {"source": "partner"}, {"source": "website"}),
    ({"countries": "de"}, {"country": "DE"}, {"country": "US"}),
    ({"interest_field": "product", "interest_contains": "crm"}, {"custom": {"product": "Big CRM suite"}},
     {"custom": {"product": "Payroll"}}),
    ({"languages": "de"}, {"custom": {"language": "DE"}}, {"custom": {"language": "en"}}),
])
def test_each_condition_kind_matches_only_its_leads(make_user, make_rule, make_lead, conditions, matching, other):
    rep = make_user("rep")
    make_rule("Cond", target_user_id=rep.id, **conditions)

    def lead(spec):
        spec = dict(spec)
        custom = spec.pop("custom", None)
        made = make_lead(owner_id=rep.id, **spec)
        made.custom_fields = custom
        return made

    assert _decide(lead(matching)).user_id == rep.id
    assert _decide(lead(other)).user_id is None


def test_size_band_condition_reads_the_organization(make_user, make_rule, make_lead, make_org):
    rep = make_user("rep")
    make_org("Big Co", size_band="201-1000")
    make_org("Tiny", size_band="1-10")
    make_rule("Enterprise", target_user_id=rep.id, size_bands=["201-1000", "1000+"])
    assert _decide(make_lead(organization="Big Co", owner_id=rep.id)).user_id == rep.id
    assert _decide(make_lead(organization="Tiny", owner_id=rep.id)).user_id is None


def test_capture_form_condition_reads_the_arrival_context(make_user, make_rule, make_lead):
    from leadflow.capture.services import create_form
    from tests.capture.conftest import builder_data

    rep = make_user("rep")
    form_id = create_form(make_user("admin"), builder_data()).id
    make_rule("Form", target_user_id=rep.id, form_ids=[str(form_id)])
    with arriving(form_id=form_id):
        assert make_lead(channel="form").owner_id == rep.id
    assert make_lead(channel="form").owner_id is None


def test_bad_conditions_are_refused_with_messages(make_user):
    rep = make_user("rep")
    with pytest.raises(ValidationFailed) as exc:
        services.create_rule(SYSTEM, {"name": "", "target_kind": "user", "target_user_id": rep.id,
                                      "countries": "Germany", "sources": ["myspace"], "size_bands": ["huge"],
                                      "interest_field": "product", "form_ids": ["999999"]})
    assert set(exc.value.errors) == {"name", "countries", "sources", "size_bands", "interest_contains", "form_ids"}
    assert db.session.scalar(db.select(db.func.count(RoutingRule.id))) == 0


def test_arrival_step_assigns_with_activity_and_audit(make_team, make_rule, make_lead):
    team, (ana, _) = make_team(size=2)
    make_rule("EU inbound", target_team_id=team.id, strategy="round_robin")
    lead = make_lead(channel="form")
    assert lead.owner_id == ana.id
    activity = db.session.scalar(db.select(Activity).where(Activity.lead_id == lead.id, Activity.kind == "assignment"))
    assert activity.subject == f"Assigned to {ana.name} by rule 'EU inbound' (round-robin)"
    audit = db.session.scalar(db.select(AuditEntry).where(AuditEntry.entity_id == lead.id, AuditEntry.field == "owner"))
    assert audit.new_value == ana.name and audit.actor_id is None


def test_arrival_step_leaves_chosen_owners_and_typed_in_leads_alone(make_user, make_rule, make_lead):
    chosen, routed = make_user("rep"), make_user("rep")
    make_rule("All", target_user_id=routed.id)
    assert make_lead(owner_id=chosen.id, channel="form").owner_id == chosen.id
    assert make_lead().owner_id is None  # typed in by a person who chose no owner
    # An import's leads arrive only when its starter asked for the new-lead rules (see
    # tests/imports/test_new_lead_rules.py): then they are routed like the API's.
    imported = lead_services.create_lead(TEST_SETUP, {"first_name": "Imp", "email": "imp@example.com"}, channel="import")
    assert imported.owner_id == routed.id
    api = lead_services.create_lead(TEST_SETUP, {"first_name": "Api", "email": "api@example.com"}, channel="api")
    assert api.owner_id == routed.id


@pytest.mark.real_commits  # arrivals in threads, each on its own connection
def test_rotation_is_exact_under_concurrent_arrivals(app, make_team, make_rule):
    team, users = make_team(size=2)
    rule_id = make_rule("Team", target_team_id=team.id, strategy="round_robin").id
    db.session.commit()  # ends this thread's transaction: the workers need the write lock
    picks, errors = [], []

    def worker():
        with app.app_context():
            try:
                for _ in range(10):
                    for _attempt in range(50):
                        try:
                            turn = services.take_turn(db.session.get(RoutingRule, rule_id))
                            db.session.commit()
                        except OperationalError:  # SQLite: the other writer holds the lock; try again
                            db.session.rollback()
                        else:
                            picks.append(turn)
                            break
            except Exception as exc:  # pragma: no cover - reported below
                errors.append(exc)
            finally:
                db.session.remove()

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert sorted(picks) == list(range(20))  # every turn taken exactly once
    assert db.session.get(RoutingRule, rule_id).rotation == 20


def test_least_open_balances_1000_assignments_evenly_and_stops_at_a_cap(make_team, make_rule, make_lead):
    team, (ana, ben, cy) = make_team(size=3)
    ben.max_open_leads = 100
    make_rule("Balance", target_team_id=team.id, strategy="least_open")
    newcomer = make_lead(first_name="Newcomer")
    owners = Counter()
    for _ in range(1000):  # each decision is followed by an open lead for the chosen person
        decision = _decide(newcomer)
        owners[decision.user_id] += 1
        db.session.add(Lead(first_name="Open", pipeline_id=newcomer.pipeline_id, stage_id=newcomer.stage_id,
                            owner_id=decision.user_id))
        services.note_assignment(decision.user_id, utcnow())
        db.session.flush()
    assert owners[ben.id] == 100  # full at his cap; the rest share what is left
    assert owners[ana.id] + owners[cy.id] == 900 and abs(owners[ana.id] - owners[cy.id]) <= 1
