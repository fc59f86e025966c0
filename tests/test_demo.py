"""The demo workspace `make run` seeds: believable, consistent, repeatable and fast."""

from __future__ import annotations

import random
import time
from collections import defaultdict
from datetime import date, datetime, timedelta, timezone

import phonenumbers
import pytest
from sqlalchemy import inspect

import leadflow_demo as demo
from leadflow.accounts.models import User
from leadflow.activities.models import Activity
from leadflow.db import utcnow
from leadflow.extensions import db
from leadflow.governance.models import AuditEntry
from leadflow.leads import store
from leadflow.leads.models import SOURCES, Lead, LifecycleChange, Tag, lead_tags
from leadflow.mail.models import OutboxMessage
from leadflow.organizations.models import Organization
from leadflow.pipeline.models import Stage, StageChange, StageCurrencyTotals, StageTotals
from leadflow.pipeline.services import ensure_default_pipeline
from leadflow.pipeline.totals import live_currency_totals_query, live_totals_query
from leadflow.reports import funnel, sources
from leadflow.reports.filters import ReportFilters
from leadflow.reports.models import SourceCost
from leadflow_demo import seed as demo_seed
from tests.conftest import csrf_token, shared_rows


def _seed(count: int) -> str:
    """Seed with the lead store's guard on: a write of leads, stage history or totals from
    anywhere but the store fails, so the demo is proven to write like any other writer."""
    with store.guarded():
        summary = demo.seed_demo(lead_count=count)
    db.session.commit()
    return summary


def _assert_kept_totals_are_the_leads():
    """The board totals the store kept equal a count over the leads, per stage and per currency."""
    kept = {t.stage_id: (t.lead_count, t.value_cents) for t in _all(StageTotals) if t.lead_count}
    assert kept == {stage_id: (n, int(cents)) for stage_id, n, cents in db.session.execute(live_totals_query())}
    kept = {(t.stage_id, t.currency): (t.lead_count, t.value_count, t.value_cents)
            for t in db.session.scalars(db.select(StageCurrencyTotals)) if t.lead_count}
    assert kept == {(stage_id, currency): (n, valued, int(cents))
                    for stage_id, currency, n, valued, cents in db.session.execute(live_currency_totals_query())}


def _sign_in_with_demo_login(client):
    email, password = demo.DEMO_LOGIN
    return client.post("/login", data={"email": email, "password": password},
                       headers={"X-CSRFToken": csrf_token(client)})


def _all(model):
    key = model.stage_id if model is StageTotals else model.id
    return list(db.session.scalars(db.select(model).order_by(key)))


def _by_lead(model, key="lead_id", order=("id",)):
    rows = defaultdict(list)
    for row in db.session.scalars(db.select(model).order_by(*(getattr(model, o) for o in order))):
        rows[getattr(row, key)].append(row)
    return rows


# 200 seeded leads cost more than any test below that reads them: one seed for the class.
demo_of_200_leads = shared_rows(lambda: _seed(200))


