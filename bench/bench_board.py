"""Server-side speed of the pipeline board at 1,000, 20,000 and 100,000 leads.

Run from the repository root:

    .venv/bin/python bench/bench_board.py                 # the three sizes, 30 timed runs per request
    .venv/bin/python bench/bench_board.py --sizes 1000 --runs 10
    .venv/bin/python bench/bench_board.py --profile       # plus where the time goes, per query and per function
    .venv/bin/python bench/bench_board.py --reuse DIR     # keep the seeded databases in DIR between runs

For each size it builds a fresh SQLite file database, applies the Alembic migrations and
seeds the demo workspace with ``leadflow_demo.seed_demo`` (the set-up, sign-in, SQL
counting and baseline app come from ``bench_pages.py``), checks that the kept per-stage
totals (``stage_totals``) agree with the leads, then times, through the Flask test client
signed in as the demo admin:

* the board of the default pipeline (``GET /pipeline``), the figure the issue's target is about;
* the same board as the htmx fragment a stale board reloads (``HX-Request: true``);
* the board filtered to one rep (``?owner=<id>``, the rep with the most leads);
* one column's "load more" fragment, the URL taken from the page's first ``class="load-more"``;
* the same fragment from the middle of the largest column (keyset paging, deep in the column);
* the forecast fragment (``GET /pipeline/<id>/forecast``);
* a drag move (``POST /pipeline/move``) of one card back and forth between two open stages,
  with the CSRF token the page puts in ``<body hx-headers>`` sent as ``X-CSRFToken``.

Each timed request is followed by requests to a bare Flask app in the same process that
answer a prepared body of the same byte size (a POST for the move): page and baseline
alternate, so both see the same machine load. "Ratio" = request median / baseline median.

The board itself is timed last, with every size's database, app and client kept open: one
request per size in turn, round after round (``--board-runs`` rounds), so that other work on
the machine weighs on every size alike. The target (issue 3): the board's ratio at 100,000
leads within 1.5 times its ratio at 1,000 leads. The script exits with status 1 when it is
missed (or, with other sizes, when the largest size's ratio exceeds 1.5 times the smallest's).

Not collected by pytest: it lives outside ``testpaths`` and its name does not start with ``test``.
"""

from __future__ import annotations

import argparse
import html
import importlib
import os
import re
import statistics
import sys
import tempfile
import time
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

# Importing bench_pages also puts the repository on sys.path and points the app's instance
# folder at a scratch directory (before ``config`` is imported).
sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_pages import (  # noqa: E402
    Baseline,
    Measurement,
    build_app,
    machine,
    migrate_and_seed,
    profile_page,
    recording_statements,
    sign_in,
    steady_warmup,
)

from sqlalchemy import event, func, select, text  # noqa: E402

from bench_databases import database_for, database_label  # noqa: E402

DEFAULT_SIZES = [1_000, 20_000, 100_000]
TARGET_GROWTH = 1.5  # the 100,000-lead ratio over the 1,000-lead ratio
BASELINE_PER_RUN = 3  # baseline requests after each timed request (it is cheap and noisy)
BOARD = "Board, default pipeline (full page)"


class BoardBaseline(Baseline):
    """``bench_pages.Baseline`` plus a POST route, the floor for the move."""

    def __init__(self):
        super().__init__()

        @self.app.post("/static-page/<key>")
        def static_post(key):
            return self.bodies[key]

    def prepare(self, key: str, body: bytes) -> None:
        self.bodies[key] = body
        check = self.client.get(f"/static-page/{key}").get_data()
        assert len(check) == len(body), "baseline body size differs from the page"


def timed(fn) -> tuple[float, float, object]:
    """(wall ms, thread CPU ms, result) of one call."""
    cpu_started = time.thread_time()
    started = time.perf_counter()
    result = fn()
    return (time.perf_counter() - started) * 1000, (time.thread_time() - cpu_started) * 1000, result


