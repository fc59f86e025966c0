"""Server-side speed of the lead list and the lead page at 1,000 and 100,000 leads.

Run from the repository root:

    .venv/bin/python bench/bench_pages.py            # both sizes, 30 timed runs per page
    .venv/bin/python bench/bench_pages.py --sizes 1000 --runs 10
    .venv/bin/python bench/bench_pages.py --profile  # plus where the time goes, per query and per function
    .venv/bin/python bench/bench_pages.py --database-url postgresql://postgres@127.0.0.1/leadflow_bench

For each size it builds a fresh SQLite file database in a temporary folder, applies the
Alembic migrations, seeds the demo workspace with ``leadflow_demo.seed_demo`` and signs
in through the Flask test client. Each page is then requested ``--warmup`` times and
timed ``--runs`` times with ``time.perf_counter`` around the test-client call (the whole
WSGI request: routing, session, queries, templates; no network). The baseline is a bare
Flask app, built in the same process, whose one route returns a static string of the
same byte size as the page, timed the same way in the same run: the ratio says what the
page costs beyond Flask and the test client themselves.

SQL statements are counted with a ``before_cursor_execute`` listener, leaving out
transaction control and PRAGMAs (the same rule as the ``count_queries`` test fixture).

Not collected by pytest: it lives outside ``testpaths`` and its name does not start with ``test``.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import os
import platform
import pstats
import re
import statistics
import sys
import tempfile
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from urllib.parse import quote

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

# The app's instance folder must not be the shared one; point it at a scratch folder
# before ``config`` is imported (it reads LEADFLOW_INSTANCE at import time).
_SCRATCH = tempfile.TemporaryDirectory(prefix="leadflow-bench-")
os.environ["LEADFLOW_INSTANCE"] = _SCRATCH.name

from flask import Flask  # noqa: E402
from sqlalchemy import event, func, select  # noqa: E402

from bench_databases import database_for, database_label  # noqa: E402

TARGETS_MS = {"list": 35.0, "lead": 25.0}
MAX_QUERIES = 15
SKIPPED_STATEMENTS = ("BEGIN", "PRAGMA", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE")


@dataclass
class Measurement:
    name: str
    kind: str  # list | lead | other (which target applies)
    url: str
    bytes: int
    queries: int
    times_ms: list[float]
    baseline_ms: list[float]
    cpu_ms: list[float] = field(default_factory=list)
    note: str = ""
    statements: list[tuple[float, str]] = field(default_factory=list)

    @property
    def median(self) -> float:
        return statistics.median(self.times_ms)

    @property
    def p95(self) -> float:
        return percentile(self.times_ms, 95)

    @property
    def cpu_median(self) -> float:
        return statistics.median(self.cpu_ms)

    @property
    def baseline_median(self) -> float:
        return statistics.median(self.baseline_ms)

    @property
    def ratio(self) -> float:
        return self.median / self.baseline_median

    @property
    def target(self) -> float | None:
        return TARGETS_MS.get(self.kind)

    @property
    def verdict(self) -> str:
        if self.target is None:
            return "—"
        ok = self.median < self.target and self.queries <= MAX_QUERIES
        return "met" if ok else "MISSED"


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    if len(ordered) == 1:
        return ordered[0]
    rank = (len(ordered) - 1) * pct / 100
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


# --------------------------------------------------------------------------- set-up


def build_app(database_url: str):
    from config import ProductionConfig
    from leadflow import create_app

    config = type("BenchConfig", (ProductionConfig,), {
        "SQLALCHEMY_DATABASE_URI": database_url,
        "SECRET_KEY": "bench-only-secret-not-for-real-use-0123456789",
        "RATELIMIT_ENABLED": False,
        "SCHEDULER_ENABLED": False,
    })
    return create_app(config)


def migrate_and_seed(app, lead_count: int, seed: bool = True) -> tuple[float, float | None]:
    from flask_migrate import upgrade

    from leadflow_demo import seed_demo
    from leadflow.db import tidy_after_bulk_write
    from leadflow.extensions import db

    with app.app_context():
        started = time.perf_counter()
        upgrade()
        migrated = time.perf_counter()
        if seed:
            seed_demo(lead_count=lead_count)
            db.session.commit()
            tidy_after_bulk_write(db.session)  # as `flask leadflow seed-demo` does
            db.session.commit()
        seeded = time.perf_counter()
        db.session.remove()
    return migrated - started, (seeded - migrated) if seed else None


def refresh_statistics(app) -> None:
    """Fresh statistics and (PostgreSQL) a visibility map, as autovacuum keeps them in a
    database in use: a reused database that the writes benchmark added thousands of leads to
    is otherwise planned on the counts it had when seeded (this machine's PostgreSQL runs
    without autovacuum)."""
    from sqlalchemy import text

    from leadflow.extensions import db

    with app.app_context(), db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.execute(text("VACUUM ANALYZE" if connection.dialect.name == "postgresql" else "ANALYZE"))


def sign_in(client) -> None:
    from leadflow_demo import DEMO_LOGIN

    page = client.get("/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)
    response = client.post("/login", data={"email": DEMO_LOGIN[0], "password": DEMO_LOGIN[1], "csrf_token": token})
    if response.status_code != 302:
        raise SystemExit(f"could not sign in with the demo login (HTTP {response.status_code})")


@contextmanager
def recording_statements(engine):
    """Collect (milliseconds, SQL) for every statement run inside the block."""
    statements: list[tuple[float, str]] = []

    def before(conn, cursor, statement, parameters, context, executemany):
        conn.info.setdefault("_bench_started", []).append(time.perf_counter())

    def after(conn, cursor, statement, parameters, context, executemany):
        started = conn.info["_bench_started"].pop()
        if not statement.lstrip().upper().startswith(SKIPPED_STATEMENTS):
            statements.append(((time.perf_counter() - started) * 1000, statement))

    event.listen(engine, "before_cursor_execute", before)
    event.listen(engine, "after_cursor_execute", after)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", before)
        event.remove(engine, "after_cursor_execute", after)


# Runs of a request before it is timed, whatever ``--warmup`` asks below it: past psycopg's
# preparing of a statement (on its sixth run on a connection; its first five are parsed and
# planned anew each time) and the server's custom plans of a prepared statement (its next five
# runs, before it settles on a generic plan). The benchmarks time a server's steady state, where
# each connection of its pool has run its statements many times; ``bench_parity.py`` shows
# the board move's first runs on a connection in a row of their own.
STEADY_WARMUP = 12


def steady_warmup(warmup: int) -> int:
    """``--warmup``, at least ``STEADY_WARMUP``."""
    return max(warmup, STEADY_WARMUP)


def time_requests(client, urls: list[str], runs: int, warmup: int, headers=None,
                  cpu: list[float] | None = None) -> list[float]:
    """Wall-clock milliseconds per request; per-thread CPU milliseconds go to ``cpu`` if given."""
    for i in range(warmup):
        response = client.get(urls[i % len(urls)], headers=headers)
        if response.status_code != 200:
            raise SystemExit(f"GET {urls[i % len(urls)]} answered {response.status_code}")
    times = []
    for i in range(runs):
        url = urls[i % len(urls)]
        cpu_started = time.thread_time()
        started = time.perf_counter()
        response = client.get(url, headers=headers)
        times.append((time.perf_counter() - started) * 1000)
        if cpu is not None:
            cpu.append((time.thread_time() - cpu_started) * 1000)
        if response.status_code != 200:
            raise SystemExit(f"GET {url} answered {response.status_code}")
    return times


class Baseline:
    """A bare Flask app whose route returns a prepared static string: the floor to compare with."""

    def __init__(self):
        self.app = Flask("bench_baseline")
        self.bodies: dict[str, bytes] = {}

        @self.app.get("/static-page/<key>")
        def static_page(key):
            return self.bodies[key]

        self.client = self.app.test_client()

    def measure(self, key: str, body: bytes, runs: int, warmup: int) -> list[float]:
        self.bodies[key] = body
        check = self.client.get(f"/static-page/{key}").get_data()
        assert len(check) == len(body), "baseline body size differs from the page"
        return time_requests(self.client, [f"/static-page/{key}"], runs, warmup)


# --------------------------------------------------------------------------- one size


def bench_size(lead_count: int, runs: int, warmup: int, profile: bool, reuse: Path | None = None,
               database_url: str | None = None) -> dict:
    from leadflow.extensions import db
    from leadflow.leads.models import Lead

    with tempfile.TemporaryDirectory(prefix=f"leadflow-bench-{lead_count}-") as folder:
        if reuse is not None:
            reuse.mkdir(parents=True, exist_ok=True)
        url, fresh, where = database_for(str(lead_count), reuse or Path(folder), database_url=database_url,
                                         reuse=reuse is not None)
        app, database = build_app(url), database_label(url)
        print(f"\n== {lead_count:,} leads on {database}: "
              f"migrating{' and seeding' if fresh else f' (reusing {where})'} …", flush=True)
        migrate_s, seed_s = migrate_and_seed(app, lead_count, seed=fresh)
        with app.app_context():
            engine = db.engine
            live = db.session.scalar(select(func.count(Lead.id)).where(Lead.deleted_at.is_(None)))
            ids = db.session.scalars(select(Lead.id).where(Lead.deleted_at.is_(None)).order_by(Lead.id)).all()
            sample_ids = [ids[0], ids[len(ids) // 4], ids[len(ids) // 2], ids[3 * len(ids) // 4], ids[-1]] if ids else []
            common_term = db.session.scalar(
                select(func.lower(Lead.last_name)).where(Lead.deleted_at.is_(None))
                .group_by(func.lower(Lead.last_name)).order_by(func.count().desc()).limit(1))
            rare_email = db.session.scalar(select(Lead.email).where(Lead.email.is_not(None),
                                                                    Lead.deleted_at.is_(None)).order_by(Lead.id.desc()).limit(1))
            owner_stage = db.session.execute(
                select(Lead.owner_id, Lead.stage_id).where(Lead.deleted_at.is_(None), Lead.owner_id.is_not(None),
                                                           Lead.stage_id.is_not(None))
                .group_by(Lead.owner_id, Lead.stage_id).order_by(func.count().desc()).limit(1)).first()
            db.session.remove()
        print(f"   {live:,} live leads; migrate {migrate_s:.1f} s, "
              + (f"seed {seed_s:.1f} s" if seed_s is not None else "seed reused"), flush=True)
        if not sample_ids:
            raise SystemExit("the demo seeder created no leads")

        client = app.test_client()
        sign_in(client)
        load_before = os.getloadavg()
        baseline = Baseline()
        pages_per_list = 100
        last_page = max(1, -(-live // pages_per_list))

        plan = [
            ("Lead list, 100 rows (full page)", "list", ["/leads?per_page=100"], None, ""),
            ("Lead list, 100 rows (htmx fragment)", "other", ["/leads?per_page=100"], {"HX-Request": "true"}, ""),
            ("Lead page (5 different leads)", "lead", [f"/leads/{i}" for i in sample_ids], None, ""),
            (f"Search, common term “{common_term}”", "other", [f"/leads?per_page=100&q={quote(common_term or '')}"], None, ""),
            ("Search, one lead’s email", "other", [f"/leads?per_page=100&q={quote(rare_email or '')}"], None, ""),
        ]
        if owner_stage:
            plan.append(("Filtered list: owner + stage", "other",
                         [f"/leads?per_page=100&owner={owner_stage.owner_id}&stage={owner_stage.stage_id}"], None, ""))
        plan.append((f"Lead list, last page ({last_page:,})", "other", [f"/leads?per_page=100&page={last_page}"],
                     None, ""))

        results = []
        for name, kind, urls, headers, note in plan:
            # One untimed request per URL to read its size and its SQL statements.
            sizes, counts, statements, matched = [], [], [], ""
            for url in urls:
                with recording_statements(engine) as recorded:
                    response = client.get(url, headers=headers)
                if response.status_code != 200:
                    raise SystemExit(f"GET {url} answered {response.status_code}")
                body = response.get_data()
                sizes.append(len(body))
                counts.append(len(recorded))
                if len(recorded) > len(statements):
                    statements = list(recorded)
                found = re.search(r"of ([\d,]+) leads?<", body.decode())
                if found and not matched:
                    matched = f"{found.group(1)} matching leads"
            cpu_times: list[float] = []
            times = time_requests(client, urls, runs, warmup, headers, cpu=cpu_times)
            baseline_times = baseline.measure(str(len(results)), _body_of_size(body, int(statistics.median(sizes))),
                                              runs, warmup)
            m = Measurement(name=name, kind=kind, url=urls[0], bytes=int(statistics.median(sizes)),
                            queries=max(counts), times_ms=times, baseline_ms=baseline_times, cpu_ms=cpu_times,
                            note=note or matched, statements=statements)
            results.append(m)
            print(f"   {name}: median {m.median:.1f} ms, p95 {m.p95:.1f} ms, CPU {m.cpu_median:.1f} ms, baseline {m.baseline_median:.2f} ms, "
                  f"x{m.ratio:.1f}, {m.queries} queries, {m.bytes:,} bytes {('· ' + m.note) if m.note else ''}",
                  flush=True)

        profiles = {}
        if profile:
            for m in results:
                if m.kind in ("list", "lead") or (m.target and m.verdict == "MISSED"):
                    profiles[m.name] = profile_page(client, m.url, runs=max(10, runs // 3))
        db_engine_dispose(app)
        return {"database": database, "leads": live, "migrate_s": migrate_s, "seed_s": seed_s, "results": results, "profiles": profiles,
                "load": load_before, "load_after": os.getloadavg()}


def db_engine_dispose(app) -> None:
    """Close the app's connections (a PostgreSQL database of the next run may be dropped)."""
    from leadflow.extensions import db

    with app.app_context():
        db.engine.dispose()


