"""Putting a SQLite backup back in place of the database (``flask --app wsgi leadflow restore``).

A SQLite database in WAL mode is up to three files: the database, its ``-wal`` (committed
pages not yet copied back) and its ``-shm`` (an index of the WAL). A backup put in place
beside the old ``-wal`` would have that WAL's pages applied over it: a corrupt database. So
the restore, in this order:

1. refuses while any process has the database open (``database_in_use``): a server, a
   scheduler or a shell still holding it would keep writing to the old file;
2. copies the backup to a new file beside the database and checks it (``PRAGMA
   integrity_check``, the LeadFlow tables are there); a corrupt backup is refused and the
   database is left as it was;
3. moves the old database and its ``-wal`` aside together (``<name>.before-restore-<time>``,
   still a consistent pair), deletes its ``-shm``;
4. renames the checked copy into place (atomic on one file system).

How "in use" is seen: every SQLite connection to a WAL database holds a shared lock on one
byte of the ``-shm`` file (SQLite's "dead man switch", ``SHM_DMS_BYTE``) for as long as it is
open, and the operating system drops it when the process ends, even with ``kill -9``. If an
exclusive lock on that byte cannot be had, someone has the database open. The server keeps a
connection open for its whole life (``hold_database_open``), so a running server is seen even
before its first request.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import sqlite3
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from leadflow.db import refresh_statistics

# os_unix.c: the WAL-index locks start at byte 120 of the -shm file; 8 of them, then the DMS byte.
SHM_DMS_BYTE = 128
SIDE_FILES = ("-wal", "-shm", "-journal")


class RestoreRefused(Exception):
    """The restore was not done; the message says why. The database is as it was."""


@dataclass
class RestoreReport:
    lines: list[str] = field(default_factory=list)

    def say(self, line: str) -> None:
        self.lines.append(line)


def side_file(database: Path, suffix: str) -> Path:
    return database.with_name(database.name + suffix)


def database_in_use(database: Path) -> bool:
    """True while another process has ``database`` open (see the module docstring)."""
    shm = side_file(database, "-shm")
    try:
        handle = os.open(shm, os.O_RDWR)
    except FileNotFoundError:
        return False  # no WAL index: no connection in WAL mode has it open
    try:
        fcntl.lockf(handle, fcntl.LOCK_EX | fcntl.LOCK_NB, 1, SHM_DMS_BYTE, os.SEEK_SET)
    except OSError:
        return True
    else:
        fcntl.lockf(handle, fcntl.LOCK_UN, 1, SHM_DMS_BYTE, os.SEEK_SET)
        return False
    finally:
        os.close(handle)  # this process holds no SQLite connection to it, so no lock of its own is lost


def hold_database_open(database: Path) -> sqlite3.Connection:
    """A connection kept open for the life of a server, so ``database_in_use`` sees the server
    even while it has no pooled connection (before its first request)."""
    connection = sqlite3.connect(database, check_same_thread=False)
    connection.execute("PRAGMA journal_mode=WAL")  # as every connection of the app sets it; maps the WAL index
    return connection


def check_copy(path: Path) -> str:
    """Refuse a copy that is not a sound LeadFlow database; returns its schema revision."""
    try:
        connection = sqlite3.connect(path)
    except sqlite3.Error as exc:
        raise RestoreRefused(f"The backup cannot be opened as a SQLite database: {exc}") from exc
    try:
        try:
            problems = [row[0] for row in connection.execute("PRAGMA integrity_check")]
        except sqlite3.DatabaseError as exc:  # so damaged that the check itself cannot run
            problems = [str(exc)]
        if problems != ["ok"]:
            raise RestoreRefused("The backup did not pass SQLite's integrity check: " + "; ".join(problems[:5]))
        revision = connection.execute("SELECT version_num FROM alembic_version").fetchone()
        connection.execute("PRAGMA journal_mode=DELETE")  # one self-contained file, whatever the backup was
    except sqlite3.DatabaseError as exc:  # not a database at all, or no LeadFlow tables
        raise RestoreRefused(f"The backup is not a LeadFlow SQLite database: {exc}") from exc
    finally:
        connection.close()
    if revision is None:
        raise RestoreRefused("The backup is not a LeadFlow SQLite database: it has no schema revision.")
    return revision[0]


def _refresh_statistics(path: Path) -> None:
    """The restored copy's planner statistics, as after any bulk write (``db.refresh_statistics``)."""
    connection = sqlite3.connect(path)
    try:
        refresh_statistics(connection)
        connection.commit()
    finally:
        connection.close()


def _fsync_folder(folder: Path) -> None:
    handle = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(handle)
    finally:
        os.close(handle)


def restore_sqlite(backup: Path, database: Path, now: datetime | None = None) -> RestoreReport:
    """Put ``backup`` in place of ``database`` (see the module docstring for the steps)."""
    report = RestoreReport()
    backup, database = backup.resolve(), database.resolve()
    if not backup.is_file():
        raise RestoreRefused(f"{backup} is not a file.")
    if backup == database:
        raise RestoreRefused("The backup is the database itself.")
    if not database.parent.is_dir():
        raise RestoreRefused(f"The folder {database.parent} does not exist.")
    if database_in_use(database):
        raise RestoreRefused(f"{database} is open in another process (a running server or scheduler?). "
                             "Stop every LeadFlow process that uses it, then restore again.")
    incoming = database.with_name(f".{database.name}.restoring")
    for leftover in (incoming, *(side_file(incoming, s) for s in SIDE_FILES)):
        leftover.unlink(missing_ok=True)
    try:
        shutil.copyfile(backup, incoming)
        revision = check_copy(incoming)
        _refresh_statistics(incoming)
        with open(incoming, "rb+") as copied:
            os.fsync(copied.fileno())
    except BaseException:
        incoming.unlink(missing_ok=True)
        raise
    report.say(f"Checked the backup {backup}: integrity ok, schema revision {revision}.")

    if database_in_use(database):  # opened while the copy was checked
        incoming.unlink(missing_ok=True)
        raise RestoreRefused(f"{database} was opened by another process meanwhile. Stop it and restore again.")
    stamp = (now or datetime.now(timezone.utc)).strftime("%Y%m%d-%H%M%S")
    aside = database.with_name(f"{database.name}.before-restore-{stamp}")
    if database.exists():
        wal = side_file(database, "-wal")
        with_wal = wal.exists()
        if with_wal:  # the old WAL goes with its database: together they are still consistent
            os.replace(wal, side_file(aside, "-wal"))
        os.replace(database, aside)
        report.say(f"Moved the database it replaces to {aside}" + (" with its -wal." if with_wal else "."))
    for suffix in SIDE_FILES:
        stale = side_file(database, suffix)
        if stale.exists():
            stale.unlink()
            report.say(f"Removed the stale {stale.name}.")
    os.replace(incoming, database)
    _fsync_folder(database.parent)
    report.say(f"Restored {database} from the backup.")
    return report
