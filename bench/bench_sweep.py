"""The ``lead_arrivals`` sweep in-process: CPU per lead and statements per batch, by batch size.

Run from the repository root (reusing a seeded database, as ``bench_writes.py`` does):

    .venv/bin/python bench/bench_sweep.py --sizes 100000 --reuse DIR
    .venv/bin/python bench/bench_sweep.py --sizes 100000 --reuse DIR --database-url postgresql://postgres@127.0.0.1/NAME
    .venv/bin/python bench/bench_sweep.py --sizes 100000 --reuse DIR --batches 20 --profile

Per round it creates ``--leads`` leads through the Flask test client (API and capture form in
turn, as the throughput test does; not timed), which queue their arrivals, then runs the sweep
(``run_sweep``, as the scheduler does) with the sweep's batch size set to each of ``--batches``
until the queue is empty, ``time.thread_time`` around each run. A busy server's sweep takes
what arrived since its last run, a few leads to a few dozen: the small batches show the cost
every batch pays whatever its size (the rules, people and settings it reads, its statements'
round trips), the large ones the cost per lead. Reported per batch size: the median of the
rounds' CPU per lead, and the statements per batch (BEGIN, COMMIT, SAVEPOINT and RELEASE not
counted; the savepoints are counted apart).
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import pstats
import statistics
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlencode

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

import bench_pages  # noqa: E402  (sets the scratch instance folder before config is imported)
from bench_databases import database_for, database_label  # noqa: E402
from bench_writes import api_token, build_app, capture_tokens, person  # noqa: E402
from sqlalchemy import event  # noqa: E402


def create_leads(app, client, token: str, tokens: list[str], count: int) -> None:
    for i in range(count):
        data = person("sweep", i)
        if i % 2:
            response = client.post("/api/v1/leads", json=data, headers={"Authorization": f"Bearer {token}"})
            ok = response.status_code == 201
        else:
            form = {**data, "company": data["organization"], "form_token": tokens.pop(), "consent": "1"}
            response = client.post("/f/demo-contact", data=urlencode(form),
                                   headers={"Accept": "application/json",
                                            "Content-Type": "application/x-www-form-urlencoded"})
            ok = response.status_code == 200
        if not ok:
            raise SystemExit(f"create answered {response.status_code}: {response.get_data(as_text=True)[:300]}")


class Counter:
    """Statements and savepoints run on ``engine`` while counting."""

    def __init__(self, engine):
        self.statements = self.savepoints = 0
        event.listen(engine, "before_cursor_execute", self._count)

    def _count(self, conn, cursor, statement, parameters, context, executemany):
        head = statement.lstrip()[:9].upper()
        if head.startswith("SAVEPOINT"):
            self.savepoints += 1
        elif not head.startswith(bench_pages.SKIPPED_STATEMENTS):
            self.statements += 1


def sweep_all(app, counter: Counter, profiler: cProfile.Profile | None) -> tuple[float, int, list[tuple[int, int, int]]]:
    """Run the sweep until nothing is queued: (CPU seconds, leads, per batch (leads,
    statements, savepoints))."""
    from leadflow.scheduler.runner import run_sweep

    cpu, leads, batches = 0.0, 0, []
    while True:
        before = (counter.statements, counter.savepoints)
        if profiler is not None:
            profiler.enable()
        started = time.thread_time()
        ran = run_sweep(app, "lead_arrivals") or 0
        spent = time.thread_time() - started
        if profiler is not None:
            profiler.disable()
        if not ran:
            return cpu, leads, batches
        cpu, leads = cpu + spent, leads + ran
        batches.append((ran, counter.statements - before[0], counter.savepoints - before[1]))


def bench_size(lead_count: int, args) -> list[dict]:
    from leadflow.extensions import db
    from leadflow.leads import arrivals

    with tempfile.TemporaryDirectory(prefix=f"leadflow-bench-sweep-{lead_count}-") as folder:
        url, fresh, where = database_for(str(lead_count), args.reuse or Path(folder), database_url=args.database_url,
                                         reuse=args.reuse is not None)
        app = build_app(url)
        print(f"\n== {lead_count:,} leads on {database_label(url)} ({where})", flush=True)
        bench_pages.migrate_and_seed(app, lead_count, seed=fresh)
        token = api_token(app)
        tokens = capture_tokens(app, args.leads * (args.rounds + 1) * (len(args.batches) + 1))
        client = app.test_client()
        with app.app_context():
            engine = db.engine
        counter = Counter(engine)
        create_leads(app, client, token, tokens, args.leads)  # warm-up: every code path loaded once
        sweep_all(app, counter, None)
        results = []
        for size in args.batches:
            arrivals.BATCH = arrivals.SQLITE_BATCH = size
            per_lead, shapes = [], []
            profiler = cProfile.Profile() if args.profile else None
            for _ in range(args.rounds):
                create_leads(app, client, token, tokens, args.leads)
                cpu, leads, batches = sweep_all(app, counter, profiler)
                per_lead.append(cpu * 1000 / max(1, leads))
                shapes.append(batches[0])
            leads, statements, savepoints = shapes[-1]
            claimed = -(-leads // size)  # one run takes batch after batch until the queue is empty
            statements, savepoints = statements / claimed, savepoints / claimed
            result = {"batch": size, "cpu_ms": statistics.median(per_lead), "runs": per_lead,
                      "statements": statements, "savepoints": savepoints}
            results.append(result)
            print(f"   batch {size:4d}: CPU per lead median {result['cpu_ms']:.2f} ms "
                  f"(rounds {', '.join(f'{v:.2f}' for v in per_lead)}), per batch "
                  f"{statements:.0f} statements, {savepoints:.0f} savepoints", flush=True)
            if profiler is not None:
                out = io.StringIO()
                stats = pstats.Stats(profiler, stream=out)
                stats.sort_stats("cumulative").print_stats(45)
                out.write("\n--- by own time ---\n")
                stats.sort_stats("tottime").print_stats(25)
                print(out.getvalue())
        bench_pages.db_engine_dispose(app)
        return results


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000])
    parser.add_argument("--leads", type=int, default=200, help="new leads per round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 5, 20, 50, 200])
    parser.add_argument("--profile", action="store_true", help="cProfile of the sweeps, per batch size")
    parser.add_argument("--reuse", type=Path, metavar="DIR", help="keep the seeded databases in DIR and reuse them")
    parser.add_argument("--database-url", metavar="URL", help="postgresql://…/NAME: the database NAME_<size>")
    parser.add_argument("--json", action="store_true", help="print the results as JSON at the end")
    args = parser.parse_args(argv)
    report = {size: bench_size(size, args) for size in args.sizes}
    if args.json:
        print(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
