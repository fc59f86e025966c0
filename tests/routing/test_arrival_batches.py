"""The arrivals sweep handles a batch of new leads set-based (``leads.arrivals``): the owners,
scores, timeline and alerts it gives a mixed batch are those the leads would get one at a
time, and two sweeps at once still run each arrival exactly once."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest

from leadflow.accounts.models import User
from leadflow.accounts.system import SYSTEM
from leadflow.activities.models import Activity
from leadflow.db import utcnow
from leadflow.extensions import db
from leadflow.governance.models import AuditEntry
from leadflow.leads import events
from leadflow.leads.alert_models import LeadAlert
from leadflow.leads.arrival_models import LeadArrival
from leadflow.leads.models import Lead
from leadflow.leads.services import default_stage
from leadflow.mail.models import OutboxMessage
from leadflow.pipeline.services import ensure_default_pipeline
from leadflow.routing.models import RoutingRule
from leadflow.routing.services import set_fallback_owner
from leadflow.scheduler.runner import run_sweep
from leadflow.scoring.models import ScoringRule

# (country, title): Germans go to the least-loaded rep, the rest round-robin; directors and
# Germans score (a German director is hot and an MQL), the others stay cold at 0.
MIX = [("DE", "Director"), ("FR", "Director"), ("US", "Intern"), ("DE", "Intern"), ("US", "Director of sales"),
       ("GB", "Intern"), ("DE", "Director"), ("FR", "Intern"), ("US", "Director"), ("DE", "Intern"),
       ("IT", "Director"), ("US", "Intern")]


@pytest.fixture
def world(make_team, make_rule, make_user, make_lead):
    """A team of three: Ann is free, Bob may hold two open leads and holds one, Cy is out of
    office; Germans go to the fewest open leads, everyone else round-robin; Fay is the fallback."""
    team, (ann, bob, cy) = make_team("Inbound", 3)
    bob.max_open_leads = 2
    cy.out_of_office_until = utcnow() + timedelta(days=3)
    make_lead(owner_id=bob.id)
    make_rule("Germany", countries="DE", target_team_id=team.id, strategy="least_open")
    make_rule("Everyone", target_team_id=team.id, strategy="round_robin")
    set_fallback_owner(SYSTEM, make_user("rep", name="Fay Fallback").id)
    db.session.add(ScoringRule(name="Director", category="fit", active=True, points=25, position=1,
                               field="title", operator="contains", value="director"))
    db.session.add(ScoringRule(name="Germany", category="fit", active=True, points=40, position=2,
                               field="country", operator="equals", value="DE"))
    db.session.flush()


def _new_leads(tag: str) -> list[int]:
    """The mix as rows only: created, their arrival not run yet."""
    ensure_default_pipeline()
    stage, now = default_stage(), utcnow()
    ids = []
    for i, (country, title) in enumerate(MIX):
        email = f"{tag}{i}@example.com"
        ids.append(db.session.scalar(Lead.__table__.insert().returning(Lead.id).values(
            first_name=f"{tag}{i}", last_name="Batch", email=email, email_key=email, country=country, title=title,
            stage_id=stage.id, pipeline_id=stage.pipeline_id, lifecycle="lead", temperature="cold", score=0,
            currency="USD", marketing_consent=False, created_at=now, updated_at=now, search_text=email,
            board_rank=float(i), version=1)))
    return ids


def _outcome(ids: list[int]) -> list[tuple]:
    """Per lead, in order: owner, score, temperature, lifecycle, its assignment and score
    entries, its audit entries, timers and new-lead alerts; and the round-robin counter."""
    db.session.flush()
    db.session.expire_all()
    rows = []
    for lead_id in ids:
        lead = db.session.get(Lead, lead_id)
        entries = sorted(db.session.scalars(db.select(Activity.subject).where(
            Activity.lead_id == lead_id, Activity.kind.in_(("assignment", "score_change")))))
        audit = sorted(db.session.execute(db.select(AuditEntry.actor_name, AuditEntry.field, AuditEntry.new_value)
                                          .where(AuditEntry.entity_type == "lead", AuditEntry.entity_id == lead_id)))
        timers = db.session.scalar(db.select(db.func.count()).select_from(LeadAlert).where(LeadAlert.lead_id == lead_id))
        alerts = list(db.session.scalars(db.select(OutboxMessage.to_address).where(
            OutboxMessage.lead_id == lead_id, OutboxMessage.kind == "new_lead_alert")))
        rows.append((lead.owner_id, lead.score, lead.temperature, lead.lifecycle, entries, audit, timers, alerts))
    rotation = db.session.scalar(db.select(RoutingRule.rotation).where(RoutingRule.name == "Everyone"))
    return rows + [("rotation", rotation)]


def _tried(run) -> list[tuple]:
    """What ``run`` leaves, then undone (the next way starts from the same world)."""
    savepoint = db.session.begin_nested()
    ids = _new_leads("n")
    run(ids)
    outcome = _outcome(ids)
    savepoint.rollback()
    db.session.expire_all()
    return outcome


def test_a_mixed_batch_gets_the_owners_scores_and_alerts_one_lead_at_a_time_would(app, world):
    one_by_one = _tried(lambda ids: [events.leads_arrived([lead_id], "api") for lead_id in ids])
    batch = _tried(lambda ids: events.leads_arrived(ids, "api"))
    assert batch == one_by_one
    names = dict(db.session.execute(db.select(User.id, User.name)).all())
    given = [names.get(row[0]) for row in one_by_one[:-1]]
    # Everyone was placed, by the rules (nobody needed the fallback), and not all to one rep.
    assert all(name and name.startswith("Rep") for name in given), given
    assert len(set(given)) > 1
    hot_mql = one_by_one[0]
    assert (hot_mql[1], hot_mql[2], hot_mql[3]) == (65, "hot", "mql")  # a German director
    assert all(row[6] == 2 and len(row[7]) == 1 for row in one_by_one[:-1])  # two timers, one alert each


def test_a_rep_at_her_workload_cap_within_the_batch_is_passed_over(app, world):
    batch = _tried(lambda ids: events.leads_arrived(ids, "api"))
    bob = db.session.scalar(db.select(User.id).where(User.max_open_leads == 2))
    assert [row[0] for row in batch[:-1]].count(bob) == 1  # he held one open lead: one more reaches his cap


@pytest.mark.real_commits
def test_two_sweeps_at_once_run_each_arrival_exactly_once(app, make_app, make_team, make_rule):
    team, reps = make_team("Inbound", 3)
    make_rule("Everyone", target_team_id=team.id, strategy="round_robin")
    db.session.add(ScoringRule(name="Director", category="fit", active=True, points=25, position=1,
                               field="title", operator="contains", value="director"))
    db.session.flush()
    ids = []
    for round_number in range(10):
        batch = _new_leads(f"r{round_number}x")
        ids += batch
    db.session.execute(LeadArrival.__table__.insert(), [
        {"lead_id": lead_id, "channel": "api", "context": None, "created_at": utcnow()} for lead_id in ids])
    db.session.commit()

    other = make_app(ARRIVALS_RUN_INLINE=False)
    barrier, ran, lock = threading.Barrier(2), [], threading.Lock()

    def sweep():
        with other.app_context():
            barrier.wait()
            while True:
                done = run_sweep(other, "lead_arrivals") or 0
                with lock:
                    ran.append(done)
                if not done:
                    return

    threads = [threading.Thread(target=sweep) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(thread.is_alive() for thread in threads)
    assert sum(ran) == len(ids)
    db.session.expire_all()
    assert db.session.scalar(db.select(db.func.count()).select_from(LeadArrival)) == 0
    assigned = db.session.execute(db.select(Activity.lead_id, db.func.count()).where(
        Activity.lead_id.in_(ids), Activity.kind == "assignment").group_by(Activity.lead_id)).all()
    assert sorted(assigned) == [(lead_id, 1) for lead_id in sorted(ids)]
    timers = db.session.scalar(db.select(db.func.count()).select_from(LeadAlert).where(LeadAlert.lead_id.in_(ids)))
    alerts = db.session.scalar(db.select(db.func.count()).select_from(OutboxMessage).where(
        OutboxMessage.lead_id.in_(ids), OutboxMessage.kind == "new_lead_alert"))
    assert (timers, alerts) == (2 * len(ids), len(ids))
    # Every lead got a turn of its own: the counter moved once per lead, the reps took equal shares.
    assert db.session.scalar(db.select(RoutingRule.rotation).where(RoutingRule.name == "Everyone")) == len(ids)
    owners = [owner for owner, in db.session.execute(db.select(Lead.owner_id).where(Lead.id.in_(ids)))]
    assert sorted(owners.count(rep.id) for rep in reps) == [40, 40, 40]


def test_the_handlers_of_a_held_batch_read_neither_its_leads_nor_their_organizations_again(app, world, count_queries):
    """The sweep holds its batch's leads (``load_leads``): routing, scoring and alerts find
    them without a query; scoring reads only the versions routing's owner write moved."""
    savepoint = db.session.begin_nested()
    ids = _new_leads("h")
    held = events.load_leads(ids, organizations=True)
    with count_queries() as queries:
        events.leads_arrived(ids, "api")
    reads = [q.split(" WHERE")[0] for q in (" ".join(q.split()) for q in queries)
             if q.startswith(("SELECT leads.id,", "SELECT organizations.id"))]
    assert reads == ["SELECT leads.id, leads.version FROM leads"], reads
    assert _outcome(ids)[0][0] is not None and len(held) == len(MIX)
    savepoint.rollback()
    db.session.expire_all()


