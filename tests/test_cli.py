"""The `flask leadflow …` commands: scriptable, no prompts, exit 0 when done and 2 for refused input.

Sign-in and every password rule of `create-user` are covered in tests/accounts/test_cli.py;
here each command is checked once end to end, as a script would run it.
"""

from __future__ import annotations

import shutil
import sqlite3
import sys
from datetime import timedelta

import pytest

from config import TestConfig
from leadflow import create_app
from leadflow.accounts.models import User
from leadflow.db import utcnow
from leadflow.extensions import db
from leadflow.leads.models import Lead
from leadflow_demo import DEMO_LOGIN
from tests.conftest import TEST_PASSWORD, csrf_token


def _cli(runner, *args):
    return runner.invoke(args=["leadflow", *args])


def _count(model) -> int:
    db.session.expire_all()
    return db.session.scalar(db.select(db.func.count(model.id)))


def _sign_in(client, email, password):
    return client.post("/login", data={"email": email, "password": password},
                       headers={"X-CSRFToken": csrf_token(client)})


def test_create_user_then_that_user_signs_in(app, runner, client):
    result = _cli(runner, "create-user", "--email", "Rita@Example.com", "--password", TEST_PASSWORD,
                  "--role", "admin", "--team", "Inbound", "--name", "Rita Ora")
    assert result.exit_code == 0, result.output
    assert "Created admin rita@example.com" in result.output
    assert _sign_in(client, "rita@example.com", TEST_PASSWORD).status_code == 302


@pytest.mark.parametrize("args, message", [
    (["--email", "new@example.com", "--password", "tooshort"], "password: Use at least 12 characters."),
    (["--email", "taken@example.com", "--password", TEST_PASSWORD], "email: A user with this email already exists."),
    (["--email", "new@example.com", "--password", TEST_PASSWORD, "--role", "owner"], "Invalid value for '--role'"),
])
def test_create_user_refuses_bad_input_with_exit_code_2_and_saves_nothing(app, runner, make_user, args, message):
    make_user(email="taken@example.com")
    db.session.commit()
    result = _cli(runner, "create-user", *args)
    assert result.exit_code == 2
    assert message in result.output
    assert _count(User) == 1


def test_seed_demo_fills_an_empty_workspace_and_prints_the_demo_login(app, runner):
    result = _cli(runner, "seed-demo", "--leads", "25", "--if-empty")
    assert result.exit_code == 0, result.output
    assert "25 leads" in result.output
    assert f"Demo login: {DEMO_LOGIN[0]} / {DEMO_LOGIN[1]}" in result.output
    assert _count(Lead) == 25 and _count(User) == 6


def test_seed_demo_if_empty_leaves_a_workspace_with_users_alone(app, runner, make_user):
    make_user(role="admin", email="owner@example.com")
    db.session.commit()
    result = _cli(runner, "seed-demo", "--if-empty")
    assert result.exit_code == 0
    assert "already has users; demo not seeded" in result.output
    assert _count(User) == 1 and _count(Lead) == 0


def test_seed_demo_without_the_demo_extra_says_how_to_install_it(app, runner, monkeypatch):
    """A production install leaves the demo (and Faker) out: the command says what to install."""
    monkeypatch.setitem(sys.modules, "faker", None)  # what a missing package looks like to an import
    for name in [n for n in sys.modules if n == "leadflow_demo" or n.startswith("leadflow_demo.")]:
        monkeypatch.delitem(sys.modules, name)
    result = _cli(runner, "seed-demo", "--leads", "5")
    assert result.exit_code != 0
    assert "pip install -e '.[demo]'" in result.output and "faker" in result.output
    assert _count(User) == 0


def test_seed_demo_refuses_a_negative_count(app, runner):
    result = _cli(runner, "seed-demo", "--leads", "-5")
    assert result.exit_code == 2
    assert _count(User) == 0


def test_commands_on_a_database_without_tables_say_to_run_db_upgrade(tmp_path):
    config = type("NoSchemaConfig", (TestConfig,), {"SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'empty.db'}"})
    bare = create_app(config)
    runner = bare.test_cli_runner()
    for args in (["seed-demo", "--if-empty"], ["purge-trash"],
                 ["create-user", "--email", "a@example.com", "--password", TEST_PASSWORD]):
        result = _cli(runner, *args)
        assert result.exit_code == 1, args
        assert "Run `flask --app wsgi db upgrade` first." in result.output
    with bare.app_context():
        db.engine.dispose()


