"""Server-side speed of every registered report at 100,000 leads, 1,000,000 activities and
300,000 stage changes: each report page against the bare aggregate SQL it needs.

Run from the repository root:

    .venv/bin/python bench/bench_reports.py                       # SQLite file, 10 timed runs
    .venv/bin/python bench/bench_reports.py --runs 5 --reuse /tmp/reports-bench
    .venv/bin/python bench/bench_reports.py --database-url postgresql://postgres@127.0.0.1/leadflow_bench

The database is migrated and seeded with bulk SQL (no demo, no lead store: one executemany
per table for the leads and their stage history, ``INSERT … SELECT`` for the activities and
the lifecycle history): a year of leads from ten reps in two teams, every lead with three
stage changes (created in New, a step on, where it stands now), ten activities and its
lifecycle history; a tenth of the values in EUR (with a rate) and a twentieth in GBP
(without one); costs for every source and month.

Then, for every report in ``leadflow.reports.registry.REPORTS`` (each registered report is
picked up, whoever added it; one with no baseline stops the run), signed in as an admin, over
the whole year (all leads):

* **bare SQL**: the report's main figures computed by hand-written aggregate SQL, the plainest
  correct query per figure (``report_baselines.py``), on a connection of the app's pool;
  after the warm-up its figures are checked against the report's (a baseline that computes
  something else would be no baseline);
* **compute**: ``report.compute(filters, viewer)`` in an app context, a fresh session each run;
* **page**: ``GET /reports/<slug>?start=…`` through the Flask test client: the compute plus the
  request, the filter form's choices, the charts and the template.

The three alternate run by run, so all see the same machine load. "Ratio" = page median /
bare SQL median; the target (issue 16) is 2× or less, with the figures agreeing. The
``/reports`` index and its cards' thumbnails (the default 90 days) are timed too, without a target. The
script exits with status 1 when a report misses the target.

Prints Markdown; it never writes a file (``--no-write`` is accepted for ``run_all.py``).
Not collected by pytest: it lives outside ``testpaths`` and its name does not start with ``test``.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import random
import re
import statistics
import sys
import time
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_databases import database_for, database_label, is_postgresql  # noqa: E402
from bench_pages import build_app, machine, percentile, refresh_statistics  # noqa: E402  (also points the instance folder at scratch)

TARGET_RATIO = 2.0
PASSWORD = "bench-reports-password"
ADMIN_EMAIL = "bench-admin@example.com"
CHUNK = 10_000


# --------------------------------------------------------------------------- seeding


def _executemany(connection, table, rows: list[dict]) -> None:
    for start in range(0, len(rows), CHUNK):
        connection.execute(table.insert(), rows[start:start + CHUNK])


def seed(app, leads: int, activities: int, stage_changes: int, rng: random.Random) -> dict:
    """Write the data set with bulk SQL; returns what was written."""
    from sqlalchemy import null, text

    from leadflow.accounts.models import Team, User
    from leadflow.accounts.services import hash_password
    from leadflow.extensions import db
    from leadflow.governance.models import ExchangeRate
    from leadflow.leads.models import SOURCES, Lead, LifecycleChange
    from leadflow.pipeline.models import StageChange
    from leadflow.pipeline.services import ensure_default_pipeline
    from leadflow.pipeline.totals import recount_stage_totals
    from leadflow.reports.models import SourceCost

    now = datetime.now(timezone.utc).replace(microsecond=0)
    with app.app_context():
        teams = [Team(name="North"), Team(name="South")]
        db.session.add_all(teams)
        db.session.flush()
        admin = User(email=ADMIN_EMAIL, name="Bench Admin", role="admin", password_hash=hash_password(PASSWORD))
        reps = [User(email=f"rep{i}@example.com", name=f"Rep {i}", role="rep", team_id=teams[i % 2].id,
                     password_hash=admin.password_hash) for i in range(10)]
        db.session.add_all([admin, *reps])
        pipeline = ensure_default_pipeline()
        db.session.add(ExchangeRate(base_currency="USD", currency="EUR", rate=1.08, set_at=now, set_by=admin))
        db.session.flush()
        stages = list(pipeline.stages)  # New … Negotiation, Won, Lost
        rep_ids = [rep.id for rep in reps]
        lead_rows, history, lifecycle_of = [], [], {}
        per_lead = max(1, stage_changes // leads)
        weights = [30, 20, 15, 10, 8, 10, 7]  # where the leads stand now, by stage
        # Ids grow with the time of creation, as they do in a workspace in use.
        created_times = sorted(now - timedelta(days=rng.uniform(0, 364)) for _ in range(leads))
        for i, created in enumerate(created_times):
            current = rng.choices(range(len(stages)), weights)[0]
            stage = stages[current]
            lifecycle = ("customer" if stage.kind == "won" else
                         "disqualified" if stage.kind == "lost" and rng.random() < 0.5 else
                         ("lead", "mql", "sql", "opportunity", "opportunity")[min(current, 4)])
            currency = "EUR" if i % 10 == 0 else "GBP" if i % 20 == 1 else "USD"
            lead_rows.append({
                "first_name": f"Lead{i}", "last_name": "Bench", "email": f"lead{i}@bench.example",
                "email_key": f"lead{i}@bench.example", "source": SOURCES[i % len(SOURCES)] if i % 13 else None,
                "owner_id": rep_ids[i % len(rep_ids)] if i % 17 else None, "lifecycle": lifecycle,
                "temperature": "cold", "score": 0, "value_cents": rng.randrange(1_000, 5_000_000) if i % 4 else None,
                "currency": currency, "marketing_consent": False, "pipeline_id": pipeline.id, "stage_id": stage.id,
                "stage_entered_at": created + timedelta(days=min(30, (now - created).days) * 0.8),
                "created_at": created, "updated_at": created, "search_text": f"lead{i} bench lead{i}@bench.example",
                "board_rank": -created.timestamp(), "version": 1,
            })
            lifecycle_of[i] = lifecycle
        connection = db.session.connection()
        started = time.perf_counter()
        _executemany(connection, Lead.__table__, lead_rows)
        ids = [row[0] for row in connection.execute(text("SELECT id FROM leads ORDER BY id"))]
        for lead_id, row in zip(ids, lead_rows):
            current = next(i for i, s in enumerate(stages) if s.id == row["stage_id"])
            middle = stages[min(current, rng.randrange(0, 5))] if current else stages[0]
            steps = [(None, stages[0]), (stages[0], middle), (middle, stages[current])][:per_lead]
            created, entered = row["created_at"], row["stage_entered_at"]
            for n, (from_stage, to_stage) in enumerate(steps):
                at = created if n == 0 else entered if n == len(steps) - 1 else created + (entered - created) / 2
                history.append({"lead_id": lead_id, "from_stage_id": from_stage.id if from_stage else None,
                                "to_stage_id": to_stage.id, "actor_id": row["owner_id"], "at": at})
        _executemany(connection, StageChange.__table__, history)
        connection.execute(LifecycleChange.__table__.insert().from_select(
            ["lead_id", "from_lifecycle", "to_lifecycle", "actor_id", "at"],
            db.select(Lead.id, null(), db.literal("lead"), null(), Lead.created_at)))
        connection.execute(LifecycleChange.__table__.insert().from_select(
            ["lead_id", "from_lifecycle", "to_lifecycle", "actor_id", "at"],
            db.select(Lead.id, db.literal("lead"), Lead.lifecycle, Lead.owner_id, Lead.stage_entered_at)
            .where(Lead.lifecycle != "lead")))
        per = max(1, activities // leads)
        kinds = "CASE n.k % 4 WHEN 0 THEN 'call' WHEN 1 THEN 'email' WHEN 2 THEN 'meeting' ELSE 'note' END"
        later = ("datetime(l.created_at, '+' || (n.k * 7) || ' hours')" if connection.dialect.name == "sqlite"
                 else "l.created_at + n.k * interval '7 hours'")
        numbers = " UNION ALL ".join(f"SELECT {k} AS k" for k in range(per))
        connection.execute(text(
            f"INSERT INTO activities (lead_id, kind, actor_id, occurred_at, subject, created_at) "
            f"SELECT l.id, {kinds}, l.owner_id, {later}, 'Bench activity', l.created_at "
            f"FROM leads l CROSS JOIN ({numbers}) n ORDER BY l.id, n.k"))
        months = sorted({date(d.year, d.month, 1) for d in (now - timedelta(days=31 * m) for m in range(13))})
        db.session.add_all([SourceCost(source=source, month=month, amount_cents=rng.randrange(10_000, 500_000),
                                       currency="USD" if k % 5 else "EUR")
                            for k, source in enumerate(SOURCES) for month in months])
        recount_stage_totals(db.session)
        db.session.commit()
        # Fresh statistics and (PostgreSQL) a visibility map, as autovacuum keeps in a database in use.
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as autocommit:
            autocommit.execute(text("VACUUM ANALYZE" if autocommit.dialect.name == "postgresql" else "ANALYZE"))
        written = {table: db.session.scalar(text(f"SELECT count(*) FROM {table}"))  # noqa: S608 (our table names)
                   for table in ("leads", "stage_changes", "activities", "lifecycle_changes", "source_costs")}
        db.session.remove()
    written["seconds"] = time.perf_counter() - started
    return written


def exact_database(database_url: str, *, reuse: bool) -> tuple[str, bool, str]:
    """The PostgreSQL database named in ``database_url`` itself: kept when ``reuse`` and it
    holds leads, else its public schema dropped and made again (empty)."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    from config import normalise_database_url

    url = make_url(normalise_database_url(database_url))
    engine = create_engine(url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as connection:
            seeded = bool(connection.scalar(text("SELECT to_regclass('leads') IS NOT NULL"))) and bool(
                connection.scalar(text("SELECT EXISTS (SELECT 1 FROM leads)")))
            if not (reuse and seeded):
                connection.execute(text("DROP SCHEMA public CASCADE"))
                connection.execute(text("CREATE SCHEMA public"))
    finally:
        engine.dispose()
    return url.render_as_string(hide_password=False), not (reuse and seeded), f"PostgreSQL database {url.database}"


def counts(app) -> dict:
    from sqlalchemy import text

    from leadflow.extensions import db

    with app.app_context():
        found = {table: db.session.scalar(text(f"SELECT count(*) FROM {table}"))  # noqa: S608
                 for table in ("leads", "stage_changes", "activities", "lifecycle_changes", "source_costs")}
        db.session.remove()
    return found


# --------------------------------------------------------------------------- timing


def sign_in(client) -> None:
    page = client.get("/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)
    response = client.post("/login", data={"email": ADMIN_EMAIL, "password": PASSWORD, "csrf_token": token})
    if response.status_code != 302:
        raise SystemExit(f"could not sign in (HTTP {response.status_code})")


def period(app, args: dict):
    """The baselines' parameters: the filters' UTC bounds, now, the default pipeline, the months."""
    from datetime import time as day_time

    from sqlalchemy import text

    from leadflow.extensions import db
    from report_baselines import Period

    start = datetime.combine(date.fromisoformat(args["start"]), day_time(), tzinfo=timezone.utc)
    end = datetime.combine(date.fromisoformat(args["end"]) + timedelta(days=1), day_time(), tzinfo=timezone.utc)
    months, first = [], start.replace(day=1)
    while first < end:
        following = (first + timedelta(days=32)).replace(day=1)
        months.append((f"{first:%Y-%m}", max(first, start), min(following, end)))
        first = following
    with app.app_context():
        pipeline_id = db.session.scalar(text(
            "SELECT id FROM pipelines WHERE archived_at IS NULL ORDER BY is_default DESC, position, id LIMIT 1"))
        db.session.remove()
    return Period(start, end, datetime.now(timezone.utc), pipeline_id, months)


def time_bare(app, baseline, when) -> tuple[float, float, dict]:
    """The hand-written SQL of a report (``report_baselines``), on a fresh connection of the
    app's pool, as the report's compute gets."""
    from leadflow.extensions import db

    when = dataclasses.replace(when, now=datetime.now(timezone.utc))  # "now" as the report's compute reads it
    with app.app_context():
        started, cpu = time.perf_counter(), time.thread_time()
        with db.engine.connect() as connection:
            figures = baseline(connection, when)
        elapsed, cpu = (time.perf_counter() - started) * 1000, (time.thread_time() - cpu) * 1000
    return elapsed, cpu, figures


def time_compute(app, report, args: dict) -> tuple[float, float, object]:
    from leadflow.accounts.models import User
    from leadflow.extensions import db
    from leadflow.reports.filters import ReportFilters

    with app.app_context():
        viewer = db.session.scalar(db.select(User).where(User.email == ADMIN_EMAIL))
        started, cpu = time.perf_counter(), time.thread_time()
        filters = ReportFilters.from_args(args, viewer)
        data = report.compute(filters, viewer)
        elapsed, cpu = (time.perf_counter() - started) * 1000, (time.thread_time() - cpu) * 1000
        db.session.remove()
    return elapsed, cpu, data


def time_page(client, url: str, headers: dict | None = None) -> tuple[float, float, int]:
    started, cpu = time.perf_counter(), time.thread_time()
    response = client.get(url, headers=headers)
    elapsed, cpu = (time.perf_counter() - started) * 1000, (time.thread_time() - cpu) * 1000
    if response.status_code != 200:
        raise SystemExit(f"GET {url} answered {response.status_code}")
    return elapsed, cpu, len(response.get_data())


def measure(app, runs: int, warmup: int, only: list[str] | None = None) -> tuple[list[dict], dict]:
    """Each report: its baseline SQL, its compute and its page, in turn run by run; the
    baseline's figures are checked against the report's (once, after the warm-up)."""
    from urllib.parse import urlencode

    from leadflow.reports.registry import REPORTS
    from leadflow.reports.views import load_reports
    from report_baselines import BASELINES, headline

    load_reports()

    client = app.test_client()
    sign_in(client)
    today = datetime.now(timezone.utc).date()
    args = {"start": (today - timedelta(days=364)).isoformat(), "end": today.isoformat()}
    when = period(app, args)
    results = []
    for report in REPORTS:
        if only and report.slug not in only:
            continue
        baseline = BASELINES.get(report.slug)
        if baseline is None:
            raise SystemExit(f"No baseline SQL for /reports/{report.slug}: add one to bench/report_baselines.py.")
        url = f"/reports/{report.slug}?{urlencode(args)}"
        for _ in range(warmup):
            time_bare(app, baseline, when)
            time_compute(app, report, args)
            time_page(client, url)
        timings = {key: [] for key in ("bare", "compute", "page", "bare_cpu", "compute_cpu", "page_cpu")}
        size, agrees = 0, None
        for _ in range(runs):
            elapsed, cpu, figures = time_bare(app, baseline, when)
            timings["bare"].append(elapsed)
            timings["bare_cpu"].append(cpu)
            elapsed, cpu, data = time_compute(app, report, args)
            timings["compute"].append(elapsed)
            timings["compute_cpu"].append(cpu)
            if agrees is None:
                expected = headline(report.slug, data)
                agrees = figures == expected
                if not agrees:
                    print(f"{report.slug}: the baseline's figures differ from the report's:\n  baseline {figures}\n"
                          f"  report   {expected}", file=sys.stderr)
            elapsed, cpu, size = time_page(client, url)
            timings["page"].append(elapsed)
            timings["page_cpu"].append(cpu)
        results.append({"slug": report.slug, "title": report.title, "bytes": size, "agrees": agrees, **timings})
        print(f"{report.slug}: bare {statistics.median(timings['bare']):.0f} ms, compute "
              f"{statistics.median(timings['compute']):.0f} ms, page {statistics.median(timings['page']):.0f} ms",
              file=sys.stderr, flush=True)
    index, cards = [], []  # wall ms: the index page; then every card's thumbnail, as htmx asks for them
    for _ in range(max(3, runs // 2)):
        index.append(time_page(client, "/reports")[0])
        cards.append(sum(time_page(client, f"/reports/{report.slug}/thumbnail", {"HX-Request": "true"})[0]
                         for report in REPORTS))
    return results, {"median": statistics.median(index), "p95": percentile(index, 95),
                     "cards": statistics.median(cards)}


# --------------------------------------------------------------------------- report


def markdown(database: str, written: dict, seeded: bool, results: list[dict], index: dict, runs: int,
             warmup: int) -> str:
    seeded_text = f"bulk-seeded in {written['seconds']:.0f} s" if seeded else "reused"
    lines = [f"Run {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC on {machine()}; {runs} timed runs per report "
             f"after {warmup} warm-up runs; load average (1 min) {os.getloadavg()[0]:.1f} at the end.", "",
             f"### Reports over a year of data ({database})", "",
             f"{written['leads']:,} leads, {written['stage_changes']:,} stage changes, {written['activities']:,} "
             f"activities, {written['lifecycle_changes']:,} lifecycle changes, {written['source_costs']:,} source "
             f"costs ({seeded_text}). "
             "Filters: the whole year, everyone's leads, signed in as an admin.", "",
             "Each report three ways, in turn run by run (the same load for all three): **bare SQL**, the "
             "report's main figures by a hand-written aggregate query (`bench/report_baselines.py`, checked to "
             "give the report's figures); **compute**, the report's own `compute()`; **page**, the whole request. "
             "Ratio = page median / bare SQL median; target ≤ ×2. CPU: this process's thread (on PostgreSQL the "
             "server's work is not in it).", "",
             "| report | bare SQL ms | compute ms | page ms | page p95 ms | ratio (page / bare) | bare CPU ms "
             "| compute CPU ms | page CPU ms | figures agree | target | |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---|---|---|"]
    for r in results:
        bare, compute, page = (statistics.median(r[key]) for key in ("bare", "compute", "page"))
        ratio = page / bare if bare else float("inf")
        verdict = "met" if ratio <= TARGET_RATIO and r["agrees"] else "MISSED"
        lines.append(f"| {r['title']} (`/reports/{r['slug']}`) | {bare:.1f} | {compute:.1f} | {page:.1f} | "
                     f"{percentile(r['page'], 95):.1f} | ×{ratio:.2f} | {statistics.median(r['bare_cpu']):.1f} | "
                     f"{statistics.median(r['compute_cpu']):.1f} | {statistics.median(r['page_cpu']):.1f} | "
                     f"{'yes' if r['agrees'] else 'NO'} | ≤ ×{TARGET_RATIO:.0f} | {verdict} |")
        r["verdict"] = verdict
    lines += ["", f"The `/reports` index (the cards; each thumbnail, the default 90 days, is asked for by its card "
                  f"once the page is shown): median {index['median']:.1f} ms, p95 {index['p95']:.1f} ms; every "
                  f"card's thumbnail, one request after the other: {index['cards']:.0f} ms in all (median).", ""]
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--leads", type=int, default=100_000)
    parser.add_argument("--activities", type=int, default=1_000_000)
    parser.add_argument("--stage-changes", type=int, default=300_000)
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--seed", type=int, default=16, help="random seed of the data set")
    parser.add_argument("--reuse", type=Path, metavar="DIR",
                        help="keep the seeded SQLite file in DIR (or the PostgreSQL database) and reuse it")
    parser.add_argument("--database-url", metavar="URL",
                        help="postgresql://…/NAME: benchmark on PostgreSQL, in a database NAME_reports")
    parser.add_argument("--exact-database", action="store_true",
                        help="with --database-url: use that PostgreSQL database itself, not NAME_reports "
                             "(its public schema is emptied first unless --reuse finds it seeded)")
    parser.add_argument("--only", action="append", metavar="SLUG", help="time only this report (repeatable)")
    parser.add_argument("--no-write", action="store_true", help="accepted for run_all.py; nothing is written anyway")
    args = parser.parse_args(argv)

    from flask_migrate import upgrade

    folder = args.reuse or Path(os.environ["LEADFLOW_INSTANCE"])
    folder.mkdir(parents=True, exist_ok=True)
    if args.exact_database and is_postgresql(args.database_url):
        url, must_seed, where = exact_database(args.database_url, reuse=bool(args.reuse))
    else:
        url, must_seed, where = database_for("reports", folder, database_url=args.database_url,
                                             reuse=bool(args.reuse))
    print(f"Database: {where}", flush=True)
    app = build_app(url)
    with app.app_context():
        upgrade()
    if must_seed:
        written = seed(app, args.leads, args.activities, args.stage_changes, random.Random(args.seed))
    else:
        written = counts(app)
        refresh_statistics(app)  # for the indexes a migration may have just added
    print(f"Data: {written}", flush=True)
    results, index = measure(app, args.runs, args.warmup, args.only)
    print("\n" + markdown(database_label(args.database_url), written, must_seed, results, index, args.runs,
                          args.warmup))
    return 1 if any(r["verdict"] == "MISSED" for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
