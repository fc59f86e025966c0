"""Resident memory of one gunicorn worker: after start, and after a warm-up of mixed requests
(the lead list, lead pages, the board, searches, the import page), with its peak; and the
scheduler's own process beside it.

    .venv/bin/python bench/bench_memory.py                 # a SQLite demo of 1,000 leads
    .venv/bin/python bench/bench_memory.py --leads 10000 --requests 50
    .venv/bin/python bench/bench_memory.py --database-url postgresql://postgres@127.0.0.1/leadflow_bench
    .venv/bin/python bench/bench_memory.py --clients 4      # 4 signed-in clients at once, 50 requests each

It migrates and seeds a scratch SQLite database (or a PostgreSQL database ``NAME_memory``,
made anew), starts gunicorn with one worker on a free loopback port as ``make serve
WORKERS=N`` does (production settings, ``leadflow.serving.gunicorn_command`` and
``server_environment``: the scheduler in a process of its own that gunicorn's master
starts, ``MALLOC_ARENA_MAX=2``; ``--scheduler thread``: the scheduler in the worker, as
``leadflow serve`` without ``--scheduler process`` runs it), signs in with the demo login,
sends the requests (``--clients N``: N signed-in clients at once, each sending them, so the
worker's threads each hold a database connection and a request's memory at the same time;
default one client, one request at a time), and reads the worker's ``VmRSS`` (resident
now) and ``VmHWM`` (peak) from ``/proc``, and the scheduler process's when there is one. The baseline, measured in the same run, is a bare
``python -c "import flask, sqlalchemy"`` process: what any Flask + SQLAlchemy app holds
before its own code. Target: ≤ 80 MB resident after warm-up. Prints Markdown.

The target is judged on RSS, as before. Beside it the worker's PSS and USS are printed
(``/proc/PID/smaps_rollup``): RSS counts in full every page a worker maps, also those it
shares with gunicorn's master (code loaded once before the fork) and with every other process
using the same libraries, so N workers' RSS add up to more than they hold. USS (the pages only
this worker holds) is what one more worker costs; PSS shares each shared page out among the
processes that map it. With one worker, PSS splits the master's pages in two, so it flatters
a single worker: read USS for the cost of a worker, RSS for the target.

Not collected by pytest: it lives outside ``testpaths``.
"""

from __future__ import annotations

import argparse
import os
import re
import secrets
import socket
import subprocess
import sys
import tempfile
import threading
import time
from datetime import datetime, timezone
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
TARGET_MB = 80.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def memory_mb(pid: int) -> tuple[float, float]:
    """(resident now, peak resident) of process ``pid`` in MB."""
    status = Path(f"/proc/{pid}/status").read_text()
    rss = int(re.search(r"VmRSS:\s+(\d+) kB", status).group(1))
    peak = int(re.search(r"VmHWM:\s+(\d+) kB", status).group(1))
    return rss / 1024, peak / 1024


def shared_mb(pid: int) -> tuple[float, float]:
    """(PSS, USS) of process ``pid`` in MB, from ``/proc/PID/smaps_rollup``: PSS counts each
    page shared with other processes (the master, other workers, other programs using the same
    libraries) divided by how many share it; USS counts only the pages no other process holds,
    which is what one more worker adds."""
    rollup = Path(f"/proc/{pid}/smaps_rollup").read_text()

    def field(name: str) -> int:
        return int(re.search(rf"^{name}:\s+(\d+) kB", rollup, re.M).group(1))

    return field("Pss") / 1024, (field("Private_Clean") + field("Private_Dirty")) / 1024


def children(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        text = (task / "children").read_text().split()
        found += [int(p) for p in text]
    return found


def baseline_mb() -> float:
    """Resident MB of a bare process that imports Flask and SQLAlchemy."""
    code = ("import flask, sqlalchemy, re; "
            "print(re.search(r'VmRSS:\\s+(\\d+)', open('/proc/self/status').read()).group(1))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    return int(out) / 1024


def environment(instance: Path, database_url: str) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "TEST_DATABASE_URL", "FLASK_APP")}
    env.update({"LEADFLOW_CONFIG": "production", "SECRET_KEY": secrets.token_hex(32),
                "LEADFLOW_INSTANCE": str(instance), "DATABASE_URL": database_url, "PYTHONUNBUFFERED": "1",
                "RATELIMIT_ENABLED": "0"})
    return env


