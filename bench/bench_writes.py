"""Creating leads: worker CPU per create (the lead form, the API, a capture form) at 1,000 and
100,000 leads, and creates per second through one real server process.

Run from the repository root:

    .venv/bin/python bench/bench_writes.py                 # both sizes, SQLite files
    .venv/bin/python bench/bench_writes.py --sizes 1000 --runs 20 --seconds 5
    .venv/bin/python bench/bench_writes.py --profile       # plus each statement (with its plan) and cProfile
    .venv/bin/python bench/bench_writes.py --database-url postgresql://postgres@127.0.0.1/leadflow_bench

Per size it builds (or, with ``--reuse``, reuses) a database seeded with the demo workspace
(``bench_pages.migrate_and_seed``), makes an API token for the demo admin and uses the demo's
capture form (``/f/demo-contact``, which routes round-robin to its team).

**CPU per create.** Each channel is requested ``--warmup`` times and timed ``--runs`` times
through the Flask test client, each create with a new email, ``time.thread_time`` around the
call (the whole request: URL routing, session, validation, the lead's writes, the commit; the
lead's routing, scoring and alerts run after the commit, in the ``lead_arrivals`` sweep, whose
CPU per lead the throughput test reports: a create costs both). Statements are counted on one
create after the warm-up (what every create runs; a new token's first use, recorded at most
once a minute, is not among them), as ``bench_pages`` counts them (on PostgreSQL BEGIN and
COMMIT are round trips on top). The baseline is a bare Flask app
in the same process whose POST route parses the same JSON and answers a same-sized body, timed
the same way: the ratio says what a create costs beyond Flask itself.

**Throughput.** One server process (gunicorn, one worker with ``--threads`` threads) serves
the database; ``--clients`` threads create leads for ``--seconds`` seconds over keep-alive
connections, alternating API and capture-form creates. The new leads' arrivals (routing,
scoring, alerts: after the commit) are run by the ``lead_arrivals`` sweep in a loop in this
process, as a scheduler beside the server would (the server runs no scheduler, so its other
sweeps, such as the daily rescore of every lead, neither share its CPU nor hold the database).
Reported: creates per second, p50/p95 latency, the server's CPU per create (from /proc), the
sweep's CPU per lead, the client threads' CPU per create (they share the machine's cores with
the server: on 2 cores a client that costs 3 ms per create caps what the server can reach), the
load average, and a check on the database afterwards: every request made exactly one
lead, with an owner (routing), a score above 0 (scoring: each bench lead is a "Director"), its
two speed-to-lead timers and its new-lead e-mail queued.

``--no-write`` is accepted for ``run_all.py``: this script never writes a file.
"""

from __future__ import annotations

import argparse
import cProfile
import http.client
import io
import json
import os
import pstats
import secrets
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from urllib.parse import urlencode

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

import bench_pages  # noqa: E402  (sets the scratch instance folder before config is imported)
from bench_databases import database_for, database_label  # noqa: E402
from bench_pages import REPO_ROOT, machine, percentile, recording_statements, sign_in  # noqa: E402
from flask import Flask, jsonify, request  # noqa: E402

TARGET_CPU_MS = 10.0
TARGET_PER_SECOND = 200.0
CHANNELS = ("form", "api", "capture")
SECRET = "bench-only-secret-not-for-real-use-0123456789"
SERVER_LOG: Path | None = None  # --server-log: keep the server's log there


@dataclass
class Channel:
    name: str
    queries: int
    cpu_ms: list[float]
    wall_ms: list[float]
    baseline_cpu_ms: list[float]
    statements: list[tuple[float, str]] = field(default_factory=list)
    profile: str = ""

    @property
    def cpu(self) -> float:
        return statistics.median(self.cpu_ms)

    @property
    def baseline(self) -> float:
        return statistics.median(self.baseline_cpu_ms)

    @property
    def verdict(self) -> str:
        return "met" if self.cpu <= TARGET_CPU_MS else "MISSED"


LABELS = {"form": "Lead form (POST /leads/new)", "api": "API (POST /api/v1/leads)",
          "capture": "Capture form (POST /f/demo-contact)"}


# --------------------------------------------------------------------------- set-up


def build_app(database_url: str):
    from config import ProductionConfig
    from leadflow import create_app

    config = type("BenchConfig", (ProductionConfig,), {
        "SQLALCHEMY_DATABASE_URI": database_url, "SECRET_KEY": SECRET, "RATELIMIT_ENABLED": False,
        "SCHEDULER_ENABLED": False, "CAPTURE_MIN_FILL_SECONDS": 0.0,
    })
    return create_app(config)


