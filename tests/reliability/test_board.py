"""Twenty people drag one card at the same moment, over real HTTP against a real server, on
SQLite and on PostgreSQL: exactly one move is saved (one 200, one stage change), the other
nineteen are told someone else moved the lead (409), never a 500.

Each person is a signed-in browser session (five users, four sessions each) that read the
board, as the page does, for the card's version and the columns; each round they all post
``/pipeline/move`` as board.js does after a drop, released together.

``BOARD_ROUNDS`` (default 5), ``BOARD_MOVERS`` (20) and ``LOAD_THREADS`` (the server's, 16)
change the run.
"""

from __future__ import annotations

import os
import re
import threading
from collections import Counter

from sqlalchemy import text

from tests.reliability.load import Client, database_engine, latency_row, loaded_server

ROUNDS = int(os.environ.get("BOARD_ROUNDS", "5"))
MOVERS = int(os.environ.get("BOARD_MOVERS", "20"))
THREADS = int(os.environ.get("LOAD_THREADS", "16"))
USERS = 5
CONFLICT = "was changed by someone else meanwhile"


def read_board(client: Client, lead_id: int) -> tuple[int, int, list[int]]:
    """(the card's version, the stage it is in, the open stages) as the board page shows them."""
    page = client.request("GET", "/pipeline")
    assert page.status == 200, page.text[:500]
    card = re.search(rf'id="card-{lead_id}"\s+data-lead-id="{lead_id}" data-version="(\d+)"', page.text)
    assert card, "the card is not on the board"
    columns = [(m.start(), int(m.group(1)), m.group(2))
               for m in re.finditer(r'data-stage-id="(\d+)" data-stage-kind="(\w+)"', page.text)]
    in_stage = [stage for start, stage, _ in columns if start < card.start()][-1]
    return int(card.group(1)), in_stage, [stage for _, stage, kind in columns if kind == "open"]


def stage_changes(database_url: str, lead_id: int) -> list[int]:
    """The stages the lead was moved to, oldest first (its first placement left out)."""
    engine = database_engine(database_url)
    try:
        with engine.connect() as conn:
            return list(conn.scalars(text("SELECT to_stage_id FROM stage_changes WHERE lead_id = :id "
                                          "AND from_stage_id IS NOT NULL ORDER BY id"), {"id": lead_id}))
    finally:
        engine.dispose()


def all_at_once(clients: list[Client], form_for) -> list:
    """``client.htmx_post("/pipeline/move", form_for(i))`` from one thread per client, released together."""
    barrier = threading.Barrier(len(clients))
    replies: list = [None] * len(clients)

    def move(i: int) -> None:
        barrier.wait(timeout=60)
        replies[i] = clients[i].htmx_post("/pipeline/move", form_for(i))

    threads = [threading.Thread(target=move, args=(i,)) for i in range(len(clients))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    return replies


def test_twenty_simultaneous_moves_of_one_card_one_wins_the_rest_are_told_to_reload(
        tmp_path, fresh_database, database_kind, record_figures):
    with loaded_server(tmp_path, fresh_database, threads=THREADS, users=USERS - 1) as server:
        workspace = server.workspace
        made = server.client().post_api(workspace.api_token, {
            "first_name": "Contested", "last_name": "Card", "email": "contested@example.com"})
        assert made.status == 201, made.text
        lead_id = made.json()["id"]
        clients = [server.client() for _ in range(MOVERS)]
        for i, client in enumerate(clients):
            client.sign_in(workspace.users[i % USERS])

        rounds, latencies = [], []
        for _ in range(ROUNDS):
            version, in_stage, open_stages = read_board(clients[0], lead_id)
            targets = [s for s in open_stages if s != in_stage][:2]
            before = stage_changes(fresh_database, lead_id)
            replies = all_at_once(clients, lambda i: {
                "lead_id": lead_id, "stage_id": targets[i % 2], "version": version, "mode": "drag",
                "above_id": "", "below_id": ""})
            after = stage_changes(fresh_database, lead_id)
            rounds.append((replies, after[len(before):]))
            latencies += [r.seconds for r in replies]

            statuses = Counter(r.status for r in replies)
            assert statuses == Counter({200: 1, 409: MOVERS - 1}), (statuses, [r.text[:300] for r in replies
                                                                               if r.status not in (200, 409)])
            assert all(CONFLICT in r.text for r in replies if r.status == 409)
            winner = next(i for i, r in enumerate(replies) if r.status == 200)
            assert after[len(before):] == [targets[winner % 2]], "exactly the winner's move is recorded"
            assert read_board(clients[1], lead_id)[1] == targets[winner % 2], "the card is where the winner put it"
        server_log = server.log()

    assert "Traceback" not in server_log, server_log[-5000:]
    statuses = Counter(r.status for replies, _ in rounds for r in replies)
    record_figures("board", [
        "| Figure | Value |",
        "|---|---|",
        f"| Rounds × simultaneous moves of one card | {ROUNDS} × {MOVERS} ({USERS} users, "
        f"{MOVERS // USERS} browser sessions each; server {server.threads} threads) |",
        "| Statuses per round | " + "; ".join(
            ", ".join(f"{n} × {s}" for s, n in sorted(Counter(r.status for r in replies).items()))
            for replies, _ in rounds) + " |",
        f"| Statuses in all | {', '.join(f'{n} × {s}' for s, n in sorted(statuses.items()))} |",
        f"| Stage changes recorded per round | {', '.join(str(len(moved)) for _, moved in rounds)} |",
        latency_row("Latency of a move, p50 / p95 / max", latencies),
    ])
