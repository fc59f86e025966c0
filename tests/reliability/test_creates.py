"""Twenty API creates at once through a real server (production settings, the scheduler in the
server): each makes exactly one lead, which its arrival routes, scores and alerts about once,
after the commit that saved it (``leads.arrivals``)."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.reliability.load import ADMIN_EMAIL, Client, loaded_server
from tests.reliability.workers import Reader, add_rules, arrivals_done, wait_until

pytestmark = pytest.mark.reliability

CREATES = 20

def test_twenty_concurrent_api_creates_make_one_routed_scored_lead_each(tmp_path, fresh_database):
    with loaded_server(tmp_path, fresh_database, threads=8) as server:
        add_rules(server.env, ADMIN_EMAIL)
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
    assert {tuple(row[1:]) for row in rows} == {(admin, 15, 1, 2, 1, 1, 1, 1, 1)}, rows
