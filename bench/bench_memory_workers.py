"""What several gunicorn workers hold together: the memory a server of N workers really takes,
which one worker's RSS cannot tell (each worker's RSS counts in full the pages it shares with
the master and the other workers).

    .venv/bin/python bench/bench_memory_workers.py --workers 4

Seeds a scratch SQLite demo of 1,000 leads, starts gunicorn as ``bench_memory.py`` does (the
scheduler in its own process, left out of the figures) with N workers, signs in 2×N sessions
and sends 100 of ``bench_memory.py``'s mixed requests, each on a new connection so they spread
over the workers; then prints the master's and the workers' RSS, PSS and USS and the total PSS
of master and workers (what the server holds, each shared page counted once).

Not collected by pytest: it lives outside ``testpaths``.
"""

from __future__ import annotations

import argparse
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO_ROOT), str(REPO_ROOT / "bench")]

import bench_memory as single  # noqa: E402
from bench_databases import database_for  # noqa: E402


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workers", type=int, default=4)
    args = parser.parse_args(argv)
    import requests

    from leadflow.serving import gunicorn_command, server_environment

    with tempfile.TemporaryDirectory(prefix="leadflow-memory-") as folder:
        instance = Path(folder)
        url, fresh, _ = database_for("memory", instance)
        env = single.environment(instance, url)
        single.prepare(env, 1000, seed=fresh)
        port = single.free_port()
        command = gunicorn_command(host="127.0.0.1", port=port, workers=args.workers, threads=4)
        master = subprocess.Popen(command, cwd=REPO_ROOT, env=server_environment(env, scheduler="process"),
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            deadline = time.monotonic() + 90
            while True:
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=1).close()
                    break
                except OSError:
                    if time.monotonic() > deadline:
                        raise SystemExit("gunicorn did not listen within 90 s")
                    time.sleep(0.3)
            time.sleep(3)  # every worker booted
            base = f"http://127.0.0.1:{port}"
            sessions = [requests.Session() for _ in range(2 * args.workers)]
            for session in sessions:
                single.sign_in(session, base)
            plan = single.request_plan(sessions[0], base, 50) * 2
            for i, address in enumerate(plan):
                requests.get(base + address, cookies=sessions[i % len(sessions)].cookies, timeout=120)
            time.sleep(1)
            workers = [pid for pid in single.children(master.pid) if not single.is_scheduler(pid)]
            rows = [("master", master.pid)] + [(f"worker {n + 1}", pid) for n, pid in enumerate(workers)]
            print(f"gunicorn, {len(workers)} workers × 4 threads, SQLite, 1,000 demo leads, "
                  f"{len(plan)} mixed requests over {len(sessions)} sessions.\n")
            print("| process | RSS MB | PSS MB | USS MB |\n|---|---:|---:|---:|")
            total = 0.0
            for name, pid in rows:
                rss, _ = single.memory_mb(pid)
                pss, uss = single.shared_mb(pid)
                total += pss
                print(f"| {name} | {rss:.1f} | {pss:.1f} | {uss:.1f} |")
            print(f"| **master + workers (PSS)** |  | **{total:.1f}** |  |")
        finally:
            master.terminate()
            master.wait(timeout=30)
    return 0


if __name__ == "__main__":
    sys.exit(main())
