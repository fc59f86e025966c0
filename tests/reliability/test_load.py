"""Fifty clients for a minute against a real server, on SQLite and on PostgreSQL: every
successful answer saved its lead once, every error answer saved nothing, and never a 500.

The clients post to the public capture form (after fetching a form token, as a site's own
form does) and to the REST API: new leads with organization and tag names they share, the same
new email from twenty clients at once (round after round), and one existing lead updated by
ten clients at once; meanwhile four people sign in and open the board. ``check_exactly_once`` (``tests/reliability/load.py``) says what is
compared with the database afterwards.

``LOAD_SECONDS`` (default 60), ``LOAD_CLIENTS`` (50) and ``LOAD_THREADS`` (the server's, 16)
change the run; ``LOAD_KEEP_LOG=1`` prints the server's log (with ``-s``).
"""

from __future__ import annotations

import os

from tests.reliability.load import assert_load_went_well, load_figures, loaded_server, read_holdings, run_load

SECONDS = float(os.environ.get("LOAD_SECONDS", "60"))
CLIENTS = int(os.environ.get("LOAD_CLIENTS", "50"))
THREADS = int(os.environ.get("LOAD_THREADS", "16"))


def test_fifty_clients_for_a_minute_each_success_saved_once_each_error_saved_nothing(
        tmp_path, fresh_database, database_kind, record_figures):
    with loaded_server(tmp_path, fresh_database, threads=THREADS) as server:
        run = run_load(server, clients=CLIENTS, seconds=SECONDS)
        held = read_holdings(fresh_database)
        server_log = server.log()
    figures = load_figures(run, held, server, CLIENTS)
    print(f"\n{database_kind}:\n" + "\n".join(figures))
    if os.environ.get("LOAD_KEEP_LOG"):
        print(server_log)

    assert_load_went_well(run, held, server_log, CLIENTS)
    record_figures("load", figures)
