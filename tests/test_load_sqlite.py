"""A short run of the reliability load test (``tests/reliability/test_load.py``) in ``make
test``: fifty clients for a few seconds against a real server on SQLite, posting to the
capture form and the API, with races on one new email and one existing lead. Every answer is
either a success whose submission was saved once, or an error (422, or a 503 with Retry-After)
behind which nothing was saved. Never a 500.

For measurements: ``LOAD_SECONDS`` (default 5), ``LOAD_CLIENTS``, ``LOAD_THREADS`` (the
server's) and ``LOAD_BUSY_TIMEOUT_MS`` (SQLite's busy timeout: a tiny one makes busy answers
happen) change the run; ``LOAD_KEEP_LOG=1`` prints the server's log (with ``-s``).
"""

from __future__ import annotations

import os
from collections import Counter

from tests.reliability.load import (Holdings, LoadRun, Reply, Sent, assert_load_went_well, check_exactly_once,
                                    load_figures, loaded_server, read_holdings, run_load)

SECONDS = float(os.environ.get("LOAD_SECONDS", "5"))
CLIENTS = int(os.environ.get("LOAD_CLIENTS", "50"))


def test_fifty_clients_at_once_get_a_saved_lead_or_a_true_busy_answer_never_a_500(tmp_path, sqlite_at_head):
    url = f"sqlite:///{sqlite_at_head(tmp_path / 'leadflow.sqlite3')}"
    with loaded_server(tmp_path, url, threads=int(os.environ.get("LOAD_THREADS", "16")),
                       SQLITE_BUSY_TIMEOUT_MS=os.environ.get("LOAD_BUSY_TIMEOUT_MS", "10000")) as server:
        run = run_load(server, clients=CLIENTS, seconds=SECONDS)
        held = read_holdings(url)
        server_log = server.log()
    print("\n" + "\n".join(load_figures(run, held, server, CLIENTS)))
    if os.environ.get("LOAD_KEEP_LOG"):
        print(server_log)

    assert_load_went_well(run, held, server_log, CLIENTS)


def test_the_load_check_names_every_way_an_answer_can_disagree_with_the_database():
    def sent(marker, status, email, tags=(), headers=None):
        return Sent("race", "api", email, marker, "Race Org", list(tags), Reply(status, headers or {}, "", 0.1))

    run = LoadRun(sent=[
        sent("twice", 201, "a@example.com"),  # its submission is on the timeline twice
        sent("lost-tag", 200, "a@example.com", tags=["kept", "lost"]),  # an update's tag went missing
        sent("refused", 422, "b@example.com"),  # nothing else saved b@, yet it has a lead
        sent("crashed", 500, "c@example.com"),
        sent("busy", 503, "d@example.com"),  # no Retry-After
        sent("fine", 201, "e@example.com"),
    ])
    held = Holdings(
        leads={"a@example.com": [1], "b@example.com": [2], "e@example.com": [3, 4]}, lead_orgs={1: 7, 2: 7, 3: 7},
        lead_tags={1: {"kept"}}, orgs={"race org": [7]}, tags={"kept": [1], "lost": [2, 3]},
        intakes=Counter({"twice": 2, "lost-tag": 1, "fine": 1}),
        intake_leads={"twice": {1}, "lost-tag": {1}, "fine": {3}})

    problems = "\n".join(check_exactly_once(run, held))

    for expected in ("twice answered 201; its submission is on the timeline 2 times",
                     "its tag 'lost' is not on the lead", "refused answered 422 and nothing else saved",
                     "crashed: 500", "busy: 503 without Retry-After", "2 live leads for e@example.com",
                     "2 tags named 'lost'", "fine answered 201, but 2 leads"):
        assert expected in problems, problems
    assert "lost-tag answered 200; its submission" not in problems