def api_token(app) -> str:
    """A fresh read/write token for the demo admin (committed)."""
    from leadflow.accounts.models import User
    from leadflow.api.services import create_token
    from leadflow.extensions import db
    from leadflow_demo import DEMO_LOGIN

    with app.app_context():
        admin = db.session.scalar(db.select(User).where(User.email == DEMO_LOGIN[0]))
        _, plain = create_token(admin, user=admin, name=f"bench {secrets.token_hex(3)}", scopes=["read", "write"])
        db.session.commit()
        db.session.remove()
    return plain


def capture_tokens(app, count: int) -> list[str]:
    from leadflow.capture import spam
    from leadflow.capture.models import CaptureForm
    from leadflow.extensions import db

    with app.app_context():
        form_id = db.session.scalar(db.select(CaptureForm.id).where(CaptureForm.slug == "demo-contact"))
        tokens = [spam.issue_token(form_id) for _ in range(count)]
        db.session.remove()
    return tokens


def person(kind: str, i: int) -> dict:
    """A new person each time (the lead form warns about a repeated name at one organization)."""
    tag = secrets.token_hex(6)
    return {"first_name": f"Bench{i}", "last_name": f"{kind.capitalize()} {tag}",
            "email": f"bench-{kind}-{tag}@example.com", "organization": f"Bench Org {i % 50}",
            "title": "Director of things"}


# --------------------------------------------------------------------------- CPU per create


class Creator:
    """One create per call, through the test client, for each channel."""

    def __init__(self, app, client, token: str):
        self.app, self.client, self.token, self.i = app, client, token, 0
        page = client.get("/leads/new").get_data(as_text=True)
        import re
        self.csrf = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)
        self.capture = iter(capture_tokens(app, 10_000))

    def __call__(self, channel: str):
        self.i += 1
        data = person(channel, self.i)
        if channel == "form":
            response = self.client.post("/leads/new", data={**data, "csrf_token": self.csrf, "lifecycle": "lead",
                                                                   "currency": "USD"})
            ok = response.status_code in (302, 303)
        elif channel == "api":
            response = self.client.post("/api/v1/leads", json=data,
                                        headers={"Authorization": f"Bearer {self.token}"})
            ok = response.status_code == 201
        else:
            form = {**data, "company": data["organization"], "form_token": next(self.capture), "consent": "1"}
            response = self.client.post("/f/demo-contact", data=form, headers={"Accept": "application/json"})
            ok = response.status_code == 200 and response.get_json().get("ok")
        if not ok:
            raise SystemExit(f"{channel} create answered {response.status_code}: {response.get_data(as_text=True)[:400]}")


class Baseline:
    """A bare Flask app: parse a JSON body, answer a small JSON body."""

    def __init__(self):
        self.app = Flask("bench_baseline")

        @self.app.post("/create")
        def create():
            return jsonify(id=1, **request.get_json()), 201

        self.client = self.app.test_client()

    def __call__(self, _channel: str):
        self.client.post("/create", json=person("baseline", 0))


def timed(call, channel: str, runs: int, warmup: int) -> tuple[list[float], list[float]]:
    for _ in range(warmup):
        call(channel)
    cpu, wall = [], []
    for _ in range(runs):
        cpu_started, started = time.thread_time(), time.perf_counter()
        call(channel)
        cpu.append((time.thread_time() - cpu_started) * 1000)
        wall.append((time.perf_counter() - started) * 1000)
    return cpu, wall


def explain(engine, statements: list[tuple[float, str, object]]) -> list[str]:
    """Each statement with its query plan (the plan of a write is its WHERE's)."""
    out = []
    with engine.connect() as connection:
        postgres = connection.dialect.name == "postgresql"
        for ms, sql, parameters in statements:
            out.append(f"  {ms:7.2f} ms  {' '.join(sql.split())[:220]}")
            if parameters is None or isinstance(parameters, list):
                continue
            try:
                prefix = "EXPLAIN " if postgres else "EXPLAIN QUERY PLAN "
                with connection.begin():
                    rows = connection.exec_driver_sql(prefix + sql, parameters).all()
                    connection.rollback()
                for row in rows:
                    out.append("              " + (row[0] if postgres else str(row[-1])))
            except Exception as exc:  # noqa: BLE001  (a plan we cannot ask for is only a note)
                out.append(f"              (no plan: {type(exc).__name__})")
    return out


