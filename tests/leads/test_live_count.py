"""The lead list's count of the whole list comes from the kept per-stage counts and the live
leads in no stage: exact on both databases at any size (PostgreSQL used to show an estimate,
"about N", over 20,000 leads), and equal to counting the leads whatever happens to them."""

from __future__ import annotations

import pytest

from leadflow.accounts.system import system_actor
from leadflow.api.services import create_token
from leadflow.extensions import db
from leadflow.leads import services
from leadflow.leads.models import Lead
from leadflow.leads.queries import live_lead_count
from leadflow.pipeline.services import delete_stage, ensure_default_pipeline

from tests.concurrency import run_together
from tests.factories import TEST_SETUP

RACERS = 20


def counted() -> int:
    return db.session.scalar(db.select(db.func.count(Lead.id)).where(Lead.deleted_at.is_(None)))


def test_the_count_follows_leads_in_no_stage_trash_restore_and_a_deleted_stage(app, make_user):
    manager = make_user("manager")
    stageless = services.create_lead(TEST_SETUP, {"first_name": "Before", "email": "before@example.com"})
    db.session.commit()
    assert stageless.stage_id is None, "no pipeline yet: the lead has no stage"
    assert live_lead_count() == counted() == 1
    stages = ensure_default_pipeline().stages
    leads = [services.create_lead(manager, {"first_name": f"L{i}", "email": f"l{i}@example.com",
                                             "stage_id": stages[i % 3].id}) for i in range(9)]
    assert live_lead_count() == counted() == 10, "this transaction's own leads, not yet committed"
    db.session.commit()
    services.delete_lead(manager, leads[0])
    services.delete_lead(manager, stageless)
    db.session.commit()
    assert live_lead_count() == counted() == 8
    services.restore_lead(manager, leads[0])
    db.session.commit()
    assert live_lead_count() == counted() == 9
    delete_stage(manager, stages[1], target_stage_id=stages[2].id)
    db.session.commit()
    assert live_lead_count() == counted() == 9


@pytest.mark.real_commits  # requests in threads, each on its own connection
def test_twenty_leads_created_at_once_through_the_api_are_all_counted(app, make_app, make_user):
    _, plain = create_token(system_actor("Test setup"), user=make_user(role="rep"), name="Racer", scopes="read,write")
    ensure_default_pipeline()
    db.session.commit()
    racing = make_app(SQLALCHEMY_ENGINE_OPTIONS={"pool_pre_ping": True, "pool_size": RACERS, "max_overflow": 5})

    def create(i: int) -> int:
        return racing.test_client().post("/api/v1/leads", json={"first_name": f"Racer{i}", "email": f"racer{i}@example.com"},
                                         headers={"Authorization": f"Bearer {plain}"}).status_code

    assert run_together(racing, RACERS, create) == [201] * RACERS
    assert live_lead_count() == counted() == RACERS


def test_the_whole_list_says_its_exact_count_and_pages_to_its_end_without_counting_the_leads(
        login_as, make_lead, monkeypatch, count_queries):
    from leadflow.leads import queries

    monkeypatch.setattr(queries, "COUNT_CAP", 3)
    monkeypatch.setattr(queries, "PAGE_SIZES", (10, 25))
    for i in range(12):
        make_lead(first_name=f"Each{i:02d}")
    db.session.commit()
    _, client = login_as("viewer")
    client.get("/leads?per_page=10")  # warm caches (templates, user)
    with count_queries() as statements:
        first = client.get("/leads?per_page=10").text
    assert "Showing 1–10 of 12 leads" in first and "Page 1 of 2" in first
    counts = [s for s in statements if "count(" in s.lower()]
    assert len(counts) == 1 and "stage_totals" in counts[0] and "stage_id IS NULL" in counts[0], counts
    last = client.get("/leads?per_page=10&page=2").text
    assert "Showing 11–12 of 12 leads" in last and "Each00 Example" in last and "Each01 Example" in last
