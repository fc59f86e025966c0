"""PostgreSQL against SQLite, page by page, in one run: the same pages as ``bench_pages.py``
(lead list, its htmx fragment, lead pages, searches, a filtered list, the last page), the
board of ``bench_board.py`` with its htmx requests (the refresh, a column's "load more", the
forecast) and the home page of ``bench_home.py`` for the demo admin (Today, mine and
everyone's, "This month", the summary line), at each size, on a SQLite file and on a
PostgreSQL database seeded the same way; and the board's move of ``bench_board.py``, a write:
on each database the first card of the first column dragged to the top of the second and
back, request after request (its table row says so), left where it was found.

    .venv/bin/python bench/bench_parity.py --sizes 1000 100000 --reuse DIR \\
        --database-url postgresql://postgres@127.0.0.1/leadflow_bench

Both apps live in this one process, each with its signed-in test client. For every page the
requests alternate, SQLite then PostgreSQL, so that both see the same load on the machine
(on a busy machine, runs made one after the other differ by more than the databases do).
Each database picks its own common search term, email and owner + stage the same way
(the seeder's data differ by database). The figure is the ratio of the medians, PostgreSQL
over SQLite: the target is ≤ 1.5 on every page. Prints Markdown.

Every request is warmed up at least ``STEADY_WARMUP`` times on each database before it is
timed (``bench_pages.steady_warmup``, as in every page benchmark): the figures are a server's
steady state, where each connection of its pool has run its statements many times. A
statement's first runs on a new PostgreSQL connection cost more: psycopg prepares a statement
on its sixth run on a connection (its first five are parsed and planned anew each time), and
the server plans a prepared statement anew for its next five runs before it settles on a
generic plan; SQLite fills its statement and page caches in its first runs too. That cost is
shown, not left out: the move's first ``STEADY_WARMUP`` runs on each database make a row of
their own (the first moves of a card after a server started, or on a connection the pool just
opened), without a target.

Not collected by pytest: it lives outside ``testpaths``.
"""

from __future__ import annotations

import argparse
import html
import os
import re
import statistics
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path
from urllib.parse import quote

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_pages import (  # noqa: E402
    STEADY_WARMUP, build_app, db_engine_dispose, machine, migrate_and_seed, percentile, refresh_statistics, sign_in,
    steady_warmup)

from bench_databases import database_for, is_postgresql  # noqa: E402

TARGET_RATIO = 1.5


