"""Server-side speed of the home page ("/") at 100,000 leads, beside two baselines of the same run.

Run from the repository root:

    .venv/bin/python bench/bench_home.py --reuse /tmp/bench-dbs            # SQLite
    .venv/bin/python bench/bench_home.py --reuse /tmp/bench-dbs --database-url postgresql://postgres@127.0.0.1/NAME

The database is made and seeded as ``bench_pages.py`` makes it (the demo workspace; the same
``--reuse`` folder or PostgreSQL database serves both). For each viewer (the rep owning the
most leads; the demo admin, mine and everyone's) it times every request the home page makes,
each apart: the page ("Today"), the "This month" part htmx loads after it, and the summary
line htmx reloads after a task changes; then the sum of one page view (page + "This month").
Each has its median and p95 wall time, its median CPU time (``time.thread_time``, which
survives a loaded machine), and beside it, measured in the same run, a bare Flask app
answering a static body of the same size (what Flask and the test client cost) and "My work"
(``/tasks``). The kept closed-month figures are emptied first, so the first request of each
"This month" works them out (shown apart, with its SQL); the timed runs read them back. The
target (< 50 ms per request) is judged on CPU time on SQLite (the database works in the
request's thread) and on wall time on PostgreSQL (its work is in another process, which the
thread's CPU time leaves out). It writes no file.

``--now 2026-11-30T18:00:00+00:00`` times the page as if it were that moment: the home page's
views read the clock through ``leadflow.dashboard.views.utcnow`` (as its tests fix it), so the
benchmark sets that one function to the given instant and every query runs as it would then.
The end of the seeded data's busiest month is the case to watch: "This month" counts a whole
month of leads live.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import sys
import tempfile
from datetime import datetime, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_pages import (  # noqa: E402  (sets the scratch instance folder before config loads)
    Baseline, _body_of_size, build_app, db_engine_dispose, migrate_and_seed, percentile, recording_statements,
    sign_in, steady_warmup, time_requests,
)
from bench_databases import database_for, database_label  # noqa: E402

TARGET_MS = 50.0
# What one home-page view asks for, per viewer: the page, then "This month" by htmx; the
# summary line is asked for again after a task changes. (viewer, view, label)
VIEWERS = [("rep", None, "busiest rep, mine"), ("admin", None, "demo admin, mine"), ("admin", "all", "demo admin, everyone's")]
PARTS = [  # (part, address, headers, part of every page view)
    ("page (Today)", "/", None, True),
    ("This month, htmx", "/home/month", {"HX-Request": "true"}, True),
    ("summary line, htmx", "/home/today-summary", {"HX-Request": "true"}, False),
]
REFERENCE = ("My work (busiest rep, reference page)", "rep", "/tasks")


def busiest_rep_client(app):
    """A client signed in as the rep owning the most live leads (given the demo password here,
    in the benchmark's own database), and that rep's lead count."""
    from sqlalchemy import func, select

    from leadflow.accounts.models import User
    from leadflow.accounts.services import hash_password
    from leadflow.extensions import db
    from leadflow.leads.models import Lead
    from leadflow_demo import DEMO_LOGIN

    with app.app_context():
        user_id, email, owned = db.session.execute(
            select(User.id, User.email, func.count(Lead.id)).join(Lead, Lead.owner_id == User.id)
            .where(User.role == "rep", User.active.is_(True), Lead.deleted_at.is_(None))
            .group_by(User.id, User.email).order_by(func.count(Lead.id).desc()).limit(1)).one()
        db.session.execute(db.update(User).where(User.id == user_id).values(password_hash=hash_password(DEMO_LOGIN[1])))
        db.session.commit()
        db.session.remove()
    client = app.test_client()
    token_page = client.get("/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', token_page).group(1)
    response = client.post("/login", data={"email": email, "password": DEMO_LOGIN[1], "csrf_token": token})
    if response.status_code != 302:
        raise SystemExit(f"could not sign in as {email}")
    return client, owned


def with_view(path: str, view: str | None) -> str:
    return f"{path}?view={view}" if view else path


def forget_kept_months(app) -> None:
    """Empties the kept closed-month figures, so the next "This month" works them out."""
    from leadflow.dashboard.models import MonthlyFigures
    from leadflow.extensions import db

    with app.app_context():
        db.session.execute(db.delete(MonthlyFigures))
        db.session.commit()
        db.session.remove()


def fix_clock(now: datetime) -> None:
    """The home page's views answer as if it were ``now``: they read the clock through their
    module's ``utcnow`` alone (the tests fix it the same way); nothing else is changed."""
    from leadflow.dashboard import views

    views.utcnow = lambda: now


def timed_once(client, path: str, headers) -> tuple[float, float]:
    """(wall ms, CPU ms) of one request."""
    cpu: list[float] = []
    wall = time_requests(client, [path], 1, 0, headers, cpu=cpu)
    return wall[0], cpu[0]


def bare_flask(baseline: Baseline, key: str, body: bytes, runs: int, warmup: int) -> tuple[float, float]:
    """Median (wall ms, CPU ms) of a bare Flask app answering ``body``: the floor of the same run."""
    baseline.bodies[key] = body
    cpu: list[float] = []
    wall = time_requests(baseline.client, [f"/static-page/{key}"], runs, warmup, cpu=cpu)
    return statistics.median(wall), statistics.median(cpu)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--reuse", type=Path, metavar="DIR")
    parser.add_argument("--database-url", metavar="URL")
    parser.add_argument("--now", type=datetime.fromisoformat, metavar="ISO",
                        help="time the page as if it were this moment (with its UTC offset), e.g. a month's end")
    args = parser.parse_args(argv)
    args.warmup = steady_warmup(args.warmup)
    if args.now is not None:
        if args.now.tzinfo is None:
            parser.error("--now needs a UTC offset, e.g. 2026-11-30T18:00:00+00:00")
        fix_clock(args.now)

    from leadflow.extensions import db

    with tempfile.TemporaryDirectory(prefix="leadflow-bench-home-") as folder:
        url, fresh, where = database_for(str(args.size), args.reuse or Path(folder), database_url=args.database_url,
                                         reuse=args.reuse is not None)
        app = build_app(url)
        print(f"== {args.size:,} leads on {database_label(url)} ({'seeding' if fresh else 'reusing ' + where})", flush=True)
        migrate_and_seed(app, args.size, seed=fresh)
        with app.app_context():
            engine = db.engine
        admin = app.test_client()
        sign_in(admin)
        rep, owned = busiest_rep_client(app)
        print(f"   the busiest rep owns {owned:,} live leads", flush=True)
        clients = {"admin": admin, "rep": rep}
        baseline = Baseline()
        forget_kept_months(app)
        rows, statements, first = [], {}, {}
        for who, view, label in VIEWERS:
            client = clients[who]
            for part, path, headers, _every_view in PARTS:
                address = with_view(path, view)
                with recording_statements(engine) as recorded:
                    first[(label, part)] = timed_once(client, address, headers)
                statements[(label, part)] = sorted(recorded, reverse=True)
                body = client.get(address, headers=headers).get_data()
                cpu: list[float] = []
                times = time_requests(client, [address], args.runs, args.warmup, headers, cpu=cpu)
                floor_wall, floor_cpu = bare_flask(baseline, str(len(rows)), body, args.runs, args.warmup)
                rows.append((label, part, len(recorded), len(body), statistics.median(times), percentile(times, 95),
                             statistics.median(cpu), floor_wall, floor_cpu))
        reference_times = time_requests(clients[REFERENCE[1]], [REFERENCE[2]], args.runs, args.warmup)
        db_engine_dispose(app)

    as_of = f" as if it were {args.now.isoformat()}" if args.now else ""
    print(f"\nRun {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC{as_of}, {args.size:,} leads on {database_label(url)}; "
          f"{args.runs} timed runs a part after {args.warmup} warm-up requests; load average (1 min) "
          f"{os.getloadavg()[0]:.1f} at the end.\n")
    print("| viewer | part | queries | bytes | median ms | p95 ms | CPU ms | bare Flask ms (CPU) | first request ms (CPU) |")
    print("|---|---|---|---|---|---|---|---|---|")
    for label, part, queries, size, median, p95, cpu, floor_wall, floor_cpu in rows:
        cold_wall, cold_cpu = first[(label, part)]
        print(f"| {label} | {part} | {queries} | {size:,} | {median:.1f} | {p95:.1f} | {cpu:.1f} | "
              f"{floor_wall:.2f} ({floor_cpu:.2f}) | {cold_wall:.1f} ({cold_cpu:.1f}) |")
    every_view = {part for part, _, _, every in PARTS if every}
    print("\nOne page view (the page and the parts it loads), summed medians:")
    for _who, _view, label in VIEWERS:
        mine = [r for r in rows if r[0] == label and r[1] in every_view]
        print(f"  {label}: {sum(r[4] for r in mine):.1f} ms wall, {sum(r[6] for r in mine):.1f} ms CPU "
              f"(bare Flask {sum(r[7] for r in mine):.2f} ms)")
    print(f"  reference, {REFERENCE[0]}: median {statistics.median(reference_times):.1f} ms wall")
    print("\n(first request: \"This month\" works out and keeps the closed months then; the timed runs read them back)")
    judged, by = (6, "CPU") if url.startswith("sqlite") else (4, "wall")
    slowest = max(rows, key=lambda r: r[judged])
    met = all(r[judged] < TARGET_MS for r in rows)
    print(f"\nSlowest part by {by}: {slowest[0]}, {slowest[1]}: {slowest[6]:.1f} ms CPU, {slowest[4]:.1f} ms wall "
          f"(target < {TARGET_MS:.0f} ms per request, by {by}): {'met' if met else 'MISSED'}")
    print("\n## SQL statements of the first requests")
    for (label, part), recorded in statements.items():
        if part != PARTS[2][0]:
            print(f"\nSQL of the first request, {label}, {part} (ms, slowest first):")
            for ms, statement in recorded[:6]:
                print(f"  {ms:7.2f}  {' '.join(statement.split())[:180]}")
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