class TestADemoOf200Leads:
    @pytest.fixture
    def seeded(self, demo_of_200_leads, app):
        return {s.name: s for s in _all(Stage)}

    def test_demo_team_has_every_role_two_teams_and_real_timezones(self, seeded):
        users = _all(User)
        roles = sorted(u.role for u in users)
        assert roles == ["admin", "manager", "rep", "rep", "rep", "viewer"]
        assert demo.DEMO_LOGIN[0] in {u.email for u in users}
        reps = [u for u in users if u.role == "rep"]
        assert sorted(u.team.name for u in reps) == ["Inbound", "Inbound", "Outbound"]
        assert len({u.timezone for u in users}) >= 4 and "UTC" not in {u.timezone for u in users}
        assert all(u.email.endswith("@example.com") and " " in u.name for u in users)

    def test_demo_has_about_200_live_leads_across_about_60_organizations(self, seeded):
        leads = _all(Lead)
        assert len(leads) == 200 and all(lead.deleted_at is None for lead in leads)
        orgs = {o.id: o for o in _all(Organization)}
        assert 50 <= len(orgs) <= 70
        assert len({lead.organization_id for lead in leads}) >= 40
        for org in orgs.values():
            assert org.domain and org.industry and org.size_band and org.territory
        for lead in leads:
            org = orgs[lead.organization_id]
            assert lead.email or lead.phone
            if lead.email:
                assert lead.email.endswith("@" + org.domain)
                assert lead.email_key == lead.email.lower()
            assert lead.source in SOURCES
            assert org.name.lower() in lead.search_text and lead.first_name.lower() in lead.search_text
        assert len({lead.source for lead in leads}) >= 8
        assert len({lead.currency for lead in leads}) >= 3
        oldest = min(lead.created_at for lead in leads)
        assert utcnow() - timedelta(days=121) < oldest < utcnow() - timedelta(days=90)

    def test_every_lead_has_an_owner_or_waits_unassigned_in_new(self, seeded):
        owners = {u.id: u for u in _all(User)}
        leads = _all(Lead)
        unassigned = [lead for lead in leads if lead.owner_id is None]
        assert 1 <= len(unassigned) <= 30
        for lead in unassigned:  # deliberately unassigned: new, nobody has responded yet
            assert lead.stage_id == seeded["New"].id and lead.first_response_at is None
        assert all(owners[lead.owner_id].role in ("rep", "manager") for lead in leads if lead.owner_id)
        assert len({lead.owner_id for lead in leads if lead.owner_id}) >= 4

    def test_phone_numbers_are_valid_e164_for_the_leads_country(self, seeded):
        phones = [(lead.phone, lead.country) for lead in _all(Lead) if lead.phone]
        assert len(phones) > 100
        assert len({p for p, _ in phones}) == len(phones)  # no accidental duplicates in the demo
        for phone, country in phones:
            number = phonenumbers.parse(phone, None)
            assert phone == phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
            assert phonenumbers.is_valid_number(number), phone
            assert phonenumbers.region_code_for_number(number) == country

    def test_lifecycle_temperature_and_score_agree_with_the_stage(self, seeded):
        by_stage = defaultdict(list)
        for lead in _all(Lead):
            by_stage[lead.stage_id].append(lead)
            assert lead.score == max(0, sum(item["points"] for item in lead.score_breakdown or []))
            expected = "hot" if lead.score >= 70 else "warm" if lead.score >= 40 else "cold"
            assert lead.temperature == expected
        assert all(len(by_stage[s.id]) > 0 for s in seeded.values())  # every column of the board has cards
        assert {lead.lifecycle for lead in by_stage[seeded["Won"].id]} == {"customer"}
        assert {lead.lifecycle for lead in by_stage[seeded["Qualified"].id]} == {"sql"}
        assert {lead.lifecycle for lead in by_stage[seeded["Negotiation"].id]} == {"opportunity"}
        assert {lead.lifecycle for lead in by_stage[seeded["New"].id]} <= {"subscriber", "lead", "mql"}
        lost = by_stage[seeded["Lost"].id]
        disqualified = [lead for lead in lost if lead.lifecycle == "disqualified"]
        assert disqualified and len(disqualified) < len(lost)
        assert all(lead.disqualified_reason for lead in disqualified)
        assert all(lead.won_lost_reason for lead in lost + by_stage[seeded["Won"].id])
        assert all(lead.value_cents for lead in by_stage[seeded["Won"].id] + by_stage[seeded["Negotiation"].id])
        assert all(lead.expected_close_date for lead in by_stage[seeded["Proposal sent"].id])

    def test_seeded_scores_are_what_the_seeded_rules_give(self, seeded):
        """Editing a demo lead rescores it: nothing may change then but what the user edited."""
        from leadflow.scoring.services import rescore_leads

        leads = _all(Lead)
        assert any(lead.score > 0 for lead in leads) and {lead.temperature for lead in leads} >= {"cold", "warm", "hot"}
        assert all(item.get("rule_id") for lead in leads for item in lead.score_breakdown or [])
        before = {lead.id: (lead.score, lead.temperature, lead.lifecycle) for lead in leads}
        assert rescore_leads(leads) == 0
        assert {lead.id: (lead.score, lead.temperature, lead.lifecycle) for lead in leads} == before

    def test_tags_utm_and_consent_look_like_a_real_funnel(self, seeded):
        names = set(db.session.scalars(db.select(Tag.name).join(lead_tags, lead_tags.c.tag_id == Tag.id)))
        assert {"enterprise", "demo requested", "newsletter", "partner referral"} <= names
        leads = _all(Lead)
        paid = [lead for lead in leads if lead.source in ("advertising", "social")]
        assert paid and all(lead.utm_source and lead.utm_medium and lead.utm_campaign for lead in paid)
        assert all(lead.utm_source is None for lead in leads if lead.source in ("cold outreach", "import"))
        consented = [lead for lead in leads if lead.marketing_consent]
        assert 0 < len(consented) < len(leads)
        assert all(lead.consent_at == lead.created_at and lead.consent_source for lead in consented)

    def test_stage_changes_walk_from_new_to_the_current_stage(self, seeded):
        new, lost, won = seeded["New"], seeded["Lost"], seeded["Won"]
        positions = {s.id: s.position for s in seeded.values()}
        changes = _by_lead(StageChange, order=("at", "id"))
        for lead in _all(Lead):
            walk = changes[lead.id]
            assert (walk[0].from_stage_id, walk[0].to_stage_id, walk[0].at) == (None, new.id, lead.created_at)
            for before, after in zip(walk, walk[1:]):
                assert after.from_stage_id == before.to_stage_id
                assert after.at >= before.at
                if after.to_stage_id not in (lost.id, won.id):
                    assert positions[after.to_stage_id] == positions[after.from_stage_id] + 1
            assert walk[-1].to_stage_id == lead.stage_id
            assert walk[-1].at == lead.stage_entered_at
            assert lead.stage_entered_at <= utcnow()

    def test_activities_match_first_response_and_last_activity(self, seeded):
        activities = _by_lead(Activity)
        kinds = {a.kind for rows in activities.values() for a in rows}
        assert {"call", "email", "meeting", "note", "form_submission", "stage_change", "assignment"} <= kinds
        for lead in _all(Lead):
            rows = activities[lead.id]
            touches = [a.occurred_at for a in rows if a.kind in ("call", "email", "meeting") and a.actor_id]
            assert lead.first_response_at == (min(touches) if touches else None)
            recent = [a.occurred_at for a in rows
                      if a.kind in ("call", "email", "meeting", "note", "form_submission", "website_visit")]
            assert lead.last_activity_at == (max(recent) if recent else None)
            if lead.source == "web form":
                assert any(a.kind == "form_submission" and a.details["form"] for a in rows)
            for call in (a for a in rows if a.kind == "call"):
                assert call.outcome and call.duration_seconds
        assert any(lead.first_response_at and lead.first_response_at - lead.created_at < timedelta(hours=2)
                   for lead in _all(Lead))

    def test_every_lead_has_a_history_of_field_changes(self, seeded):
        entries = _by_lead(AuditEntry, key="entity_id")
        for lead in _all(Lead):
            rows = entries[lead.id]
            assert rows[0].action == "create" and rows[0].at == lead.created_at
            assert all(e.entity_type == "lead" for e in rows)
            stage_moves = [e for e in rows if e.field == "stage"]
            assert len(stage_moves) == db.session.scalar(
                db.select(db.func.count(StageChange.id)).where(StageChange.lead_id == lead.id)) - 1
        fields = {e.field for rows in entries.values() for e in rows}
        assert {"stage", "lifecycle", "owner", "value", "expected_close_date", "won_lost_reason"} <= fields

    def test_board_totals_match_the_seeded_leads(self, seeded):
        totals = {t.stage_id: (t.lead_count, t.value_cents) for t in _all(StageTotals)}
        for stage in seeded.values():
            leads = db.session.scalars(db.select(Lead).where(Lead.stage_id == stage.id)).all()
            assert totals[stage.id] == (len(leads), sum(lead.value_cents or 0 for lead in leads))
        _assert_kept_totals_are_the_leads()

    def test_lifecycle_history_walks_to_the_current_lifecycle_and_the_reports_have_something_to_show(self, seeded):
        changes = _by_lead(LifecycleChange, order=("at", "id"))
        for lead in _all(Lead):
            walk = changes[lead.id]
            assert (walk[0].from_lifecycle, walk[0].at) == (None, lead.created_at)
            assert [a.to_lifecycle for a in walk[:-1]] == [b.from_lifecycle for b in walk[1:]]
            assert walk[-1].to_lifecycle == lead.lifecycle
        admin = db.session.scalar(db.select(User).where(User.role == "admin"))
        filters = ReportFilters.from_args({"start": (date.today() - timedelta(days=400)).isoformat()}, admin)
        lifecycle = funnel.compute(filters, admin).lifecycle
        reached = [step.reached for step in lifecycle.steps]
        assert reached == sorted(reached, reverse=True) and reached[1] > 0 and reached[-1] > 0
        assert db.session.scalar(db.select(db.func.count()).select_from(SourceCost)) >= 3
        costed = [row for row in sources.compute(filters, admin).rows if row.cost is not None and row.leads]
        assert costed and all(row.cost_per_lead for row in costed)

    def test_a_seeded_workspace_sends_no_mail(self, seeded):
        """The seeded leads have a past, they did not just arrive: no new-lead alerts, no
        speed-to-lead reminders, no "hot lead" workflow e-mails queued for them."""
        assert db.session.scalar(db.select(db.func.count(OutboxMessage.id))) == 0