def prepare(env: dict, leads: int, seed: bool) -> None:
    flask = [sys.executable, "-m", "flask", "--app", "wsgi"]
    quiet = {"cwd": REPO_ROOT, "env": {**env, "SCHEDULER_ENABLED": "0"}, "check": True, "capture_output": True}
    subprocess.run([*flask, "db", "upgrade"], **quiet)
    if seed:
        subprocess.run([*flask, "leadflow", "seed-demo", "--leads", str(leads), "--if-empty"], **quiet)


def start_gunicorn(env: dict, log: Path, scheduler: str) -> tuple[subprocess.Popen, int]:
    sys.path.insert(0, str(REPO_ROOT))
    from leadflow.serving import gunicorn_command, server_environment

    port = free_port()
    command = gunicorn_command(host="127.0.0.1", port=port, workers=1, threads=4)
    with open(log, "w") as out:
        master = subprocess.Popen(command, cwd=REPO_ROOT, env=server_environment(env, scheduler=scheduler),
                                  stdout=out, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if master.poll() is not None:
            raise SystemExit(f"gunicorn exited with {master.returncode}:\n{log.read_text()}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return master, port
        except OSError:
            time.sleep(0.3)
    master.terminate()
    raise SystemExit(f"gunicorn did not listen within 90 s:\n{log.read_text()}")


def request_plan(session, base: str, count: int) -> list[str]:
    """``count`` mixed addresses: list, lead pages, board, searches, import page."""
    page = session.get(f"{base}/leads?per_page=100", timeout=60).text
    lead_ids = list(dict.fromkeys(re.findall(r'href="/leads/(\d+)"', page)))[:10] or ["1"]
    kinds = [lambda i: "/leads?per_page=100",
             lambda i: f"/leads/{lead_ids[i % len(lead_ids)]}",
             lambda i: "/pipeline",
             lambda i: f"/leads?per_page=100&q={['smith', 'jones', 'example', 'lee', 'garcia'][i % 5]}",
             lambda i: "/imports/new"]
    return [kinds[i % len(kinds)](i // len(kinds)) for i in range(count)]


def sign_in(session, base: str) -> None:
    sys.path.insert(0, str(REPO_ROOT))
    from leadflow_demo import DEMO_LOGIN

    page = session.get(f"{base}/login", timeout=60).text
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)
    answer = session.post(f"{base}/login", data={"email": DEMO_LOGIN[0], "password": DEMO_LOGIN[1],
                                                 "csrf_token": token}, allow_redirects=False, timeout=60)
    if answer.status_code != 302:
        raise SystemExit(f"could not sign in with the demo login (HTTP {answer.status_code})")


def is_scheduler(pid: int) -> bool:
    return b"scheduler" in Path(f"/proc/{pid}/cmdline").read_bytes()


def send_requests(sessions: list, base: str, requests_count: int) -> dict:
    """Each session sends ``requests_count`` mixed requests, all sessions at once; the answers'
    statuses counted."""
    statuses: dict = {}
    lock = threading.Lock()

    def send(session, plan):
        for url in plan:
            status = session.get(base + url, timeout=120).status_code
            with lock:
                statuses[status] = statuses.get(status, 0) + 1

    plans = [request_plan(session, base, requests_count) for session in sessions]
    threads = [threading.Thread(target=send, args=pair) for pair in zip(sessions, plans)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return statuses


def measure(env: dict, log: Path, requests_count: int, scheduler: str, clients: int = 1) -> dict:
    import requests

    master, port = start_gunicorn(env, log, scheduler)
    try:
        base = f"http://127.0.0.1:{port}"
        sessions = [requests.Session() for _ in range(clients)]
        session = sessions[0]
        session.get(f"{base}/login", timeout=120)  # answered: the worker has loaded the app
        time.sleep(1)
        workers = [pid for pid in children(master.pid) if not is_scheduler(pid)]
        schedulers = [pid for pid in children(master.pid) if is_scheduler(pid)]
        if len(workers) != 1 or len(schedulers) != (scheduler == "process"):
            raise SystemExit(f"expected one gunicorn worker and {scheduler == 'process':d} scheduler, "
                             f"found {workers} and {schedulers}")
        worker = workers[0]
        started_rss, _ = memory_mb(worker)
        started_pss, started_uss = shared_mb(worker)
        for each in sessions:
            sign_in(each, base)
        statuses = send_requests(sessions, base, requests_count)
        time.sleep(1)
        warm_rss, peak = memory_mb(worker)
        warm_pss, warm_uss = shared_mb(worker)
        scheduler_mb = memory_mb(schedulers[0]) if schedulers else None
        return {"started": started_rss, "warm": warm_rss, "peak": peak, "statuses": statuses,
                "started_pss_uss": (started_pss, started_uss), "warm_pss_uss": (warm_pss, warm_uss),
                "scheduler": scheduler_mb}
    finally:
        master.terminate()
        master.wait(timeout=30)


def markdown(result: dict, baseline: float, leads: int, database: str, requests_count: int,
             clients: int = 1) -> str:
    verdict = "met" if result["warm"] <= TARGET_MB else "MISSED"
    seeded = f"{leads:,} demo leads"
    statuses = ", ".join(f"{n}× {s}" for s, n in sorted(result["statuses"].items()))
    sent = sum(result["statuses"].values())
    place = "scheduler in its own process" if result["scheduler"] else "scheduler in the worker"
    scheduler_rows = [] if not result["scheduler"] else [
        f"| the scheduler's own process (resident, peak) | {result['scheduler'][0]:.1f} (peak "
        f"{result['scheduler'][1]:.1f}) | {baseline:.1f} | ×{result['scheduler'][0] / baseline:.2f} |  | — |"]
    return "\n".join([
        f"Run {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC; one gunicorn worker (4 threads, {place}) "
        f"on {database} with {seeded}; {requests_count} mixed requests"
        f"{f' from each of {clients} clients at once' if clients > 1 else ''} (answers: {statuses}).", "",
        "| worker | resident MB | bare `import flask, sqlalchemy` (MB) | ratio | target | |",
        "|---|---:|---:|---:|---|---|",
        f"| after start (one sign-in page) | {result['started']:.1f} | {baseline:.1f} | ×{result['started'] / baseline:.2f} |  | — |",
        f"| after {sent} requests | {result['warm']:.1f} | {baseline:.1f} | ×{result['warm'] / baseline:.2f} "
        f"| ≤ {TARGET_MB:.0f} MB | {verdict} |",
        f"| peak | {result['peak']:.1f} | {baseline:.1f} | ×{result['peak'] / baseline:.2f} |  | — |",
        *scheduler_rows, "",
        "Shared pages (the worker's PSS and USS, MB; RSS counts every page the worker maps, "
        "PSS splits a shared page among the processes that map it, USS counts only its own):", "",
        "| worker | RSS | PSS | USS |", "|---|---:|---:|---:|",
        f"| after start | {result['started']:.1f} | {result['started_pss_uss'][0]:.1f} | {result['started_pss_uss'][1]:.1f} |",
        f"| after {sent} requests | {result['warm']:.1f} | {result['warm_pss_uss'][0]:.1f} "
        f"| {result['warm_pss_uss'][1]:.1f} |", ""])


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--leads", type=int, default=1000, help="demo leads in the scratch SQLite database")
    parser.add_argument("--requests", type=int, default=50)
    parser.add_argument("--clients", type=int, default=1,
                        help="signed-in clients sending their requests at the same time")
    parser.add_argument("--scheduler", choices=["process", "thread"], default="process",
                        help="the scheduler in a process of its own (make serve) or in the worker")
    parser.add_argument("--database-url", metavar="URL",
                        help="postgresql://…/NAME: on PostgreSQL, in a database NAME_memory made anew "
                             "(bench_databases.py); default: a scratch SQLite file")
    args = parser.parse_args(argv)
    sys.path.insert(0, str(REPO_ROOT / "bench"))
    from bench_databases import database_for, database_label

    with tempfile.TemporaryDirectory(prefix="leadflow-memory-") as folder:
        instance = Path(folder)
        url, fresh, _ = database_for("memory", instance, database_url=args.database_url)
        env = environment(instance, url)
        prepare(env, args.leads, seed=fresh)
        result = measure(env, instance / "gunicorn.log", args.requests, args.scheduler, args.clients)
    print(markdown(result, baseline_mb(), args.leads, database_label(url), args.requests, args.clients))
    return 0 if result["warm"] <= TARGET_MB else 1


if __name__ == "__main__":
    sys.exit(main())