def profile_channel(creator, channel: str, runs: int) -> str:
    profiler = cProfile.Profile()
    profiler.enable()
    for _ in range(runs):
        creator(channel)
    profiler.disable()
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out)
    stats.sort_stats("cumulative").print_stats(40)
    out.write("\n--- by own time ---\n")
    stats.sort_stats("tottime").print_stats(20)
    return f"cProfile of {runs} creates via {channel}\n" + out.getvalue()


def record_with_parameters(engine):
    from sqlalchemy import event

    statements: list = []

    def before(conn, cursor, statement, parameters, context, executemany):
        conn.info.setdefault("_bench_started", []).append(time.perf_counter())

    def after(conn, cursor, statement, parameters, context, executemany):
        started = conn.info["_bench_started"].pop()
        if not statement.lstrip().upper().startswith(bench_pages.SKIPPED_STATEMENTS):
            statements.append(((time.perf_counter() - started) * 1000, statement,
                               list(parameters) if executemany else parameters))

    event.listen(engine, "before_cursor_execute", before)
    event.listen(engine, "after_cursor_execute", after)
    return statements, lambda: (event.remove(engine, "before_cursor_execute", before),
                                event.remove(engine, "after_cursor_execute", after))


# --------------------------------------------------------------------------- throughput


def server_env(database_url: str, instance: str) -> dict:
    env = {k: v for k, v in os.environ.items()
           if k not in ("DATABASE_URL", "TEST_DATABASE_URL", "FLASK_APP", "FLASK_DEBUG", "FLASK_RUN_FROM_CLI")}
    env.update({"LEADFLOW_CONFIG": "production", "SECRET_KEY": SECRET, "LEADFLOW_INSTANCE": instance,
                "DATABASE_URL": database_url, "RATELIMIT_ENABLED": "0", "CAPTURE_MIN_FILL_SECONDS": "0",
                "SCHEDULER_ENABLED": "0", "PYTHONUNBUFFERED": "1"})
    return env


def start_server(env: dict, threads: int, log_path: Path) -> tuple[subprocess.Popen, int]:
    from leadflow.serving import gunicorn_command

    port = bench_pages_free_port()
    command = gunicorn_command(host="127.0.0.1", port=port, workers=1, threads=threads)
    command = [c for c in command if c not in ("--access-logfile", "-")]
    log = open(log_path, "w")
    process = subprocess.Popen(command, cwd=REPO_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    log.close()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"the server exited with {process.returncode}:\n{log_path.read_text()[-3000:]}")
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            connection.request("GET", "/healthz")
            connection.getresponse().read()
            return process, port
        except OSError:
            time.sleep(0.3)
    process.kill()
    raise SystemExit("the server did not answer within 60 s")


def process_cpu_seconds(pid: int) -> float:
    """User and system CPU of a process and its children (gunicorn's worker), from /proc."""
    total = 0.0
    ticks = os.sysconf("SC_CLK_TCK")
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        total += (int(fields[11]) + int(fields[12])) / ticks
        for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split():
            total += process_cpu_seconds(int(child))
    except (OSError, IndexError, ValueError):
        pass
    return total


