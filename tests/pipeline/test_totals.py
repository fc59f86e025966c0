"""The board's stage totals stay equal to what the leads say, whatever happens to them."""

from __future__ import annotations

import random
from datetime import timedelta

import pytest

from leadflow.db import utcnow
from leadflow.extensions import db
from leadflow.leads import services
from leadflow.leads.models import Lead
from leadflow.pipeline.models import StageCurrencyTotals, StageTotals
from leadflow.pipeline.services import ensure_default_pipeline
from leadflow.pipeline.totals import live_currency_totals_query, live_totals_query, recount_stage_totals
from leadflow.retry import run_unit

from tests.factories import TEST_SETUP

pytestmark = pytest.mark.usefixtures("app")


def stored() -> dict:
    return {t.stage_id: (t.lead_count, t.value_cents)
            for t in db.session.scalars(db.select(StageTotals)) if t.lead_count or t.value_cents}


def actual() -> dict:
    return {row[0]: (row[1], int(row[2])) for row in db.session.execute(live_totals_query())}


def stored_money() -> dict:
    """{(stage, currency): (leads, leads with a value, cents)} as kept for the board's money totals."""
    return {(t.stage_id, t.currency): (t.lead_count, t.value_count, t.value_cents)
            for t in db.session.scalars(db.select(StageCurrencyTotals)) if t.lead_count or t.value_cents}


def actual_money() -> dict:
    return {(s, c): (n, v, int(cents)) for s, c, n, v, cents in db.session.execute(live_currency_totals_query())}


def test_totals_follow_creates_moves_value_changes_trash_restore_and_purge(make_user):
    manager = make_user("manager")
    stages = ensure_default_pipeline().stages
    rng = random.Random(7)
    leads = []
    for i in range(40):
        leads.append(services.create_lead(manager, {
            "first_name": f"T{i}", "email": f"t{i}@example.com", "value": str(rng.randint(0, 5000)),
            "stage_id": rng.choice(stages).id, "currency": rng.choice(["USD", "EUR", "CHF"])}))
    db.session.commit()
    assert stored() == actual() and stored_money() == actual_money()
    for step in range(160):
        lead = rng.choice(leads)
        action = rng.choice(["move", "value", "trash", "restore", "both", "currency", "all"])
        if action == "currency" and lead.deleted_at is None:
            services.update_lead(manager, lead, {"currency": rng.choice(["USD", "EUR", "GBP"])})
        elif action == "all" and lead.deleted_at is None:
            services.update_lead(manager, lead, {"currency": rng.choice(["USD", "JPY"]), "stage_id": rng.choice(stages).id,
                                                 "value": rng.choice(["", "12.34"])})
        elif action == "move" and lead.deleted_at is None:
            services.update_lead(manager, lead, {"stage_id": rng.choice(stages).id})
        elif action == "value" and lead.deleted_at is None:
            services.update_lead(manager, lead, {"value": rng.choice(["", str(rng.randint(1, 9000))])})
        elif action == "both" and lead.deleted_at is None:
            services.update_lead(manager, lead, {"value": str(rng.randint(1, 9000)), "stage_id": rng.choice(stages).id})
        elif action == "trash":
            services.delete_lead(manager, lead)
        elif action == "restore":
            services.restore_lead(manager, lead)
        if step % 10 == 0:
            db.session.commit()
            assert stored() == actual(), f"after step {step}"
            assert stored_money() == actual_money(), f"after step {step}"
    db.session.commit()
    assert stored() == actual() and stored_money() == actual_money()
    # Deleting for good goes through the trash: the purge removes leads that count nowhere.
    live = [lead for lead in leads if lead.deleted_at is None]
    services.delete_lead(manager, live[0])
    assert services.purge_trash(0, now=utcnow() + timedelta(days=1)) >= 1
    db.session.commit()
    assert stored() == actual() and stored_money() == actual_money()


def test_rolled_back_changes_do_not_touch_totals(make_user):
    manager = make_user("manager")
    lead = services.create_lead(manager, {"first_name": "R", "email": "r@example.com", "value": "100"})
    db.session.commit()
    before = stored()
    money_before = stored_money()
    services.update_lead(manager, lead, {"value": "999", "currency": "EUR"})
    db.session.rollback()
    assert stored() == before == actual()
    assert stored_money() == money_before == actual_money()


def test_recount_repairs_totals_after_bulk_writes(make_user):
    stage = ensure_default_pipeline().stages[1]
    services.create_lead(TEST_SETUP, {"first_name": "B", "email": "b@example.com", "value": "10"})
    db.session.commit()
    db.session.execute(db.update(Lead).values(stage_id=stage.id, value_cents=700, currency="GBP"))
    recount_stage_totals(db.session)
    db.session.commit()
    assert stored() == actual() == {stage.id: (1, 700)}
    assert stored_money() == actual_money() == {(stage.id, "GBP"): (1, 1, 700)}


def test_totals_read_before_the_commit_already_count_the_transactions_writes(make_user):
    """A request's totals are written at its commit; a read before it sees them all the same."""
    manager = make_user("manager")
    stage = ensure_default_pipeline().stages[0]
    db.session.commit()
    seen = []

    def request():
        services.create_lead(manager, {"first_name": "Before", "email": "before@example.com", "value": "40",
                                       "stage_id": stage.id})
        seen.append((stored(), stored_money() == actual_money()))
        db.session.commit()

    run_unit(request, what="test", attempts=1, max_seconds=5)
    assert seen == [({stage.id: (1, 40_00)}, True)]
    assert stored() == actual() == {stage.id: (1, 40_00)}  # added once, not again at the commit


