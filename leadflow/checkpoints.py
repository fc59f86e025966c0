"""SQLite's WAL checkpoints, run by a thread of their own instead of by a committing request.

In WAL mode a commit appends the pages it changed to the ``-wal`` file; a *checkpoint* copies
them back into the database file (and syncs both), after which the WAL starts over. SQLite's
default (``wal_autocheckpoint``, 1,000 pages) makes the commit that takes the WAL past 1,000
pages run the checkpoint itself, inside its COMMIT. Under the create throughput test
(``bench/bench_writes.py``: 16 clients, one server process, a create writes about 30 pages)
one create in 30 did, 5-35 ms each, and all that time it still held the process's writer turn
(``leadflow.db.ProcessWriterLock``, given up after COMMIT returns), so every other writer of
the process waited for it too.

So here a thread of each process (one per database file, started by a write commit, ended
after ``IDLE_SECONDS`` without one, or when the engine is disposed) runs ``PRAGMA wal_checkpoint(PASSIVE)`` at most
every ``every_seconds`` while writes go on. A passive checkpoint takes no lock a writer or a
reader waits for: writers go on appending while it copies. The app's connections keep
SQLite's own checkpoint only as a safety net, at ``SAFETY_NET_PAGES``: should the thread
fall behind or be gone, a commit still checkpoints once the WAL is that long, so the WAL
cannot grow without bound.

Durability does not change: a commit is durable once its pages are in the WAL, with or without
a checkpoint (``synchronous=NORMAL`` as before: a process killed with kill -9 loses no
committed transaction; the next connection replays the WAL). A checkpoint only moves pages the
WAL already holds.

The thread opens a connection for each checkpoint and closes it: a connection kept open would
tell ``leadflow.restore`` the database is in use, and it opens the file read-write only
(``mode=rw``), so a database moved aside is never created again empty under its old name.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from urllib.parse import quote

# SQLite's automatic checkpoint of the app's connections: the safety net, 10x SQLite's default
# (40 MB of WAL with 4 KB pages). The thread checkpoints long before, at a few thousand pages
# under the heaviest write load measured.
SAFETY_NET_PAGES = 10_000
# The thread ends after this long without a write commit (the next one starts it again).
IDLE_SECONDS = 60.0


class Checkpointer:
    """The checkpoints of one SQLite database file, for this process."""

    def __init__(self, path: str, every_seconds: float, dbapi):
        self.path = path
        self.every_seconds = every_seconds
        # The engine's driver (``sqlite3``), handed in: imported here, it would load SQLite's
        # library into every process, PostgreSQL's too (about 1.8 MB of each).
        self.dbapi = dbapi
        self._after_fork()

    def _after_fork(self) -> None:
        # A lock or event inherited through fork may be in the state another thread left it in.
        self._pid = os.getpid()
        self._lock = threading.Lock()
        self._checkpointing = threading.Lock()
        self._wrote = threading.Event()
        self._halt: threading.Event | None = None  # the running thread's, None: no thread

    def wrote(self) -> None:
        """A write transaction committed: a checkpoint is due within ``every_seconds``."""
        if self._pid != os.getpid():
            self._after_fork()  # the thread did not come along through fork
        self._wrote.set()
        with self._lock:
            if self._halt is None:
                self._halt = threading.Event()
                threading.Thread(target=self._run, args=(self._halt,), name="sqlite-checkpoints",
                                 daemon=True).start()

    def stop(self) -> None:
        """No checkpoint from now until the next write commit (the engine was disposed: the
        database may be about to be moved aside or restored). Returns once a checkpoint under
        way has ended."""
        if self._pid != os.getpid():
            self._after_fork()
            return
        with self._lock:
            if self._halt is not None:
                self._halt.set()
                self._halt = None
                self._wrote.set()  # wakes the thread, which sees its halt
        with self._checkpointing:
            pass

    def _run(self, halt: threading.Event) -> None:
        while True:
            woke = self._wrote.wait(IDLE_SECONDS)
            if halt.is_set():
                return
            if not woke:
                with self._lock:
                    if self._wrote.is_set():
                        continue
                    self._halt = None
                    return
            # Let the WAL gather a while: a page written again meanwhile is copied once.
            if halt.wait(self.every_seconds):
                return
            with self._checkpointing:
                if halt.is_set():
                    return
                self._wrote.clear()
                self.checkpoint()

    def checkpoint(self) -> tuple[int, int, int] | None:
        """One passive checkpoint: (busy, pages in the WAL, pages copied back), or None when
        the database cannot be opened (moved aside, deleted) or checkpointed just now."""
        try:
            connection = self.dbapi.connect(f"file:{quote(self.path)}?mode=rw", uri=True, timeout=0,
                                            isolation_level=None, check_same_thread=False)
        except self.dbapi.Error:
            return None
        try:
            return tuple(connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone())
        except self.dbapi.Error:
            return None
        finally:
            connection.close()

    def after(self, end_transaction: Callable, writing: Callable[[], bool]) -> Callable:
        """``end_transaction`` (the dialect's commit of a pooled connection), then a checkpoint
        asked for when the transaction was a writer's (``writing``)."""

        def ended(connection) -> None:
            end_transaction(connection)
            if writing():
                self.wrote()

        return ended