def _seed_at(monkeypatch, now: datetime) -> None:
    """Seed and score as if the clock read ``now`` (the seed, its users' time zones and the scoring rules)."""
    import leadflow.scoring.services as scoring
    import leadflow_demo.people as people

    class Clock(datetime):
        @classmethod
        def now(cls, tz=None):
            return now.astimezone(tz) if tz else now.replace(tzinfo=None)

    monkeypatch.setattr(demo_seed, "utcnow", lambda: now)
    monkeypatch.setattr(scoring, "utcnow", lambda: now)
    monkeypatch.setattr(demo_seed, "datetime", Clock)
    monkeypatch.setattr(people, "datetime", Clock)
    _seed(200)


# Moments at which the demo used to have no hot lead: each lead's story drew from one generator,
# so whether a move fell before "now" or in working hours changed every lead after it.
@pytest.mark.parametrize("now", [datetime(2026, 12, 4, 23, 35, tzinfo=timezone.utc),
                                 datetime(2026, 12, 6, 23, 0, tzinfo=timezone.utc)],
                         ids=["friday-23:35", "sunday-23:00"])
def test_the_demo_has_cold_warm_and_hot_leads_whatever_the_time_of_seeding(app, monkeypatch, now):
    from leadflow.scoring.services import rescore_leads

    _seed_at(monkeypatch, now)
    leads = _all(Lead)
    temperatures = [lead.temperature for lead in leads]
    assert {"cold", "warm", "hot"} <= set(temperatures) and temperatures.count("hot") >= 3
    assert rescore_leads(leads) == 0  # the seeded scores are the rules' at that moment