def test_a_savepoint_rolled_back_takes_its_leads_out_of_the_totals(make_user):
    """In a request (a unit of work) a new lead's arrival waits for the commit, so nothing
    writes its totals before then: a savepoint rolled back must forget its own."""
    manager = make_user("manager")
    stage = ensure_default_pipeline().stages[0]
    db.session.commit()

    def request():
        services.create_lead(manager, {"first_name": "Kept", "email": "kept@example.com", "stage_id": stage.id})
        with pytest.raises(RuntimeError):
            with db.session.begin_nested():
                services.create_lead(manager, {"first_name": "Gone", "email": "gone@example.com",
                                               "stage_id": stage.id})
                raise RuntimeError("undo this lead")
        db.session.commit()

    run_unit(request, what="test", attempts=1, max_seconds=5)
    assert stored() == actual() == {stage.id: (1, 0)}


def test_board_moves_of_every_kind_keep_the_totals_equal_to_a_recount(login_as, make_lead):
    """Cards in three currencies dragged across the board through the web: to the top of another
    column (an empty one too), between two cards, within their own column, to won (with a new
    value) and to lost; after every move the kept totals, per stage and per currency, equal a
    count of the leads."""
    stages = {s.name: s.id for s in ensure_default_pipeline().stages}
    rng = random.Random(15)
    leads = [make_lead(first_name=f"M{i}", value=str(rng.randint(1, 900)) if i % 4 else "",
                       currency=["USD", "EUR", "JPY"][i % 3], stage_id=stages[["New", "Contacted"][i % 2]])
             for i in range(12)]
    db.session.commit()
    _, client = login_as("manager", htmx=True)
    open_stages = ["New", "Contacted", "Qualified", "Proposal sent"]
    for step in range(40):
        lead = db.session.get(Lead, rng.choice(leads).id)
        if lead.stage_id in (stages["Won"], stages["Lost"]):
            continue
        data = {"lead_id": lead.id, "version": lead.version, "mode": rng.choice(["drag", "select"])}
        kind = step % 5
        if kind == 3:
            data.update(stage_id=stages["Won"], confirm="y", value=str(rng.randint(1, 900)))
        elif kind == 4 and step % 2:
            data.update(stage_id=stages["Lost"], lost_reason="Went elsewhere")
        else:
            target = stages[rng.choice(open_stages)] if kind != 2 else lead.stage_id  # 2: within its column
            data["stage_id"] = target
            neighbours = [i for i in db.session.scalars(db.select(Lead.id).where(
                Lead.stage_id == target, Lead.id != lead.id).order_by(Lead.board_rank, Lead.id))]
            if len(neighbours) >= 2 and kind == 1:
                data.update(above_id=neighbours[0], below_id=neighbours[1])
        response = client.post("/pipeline/move", data=data)
        assert response.status_code == 200, response.text
        db.session.expire_all()
        assert stored() == actual(), f"step {step}"
        assert stored_money() == actual_money(), f"step {step}"
    assert len({lead.stage_id for lead in db.session.scalars(db.select(Lead))}) >= 4, "the moves went around"


def test_a_card_moved_to_the_top_of_a_column_goes_above_its_first_card(login_as, make_lead):
    """The top of the new column is worked out in the move's UPDATE: the moved card comes first
    in board order there, and lands at rank 0 in an empty column."""
    stages = {s.name: s.id for s in ensure_default_pipeline().stages}
    first, second = (make_lead(first_name=n, stage_id=stages["Qualified"]) for n in ("First", "Second"))
    mover = make_lead(first_name="Mover", stage_id=stages["New"])
    db.session.commit()
    _, client = login_as("manager", htmx=True)
    for target in ("Qualified", "Negotiation"):
        version = db.session.get(Lead, mover.id).version
        response = client.post("/pipeline/move", data={"lead_id": mover.id, "stage_id": stages[target],
                                                       "version": version, "mode": "drag"})
        assert response.status_code == 200
        db.session.expire_all()
        column = db.session.execute(db.select(Lead.id, Lead.board_rank).where(Lead.stage_id == stages[target])
                                    .order_by(Lead.board_rank, Lead.id)).all()
        assert column[0].id == mover.id
        if target == "Qualified":
            assert [row.id for row in column] == [mover.id, second.id, first.id]
            assert column[0].board_rank == column[1].board_rank - 1.0
        else:
            assert column == [(mover.id, 0.0)]
        assert f'data-lead-id="{mover.id}" data-version="{version + 1}"' in response.text


def test_a_listener_that_fails_after_a_move_leaves_the_totals_right(login_as, make_lead):
    """A listener's savepoint rolled back (a failing workflow step, say) forgets only what it
    wrote itself: the move and its totals are kept, counted once."""
    from leadflow.leads import events

    stages = {s.name: s.id for s in ensure_default_pipeline().stages}
    lead = make_lead(first_name="Kept", value="250", currency="EUR", stage_id=stages["New"])
    db.session.commit()

    def fails(ids, actor, from_id=None, to_id=None):
        services.update_lead(actor, db.session.get(Lead, ids[0]), {"value": "999"})  # rolled back with it
        raise RuntimeError("a listener broke")

    events.bus.on(events.MOVED, fails)
    try:
        _, client = login_as("manager", htmx=True)
        response = client.post("/pipeline/move", data={"lead_id": lead.id, "stage_id": stages["Qualified"],
                                                       "version": lead.version, "mode": "drag"})
    finally:
        events.bus.off(events.MOVED, fails)
    assert response.status_code == 200
    db.session.expire_all()
    assert db.session.get(Lead, lead.id).value_cents == 25000
    assert stored() == actual() == {stages["Qualified"]: (1, 25000)}
    assert stored_money() == actual_money() == {(stages["Qualified"], "EUR"): (1, 1, 25000)}