def interleaved(call, baseline_call, runs: int, warmup: int) -> tuple[list[float], list[float], list[float]]:
    """Time ``call(i)`` ``runs`` times after ``warmup`` untimed calls, each followed by baseline calls."""
    for i in range(warmup):
        call(i)
        baseline_call()
    times, cpu, base = [], [], []
    for i in range(warmup, warmup + runs):
        wall, thread, _ = timed(lambda: call(i))
        times.append(wall)
        cpu.append(thread)
        for _ in range(BASELINE_PER_RUN):
            base.append(timed(baseline_call)[0])
    return times, cpu, base


def expect(response, url: str, status: int = 200):
    if response.status_code != status:
        raise SystemExit(f"{url} answered {response.status_code}, expected {status}:\n"
                         f"{response.get_data(as_text=True)[:500]}")
    return response


# --------------------------------------------------------------------------- set-up checks


def check_stage_totals(app) -> str:
    """Compare the kept stage totals with a GROUP BY over the leads; recount them if they differ."""
    from leadflow.extensions import db
    from leadflow.pipeline.models import Stage, StageTotals
    from leadflow.pipeline.totals import live_totals_query, recount_stage_totals

    with app.app_context():
        stage_ids = list(db.session.scalars(select(Stage.id)))
        actual = {r[0]: (r[1], int(r[2])) for r in db.session.execute(live_totals_query(stage_ids))}
        kept = {r[0]: (r[1], int(r[2])) for r in db.session.execute(
            select(StageTotals.stage_id, StageTotals.lead_count, StageTotals.value_cents))}
        wanted = {sid: actual.get(sid, (0, 0)) for sid in stage_ids}
        have = {sid: kept.get(sid) for sid in stage_ids}
        if wanted == have:
            db.session.remove()
            return "The kept stage totals match a GROUP BY over the leads"
        empty = not kept
        recount_stage_totals(db.session)
        db.session.commit()
        db.session.remove()
    note = ("WARNING: stage_totals was empty after seeding" if empty else
            "WARNING: stage_totals disagreed with the leads after seeding")
    note += "; seed_demo did not maintain them. Recounted with recount_stage_totals() before timing."
    print(f"   {note}", flush=True)
    return note


