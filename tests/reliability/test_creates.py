"""Twenty API creates at once through a real server (production settings, the scheduler in the
server): each makes exactly one lead, which its arrival routes, scores and alerts about once,
after the commit that saved it (``leads.arrivals``)."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.reliability.load import ADMIN_EMAIL, Client, loaded_server
from tests.reliability.workers import Reader, run_in_app, wait_until

pytestmark = pytest.mark.reliability

CREATES = 20

# Every lead from outside goes to the admin; a director scores 15.
RULES = """
    from leadflow.accounts.models import User
    from leadflow.routing.models import RoutingRule
    from leadflow.scoring.models import ScoringRule
    admin = db.session.scalar(db.select(User).where(User.email == sys.argv[1]))
    db.session.add(RoutingRule(name="All to the admin", position=1, conditions={}, target_kind="user",
                               target_user_id=admin.id))
    db.session.add(ScoringRule(name="Director", category="fit", active=True, points=15, position=1,
                               field="title", operator="contains", value="director"))
    db.session.commit()
"""


def add_rules(env: dict) -> None:
    run_in_app(env, RULES, ADMIN_EMAIL)


def arrivals_done(reader: Reader, pattern: str) -> list:
    """Per lead whose email matches: (email, owner, score, "Assigned to" entries, alert timers,
    new-lead e-mails), once no arrival is left queued; else None."""
    if reader.scalar("SELECT count(*) FROM lead_arrivals"):
        return []
    return reader.rows(
        "SELECT l.email, l.owner_id, l.score,"
        " (SELECT count(*) FROM activities a WHERE a.lead_id = l.id AND a.kind = 'assignment'),"
        " (SELECT count(*) FROM lead_alerts t WHERE t.lead_id = l.id),"
        " (SELECT count(*) FROM outbox_messages m WHERE m.lead_id = l.id AND m.kind = 'new_lead_alert')"
        " FROM leads l WHERE l.email LIKE :pattern AND l.deleted_at IS NULL ORDER BY l.email", pattern=pattern)


def test_twenty_concurrent_api_creates_make_one_routed_scored_lead_each(tmp_path, fresh_database):
    with loaded_server(tmp_path, fresh_database, threads=8) as server:
        add_rules(server.env)
        reader = Reader(fresh_database)
        start = threading.Barrier(CREATES)

        def create(i: int):
            client = Client(server.port)
            start.wait(timeout=30)
            return client.post_api(server.workspace.api_token, {
                "first_name": f"Concurrent {i}", "email": f"together-{i}@example.com", "title": "Director"})

        with ThreadPoolExecutor(max_workers=CREATES) as pool:
            replies = list(pool.map(create, range(CREATES)))
        assert [r.status for r in replies] == [201] * CREATES, [r.text[:200] for r in replies if r.status != 201][:3]
        assert len({r.json()["id"] for r in replies}) == CREATES

        rows = wait_until(lambda: arrivals_done(reader, "together-%"), timeout=60,
                          what="every arrival to run")
        admin = reader.scalar("SELECT id FROM users WHERE email = :e", e=ADMIN_EMAIL)
        reader.close()
    assert [row[0] for row in rows] == sorted(f"together-{i}@example.com" for i in range(CREATES))
    assert {tuple(row[1:]) for row in rows} == {(admin, 15, 1, 2, 1)}, rows