def bench_pages_free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def throughput(app, database_url: str, token: str, *, seconds: float, clients: int, threads: int) -> dict:
    capture = capture_tokens(app, 40_000)
    lock = threading.Lock()
    sent: list[tuple[str, str]] = []  # (channel, email) of every answered create
    latencies: list[float] = []
    failures: list[str] = []
    with tempfile.TemporaryDirectory(prefix="leadflow-bench-server-") as instance:
        log_path = SERVER_LOG or Path(instance) / "server.log"
        process, port = start_server(server_env(database_url, instance), threads, log_path)
        try:
            stop_at = time.monotonic() + seconds
            started = threading.Barrier(clients + 1)

            def client(n: int) -> None:
                connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
                i = 0
                started.wait()
                while time.monotonic() < stop_at:
                    i += 1
                    channel = "api" if (n + i) % 2 else "capture"
                    data = person(channel, i)
                    if channel == "api":
                        body, path = json.dumps(data), "/api/v1/leads"
                        headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
                    else:
                        with lock:
                            form_token = capture.pop()
                        body = urlencode({**data, "company": data["organization"], "form_token": form_token, "consent": "1"})
                        path = "/f/demo-contact"
                        headers = {"Content-Type": "application/x-www-form-urlencoded", "Accept": "application/json"}
                    t0 = time.perf_counter()
                    try:
                        connection.request("POST", path, body=body, headers=headers)
                        response = connection.getresponse()
                        answer = response.read()
                    except (OSError, http.client.HTTPException) as exc:
                        with lock:
                            failures.append(f"{channel}: {type(exc).__name__}")
                        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
                        continue
                    elapsed = (time.perf_counter() - t0) * 1000
                    with lock:
                        if response.status in (200, 201):
                            sent.append((channel, data["email"]))
                            latencies.append(elapsed)
                        else:
                            failures.append(f"{channel}: HTTP {response.status} {answer[:120]!r}")

            workers = [threading.Thread(target=client, args=(n,)) for n in range(clients)]
            for worker in workers:
                worker.start()
            drainer = ArrivalsDrainer(app)
            drainer.start()
            started.wait()
            t0, cpu0, own0 = time.perf_counter(), process_cpu_seconds(process.pid), time.process_time()
            drained0 = drainer.cpu_seconds
            for worker in workers:
                worker.join()
            elapsed = time.perf_counter() - t0
            server_cpu = process_cpu_seconds(process.pid) - cpu0
            # This process: the client threads and the sweep; what the clients took is the rest.
            client_cpu = time.process_time() - own0 - (drainer.cpu_seconds - drained0)
            settled = wait_for_deferred(app, [email for _, email in sent], timeout=60)
            drainer.stop()
        finally:
            process.terminate()
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
    check = check_leads(app, sent)
    return {"creates": len(sent), "seconds": elapsed, "per_second": len(sent) / elapsed,
            "p50": percentile(latencies, 50) if latencies else 0.0,
            "p95": percentile(latencies, 95) if latencies else 0.0,
            "server_cpu_ms": server_cpu * 1000 / max(1, len(sent)),
            "client_cpu_ms": client_cpu * 1000 / max(1, len(sent)), "load": os.getloadavg(),
            "deferred_cpu_ms": drainer.cpu_seconds * 1000 / max(1, drainer.ran), "batches": drainer.batches,
            "failures": failures, "check": check, "settled": settled, "clients": clients, "threads": threads}


def _lead_facts(app, emails: list[str]) -> dict[str, dict]:
    """email → what the database holds for its lead(s): how many, owner, score, alerts."""
    from sqlalchemy import func

    from leadflow.extensions import db
    from leadflow.leads.alert_models import LeadAlert
    from leadflow.leads.models import Lead
    from leadflow.mail.models import OutboxMessage

    facts: dict[str, dict] = {}
    with app.app_context():
        for start in range(0, len(emails), 500):
            chunk = emails[start:start + 500]
            rows = db.session.execute(
                db.select(Lead.email, Lead.id, Lead.owner_id, Lead.score)
                .where(Lead.email.in_(chunk), Lead.deleted_at.is_(None))).all()
            ids = [row.id for row in rows]
            timers = dict(db.session.execute(db.select(LeadAlert.lead_id, func.count())
                                             .where(LeadAlert.lead_id.in_(ids)).group_by(LeadAlert.lead_id)).all())
            mailed = set(db.session.scalars(db.select(OutboxMessage.lead_id).where(
                OutboxMessage.lead_id.in_(ids), OutboxMessage.idempotency_key.like("new-lead:%"))))
            for row in rows:
                fact = facts.setdefault(row.email, {"leads": 0})
                fact["leads"] += 1
                # Every bench lead is a "Director": the demo's scoring rules give it points.
                fact.update(owner=row.owner_id, scored=(row.score or 0) > 0,
                            alerts=timers.get(row.id, 0) == 2 and row.id in mailed)
        db.session.remove()
    return facts


class ArrivalsDrainer(threading.Thread):
    """The ``lead_arrivals`` sweep in a loop, as a scheduler process beside the server runs it
    (the server runs no scheduler here, so its other sweeps, such as the daily rescore of every
    lead, do not share its CPU or the database with the creates); counts its CPU and leads."""

    def __init__(self, app):
        super().__init__(daemon=True)
        self.app, self.halt = app, threading.Event()
        self.cpu_seconds, self.ran, self.batches = 0.0, 0, 0

    def run(self) -> None:
        from leadflow.scheduler.runner import run_sweep

        while not self.halt.is_set():
            started = time.thread_time()
            ran = run_sweep(self.app, "lead_arrivals") or 0
            self.cpu_seconds += time.thread_time() - started
            if ran:
                self.ran, self.batches = self.ran + ran, self.batches + 1
            else:
                self.halt.wait(0.2)

    def stop(self) -> None:
        self.halt.set()
        self.join(timeout=60)