def test_demo_login_signs_in_through_the_login_page_and_sees_the_leads(app, client):
    _seed(30)
    response = _sign_in_with_demo_login(client)
    assert response.status_code == 302
    page = client.get("/leads").get_data(as_text=True)
    newest = db.session.scalars(db.select(Lead).order_by(Lead.created_at.desc())).first()
    assert newest.last_name in page
    lead_page = client.get(f"/leads/{newest.id}")
    assert lead_page.status_code == 200
    assert "Created" in lead_page.get_data(as_text=True)


def test_seeding_a_workspace_that_has_data_adds_leads_and_reuses_the_team(app):
    _seed(40)
    _seed(40)  # the demo's rules exist now (the "hot lead" workflow): still quiet
    assert db.session.scalar(db.select(db.func.count(User.id))) == 6
    assert db.session.scalar(db.select(db.func.count(Lead.id))) == 80
    assert db.session.scalar(db.select(db.func.count(OutboxMessage.id))) == 0
    _assert_kept_totals_are_the_leads()
    names = db.session.scalars(db.select(Organization.name_key)).all()
    assert len(names) == len(set(names))


def test_seeding_is_repeatable(app):
    _seed(25)
    first = [(lead.first_name, lead.last_name, lead.email, lead.source) for lead in _all(Lead)]
    team = sorted(u.name for u in _all(User))
    for table in reversed(db.metadata.sorted_tables):
        db.session.execute(table.delete())
    db.session.commit()
    _seed(25)
    assert [(lead.first_name, lead.last_name, lead.email, lead.source) for lead in _all(Lead)] == first
    assert sorted(u.name for u in _all(User)) == team


