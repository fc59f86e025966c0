"""SQLite writers of one process take turns on a lock of their own (``leadflow.db.
ProcessWriterLock``): the next writer starts the moment the last one commits or rolls back,
instead of sleeping in SQLite's busy handler while the database lock sits free. A turn is
given up by COMMIT, ROLLBACK, a failed BEGIN and a connection going back to the pool; a
writer that waits past the busy timeout goes on to SQLite's own lock.

These tests use their own SQLite file and engine, on either test database."""

from __future__ import annotations

import threading
import time

import pytest
from sqlalchemy import create_engine, text

from leadflow.db import ProcessWriterLock, configure_sqlite_engine, sqlite_write_wait


@pytest.fixture
def engine(tmp_path):
    engine = create_engine(f"sqlite:///{tmp_path / 'turns.sqlite3'}")
    configure_sqlite_engine(engine, busy_timeout_ms=5000)
    with engine.begin() as connection:
        connection.exec_driver_sql("CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT)")
    yield engine
    engine.dispose()


def write_after(engine, started: threading.Event, began: list, body: str) -> None:
    started.set()
    with engine.begin() as connection:
        began.append(time.monotonic())
        connection.execute(text("INSERT INTO notes (body) VALUES (:body)"), {"body": body})


def seconds_to_be_refused(engine) -> float:
    """How long a write on a connection with a 50 ms busy timeout took to be refused."""
    with engine.connect() as connection:
        connection.connection.driver_connection.execute("PRAGMA busy_timeout = 50")
        started = time.monotonic()
        with pytest.raises(Exception, match="locked"):
            with connection.begin():
                pass
        return time.monotonic() - started


def test_a_waiting_writer_starts_as_soon_as_the_holder_commits_not_a_busy_sleep_later(engine):
    delays = []
    for round_ in range(3):
        began, started = [], threading.Event()
        with engine.connect() as holder:
            holder.begin()
            holder.execute(text("INSERT INTO notes (body) VALUES (:body)"), {"body": f"first {round_}"})
            waiter = threading.Thread(target=write_after, args=(engine, started, began, f"second {round_}"))
            waiter.start()
            started.wait()
            time.sleep(0.2)  # the waiter is in its busy wait by now
            holder.commit()
            committed = time.monotonic()
            waiter.join(5)
        assert len(began) == 1
        delays.append(began[0] - committed)

    # Without the turn the waiter's next look at SQLite's lock came about 30 ms after the
    # commit, every round; with it, well under a millisecond (the best round, so a busy
    # machine's scheduling does not decide).
    assert min(delays) < 0.01, delays
    with engine.connect() as reader:
        assert reader.execute(text("SELECT body FROM notes ORDER BY id")).scalars().all() == [
            f"{which} {n}" for n in range(3) for which in ("first", "second")]


def test_a_rollback_or_a_commit_gives_the_turn_up_while_the_connection_stays_checked_out(engine):
    began, started = [], threading.Event()
    with engine.connect() as holder:
        holder.begin()
        holder.execute(text("INSERT INTO notes (body) VALUES ('undone')"))
        holder.rollback()
        write_after(engine, started, began, "after rollback")  # would wait 5 s for a turn never given up
        holder.begin()
        holder.execute(text("INSERT INTO notes (body) VALUES ('kept')"))
        holder.commit()
        write_after(engine, started, began, "after commit")

    with engine.connect() as reader:
        assert reader.execute(text("SELECT body FROM notes ORDER BY id")).scalars().all() == [
            "after rollback", "kept", "after commit"]


def test_twenty_writers_at_once_all_write_once(engine):
    def write(n: int) -> None:
        with engine.begin() as connection:
            count = connection.execute(text("SELECT count(*) FROM notes")).scalar_one()
            connection.execute(text("INSERT INTO notes (body) VALUES (:body)"), {"body": f"{n}:{count}"})

    threads = [threading.Thread(target=write, args=(n,)) for n in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)

    with engine.connect() as reader:
        bodies = reader.execute(text("SELECT body FROM notes")).scalars().all()
    assert sorted(int(b.split(":")[0]) for b in bodies) == list(range(20))
    # Each writer saw the ones before it: the writes were one after the other.
    assert sorted(int(b.split(":")[1]) for b in bodies) == list(range(20))


def test_a_failed_begin_gives_the_turn_up(tmp_path):
    path = tmp_path / "held.sqlite3"
    engine = create_engine(f"sqlite:///{path}")
    configure_sqlite_engine(engine, busy_timeout_ms=50)
    outsider = create_engine(f"sqlite:///{path}")  # another process's writer, as SQLite sees it
    configure_sqlite_engine(outsider, busy_timeout_ms=50)
    try:
        with outsider.connect() as other:
            other.begin()  # holds SQLite's lock: our BEGIN IMMEDIATE fails with "locked"
            with pytest.raises(Exception, match="locked"):
                with engine.begin():
                    pass
            other.rollback()
        started, began = threading.Event(), []
        write_started = time.monotonic()
        with engine.begin() as connection:
            began.append(time.monotonic())
            connection.exec_driver_sql("CREATE TABLE t (id INTEGER)")
        assert began[0] - write_started < 0.04  # not the lock's timeout: the failed BEGIN let go
    finally:
        engine.dispose()
        outsider.dispose()


def test_a_writer_that_waits_past_the_timeout_goes_on_to_sqlites_own_lock():
    turns = ProcessWriterLock(timeout_seconds=0.05)
    first, second = object(), object()
    holder = threading.Thread(target=turns.acquire, args=(first,))  # another thread's writer
    holder.start()
    holder.join()
    started = time.monotonic()
    turns.acquire(second)  # the holder never lets go: after 50 ms the writer goes on
    assert 0.04 < time.monotonic() - started < 1
    turns.release(second)  # not its turn: nothing to give up
    turns.release(first)
    turns.acquire(second)
    turns.release(second)


def test_a_write_that_may_wait_only_briefly_waits_that_long_for_its_turn(engine):
    """The API token's "last used" write waits 50 ms for the lock, then is skipped."""
    with engine.connect() as holder:
        holder.begin()
        holder.execute(text("INSERT INTO notes (body) VALUES ('long write')"))
        done = []

        def brief_write() -> None:
            wait = sqlite_write_wait.set(0.05)
            try:
                done.append(seconds_to_be_refused(engine))
            finally:
                sqlite_write_wait.reset(wait)

        thread = threading.Thread(target=brief_write)
        thread.start()
        thread.join(5)
        holder.rollback()
    assert len(done) == 1 and done[0] < 1  # 50 ms for the turn, 50 ms at SQLite's lock


def test_a_thread_whose_other_connection_holds_the_turn_does_not_wait_for_itself(engine):
    with engine.connect() as outer:
        outer.begin()
        outer.execute(text("INSERT INTO notes (body) VALUES ('outer')"))
        assert seconds_to_be_refused(engine) < 1  # SQLite's 50 ms, not the 5 s busy timeout
        outer.commit()