def page_plan(app) -> list[tuple[str, list[str], dict | None]]:
    """(name, URLs, headers) of each page, picked from this database's own data."""
    from sqlalchemy import func, select

    from leadflow.extensions import db
    from leadflow.leads.models import Lead

    with app.app_context():
        live = Lead.deleted_at.is_(None)
        ids = db.session.scalars(select(Lead.id).where(live).order_by(Lead.id)).all()
        if not ids:
            raise SystemExit("the demo seeder created no leads")
        sample = [ids[0], ids[len(ids) // 4], ids[len(ids) // 2], ids[3 * len(ids) // 4], ids[-1]]
        term = db.session.scalar(select(func.lower(Lead.last_name)).where(live).group_by(func.lower(Lead.last_name))
                                 .order_by(func.count().desc(), func.lower(Lead.last_name)).limit(1))
        email = db.session.scalar(select(Lead.email).where(Lead.email.is_not(None), live)
                                  .order_by(Lead.id.desc()).limit(1))
        owner_stage = db.session.execute(
            select(Lead.owner_id, Lead.stage_id).where(live, Lead.owner_id.is_not(None), Lead.stage_id.is_not(None))
            .group_by(Lead.owner_id, Lead.stage_id).order_by(func.count().desc()).limit(1)).first()
        db.session.remove()
    # The deepest full page: the last one held 12 rows on one database and 70 on the other once
    # the lead-create benchmark had added a different number of leads to each.
    last_page = max(1, len(ids) // 100)
    plan = [("Lead list, 100 rows (full page)", ["/leads?per_page=100"], None),
            ("Lead list, 100 rows (htmx fragment)", ["/leads?per_page=100"], {"HX-Request": "true"}),
            ("Lead page (5 different leads)", [f"/leads/{i}" for i in sample], None),
            ("Search, common last name", [f"/leads?per_page=100&q={quote(term or '')}"], None),
            ("Search, one lead’s email", [f"/leads?per_page=100&q={quote(email or '')}"], None)]
    if owner_stage:
        plan.append(("Filtered list: owner + stage",
                     [f"/leads?per_page=100&owner={owner_stage.owner_id}&stage={owner_stage.stage_id}"], None))
    plan.append(("Lead list, last full page", [f"/leads?per_page=100&page={last_page}"], None))
    plan.append(("Board, default pipeline (bench_board.py's page)", ["/pipeline"], None))
    return plan


def fragment_plan(client) -> list[tuple[str, list[str], dict | None]]:
    """The board's htmx requests and the home page, picked from this database's own board
    (its first "load more" link, its pipeline's forecast), as ``bench_board.py`` and
    ``bench_home.py`` time them one database at a time."""
    htmx = {"HX-Request": "true"}
    page = client.get("/pipeline").get_data(as_text=True)
    plan = [("Board, htmx refresh fragment", ["/pipeline"], htmx)]
    more = re.search(r'class="load-more" hx-get="([^"]+)"', page)
    if more is not None:
        plan.append(("Board, column “load more” (first page’s link)", [html.unescape(more.group(1))], htmx))
    forecast = re.search(r'hx-get="(/pipeline/\d+/forecast)', page)
    if forecast is not None:
        plan.append(("Board, forecast fragment", [forecast.group(1)], htmx))
    plan += [("Home page, demo admin (page)", ["/"], None),
             ("Home page, demo admin, everyone's (page)", ["/?view=all"], None),
             ("Home page, “This month”", ["/home/month"], htmx),
             ("Home page, summary line", ["/home/today-summary"], htmx)]
    return plan


MOVE = "Board move (a write: one card dragged back and forth, New ⇄ Contacted)"
FIRST_MOVES = f"Board move, its first {STEADY_WARMUP} on a connection (statements not yet prepared; no target)"


class Mover:
    """The board's move on one database, as ``bench_board.py`` times it: the first card of the
    board's first column dragged to the top of the second and back, one way per call, with the
    CSRF token the page puts in ``<body hx-headers>`` and the version each answer gives."""

    def __init__(self, client):
        self.client, self.moves = client, 0
        page = client.get("/pipeline").get_data(as_text=True)
        self.headers = {"X-CSRFToken": re.search(r'"X-CSRFToken": "([^"]+)"', page).group(1), "HX-Request": "true"}
        self.stages = re.findall(r'id="cards-(\d+)"', page)[:2]
        card = re.search(rf'id="cards-{self.stages[0]}".*?data-lead-id="(\d+)" data-version="(\d+)"', page, re.S)
        self.lead_id, self.version = card.group(1), card.group(2)

    def __call__(self) -> float:
        data = {"lead_id": self.lead_id, "stage_id": self.stages[(self.moves + 1) % 2], "version": self.version,
                "mode": "drag"}
        started = time.perf_counter()
        response = self.client.post("/pipeline/move", headers=self.headers, data=data)
        elapsed = (time.perf_counter() - started) * 1000
        if response.status_code != 200:
            raise SystemExit(f"POST /pipeline/move answered {response.status_code}")
        self.version = re.search(rf'data-lead-id="{self.lead_id}" data-version="(\d+)"', response.get_data(as_text=True)).group(1)
        self.moves += 1
        return elapsed

    def put_back(self) -> None:
        if self.moves % 2:
            self()


def timed_get(client, url: str, headers) -> float:
    started = time.perf_counter()
    response = client.get(url, headers=headers)
    elapsed = (time.perf_counter() - started) * 1000
    if response.status_code != 200:
        raise SystemExit(f"GET {url} answered {response.status_code}")
    return elapsed


def bench_size(size: int, runs: int, warmup: int, reuse: Path, database_url: str) -> list[dict]:
    sides = {}
    for label, url_of in (("SQLite", None), ("PostgreSQL", database_url)):
        url, fresh, where = database_for(str(size), reuse, database_url=url_of, reuse=True)
        app = build_app(url)
        print(f"== {size:,} leads on {label}: {'seeding' if fresh else 'reusing ' + where} …", flush=True)
        migrate_and_seed(app, size, seed=fresh)
        refresh_statistics(app)  # both databases as in use, whatever ran on them before
        client = app.test_client()
        sign_in(client)
        sides[label] = (app, client, page_plan(app) + fragment_plan(client))
    rows = []
    # a request one side's board lacks (no column long enough for "load more") is left out
    names = [name for name, _, _ in sides["SQLite"][2] if name in {n for n, _, _ in sides["PostgreSQL"][2]}]
    for name in names:
        times = {label: [] for label in sides}
        for i in range(warmup + runs):
            for label, (_, client, plan) in sides.items():
                _, urls, headers = next(step for step in plan if step[0] == name)
                elapsed = timed_get(client, urls[i % len(urls)], headers)
                if i >= warmup:
                    times[label].append(elapsed)
        rows.append(compared(name, times))
    movers = {label: Mover(client) for label, (_, client, _) in sides.items()}
    first, times = {label: [] for label in sides}, {label: [] for label in sides}
    for i in range(warmup + runs):
        for label, mover in movers.items():
            elapsed = mover()
            if i >= warmup:
                times[label].append(elapsed)
            elif i < STEADY_WARMUP:
                first[label].append(elapsed)
    for mover in movers.values():
        mover.put_back()
    rows.append(compared(MOVE, times))
    rows.append(compared(FIRST_MOVES, first, target=False))
    for app, _, _ in sides.values():
        db_engine_dispose(app)
    return rows


def compared(name: str, times: dict[str, list[float]], target: bool = True) -> dict:
    """One table row: each database's median and p95, and the ratio of the medians;
    ``target``: whether the ratio is held to ``TARGET_RATIO``."""
    sqlite, pg = statistics.median(times["SQLite"]), statistics.median(times["PostgreSQL"])
    print(f"   {name}: SQLite {sqlite:.1f} ms, PostgreSQL {pg:.1f} ms, ×{pg / sqlite:.2f}", flush=True)
    return {"name": name, "sqlite": sqlite, "pg": pg, "sqlite_p95": percentile(times["SQLite"], 95),
            "pg_p95": percentile(times["PostgreSQL"], 95), "ratio": pg / sqlite, "target": target}


def markdown(report: dict[int, list[dict]], runs: int, warmup: int, load: tuple) -> str:
    lines = [f"Run {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC on {machine()}; {runs} timed runs per page "
             f"and database after {warmup} warm-up requests, SQLite and PostgreSQL alternating. "
             "Load average "
             f"(1 min) {load[0]:.1f} before, {os.getloadavg()[0]:.1f} after.", ""]
    for size, rows in report.items():
        lines += [f"### {size:,} leads: PostgreSQL over SQLite", "",
                  "| page | SQLite median ms | PostgreSQL median ms | SQLite p95 | PostgreSQL p95 | ratio | target | |",
                  "|---|---:|---:|---:|---:|---:|---|---|"]
        for r in rows:
            verdict = ("met" if r["ratio"] <= TARGET_RATIO else "MISSED") if r["target"] else ""
            lines.append(f"| {r['name']} | {r['sqlite']:.1f} | {r['pg']:.1f} | {r['sqlite_p95']:.1f} | "
                         f"{r['pg_p95']:.1f} | ×{r['ratio']:.2f} | {f'≤ ×{TARGET_RATIO}' if r['target'] else '—'} "
                         f"| {verdict} |")
        lines.append("")
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000, 100_000])
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--reuse", type=Path, metavar="DIR",
                        help="keep the seeded databases in DIR (SQLite files; PostgreSQL NAME_<size>) and reuse them")
    parser.add_argument("--database-url", metavar="URL", required=True,
                        help="postgresql://…/NAME: a database NAME_<size> per size on that server")
    args = parser.parse_args(argv)
    if not is_postgresql(args.database_url):
        parser.error("--database-url must be a postgresql:// URL")
    args.warmup = steady_warmup(args.warmup)
    load = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="leadflow-parity-") as scratch:
        folder = args.reuse or Path(scratch)
        folder.mkdir(parents=True, exist_ok=True)
        report = {size: bench_size(size, args.runs, args.warmup, folder, args.database_url) for size in args.sizes}
    print("\n" + markdown(report, args.runs, args.warmup, load))
    missed = any(r["target"] and r["ratio"] > TARGET_RATIO for rows in report.values() for r in rows)
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