def test_a_batch_from_the_api_and_two_capture_forms_runs_each_handler_once_with_each_leads_form(
        app, make_user, make_rule):
    from leadflow.capture.services import create_form
    from tests.capture.conftest import builder_data

    admin, rep = make_user("admin"), make_user("rep", name="Rita Form")
    ours, other = create_form(admin, builder_data()).id, create_form(admin, builder_data(name="Other", slug="other")).id
    make_rule("Our form", target_user_id=rep.id, form_ids=[str(ours)])
    set_fallback_owner(SYSTEM, make_user("rep", name="Fay Fallback").id)
    calls = []

    def heard(arrivals):
        calls.append([(lead_id, arrivals.channel(lead_id), arrivals.context(lead_id)) for lead_id in arrivals.ids])

    events.bus.on(events.ARRIVED, heard)
    try:
        ids = _new_leads("f")[:4]
        came = [(ids[0], "form", {"form_id": ours}), (ids[1], "api", None), (ids[2], "form", {"form_id": other}),
                (ids[3], "form", {"form_id": ours})]
        assert events.batch_arrived(events.Arrivals(came)) == []
    finally:
        events.bus.off(events.ARRIVED, heard)
    assert calls == [[(lead_id, channel, context or {}) for lead_id, channel, context in came]]
    names = dict(db.session.execute(db.select(User.id, User.name)).all())
    outcome = _outcome(ids)
    assert [names[row[0]] for row in outcome[:-1]] == ["Rita Form", "Fay Fallback", "Fay Fallback", "Rita Form"]
    bodies = [db.session.scalar(db.select(OutboxMessage.text_body).where(
        OutboxMessage.lead_id == lead_id, OutboxMessage.kind == "new_lead_alert")) for lead_id in ids]
    assert ["through a web form" in body for body in bodies] == [True, False, True, True]
    assert "through the API" in bodies[1]


def test_a_handler_that_fails_on_one_lead_of_a_batch_costs_only_that_lead(app, world, monkeypatch):
    from leadflow.leads import alerts

    ids = _new_leads("x")
    bad = ids[3]
    facts = alerts._lead_facts

    def refuse_one(lead):
        if lead.id == bad:
            raise ValueError("this lead's alert cannot be written")
        return facts(lead)

    monkeypatch.setattr(alerts, "_lead_facts", refuse_one)
    assert events.leads_arrived(ids, "api") == ["alert_owners_of_new_leads"]
    outcome = _outcome(ids)
    assert all(row[0] is not None and row[6] == 2 for row in outcome[:-1])  # routed, timers: every lead
    assert [len(row[7]) for row in outcome[:-1]] == [0 if lead_id == bad else 1 for lead_id in ids]
