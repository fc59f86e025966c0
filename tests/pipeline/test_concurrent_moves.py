"""Many people moving one card at the same moment, for real: each client in a thread of its own
with its own database session, all released together. Exactly one move wins (one 200, one
StageChange row); everyone else is told someone else moved the lead (409), never a 500.

On PostgreSQL the losers' UPDATE waits for the winner's row lock and then matches no row
(the version moved on), which surfaces at a flush inside an event handler's savepoint; on
SQLite the writers queue for the write lock and the later ones see the new version.
"""

from __future__ import annotations

import threading

import pytest
from sqlalchemy.exc import OperationalError

from leadflow.accounts.models import User
from leadflow.extensions import db
from leadflow.governance.models import AuditEntry
from leadflow.leads.models import Lead
from leadflow.pipeline import views
from leadflow.pipeline.models import StageChange
from leadflow.pipeline.moves import move_lead
from leadflow.pipeline.services import ensure_default_pipeline
from tests.conftest import TEST_PASSWORD, csrf_token
from tests import factories

# Clients in threads of their own, each on its own connection: they see only committed rows.
pytestmark = pytest.mark.real_commits


@pytest.fixture
def stages(app):
    pipeline = ensure_default_pipeline()
    db.session.commit()
    return {s.name: s for s in pipeline.stages}


def _signed_in_clients(app, count: int) -> list:
    clients = []
    for _ in range(count):
        user = factories.make_user(role="manager")
        db.session.commit()
        client = app.test_client()
        response = client.post("/login", data={"email": user.email, "password": TEST_PASSWORD},
                               headers={"X-CSRFToken": csrf_token(client)})
        assert response.status_code == 302
        page = client.get("/account").get_data(as_text=True)
        token = page.split('"X-CSRFToken": "', 1)[1].split('"', 1)[0]
        clients.append((client, {"X-CSRFToken": token, "HX-Request": "true"}))
    return clients


