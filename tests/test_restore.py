"""``flask --app wsgi leadflow restore PATH``: a SQLite backup taken while leads were being
written goes back in place of a database left with stale -wal/-shm files by a crash, and
the app opens it with exactly the backup's leads. A corrupt backup, or a database a server
still has open, is refused and the database is left as it was."""

from __future__ import annotations

import shutil
import sqlite3
import threading
from pathlib import Path

import pytest
from flask_migrate import upgrade

from leadflow.extensions import db
from leadflow.leads.models import Lead
from leadflow.restore import restore_sqlite
from tests import factories
from tests.servers import flask_cli, production_env, start_leadflow, stop_processes
from tests.test_statistics import sqlite_planner_rows


@pytest.fixture
def live(make_app, tmp_path):
    """An app on a SQLite file of its own (whatever database the suite runs on), migrated."""
    path = tmp_path / "live.sqlite3"
    other = make_app(SQLALCHEMY_DATABASE_URI=f"sqlite:///{path}")
    with other.app_context():
        upgrade()
        factories.ensure_default_pipeline()
        db.session.commit()
    return other, path


def _cli(app, *args):
    return app.test_cli_runner().invoke(args=["leadflow", *args])


def _lead_names(path: Path) -> set[str]:
    connection = sqlite3.connect(path)
    try:
        return {row[0] for row in connection.execute("SELECT first_name FROM leads WHERE deleted_at IS NULL")}
    finally:
        connection.close()


def _write_leads_until(app, stop: threading.Event, written: list) -> None:
    with app.app_context():
        while not stop.is_set():
            lead = factories.make_lead(first_name=f"Writer{len(written)}", email=f"w{len(written)}@example.com")
            db.session.commit()
            written.append(lead.first_name)
        db.session.remove()


@pytest.mark.real_commits  # writes from a thread while the backup runs
def test_a_backup_taken_during_writes_restores_over_stale_wal_files(live, tmp_path):
    app, path = live
    stop, written = threading.Event(), []
    writer = threading.Thread(target=_write_leads_until, args=(app, stop, written))
    writer.start()
    try:
        while len(written) < 20:
            threading.Event().wait(0.01)
        backup = tmp_path / "backup.sqlite3"
        with app.app_context():
            result = _cli(app, "backup", str(backup))
        while len(written) < len(_lead_names(backup)) + 20:  # the database moves on after the backup
            threading.Event().wait(0.01)
    finally:
        stop.set()
        writer.join()
    assert result.exit_code == 0, result.output
    in_backup = _lead_names(backup)
    assert 20 <= len(in_backup) < len(written)

    # A crash: the process dies while the WAL holds pages not yet copied into the database file.
    wal_then = tmp_path / "stale"
    wal_then.mkdir()
    with app.app_context():
        with db.engine.connect() as connection:
            connection.exec_driver_sql("PRAGMA wal_autocheckpoint=0")
            for n in range(5):
                connection.exec_driver_sql(f"UPDATE leads SET first_name = 'Changed{n}'")
            connection.commit()
            for suffix in ("-wal", "-shm"):
                shutil.copy(f"{path}{suffix}", wal_then / suffix)
        db.engine.dispose()  # the last connection folds the WAL in; the copies stand for the crash's
    for suffix in ("-wal", "-shm"):
        shutil.copy(wal_then / suffix, f"{path}{suffix}")

    with app.app_context():
        result = _cli(app, "restore", str(backup))
    assert result.exit_code == 0, result.output
    assert "integrity ok" in result.output and "Removed the stale live.sqlite3-shm" in result.output
    assert "Restored" in result.output
    leftovers = sorted(p.name for p in tmp_path.iterdir() if p.name.startswith("live.sqlite3"))
    assert [name for name in leftovers if not name.startswith("live.sqlite3.before-restore-")] == ["live.sqlite3"]
    aside = next(p for p in tmp_path.iterdir() if p.name.startswith("live.sqlite3.before-restore-")
                 and not p.name.endswith("-wal"))
    assert Path(f"{aside}-wal").exists(), "the old database keeps its WAL, so it is still whole"

    connection = sqlite3.connect(path)
    try:
        assert connection.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    finally:
        connection.close()
    with app.app_context():  # the app opens the restored file and finds the backup's leads, no more
        names = set(db.session.scalars(db.select(Lead.first_name)))
        assert names == in_backup
        factories.make_lead(first_name="AfterRestore", email="after@example.com")
        db.session.commit()
        db.session.remove()
        db.engine.dispose()
    assert "AfterRestore" in _lead_names(path)


def test_a_corrupt_backup_is_refused_and_the_database_left_as_it_was(live, tmp_path):
    app, path = live
    with app.app_context():
        factories.make_lead(first_name="Kept", email="kept@example.com")
        db.session.commit()
        backup = tmp_path / "backup.sqlite3"
        assert _cli(app, "backup", str(backup)).exit_code == 0
        db.engine.dispose()
    damaged = bytearray(backup.read_bytes())
    page = 4096
    damaged[page * 2:page * 4] = b"\xff" * (page * 2)  # two pages of a table overwritten
    backup.write_bytes(bytes(damaged))
    before = path.read_bytes()

    with app.app_context():
        result = _cli(app, "restore", str(backup))
    assert result.exit_code == 2
    assert "did not pass SQLite's integrity check" in result.output
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith((".live", "live"))) == ["live.sqlite3"]

    not_a_database = tmp_path / "notes.txt"
    not_a_database.write_text("not a database at all " * 100)
    with app.app_context():
        result = _cli(app, "restore", str(not_a_database))
    assert result.exit_code == 2 and "Error:" in result.output
    assert path.read_bytes() == before


def test_restore_refuses_while_a_server_runs_on_the_database(tmp_path, sqlite_at_head):
    instance = tmp_path / "instance"
    instance.mkdir()
    env = production_env(instance)
    sqlite_at_head(instance / "leadflow.sqlite3")
    backup = tmp_path / "backup.sqlite3"
    flask_cli(["leadflow", "backup", str(backup)], env)
    database = instance / "leadflow.sqlite3"

    server, _port = start_leadflow(env, tmp_path / "server.log")  # no request yet: it still holds the file
    try:
        refused = flask_cli(["leadflow", "restore", str(backup)], env, check=False)
        assert refused.returncode == 2, refused.stdout + refused.stderr
        assert "open in another process" in refused.stderr
        assert database.exists() and not list(instance.glob("*.before-restore-*"))
    finally:
        stop_processes([server])

    restored = flask_cli(["leadflow", "restore", str(backup)], env)
    assert "Restored" in restored.stdout


@pytest.mark.real_commits  # the leads must be in the file that is backed up
def test_the_restored_copy_has_fresh_planner_statistics(live, tmp_path):
    app, path = live
    with app.app_context():
        for i in range(5):
            factories.make_lead(first_name=f"Restored{i}")
        db.session.commit()
        db.session.remove()
        db.engine.dispose()
    backup = tmp_path / "backup.sqlite3"
    source, copy = sqlite3.connect(path), sqlite3.connect(backup)
    source.backup(copy)
    source.close(), copy.close()
    restored = tmp_path / "restored.sqlite3"
    restore_sqlite(backup, restored)
    connection = sqlite3.connect(restored)
    try:
        rows = sqlite_planner_rows(lambda sql, *args: (connection.execute(sql, args).fetchone() or [None])[0])
    finally:
        connection.close()
    assert rows == 5