def test_zero_leads_seeds_just_the_team_and_pipeline(app):
    summary = _seed(0)
    assert "6 users" in summary and "0 leads" in summary
    assert db.session.scalar(db.select(db.func.count(Lead.id))) == 0
    assert db.session.scalar(db.select(db.func.count(Stage.id))) == 7


def test_a_pipeline_without_won_and_lost_stages_still_gets_demo_leads(app):
    pipeline = ensure_default_pipeline()
    for stage in [s for s in pipeline.stages if s.kind != "open"]:
        pipeline.stages.remove(stage)
    db.session.commit()
    _seed(60)
    open_ids = {s.id for s in pipeline.stages}
    assert {lead.stage_id for lead in _all(Lead)} <= open_ids
    assert {lead.lifecycle for lead in _all(Lead)} <= {"subscriber", "lead", "mql", "sql", "opportunity"}


def test_light_history_keeps_the_walk_the_touches_and_the_created_entry(app):
    pipeline = ensure_default_pipeline()
    rng = random.Random(7)
    users = demo.seed_team(rng)
    orgs = demo.seed_organizations(10, rng)
    with store.guarded():
        counts = demo.seed_leads(60, users=users, organizations=orgs, stages=list(pipeline.stages), rng=rng,
                                 history="light", full_recent=10)
    db.session.commit()
    assert counts.leads == 60 and counts.history == "light"
    changes = _by_lead(StageChange, order=("at", "id"))
    entries = _by_lead(AuditEntry, key="entity_id")
    activities = _by_lead(Activity)
    leads = db.session.scalars(db.select(Lead).order_by(Lead.created_at)).all()
    for index, lead in enumerate(leads):
        walk = changes[lead.id]
        assert walk[0].from_stage_id is None and walk[0].at == lead.created_at
        assert walk[-1].to_stage_id == lead.stage_id and walk[-1].at == lead.stage_entered_at
        assert entries[lead.id][0].action == "create"
        assert entries[lead.id][0].new_value == f"{lead.first_name} {lead.last_name}"
        touches = [a.occurred_at for a in activities[lead.id] if a.kind in ("call", "email", "meeting")
                   and a.actor_id]
        assert lead.first_response_at == (min(touches) if touches else None)
        recent = [a.occurred_at for a in activities[lead.id] if a.kind not in ("system", "assignment", "stage_change")]
        assert lead.last_activity_at == (max(recent) if recent else None)
        moves = len(walk) - 1
        assert len([a for a in activities[lead.id] if a.kind in ("call", "email", "meeting", "note")]) >= moves
        full = index >= 50
        assert any(a.kind == "stage_change" for a in activities[lead.id]) == (full and len(walk) > 1)
    assert counts.activities == db.session.scalar(db.select(db.func.count(Activity.id)))
    assert counts.stage_changes == db.session.scalar(db.select(db.func.count(StageChange.id)))
    assert counts.audit_entries == db.session.scalar(db.select(db.func.count(AuditEntry.id)))


@pytest.mark.real_commits  # the seed disposes of the engine's connections
def test_a_big_seed_rebuilds_every_lead_index(app, monkeypatch):
    before = sorted((i["name"], tuple(i["column_names"])) for i in inspect(db.engine).get_indexes("leads"))
    monkeypatch.setattr(demo_seed, "BULK_INDEX_THRESHOLD", 10)
    _seed(30)
    db.engine.dispose()
    after = sorted((i["name"], tuple(i["column_names"])) for i in inspect(db.engine).get_indexes("leads"))
    assert after == before and len(after) >= 10
    assert db.session.scalar(db.select(db.func.count(Lead.id))) == 30
    _assert_kept_totals_are_the_leads()


def test_seeding_2000_leads_is_fast_and_the_lead_list_renders(app, client):
    started = time.perf_counter()
    summary = _seed(2000)
    elapsed = time.perf_counter() - started
    assert elapsed < 20, f"seeding 2,000 leads took {elapsed:.1f} s"
    assert "2,000 leads" in summary
    assert _sign_in_with_demo_login(client).status_code == 302
    response = client.get("/leads?per_page=100")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert "2,000" in page or "2000" in page
    newest = db.session.scalars(db.select(Lead).order_by(Lead.created_at.desc(), Lead.id.desc())).first()
    assert newest.last_name in page