def test_purge_trash_deletes_only_leads_trashed_longer_than_the_retention(app, runner, make_lead):
    old = make_lead(first_name="Old")
    recent = make_lead(first_name="Recent")
    live = make_lead(first_name="Live")
    old.deleted_at = utcnow() - timedelta(days=31)
    recent.deleted_at = utcnow() - timedelta(days=29)
    old_id, recent_id, live_id = old.id, recent.id, live.id
    db.session.commit()

    result = _cli(runner, "purge-trash")
    assert result.exit_code == 0, result.output
    assert "Purged 1 lead(s)" in result.output and "30 days" in result.output
    db.session.expire_all()
    assert db.session.get(Lead, old_id) is None
    assert db.session.get(Lead, recent_id) is not None and db.session.get(Lead, live_id) is not None

    result = _cli(runner, "purge-trash", "--days", "60")
    assert "Purged 0 lead(s)" in result.output


def test_purge_trash_refuses_a_retention_under_30_days(app, runner, make_lead):
    lead = make_lead()
    lead.deleted_at = utcnow() - timedelta(days=20)
    db.session.commit()
    result = _cli(runner, "purge-trash", "--days", "7")
    assert result.exit_code == 2
    assert "30<=x" in result.output
    assert _count(Lead) == 1


def _sqlite_only(app):
    if db.engine.dialect.name != "sqlite":
        pytest.skip("SQLite backup test; the PostgreSQL path is tested below")


@pytest.mark.real_commits  # the backup copies what the database file holds
def test_backup_writes_a_sqlite_copy_that_opens_with_the_same_data(app, runner, make_lead, tmp_path):
    _sqlite_only(app)
    for n in range(3):
        make_lead(first_name=f"Backed{n}")
    db.session.commit()
    target = tmp_path / "leadflow-backup.sqlite3"

    result = _cli(runner, "backup", str(target))
    assert result.exit_code == 0, result.output
    assert "Backed up the SQLite database" in result.output
    copy = sqlite3.connect(target)
    try:
        assert copy.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert copy.execute("PRAGMA journal_mode").fetchone()[0] == "delete"  # one file, no -wal needed
        names = {row[0] for row in copy.execute("SELECT first_name FROM leads")}
        assert names == {"Backed0", "Backed1", "Backed2"}
        assert copy.execute("SELECT version_num FROM alembic_version").fetchone()
    finally:
        copy.close()
    assert list(tmp_path.iterdir()) == [target]  # no partial file left behind


def test_backup_refuses_to_overwrite_or_to_write_into_a_missing_folder(app, runner, tmp_path):
    existing = tmp_path / "existing.sqlite3"
    existing.write_bytes(b"keep me")
    result = _cli(runner, "backup", str(existing))
    assert result.exit_code == 2
    assert "already exists" in result.output and "--force" in result.output
    assert existing.read_bytes() == b"keep me"

    result = _cli(runner, "backup", str(tmp_path / "missing" / "copy.sqlite3"))
    assert result.exit_code == 2
    assert "does not exist" in result.output


def test_backup_with_force_replaces_the_file(app, runner, tmp_path):
    _sqlite_only(app)
    target = tmp_path / "copy.sqlite3"
    target.write_bytes(b"old")
    result = _cli(runner, "backup", str(target), "--force")
    assert result.exit_code == 0, result.output
    assert target.read_bytes().startswith(b"SQLite format 3")


@pytest.mark.real_commits  # pg_dump reads what the database has committed
def test_backup_of_postgresql_writes_a_pg_dump_archive(app, runner, make_lead, tmp_path):
    if db.engine.dialect.name != "postgresql":
        pytest.skip("runs when the tests use PostgreSQL (DATABASE_URL), as .ci/run does")
    if shutil.which("pg_dump") is None:
        pytest.skip("pg_dump is not installed, so the PostgreSQL backup path cannot run here")
    make_lead(first_name="Dumped")
    db.session.commit()
    target = tmp_path / "leadflow.pgdump"
    result = _cli(runner, "backup", str(target))
    assert result.exit_code == 0, result.output
    assert target.read_bytes()[:5] == b"PGDMP"  # pg_dump's custom format, for pg_restore


def test_restore_on_postgresql_points_at_pg_restore(app, runner, tmp_path):
    if db.engine.dialect.name != "postgresql":
        pytest.skip("runs when the tests use PostgreSQL (DATABASE_URL), as .ci/run does")
    archive = tmp_path / "backup.dump"
    archive.write_bytes(b"PGDMP")
    result = _cli(runner, "restore", str(archive))
    assert result.exit_code == 2
    assert "pg_restore --clean --if-exists" in result.output