def board_facts(app) -> dict:
    """What the plan needs from the database: pipeline, stages, a rep, the deepest column."""
    from leadflow.accounts.models import User
    from leadflow.extensions import db
    from leadflow.leads.models import Lead
    from leadflow.pipeline import board
    from leadflow.pipeline.models import StageTotals

    with app.app_context():
        pipeline = board.default_pipeline()
        if pipeline is None:
            raise SystemExit("the demo seeder created no pipeline")
        stages = [(s.id, s.name, s.kind) for s in pipeline.stages]
        counts = dict(db.session.execute(select(StageTotals.stage_id, StageTotals.lead_count)
                                         .where(StageTotals.stage_id.in_([s[0] for s in stages]))).all())
        live = db.session.scalar(select(func.count(Lead.id)).where(Lead.deleted_at.is_(None)))
        rep = db.session.execute(
            select(User.id, User.name, func.count(Lead.id)).join(Lead, Lead.owner_id == User.id)
            .where(User.role == "rep", Lead.deleted_at.is_(None), Lead.pipeline_id == pipeline.id)
            .group_by(User.id, User.name).order_by(func.count(Lead.id).desc()).limit(1)).first()
        largest = max(stages, key=lambda s: counts.get(s[0], 0))
        middle = db.session.execute(
            select(Lead.board_rank, Lead.id).where(Lead.stage_id == largest[0], Lead.deleted_at.is_(None))
            .order_by(Lead.board_rank, Lead.id).limit(1).offset(counts.get(largest[0], 0) // 2)).first()
        db.session.remove()
    return {"pipeline_id": pipeline.id, "stages": stages, "counts": counts, "live": live, "rep": rep,
            "largest": largest, "middle": middle}


# --------------------------------------------------------------------------- one size


@dataclass
class Prepared:
    """One seeded database, its app and a signed-in client, and what to request."""

    lead_count: int
    app: object
    engine: object
    client: object
    facts: dict
    plan: list
    token: str
    first_card: tuple[int, int]
    open_stages: list
    migrate_s: float
    seed_s: float | None
    size_mb: float
    columns: str
    totals_note: str
    results: list = field(default_factory=list)
    profiles: dict = field(default_factory=dict)
    phases: dict = field(default_factory=dict)
    replays: dict = field(default_factory=dict)
    load: tuple = ()
    load_after: tuple = ()
    database: str = "SQLite"


def prepare(lead_count: int, stack: ExitStack, reuse: Path | None, database_url: str | None = None) -> Prepared:
    from leadflow.extensions import db

    if reuse is not None:
        reuse.mkdir(parents=True, exist_ok=True)
        folder = reuse
    else:
        folder = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix=f"leadflow-board-{lead_count}-")))
    url, fresh, where = database_for(str(lead_count), folder, database_url=database_url, reuse=reuse is not None)
    app = build_app(url)
    print(f"\n== {lead_count:,} leads on {database_label(url)}: "
          f"migrating{' and seeding' if fresh else f' (reusing {where})'} …", flush=True)
    migrate_s, seed_s = migrate_and_seed(app, lead_count, seed=fresh)
    totals_note = check_stage_totals(app)
    facts = board_facts(app)
    with app.app_context():
        engine = db.engine
        # The database's own size (pages still in the -wal file included, none counted twice).
        if db.engine.dialect.name == "postgresql":
            size_mb = db.session.scalar(text("SELECT pg_database_size(current_database())")) / 1e6
        else:
            size_mb = (db.session.execute(text("PRAGMA page_count")).scalar()
                       * db.session.execute(text("PRAGMA page_size")).scalar()) / 1e6
        db.session.remove()
    columns = ", ".join(f"{name} {facts['counts'].get(sid, 0):,}" for sid, name, _ in facts["stages"])
    print(f"   {facts['live']:,} live leads ({columns}); migrate {migrate_s:.1f} s, "
          + (f"seed {seed_s:.1f} s" if seed_s is not None else "seed reused")
          + f", file {size_mb:.0f} MB; {totals_note}", flush=True)

    client = app.test_client()
    sign_in(client)
    pid = facts["pipeline_id"]
    page = expect(client.get("/pipeline"), "GET /pipeline").get_data(as_text=True)
    token = re.search(r'"X-CSRFToken": "([^"]+)"', page)
    if token is None:
        raise SystemExit("the board page carries no X-CSRFToken in <body hx-headers>")
    more = re.search(r'class="load-more" hx-get="([^"]+)"', page)
    open_stages = [s for s in facts["stages"] if s[2] == "open"]
    if len(open_stages) < 2:
        raise SystemExit("the default pipeline needs two open stages for the move")
    first_card = re.search(rf'id="cards-{open_stages[0][0]}".*?data-lead-id="(\d+)" data-version="(\d+)"',
                           page, re.S)
    if first_card is None:
        raise SystemExit(f"no card in the first open stage ({open_stages[0][1]}) to move")

    plan = [(BOARD, "/pipeline", None, "")]
    plan.append(("Board, htmx refresh fragment", "/pipeline", {"HX-Request": "true"}, ""))
    if facts["rep"] is not None:
        rep_id, rep_name, rep_leads = facts["rep"]
        plan.append(("Board filtered to one rep", f"/pipeline?owner={rep_id}", None,
                     f"{rep_name}, {rep_leads:,} leads"))
    if more is not None:
        plan.append(("Column “load more” (first page’s link)", html.unescape(more.group(1)),
                     {"HX-Request": "true"}, ""))
    else:
        print("   no column has more than one page of cards: no “load more” to time", flush=True)
    if facts["middle"] is not None:
        sid, name, _ = facts["largest"]
        rank, lead_id = facts["middle"]
        plan.append((f"Column “load more”, middle of {name}",
                     f"/pipeline/{pid}/stages/{sid}/cards?after={rank}:{lead_id}&", {"HX-Request": "true"},
                     f"after card {facts['counts'].get(sid, 0) // 2:,} of {facts['counts'].get(sid, 0):,}"))
    plan.append(("Forecast fragment", f"/pipeline/{pid}/forecast", {"HX-Request": "true"}, ""))
    return Prepared(lead_count, app, engine, client, facts, plan, token.group(1),
                    (int(first_card.group(1)), int(first_card.group(2))), open_stages, migrate_s, seed_s,
                    size_mb, columns, totals_note, database=database_label(url))