def wait_for_deferred(app, emails: list[str], timeout: float) -> float:
    """Seconds until every lead has its owner, score history and alerts (work after the commit)."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        facts = _lead_facts(app, emails)
        if all(f.get("owner") and f.get("scored") and f.get("alerts") for f in facts.values()):
            break
        time.sleep(0.5)
    return time.monotonic() - t0


def check_leads(app, sent: list[tuple[str, str]]) -> dict:
    facts = _lead_facts(app, [email for _, email in sent])
    counts = {"requests": len(sent), "exactly_one": 0, "missing": 0, "duplicated": 0, "no_owner": 0,
              "not_scored": 0, "no_alert": 0}
    for _, email in sent:
        fact = facts.get(email)
        if fact is None:
            counts["missing"] += 1
            continue
        counts["exactly_one" if fact["leads"] == 1 else "duplicated"] += 1
        counts["no_owner"] += not fact["owner"]
        counts["not_scored"] += not fact["scored"]
        counts["no_alert"] += not fact["alerts"]
    counts["ok"] = (counts["exactly_one"] == len(sent) and not counts["no_owner"] and not counts["not_scored"]
                    and not counts["no_alert"])
    return counts


# --------------------------------------------------------------------------- one size


def bench_size(lead_count: int, args) -> dict:
    from sqlalchemy import func, select

    from leadflow.extensions import db
    from leadflow.leads.models import Lead

    with tempfile.TemporaryDirectory(prefix=f"leadflow-bench-writes-{lead_count}-") as folder:
        if args.reuse is not None:
            args.reuse.mkdir(parents=True, exist_ok=True)
        url, fresh, where = database_for(str(lead_count), args.reuse or Path(folder), database_url=args.database_url,
                                         reuse=args.reuse is not None)
        app, database = build_app(url), database_label(url)
        print(f"\n== {lead_count:,} leads on {database}: "
              f"migrating{' and seeding' if fresh else f' (reusing {where})'} …", flush=True)
        migrate_s, seed_s = bench_pages.migrate_and_seed(app, lead_count, seed=fresh)
        token = api_token(app)
        with app.app_context():
            engine = db.engine
            live = db.session.scalar(select(func.count(Lead.id)).where(Lead.deleted_at.is_(None)))
            db.session.remove()
        client = app.test_client()
        sign_in(client)
        creator, baseline = Creator(app, client, token), Baseline()
        load_before = os.getloadavg()
        channels = []
        for name in CHANNELS:
            for _ in range(args.warmup):  # counted after the warm-up: what every create runs
                creator(name)
            statements, stop = record_with_parameters(engine)
            creator(name)
            stop()
            cpu, wall = timed(creator, name, args.runs, args.warmup)
            base_cpu, _ = timed(baseline, name, args.runs, args.warmup)
            channel = Channel(name, len(statements), cpu, wall, base_cpu)
            if args.profile:
                channel.statements = explain(engine, statements)
                channel.profile = profile_channel(creator, name, max(10, args.runs // 2))
            channels.append(channel)
            print(f"   {LABELS[name]}: CPU median {channel.cpu:.1f} ms (wall {statistics.median(wall):.1f} ms), "
                  f"baseline {channel.baseline:.2f} ms, {channel.queries} statements", flush=True)
        result = {"database": database, "leads": live, "migrate_s": migrate_s, "seed_s": seed_s,
                  "channels": channels, "load": load_before}
        if args.seconds > 0:
            print(f"   throughput: {args.clients} client threads for {args.seconds:.0f} s against gunicorn "
                  f"(1 worker, {args.threads} threads) …", flush=True)
            result["throughput"] = throughput(app, url, token, seconds=args.seconds, clients=args.clients,
                                              threads=args.threads)
            t = result["throughput"]
            print(f"   {t['per_second']:.1f} creates/s, server CPU {t['server_cpu_ms']:.1f} ms per create, "
                  f"clients {t['client_cpu_ms']:.1f} ms, sweep {t['deferred_cpu_ms']:.1f} ms per lead, p50 {t['p50']:.0f} ms, p95 {t['p95']:.0f} ms, "
                  f"check {t['check']}, {len(t['failures'])} failed requests", flush=True)
        result["load_after"] = os.getloadavg()
        bench_pages.db_engine_dispose(app)
        return result


# --------------------------------------------------------------------------- report


def markdown(report: list[dict], args) -> str:
    lines = [f"Run {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC on {machine()}; "
             f"{args.runs} timed creates per channel after {args.warmup} warm-up creates, each with a new email.",
             ""]
    for size in report:
        lines.append(f"### Creating a lead, {size['leads']:,} leads ({size['database']})")
        lines.append("")
        lines.append(f"Load average (1 min) {size['load'][0]:.1f} before, {size['load_after'][0]:.1f} after.")
        lines.append("")
        lines.append("| create | SQL statements | CPU median ms | CPU p95 ms | wall median ms "
                     "| bare Flask JSON POST, CPU ms | ratio | target | |")
        lines.append("|---|---:|---:|---:|---:|---:|---:|---|---|")
        for c in size["channels"]:
            lines.append(f"| {LABELS[c.name]} | {c.queries} | {c.cpu:.1f} | {percentile(c.cpu_ms, 95):.1f} | "
                         f"{statistics.median(c.wall_ms):.1f} | {c.baseline:.2f} | ×{c.cpu / c.baseline:.1f} | "
                         f"≤ {TARGET_CPU_MS:.0f} ms CPU | {c.verdict} |")
        lines.append("")
        t = size.get("throughput")
        if t:
            check = t["check"]
            verdict = "met" if t["per_second"] >= TARGET_PER_SECOND and check["ok"] else "MISSED"
            lines.append("| throughput (API and capture, alternating) | creates | seconds | creates/s | p50 ms "
                         "| p95 ms | server CPU ms per create | after the commit: CPU ms per lead (batches) "
                         "| clients' CPU ms per create | load (1 min) at the end "
                         "| failed requests | one lead each, owner, score, alert | target | |")
            lines.append("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---|---|")
            lines.append(f"| gunicorn, 1 worker × {t['threads']} threads; {t['clients']} clients | {t['creates']:,} | "
                         f"{t['seconds']:.1f} | {t['per_second']:.1f} | {t['p50']:.0f} | {t['p95']:.0f} | "
                         f"{t['server_cpu_ms']:.1f} | {t['deferred_cpu_ms']:.1f} ({t['batches']}) | "
                         f"{t['client_cpu_ms']:.1f} | {t['load'][0]:.1f} | {len(t['failures'])} | {check['exactly_one']:,}/{check['requests']:,} one lead; "
                         f"{check['no_owner']} without owner, {check['not_scored']} unscored, {check['no_alert']} "
                         f"without alert (settled {t['settled']:.1f} s after) | ≥ {TARGET_PER_SECOND:.0f}/s | {verdict} |")
            if t["failures"]:
                lines.append("")
                lines.append("Failed requests (first 5): " + "; ".join(t["failures"][:5]))
            lines.append("")
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000, 100_000])
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=10.0, help="throughput test length (0: skip it)")
    parser.add_argument("--clients", type=int, default=16, help="client threads of the throughput test")
    parser.add_argument("--threads", type=int, default=8, help="threads of the server process")
    parser.add_argument("--profile", action="store_true", help="print each statement with its plan, and cProfile")
    parser.add_argument("--reuse", type=Path, metavar="DIR", help="keep the seeded databases in DIR and reuse them")
    parser.add_argument("--database-url", metavar="URL", help="postgresql://…/NAME: a database NAME_<size> per size")
    parser.add_argument("--no-write", action="store_true", help="accepted for run_all.py; nothing is written anyway")
    parser.add_argument("--server-log", type=Path, metavar="FILE", help="keep the throughput server's log in FILE")
    args = parser.parse_args(argv)
    global SERVER_LOG
    SERVER_LOG = args.server_log

    report = [bench_size(n, args) for n in args.sizes]
    print("\n" + markdown(report, args))
    if args.profile:
        for size in report:
            for c in size["channels"]:
                print(f"\n## {size['leads']:,} leads · {LABELS[c.name]}: statements (time, plan)")
                print("\n".join(c.statements))
                print(c.profile)
    missed = [c for size in report for c in size["channels"] if c.verdict == "MISSED"]
    missed += [t for size in report if (t := size.get("throughput"))
               and (t["per_second"] < TARGET_PER_SECOND or not t["check"]["ok"])]
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
