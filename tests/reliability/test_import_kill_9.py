"""An import process killed with kill -9 mid-way, with production settings: a real scheduler
process takes the job over once the dead worker's heartbeat is stale (30 seconds, beats every
10 seconds, the imports sweep every 10 seconds), not after its 2-minute lease, and every row
is imported once. The time from the kill to the finished import goes to docs/RELIABILITY.md."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

from sqlalchemy import create_engine, text

from leadflow.imports.runner import CHUNK_ROWS, LEASE_SECONDS
from leadflow.scheduler.heartbeat import STALE_AFTER_SECONDS
from tests.servers import REPO_ROOT, flask_cli, production_env, stop_processes

ROWS = 6 * CHUNK_ROWS
USER = "importer@example.com"


def test_an_import_killed_with_kill_9_is_finished_by_a_scheduler_soon_after(tmp_path, fresh_database,
                                                                            database_kind, record_figures):
    env = production_env(tmp_path, fresh_database)
    flask_cli(["leadflow", "create-user", "--email", USER, "--password", "a long enough password",
               "--role", "manager"], env)
    csv = tmp_path / "leads.csv"
    csv.write_text("Name,Email,Deal Value\n" + "".join(f"Person {i},p{i}@example.com,{i % 7}00\n"
                                                      for i in range(ROWS)))
    engine = create_engine(fresh_database)

    def query(sql: str):
        with engine.connect() as conn:
            return conn.execute(text(sql)).one()

    def progress():
        return query("SELECT COUNT(*), MAX(status), MAX(rows_done) FROM import_jobs")

    importing = subprocess.Popen([sys.executable, "-m", "flask", "--app", "wsgi", "leadflow", "import-csv", str(csv),
                                  "--user", USER], cwd=REPO_ROOT, env=env, stdout=subprocess.DEVNULL)
    scheduler = None
    try:
        deadline = time.monotonic() + 120
        while (progress()[2] or 0) < CHUNK_ROWS:
            assert importing.poll() is None and time.monotonic() < deadline, "the import did not get going"
            time.sleep(0.02)
        # A scheduler was running all along (started now, so that it cannot claim the job first).
        scheduler = subprocess.Popen([sys.executable, "-m", "flask", "--app", "wsgi", "leadflow", "scheduler"],
                                     cwd=REPO_ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        os.kill(importing.pid, signal.SIGKILL)
        importing.wait(timeout=10)
        killed = time.monotonic()
        _, status, done_when_killed = progress()
        assert status == "running" and done_when_killed < ROWS, "killed too late to be mid-import"
        while progress()[1] != "done":
            assert time.monotonic() - killed < LEASE_SECONDS + 60, "the import was not finished"
            assert scheduler.poll() is None, "the scheduler stopped"
            time.sleep(0.2)
        finished = time.monotonic() - killed
    finally:
        if importing.poll() is None:
            importing.kill()
            importing.wait()
        if scheduler is not None:
            stop_processes([scheduler])
    leads, emails, created = query("SELECT COUNT(*), COUNT(DISTINCT email), "
                                   "(SELECT COUNT(*) FROM activities WHERE kind = 'system') FROM leads")
    jobs, status, done = progress()
    counts = query("SELECT created_count, skipped_count, failed_count FROM import_jobs")
    engine.dispose()
    assert (jobs, status, done, tuple(counts)) == (1, "done", ROWS, (ROWS, 0, 0))
    assert leads == emails == created == ROWS  # every row once, one "Lead created" entry each
    # Taken over once its heartbeat was stale, well before the lease would have run out.
    assert finished < LEASE_SECONDS
    record_figures("import-kill-9", [
        "| Import killed with kill -9 | Rows committed at the kill | Kill → finished by a scheduler |",
        "|---|---|---|",
        f"| {ROWS:,} rows, chunks of {CHUNK_ROWS:,}, stale after {STALE_AFTER_SECONDS} s, lease {LEASE_SECONDS} s "
        f"| {done_when_killed:,} | {finished:.0f} s |",
    ])