def _body_of_size(body: bytes, size: int) -> bytes:
    """A static body of exactly ``size`` bytes (the median size when several pages are timed)."""
    return body[:size] + b" " * max(0, size - len(body))


def profile_page(client, url: str, runs: int) -> str:
    profiler = cProfile.Profile()
    profiler.enable()
    for _ in range(runs):
        client.get(url)
    profiler.disable()
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out)
    stats.sort_stats("cumulative").print_stats(30)
    out.write("\n--- by own time ---\n")
    stats.sort_stats("tottime").print_stats(20)
    return f"cProfile of {runs} requests to {url}\n" + out.getvalue()


# --------------------------------------------------------------------------- report


def machine() -> str:
    return (f"{os.cpu_count()} CPU(s) ({platform.machine()}), Python {platform.python_version()}, "
            f"SQLite {__import__('sqlite3').sqlite_version}, {platform.system()}")


def markdown(report: list[dict], runs: int, warmup: int) -> str:
    lines = [f"Run {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC on {machine()}; "
             f"{runs} timed runs per page after {warmup} warm-up requests.", ""]
    for size in report:
        lines.append(f"### {size['leads']:,} leads ({size.get('database', 'SQLite')})")
        lines.append("")
        seeded = f"demo seed {size['seed_s']:.1f} s" if size["seed_s"] is not None else "demo seed reused"
        lines.append(f"Migrations {size['migrate_s']:.1f} s, {seeded}. Load average (1 min) "
                     f"{size['load'][0]:.1f} before the timed requests, {size['load_after'][0]:.1f} after.")
        lines.append("")
        lines.append("| page | bytes | SQL queries | median ms | p95 ms | CPU median ms "
                     "| bare Flask, same size (median ms) | ratio | target | |")
        lines.append("|---|---:|---:|---:|---:|---:|---:|---:|---|---|")
        for m in size["results"]:
            target = f"< {m.target:.0f} ms, ≤ {MAX_QUERIES} queries" if m.target else ""
            name = m.name + (f" ({m.note})" if m.note else "")
            lines.append(f"| {name} | {m.bytes:,} | {m.queries} | {m.median:.1f} | {m.p95:.1f} | "
                         f"{m.cpu_median:.1f} | {m.baseline_median:.2f} | ×{m.ratio:.1f} | {target} | {m.verdict} |")
        lines.append("")
    return "\n".join(lines)