def _all_at_once(clients, post) -> list:
    """Run ``post(client, headers, index)`` in one thread per client, released together."""
    barrier = threading.Barrier(len(clients))
    answers: list = [None] * len(clients)

    def run(index, client, headers):
        barrier.wait()
        try:
            answers[index] = post(client, headers, index)
        except Exception as exc:  # an exception escaping the test client is a 500 too
            answers[index] = exc

    threads = [threading.Thread(target=run, args=(i, c, h)) for i, (c, h) in enumerate(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    return answers


def assert_one_won_the_rest_were_told(answers, conflict_message: str) -> None:
    statuses = sorted((a.status_code if hasattr(a, "status_code") else repr(a) for a in answers), key=str)
    assert statuses == [200] + [409] * (len(answers) - 1), statuses
    for answer in answers:
        if answer.status_code == 409:
            assert conflict_message in answer.get_data(as_text=True)
    db.session.expire_all()


def test_twenty_board_moves_of_one_card_at_once_one_wins_the_rest_are_told_to_reload(app, stages):
    lead = factories.make_lead(first_name="Contested", stage_id=stages["New"].id)
    db.session.commit()
    seen, lead_id = lead.version, lead.id
    targets = [stages["Contacted"].id, stages["Qualified"].id]
    clients = _signed_in_clients(app, 20)

    answers = _all_at_once(clients, lambda client, headers, i: client.post(
        "/pipeline/move", headers=headers,
        data={"lead_id": lead_id, "stage_id": targets[i % 2], "version": seen, "mode": "drag"}))

    assert_one_won_the_rest_were_told(answers, "was changed by someone else")
    moves = db.session.scalars(db.select(StageChange).where(StageChange.lead_id == lead_id,
                                                            StageChange.from_stage_id.is_not(None))).all()
    assert len(moves) == 1, "exactly one move is recorded"
    assert db.session.get(Lead, lead_id).stage_id == moves[0].to_stage_id
    audited = db.session.scalars(db.select(AuditEntry.new_value).where(
        AuditEntry.entity_type == "lead", AuditEntry.entity_id == lead_id, AuditEntry.field == "stage")).all()
    assert len(audited) == 1, "the losers' moves wrote no audit entry"


def test_ten_inline_stage_edits_at_once_one_saves_the_rest_are_conflicts(app, stages):
    lead = factories.make_lead(first_name="Inline", stage_id=stages["New"].id)
    db.session.commit()
    seen, lead_id = lead.version, lead.id
    targets = [stages["Contacted"].id, stages["Qualified"].id, stages["Proposal sent"].id]
    clients = _signed_in_clients(app, 10)

    answers = _all_at_once(clients, lambda client, headers, i: client.post(
        f"/leads/{lead_id}/fields/stage_id", headers=headers,
        data={"value": str(targets[i % 3]), "version": seen}))

    assert_one_won_the_rest_were_told(answers, "Someone else changed this lead")
    moves = db.session.scalar(db.select(db.func.count(StageChange.id)).where(
        StageChange.lead_id == lead_id, StageChange.from_stage_id.is_not(None)))
    assert moves == 1


def test_a_move_run_again_after_a_busy_database_sees_the_other_move_and_answers_409(app, stages, monkeypatch):
    """The first attempt loses a race (PostgreSQL's deadlock, SQLite's lock) while someone else's
    move commits: the whole request runs again, reads the new version and moves nothing."""
    lead = factories.make_lead(first_name="Retried", stage_id=stages["New"].id)
    other_user = factories.make_user(role="admin")
    db.session.commit()
    seen, lead_id, other_user_id = lead.version, lead.id, other_user.id
    contacted, qualified = stages["Contacted"].id, stages["Qualified"].id
    [(client, headers)] = _signed_in_clients(app, 1)
    calls = []

    def loses_a_race_once(actor, lead, to_stage_id, **kwargs):
        calls.append(to_stage_id)
        if len(calls) == 1:
            def other_user_moves():
                with app.app_context():
                    move_lead(db.session.get(User, other_user_id), db.session.get(Lead, lead_id), qualified)
                    db.session.commit()
            db.session.rollback()  # the lost race's transaction is gone; the other move commits
            thread = threading.Thread(target=other_user_moves)
            thread.start()
            thread.join()
            raise OperationalError("UPDATE leads", {}, Exception("database is locked"))
        return move_lead(actor, lead, to_stage_id, **kwargs)

    monkeypatch.setattr(views, "move_lead", loses_a_race_once)
    response = client.post("/pipeline/move", headers=headers,
                           data={"lead_id": lead_id, "stage_id": contacted, "version": seen})
    assert len(calls) == 2, "the request ran again as a whole"
    assert response.status_code == 409 and "was changed by someone else" in response.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(Lead, lead_id).stage_id == qualified
    moves = db.session.scalar(db.select(db.func.count(StageChange.id)).where(
        StageChange.lead_id == lead_id, StageChange.from_stage_id.is_not(None)))
    assert moves == 1


def test_many_cards_moved_both_ways_at_once_keep_the_totals_equal_to_a_recount(app, stages):
    """Sixteen people each move their own card at the same moment, half from New to Contacted and
    half back, in three currencies: every move is saved, none waits forever on another (the
    totals rows are locked in one order by every writer), and the kept totals, per stage and
    per currency, equal a count of the leads."""
    from tests.pipeline.test_totals import actual, actual_money, stored, stored_money

    new, contacted = stages["New"].id, stages["Contacted"].id
    currencies = ["USD", "EUR", "CHF"]
    cards = []
    for i in range(16):
        lead = factories.make_lead(first_name=f"Card{i}", stage_id=new if i % 2 == 0 else contacted,
                                   value=str(100 * (i + 1)), currency=currencies[i % 3])
        cards.append(lead)
    db.session.commit()
    moves = [(lead.id, lead.version, contacted if lead.stage_id == new else new) for lead in cards]
    clients = _signed_in_clients(app, len(moves))

    answers = _all_at_once(clients, lambda client, headers, i: client.post(
        "/pipeline/move", headers=headers,
        data={"lead_id": moves[i][0], "stage_id": moves[i][2], "version": moves[i][1], "mode": "drag"}))

    assert [getattr(a, "status_code", repr(a)) for a in answers] == [200] * len(moves)
    db.session.expire_all()
    assert {lead_id: db.session.get(Lead, lead_id).stage_id for lead_id, _, _ in moves} == {
        lead_id: target for lead_id, _, target in moves}
    assert stored() == actual() and stored_money() == actual_money()
    assert stored()[new] == (8, 100_00 * (2 + 4 + 6 + 8 + 10 + 12 + 14 + 16))  # the cards that began in Contacted
    assert stored()[contacted] == (8, 100_00 * (1 + 3 + 5 + 7 + 9 + 11 + 13 + 15))