def measure(p: Prepared, runs: int, warmup: int, profile: bool) -> None:
    """Every request of the plan but the board itself (timed head to head across sizes), and the move."""
    print(f"\n== {p.facts['live']:,} leads: timing", flush=True)
    p.load = os.getloadavg()
    baseline = BoardBaseline()
    for name, url, headers, note in p.plan:
        if name == BOARD:
            continue
        p.results.append(measure_get(p, baseline, name, url, headers, note, runs, warmup))
        report_line(p.results[-1])
    p.results.append(time_moves(p.client, p.engine, baseline, p.token, *p.first_card,
                                p.open_stages[0], p.open_stages[1], runs, warmup))
    report_line(p.results[-1])
    p.load_after = os.getloadavg()
    if profile:
        for name, url, headers, _ in p.plan:
            p.phases[name] = phase_split(p.client, url, headers, runs)
            p.replays[name] = replay_statements(p.engine, p.client, url, headers)
            if headers is None or not (url == "/pipeline" or url.startswith("/pipeline?")):
                # profile_page sends no headers: the htmx board fragment would be profiled as the page.
                p.profiles[name] = profile_page(p.client, url, runs=max(10, runs // 3))


def measure_get(p: Prepared, baseline, name, url, headers, note, runs, warmup) -> Measurement:
    with recording_statements(p.engine) as recorded:
        body = expect(p.client.get(url, headers=headers), f"GET {url}").get_data()
    key = f"{p.lead_count}-{name}"
    baseline.prepare(key, body)
    times, cpu, base = interleaved(
        lambda i: expect(p.client.get(url, headers=headers), f"GET {url}"),
        lambda: baseline.client.get(f"/static-page/{key}"), runs, warmup)
    return Measurement(name=name, kind="board", url=url, bytes=len(body), queries=len(recorded),
                       times_ms=times, baseline_ms=base, cpu_ms=cpu, note=note, statements=list(recorded))


def head_to_head(prepared: list[Prepared], runs: int, warmup: int) -> None:
    """The board at every size in turn, round after round, each request followed by its baseline.

    Other work on the machine then weighs on every size alike, so the growth from the smallest to
    the largest size is not the difference between a quiet minute and a busy one.
    """
    print(f"\n== The board at {', '.join(f'{p.lead_count:,}' for p in prepared)} leads, in turn …", flush=True)
    baseline = BoardBaseline()
    state = {}
    for p in prepared:
        with recording_statements(p.engine) as recorded:
            body = expect(p.client.get("/pipeline"), "GET /pipeline").get_data()
        baseline.prepare(f"board-{p.lead_count}", body)
        state[p.lead_count] = {"body": body, "statements": list(recorded), "times": [], "cpu": [], "base": []}
    for i in range(warmup + runs):
        for p in prepared:
            wall, cpu, response = timed(lambda: p.client.get("/pipeline"))
            expect(response, "GET /pipeline")
            bases = [timed(lambda: baseline.client.get(f"/static-page/board-{p.lead_count}"))[0]
                     for _ in range(BASELINE_PER_RUN)]
            if i >= warmup:
                s = state[p.lead_count]
                s["times"].append(wall)
                s["cpu"].append(cpu)
                s["base"].extend(bases)
    for p in prepared:
        s = state[p.lead_count]
        m = Measurement(name=BOARD, kind="board", url="/pipeline", bytes=len(s["body"]),
                        queries=len(s["statements"]), times_ms=s["times"], baseline_ms=s["base"], cpu_ms=s["cpu"],
                        statements=s["statements"])
        p.results.insert(0, m)
        report_line(m, prefix=f"{p.lead_count:,} leads · ")


def time_moves(client, engine, baseline, token, lead_id, version, stage_a, stage_b, runs, warmup) -> Measurement:
    """Drag one card to the top of ``stage_b`` and back to ``stage_a``, over and over."""
    headers = {"X-CSRFToken": token, "HX-Request": "true"}
    state = {"version": version, "moves": 0}

    def move(_i=None):
        target = stage_b if state["moves"] % 2 == 0 else stage_a
        response = expect(client.post("/pipeline/move", headers=headers, data={
            "lead_id": lead_id, "stage_id": target[0], "version": state["version"], "mode": "drag"}),
            f"POST /pipeline/move (lead {lead_id} to {target[1]})")
        found = re.search(rf'data-lead-id="{lead_id}" data-version="(\d+)"', response.get_data(as_text=True))
        if found is None:
            raise SystemExit("the move's answer carries no card with its new version")
        state["version"] = int(found.group(1))
        state["moves"] += 1
        return response

    with recording_statements(engine) as recorded:
        body = move().get_data()
    baseline.prepare("move", body)
    times, cpu, base = interleaved(move, lambda: baseline.client.post("/static-page/move", data={
        "lead_id": lead_id, "stage_id": stage_a[0], "version": 1, "mode": "drag"}), runs, warmup)
    if state["moves"] % 2:
        move()  # leave the card in its first stage (matters with --reuse)
    return Measurement(name="Move", kind="board", url="/pipeline/move", bytes=len(body), queries=len(recorded),
                       times_ms=times, baseline_ms=base, cpu_ms=cpu,
                       note=f"drag, {stage_a[1]} ⇄ {stage_b[1]}", statements=list(recorded))


def report_line(m: Measurement, prefix: str = "") -> None:
    print(f"   {prefix}{m.name}: median {m.median:.1f} ms, p95 {m.p95:.1f} ms, CPU {m.cpu_median:.1f} ms, "
          f"baseline {m.baseline_median:.2f} ms, ×{m.ratio:.0f}, {m.queries} queries, {m.bytes:,} bytes"
          f"{(' · ' + m.note) if m.note else ''}", flush=True)


# --------------------------------------------------------------------------- where the time goes

# Functions timed per request by ``phase_split`` (module, attribute); the views look them up
# through their modules at call time, so wrapping the module attribute times every call.
# Nested: board_context includes stage_totals, first_cards and board_stamp.
PHASES = [
    ("leadflow.pipeline.board", "board_context"),
    ("leadflow.pipeline.board", "stage_totals"),
    ("leadflow.pipeline.board", "first_cards"),
    ("leadflow.pipeline.board", "board_stamp"),
    ("leadflow.pipeline.board", "column_cards"),
    ("leadflow.pipeline.board", "forecast"),
    ("leadflow.web.htmx", "render_template"),
    ("leadflow.web.htmx", "render_block"),
]


def phase_split(client, url: str, headers, runs: int) -> list[tuple[str, float, float]]:
    """Median wall and CPU milliseconds per request of each phase in PHASES, then of the whole request."""
    spent: dict[str, list[list[float]]] = {}
    originals = []

    def wrap(label, fn):
        def timed_fn(*args, **kwargs):
            cpu_started, started = time.thread_time(), time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                current = spent.setdefault(label, [[], []])
                current[0][-1] += (time.perf_counter() - started) * 1000
                current[1][-1] += (time.thread_time() - cpu_started) * 1000
        return timed_fn

    for module_name, attr in PHASES:
        module = importlib.import_module(module_name)
        original = getattr(module, attr)
        originals.append((module, attr, original))
        setattr(module, attr, wrap(f"{module_name.rsplit('.', 1)[-1]}.{attr}", original))
        spent[f"{module_name.rsplit('.', 1)[-1]}.{attr}"] = [[], []]
    whole = [[], []]
    try:
        for _ in range(max(10, runs)):
            for values in spent.values():
                values[0].append(0.0)
                values[1].append(0.0)
            wall, cpu, response = timed(lambda: client.get(url, headers=headers))
            expect(response, f"GET {url}")
            whole[0].append(wall)
            whole[1].append(cpu)
    finally:
        for module, attr, original in originals:
            setattr(module, attr, original)
    rows = [(label, statistics.median(w), statistics.median(c)) for label, (w, c) in spent.items() if any(w)]
    rows.append(("whole request", statistics.median(whole[0]), statistics.median(whole[1])))
    return rows


def replay_statements(engine, client, url: str, headers, repeats: int = 5) -> list[tuple[float, int, str, str]]:
    """Every SELECT of one request, run again on its own: (best ms of execute + fetch, rows, SQL, plan).

    The ``recording_statements`` times cover ``cursor.execute`` only; SQLite computes many rows
    (a streamed GROUP BY, a UNION ALL) while they are fetched, so they can understate a statement.
    """
    captured: list[tuple[str, object]] = []

    def before(conn, cursor, statement, parameters, context, executemany):
        if statement.lstrip().upper().startswith("SELECT"):
            captured.append((statement, parameters))

    event.listen(engine, "before_cursor_execute", before)
    try:
        expect(client.get(url, headers=headers), f"GET {url}")
    finally:
        event.remove(engine, "before_cursor_execute", before)
    out = []
    raw = engine.raw_connection()
    try:
        cursor = raw.cursor()
        for statement, parameters in captured:
            best, rows = float("inf"), 0
            for _ in range(repeats):
                started = time.perf_counter()
                cursor.execute(statement, parameters)
                rows = len(cursor.fetchall())
                best = min(best, (time.perf_counter() - started) * 1000)
            plan = ""
            if best >= 1.0:
                explain = "EXPLAIN " if engine.dialect.name == "postgresql" else "EXPLAIN QUERY PLAN "
                cursor.execute(explain + statement, parameters)
                plan = "; ".join(row[-1] for row in cursor.fetchall())
            out.append((best, rows, statement, plan))
    finally:
        raw.close()
    return sorted(out, key=lambda r: -r[0])


# --------------------------------------------------------------------------- report


def board_of(p: Prepared) -> Measurement:
    return next(m for m in p.results if m.name == BOARD)


def growth(report: list[Prepared]) -> dict | None:
    """The board's figures at the largest size over the smallest (the target compares 100,000 with 1,000)."""
    if len(report) < 2:
        return None
    small, large = board_of(report[0]), board_of(report[-1])
    return {"small": report[0].facts["live"], "large": report[-1].facts["live"],
            "ratio": large.ratio / small.ratio, "median": large.median / small.median,
            "cpu": large.cpu_median / small.cpu_median, "best": min(large.times_ms) / min(small.times_ms)}


def markdown(report: list[Prepared], runs: int, warmup: int, board_runs: int) -> str:
    lines = [f"Run {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC on {machine()}. "
             f"The board: {board_runs} rounds over the sizes in turn after {warmup} warm-up rounds; "
             f"other requests: {runs} timed runs after {warmup} warm-up requests, one size after the other. "
             f"Every timed request is followed by {BASELINE_PER_RUN} baseline requests.", ""]
    lines += ["| leads | board bytes | SQL queries | median ms | p95 ms | best ms | CPU median ms "
              "| bare Flask, same size (median ms) | ratio | ratio ÷ ratio at the smallest size |",
              "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    first = board_of(report[0])
    for p in report:
        m = board_of(p)
        lines.append(f"| {p.facts['live']:,} | {m.bytes:,} | {m.queries} | {m.median:.1f} | {m.p95:.1f} | "
                     f"{min(m.times_ms):.1f} | {m.cpu_median:.1f} | {m.baseline_median:.2f} | ×{m.ratio:.0f} | "
                     f"{m.ratio / first.ratio:.2f} |")
    g = growth(report)
    if g:
        verdict = "met" if g["ratio"] <= TARGET_GROWTH else "MISSED"
        lines += ["", f"Board at {g['large']:,} leads over {g['small']:,} leads: **×{g['ratio']:.2f}** as a ratio "
                  f"to the baseline (target ≤ ×{TARGET_GROWTH}: {verdict}); ×{g['median']:.2f} in wall-clock "
                  f"medians, ×{g['cpu']:.2f} in CPU medians, ×{g['best']:.2f} in best times."]
    lines.append("")
    for p in report:
        lines.append(f"### {p.facts['live']:,} leads ({p.database})")
        lines.append("")
        seeded = f"demo seed {p.seed_s:.1f} s" if p.seed_s is not None else "demo seed reused"
        lines.append(f"Migrations {p.migrate_s:.1f} s, {seeded}, database {p.size_mb:.0f} MB. "
                     f"Live leads per stage: {p.columns}. Load average (1 min) {p.load[0]:.1f} "
                     f"before this size's requests, {p.load_after[0]:.1f} after. {p.totals_note.rstrip('.')}.")
        lines.append("")
        lines.append("| request | bytes | SQL queries | median ms | p95 ms | CPU median ms "
                     "| bare Flask, same size (median ms) | ratio |")
        lines.append("|---|---:|---:|---:|---:|---:|---:|---:|")
        for m in p.results:
            name = m.name + (f" ({m.note})" if m.note else "")
            lines.append(f"| {name} | {m.bytes:,} | {m.queries} | {m.median:.1f} | {m.p95:.1f} | "
                         f"{m.cpu_median:.1f} | {m.baseline_median:.2f} | ×{m.ratio:.0f} |")
        lines.append("")
    return "\n".join(lines)


def profile_report(report: list[Prepared]) -> str:
    out = ["## SQL statements of one request (slowest first; the time covers cursor.execute only)"]
    for p in report:
        for m in p.results:
            total = sum(ms for ms, _ in m.statements)
            out.append(f"\n{p.facts['live']:,} leads · {m.name} · {m.url} · {len(m.statements)} statements, "
                       f"{total:.2f} ms in execute")
            for ms, sql in sorted(m.statements, key=lambda s: -s[0]):
                out.append(f"  {ms:7.2f} ms  {' '.join(sql.split())[:200]}")
    out.append("\n## Each SELECT run again on its own (best of 5, execute + fetch; query plan when ≥ 1 ms)")
    for p in report:
        for name, rows in p.replays.items():
            out.append(f"\n{p.facts['live']:,} leads · {name} · {sum(r[0] for r in rows):.2f} ms in SELECTs")
            for ms, count, sql, plan in rows:
                out.append(f"  {ms:8.2f} ms {count:6d} rows  {' '.join(sql.split())[:200]}")
                if plan:
                    out.append(f"  {'':26s}plan: {plan}")
    out.append("\n## Time per request by phase (medians; nested phases count in their parents too)")
    for p in report:
        for name, rows in p.phases.items():
            out.append(f"\n{p.facts['live']:,} leads · {name}")
            for label, wall, cpu in rows:
                out.append(f"  {label:32s} {wall:8.1f} ms wall {cpu:8.1f} ms CPU")
    for p in report:
        for name, profile_text in p.profiles.items():
            out.append(f"\n## {p.facts['live']:,} leads · {name}\n{profile_text}")
    return "\n".join(out)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=DEFAULT_SIZES)
    parser.add_argument("--runs", type=int, default=30, help="timed runs per request (default 30)")
    parser.add_argument("--board-runs", type=int, default=60,
                        help="rounds of the board over all sizes in turn (default 60)")
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--profile", action="store_true",
                        help="print per-statement times, query plans, time per phase and cProfile output")
    parser.add_argument("--reuse", type=Path, metavar="DIR",
                        help="keep the seeded databases in DIR and reuse them on the next run "
                             "(delete them after changing the seeder or the migrations; the move "
                             "adds a few stage changes and activities on each run)")
    parser.add_argument("--database-url", metavar="URL",
                        help="postgresql://…/NAME: on PostgreSQL, a database NAME_<size> per size "
                             "(see bench_databases.py); default: SQLite files")
    args = parser.parse_args(argv)
    args.warmup = steady_warmup(args.warmup)

    with ExitStack() as stack:
        report = [prepare(n, stack, args.reuse, args.database_url) for n in sorted(args.sizes)]
        for p in report:
            measure(p, args.runs, args.warmup, args.profile)
        head_to_head(report, args.board_runs, args.warmup)
        print("\n" + markdown(report, args.runs, args.warmup, args.board_runs))
        if args.profile:
            print("\n" + profile_report(report))
    g = growth(report)
    return 1 if g and g["ratio"] > TARGET_GROWTH else 0


if __name__ == "__main__":
    sys.exit(main())