def statements_report(report: list[dict]) -> str:
    out = []
    for size in report:
        for m in size["results"]:
            out.append(f"\n{size['leads']:,} leads · {m.name} · {m.url}")
            for ms, sql in sorted(m.statements, key=lambda s: -s[0]):
                out.append(f"  {ms:7.2f} ms  {' '.join(sql.split())[:160]}")
    return "\n".join(out)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000, 100_000])
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--profile", action="store_true", help="print per-statement times and cProfile output")
    parser.add_argument("--reuse", type=Path, metavar="DIR",
                        help="keep the seeded databases in DIR and reuse them on the next run "
                             "(delete them after changing the seeder or the migrations)")
    parser.add_argument("--database-url", metavar="URL",
                        help="postgresql://…/NAME: benchmark on PostgreSQL, in a database NAME_<size> "
                             "per size on that server (created when missing; emptied unless --reuse "
                             "and it holds the demo already); default: a SQLite file")
    args = parser.parse_args(argv)

    args.warmup = steady_warmup(args.warmup)
    report = [bench_size(n, args.runs, args.warmup, args.profile, args.reuse, args.database_url)
              for n in args.sizes]
    print("\n" + markdown(report, args.runs, args.warmup))
    if args.profile:
        print("\n## SQL statements of one request (slowest first)")
        print(statements_report(report))
        for size in report:
            for name, text in size["profiles"].items():
                print(f"\n## {size['leads']:,} leads · {name}\n{text}")
    missed = [m for size in report for m in size["results"] if m.verdict == "MISSED"]
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
