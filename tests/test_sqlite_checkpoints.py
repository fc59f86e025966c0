"""SQLite's WAL checkpoints run in a thread of their own (``leadflow.checkpoints``), not in the
commit that fills the WAL: a writer's COMMIT only appends to the WAL, the thread copies the
pages back into the database file soon after, SQLite's own checkpoint stays as a safety net
for a WAL the thread does not keep short, and a process killed mid-write loses no committed
transaction.

These tests use their own SQLite file and engine, on either test database."""

from __future__ import annotations

import hashlib
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from leadflow.checkpoints import SAFETY_NET_PAGES, Checkpointer
from leadflow.db import configure_sqlite_engine

NEVER = 3600.0  # a checkpoint thread that does not run during the test
PAGE = 4096


def make_engine(path: Path, checkpoint_seconds: float):
    engine = create_engine(f"sqlite:///{path}")
    configure_sqlite_engine(engine, busy_timeout_ms=5000, checkpoint_seconds=checkpoint_seconds)
    with engine.begin() as connection:
        connection.exec_driver_sql("CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT)")
    return engine


@contextmanager
def own_engine(path: Path, checkpoint_seconds: float) -> Iterator:
    engine = make_engine(path, checkpoint_seconds)
    try:
        yield engine
    finally:
        engine.dispose()


def write_pages(engine, pages: int, per_commit: int = 10) -> int:
    """About ``pages`` pages written by commits of ``per_commit`` pages each (as a create
    writes a few tens); the number of rows written."""
    rows = pages // per_commit
    for _ in range(rows):
        with engine.begin() as connection:
            connection.execute(text("INSERT INTO notes (body) VALUES (:body)"), {"body": "x" * (PAGE * per_commit - 200)})
    return rows


def checkpoint(path: Path) -> tuple[int, int, int]:
    """One passive checkpoint of the file, as the thread runs it: (busy, pages in the WAL, copied)."""
    return Checkpointer(str(path), NEVER, sqlite3).checkpoint()


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def rows_in_file_alone(path: Path, tmp_path: Path) -> int:
    """The rows the database file holds without its WAL (what the checkpoints copied back)."""
    alone = tmp_path / "alone.sqlite3"
    for suffix in ("-wal", "-shm"):
        Path(f"{alone}{suffix}").unlink(missing_ok=True)
    shutil.copy(path, alone)
    connection = sqlite3.connect(alone)
    try:
        return connection.execute("SELECT count(*) FROM notes").fetchone()[0]
    except sqlite3.DatabaseError:  # not even the table copied back yet, or copied mid-checkpoint
        return 0
    finally:
        connection.close()


def test_commits_that_fill_the_wal_do_not_copy_it_into_the_database_file(tmp_path):
    path = tmp_path / "writes.sqlite3"
    with own_engine(path, checkpoint_seconds=NEVER) as engine:
        assert checkpoint(path)[0] == 0  # the table, copied back
        before = digest(path)
        write_pages(engine, 3 * 1000)  # three times SQLite's default checkpoint interval
        assert digest(path) == before, "a commit ran a checkpoint"

        busy, in_wal, copied = checkpoint(path)
        assert busy == 0 and in_wal == copied > 3 * 1000 - 100
        assert digest(path) != before


def test_the_thread_copies_every_commit_into_the_database_file_soon_after(tmp_path):
    path = tmp_path / "writes.sqlite3"
    with own_engine(path, checkpoint_seconds=0.05) as engine:
        rows = write_pages(engine, 1500)
        deadline = time.monotonic() + 10
        while rows_in_file_alone(path, tmp_path) < rows and time.monotonic() < deadline:
            time.sleep(0.05)
        assert rows_in_file_alone(path, tmp_path) == rows


def test_the_wal_stays_bounded_when_the_thread_does_not_keep_up(tmp_path):
    path = tmp_path / "burst.sqlite3"
    with own_engine(path, checkpoint_seconds=NEVER) as engine:
        per_commit = 10
        write_pages(engine, SAFETY_NET_PAGES + 3000, per_commit=per_commit)
        wal = Path(f"{path}-wal").stat().st_size
        frame = PAGE + 24  # each page in the WAL has a 24-byte header
        assert wal <= (SAFETY_NET_PAGES + 2 * per_commit + 10) * frame


CHILD = """
import os, signal, sys
from sqlalchemy import create_engine, text
from leadflow.db import configure_sqlite_engine

engine = create_engine(f"sqlite:///{sys.argv[1]}")
configure_sqlite_engine(engine, busy_timeout_ms=5000, checkpoint_seconds=3600)
for n in range(int(sys.argv[2])):
    with engine.begin() as connection:
        connection.execute(text("INSERT INTO notes (body) VALUES (:body)"), {"body": "x" * 20000})
    print(n + 1, flush=True)  # answered: committed
with engine.begin() as connection:
    connection.execute(text("INSERT INTO notes (body) VALUES ('half')"))
    os.kill(os.getpid(), signal.SIGKILL)  # mid-way through the next one
"""


@pytest.mark.skipif(sys.platform == "win32", reason="kill -9")
def test_a_process_killed_mid_write_loses_no_committed_transaction_and_keeps_no_half_one(tmp_path):
    path = tmp_path / "killed.sqlite3"
    make_engine(path, checkpoint_seconds=NEVER).dispose()
    child = subprocess.run([sys.executable, "-c", CHILD, str(path), "400"], capture_output=True, text=True,
                           cwd=Path(__file__).resolve().parents[1], timeout=120)
    assert child.returncode == -signal.SIGKILL, child.stderr
    answered = int(child.stdout.split()[-1])
    assert answered == 400
    assert Path(f"{path}-wal").stat().st_size > 0  # the commits were still in the WAL alone

    connection = sqlite3.connect(path)
    try:
        assert connection.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert connection.execute("SELECT count(*) FROM notes").fetchone()[0] == answered
        assert connection.execute("SELECT count(*) FROM notes WHERE body = 'half'").fetchone()[0] == 0
    finally:
        connection.close()
