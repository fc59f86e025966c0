"""The ``flask --app wsgi leadflow …`` command group: scriptable, no prompts when options are given.

Exit codes: 0 done, 1 something failed while doing it (the message says what), 2 the input
was refused (bad option, bad password, an existing file, …). Nothing is written when a
command exits with 1 or 2.
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
import sys
from pathlib import Path

import click
from flask import current_app
from flask.cli import AppGroup
from sqlalchemy.exc import OperationalError, ProgrammingError

from leadflow.db import tidy_after_bulk_write
from leadflow.extensions import db

leadflow_cli = AppGroup("leadflow", help="LeadFlow administration commands.")

EXIT_FAILED = 1
EXIT_BAD_INPUT = 2
NO_SCHEMA = "The database has no LeadFlow tables yet. Run `flask --app wsgi db upgrade` first."


def _fail(message: str, code: int = EXIT_FAILED):
    db.session.rollback()
    click.echo(f"Error: {message}", err=True)
    sys.exit(code)


def _needs_schema(command):
    """Turn "no such table" into a message that says which command to run first."""

    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        try:
            return command(*args, **kwargs)
        except (OperationalError, ProgrammingError) as exc:
            text = str(getattr(exc, "orig", exc)).lower()
            if "no such table" in text or ("relation" in text and "does not exist" in text):
                _fail(NO_SCHEMA)
            raise

    return wrapper


@leadflow_cli.command("create-user")
@click.option("--email", required=True, help="Sign-in email.")
@click.option("--password", required=True, help="At least 12 characters, not a common password.")
@click.option("--role", type=click.Choice(["admin", "manager", "rep", "viewer"]), default="rep", show_default=True)
@click.option("--team", default=None, help="Team name; created when new.")
@click.option("--name", default=None, help="Display name (defaults to the part of the email before @).")
@_needs_schema
def create_user_command(email, password, role, team, name):
    """Create a user."""
    from leadflow.accounts.services import create_user
    from leadflow.errors import ValidationFailed

    try:
        user = create_user(email=email, password=password, role=role, team=team, name=name)
    except ValidationFailed as exc:
        db.session.rollback()
        for field, messages in exc.errors.items():
            click.echo(f"Error: {field}: {' '.join(messages)}", err=True)
        sys.exit(EXIT_BAD_INPUT)
    db.session.commit()
    click.echo(f"Created {user.role} {user.email} (id {user.id}).")


@leadflow_cli.command("create-token")
@click.option("--user", "email", required=True, help="Email of the user the token acts as.")
@click.option("--scopes", default="read,write", show_default=True, help="Comma-separated: read, write.")
@click.option("--name", default="Command-line token", show_default=True, help="What the token is for.")
@_needs_schema
def create_token_command(email, scopes, name):
    """Create an API token and print it (it is shown only this once)."""
    from leadflow.accounts.models import User
    from leadflow.accounts.system import system_actor
    from leadflow.api.services import create_token
    from leadflow.errors import ValidationFailed

    user = db.session.scalar(db.select(User).where(User.email == email.strip().lower()))
    if user is None:
        _fail(f"There is no user with the email {email}.", EXIT_BAD_INPUT)
    try:
        token, plain = create_token(system_actor("Command line"), user=user, name=name, scopes=scopes)
    except ValidationFailed as exc:
        db.session.rollback()
        for field, messages in exc.errors.items():
            click.echo(f"Error: {field}: {' '.join(messages)}", err=True)
        sys.exit(EXIT_BAD_INPUT)
    db.session.commit()
    click.echo(f"Created token “{token.name}” for {user.email} with scopes {', '.join(token.scope_list)}.", err=True)
    click.echo("Store it now; it is not shown again:", err=True)
    click.echo(plain)


@leadflow_cli.command("seed-demo")
@click.option("--leads", "lead_count", type=click.IntRange(0, 1_000_000), default=200, show_default=True,
              help="How many demo leads to add.")
@click.option("--if-empty", is_flag=True, help="Do nothing when the workspace already has users.")
@_needs_schema
def seed_demo_command(lead_count, if_empty):
    """Fill the workspace with a believable demo team, organizations and leads with history."""
    from leadflow.accounts.models import user_count

    if if_empty and user_count() > 0:
        click.echo("Workspace already has users; demo not seeded.")
        return
    try:  # the demo is not part of the app: a production install leaves it (and Faker) out
        from leadflow_demo import DEMO_LOGIN, seed_demo
    except ImportError as exc:
        _fail(f"The demo workspace needs the demo extra ({exc.name} is missing); install it with "
              "`pip install -e '.[demo]'` (`make run` does).")
    try:
        summary = seed_demo(lead_count=lead_count)
    except ValueError as exc:  # a pipeline the demo cannot use, say one without open stages
        _fail(str(exc))
    db.session.commit()
    tidy_after_bulk_write(db.session)  # the demo is a bulk write
    db.session.commit()
    click.echo(summary)
    click.echo(f"Demo login: {DEMO_LOGIN[0]} / {DEMO_LOGIN[1]}")


@leadflow_cli.command("purge-trash")
@click.option("--days", type=click.IntRange(30, 3650), default=None,
              help="Delete for good what has been in the trash longer than this many days "
                   "(default: the TRASH_RETENTION_DAYS setting, 30).")
@_needs_schema
def purge_trash_command(days):
    """Delete for good leads that have been in the trash for longer than the retention."""
    from leadflow.leads.services import purge_trash

    if days is None:
        days = max(30, int(current_app.config.get("TRASH_RETENTION_DAYS", 30)))
    count = purge_trash(days)
    db.session.commit()
    click.echo(f"Purged {count} lead(s) that had been in the trash for more than {days} days.")


@leadflow_cli.command("scheduler")
@click.option("--once", is_flag=True, help="Run every sweep once and exit (1 if one failed), e.g. from cron.")
@click.option("--exit-with-parent", is_flag=True, hidden=True,
              help="Stop when the process that started this one is gone (the server's own scheduler).")
@_needs_schema
def scheduler_command(once, exit_with_parent):
    """Run the background sweeps (outbox, reminders, alerts, digests) in the foreground until Ctrl-C.

    Safe next to servers that run them too: every sweep claims its rows in the database.
    """
    from leadflow.mail.models import OutboxMessage
    from leadflow.scheduler.runner import load_sweeps, run_all_once, run_in_foreground

    db.session.execute(db.select(OutboxMessage.id).limit(1))  # no schema yet: say which command to run
    db.session.rollback()
    app = current_app._get_current_object()
    if once:
        results = run_all_once(app)
        for name, handled in results.items():
            click.echo(f"{name}: {'failed (see the log)' if handled is None else handled}")
        sys.exit(EXIT_FAILED if None in results.values() else 0)
    names = ", ".join(sorted(load_sweeps()))
    parent = os.getppid()
    run_in_foreground(app, on_started=lambda: click.echo(f"Scheduler running the sweeps {names}. Stop it with Ctrl+C."),
                      alive=(lambda: os.getppid() == parent) if exit_with_parent else None)
    click.echo("Scheduler stopped.")


@leadflow_cli.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(1, 65535))
@click.option("--threads", default=8, show_default=True, type=click.IntRange(1, 256))
@click.option("--workers", default=1, show_default=True, type=click.IntRange(1, 64),
              help="Processes: more than 1 serves with gunicorn (needs RATELIMIT_STORAGE_URI=redis://…).")
@click.option("--scheduler", "scheduler_place", type=click.Choice(["thread", "process"]), default="thread",
              show_default=True,
              help="Where the background sweeps run: in each serving process, or in one process of "
                   "their own beside the server (what `make serve` does). SCHEDULER_ENABLED=0: nowhere.")
def serve_command(host, port, threads, workers, scheduler_place):
    """Serve LeadFlow with waitress until stopped, with the background sweeps in-process
    (``--scheduler process``: in a process of their own, started and stopped with the server);
    with --workers N (N > 1), gunicorn with N processes of --threads threads each.

    Behind a reverse proxy, set TRUST_PROXY=1 (and TRUSTED_PROXY=<its address> when it is not
    127.0.0.1): the client's address and HTTPS then come from the proxy's X-Forwarded-*
    headers, which are ignored from anyone else.
    """
    from leadflow.serving import (
        MemoryRateLimitsInSeveralProcesses,
        check_rate_limit_storage,
        gunicorn_command,
        serve,
        server_environment,
        start_scheduler_process,
        stop_scheduler_process,
    )

    app = current_app._get_current_object()
    if not app.config.get("SCHEDULER_ENABLED"):
        scheduler_place = "off"
    if workers > 1:
        os.environ["LEADFLOW_WORKERS"] = str(workers)
        try:
            check_rate_limit_storage(app.config)
        except MemoryRateLimitsInSeveralProcesses as exc:
            raise click.ClickException(str(exc)) from None
        click.echo(f"LeadFlow serving on http://{host}:{port} with gunicorn: {workers} processes of {threads} threads.")
        command = gunicorn_command(host=host, port=port, workers=workers, threads=threads)
        env = server_environment(os.environ, scheduler=scheduler_place)
        env.pop("FLASK_RUN_FROM_CLI", None)  # gunicorn's workers are servers: they run the scheduler (thread)
        os.execve(command[0], command, env)  # gunicorn replaces this process; its workers load wsgi.py
    _hold_sqlite_open(app)
    scheduler = None
    if scheduler_place == "process":
        scheduler = start_scheduler_process(server_environment(os.environ, scheduler="process"))
    elif scheduler_place == "thread":
        from leadflow.scheduler.runner import start_in_process

        start_in_process(app, serving=True)
    proxy = f", trusting X-Forwarded-* from {app.config['TRUSTED_PROXY']}" if app.config["TRUST_PROXY"] else ""
    click.echo(f"LeadFlow serving on http://{host}:{port} with {threads} threads{proxy}"
               f"{'; the scheduler in its own process' if scheduler else ''}.")
    try:
        serve(app, host=host, port=port, threads=threads)
    finally:
        stop_scheduler_process(scheduler)


def _hold_sqlite_open(app) -> None:
    """A server keeps its SQLite database open while it runs, so ``restore`` refuses to run under it."""
    database = db.engine.url.database if db.engine.dialect.name == "sqlite" else None
    if database and database != ":memory:" and "mode=memory" not in str(db.engine.url) and Path(database).is_file():
        from leadflow.restore import hold_database_open

        app.extensions["leadflow.database_held_open"] = hold_database_open(Path(database))


@leadflow_cli.command("import-csv")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--user", "user_email", required=True, help="E-mail of the admin or manager the import runs as.")
@click.option("--policy", type=click.Choice(["skip", "update", "create"]), default="skip", show_default=True,
              help="What to do with a row whose email or phone matches an existing lead.")
@click.option("--mapping", type=click.Choice(["auto"]), default="auto", show_default=True,
              help="Columns are mapped from their names, as the import screen suggests.")
@click.option("--encoding", type=click.Choice(["utf-8", "utf-8-sig", "cp1252", "latin-1"]), default=None,
              help="Override the detected encoding.")
@click.option("--delimiter", type=click.Choice(["comma", "semicolon", "tab"]), default=None,
              help="Override the detected delimiter.")
@click.option("--decimal", type=click.Choice(["point", "comma"]), default=None,
              help="The decimal separator of the file's amounts (detected when not given; asked when it "
                   "cannot be told).")
@click.option("--date-format", "date_format", type=click.Choice(["YYYY-MM-DD", "dd.mm.yyyy", "dd/mm/yyyy",
                                                                  "mm/dd/yyyy"]),
              default=None, help="The format of every date column (detected per column when not given).")
@click.option("--new-lead-rules", "new_lead_rules", is_flag=True,
              help="Handle the new leads like new enquiries: routing rules for those without an owner, scoring, "
                   "workflow rules for new leads.")
@_needs_schema
def import_csv_command(file, user_email, policy, mapping, encoding, delimiter, decimal, date_format, new_lead_rules):
    """Import leads from a CSV file; prints the counts. Exit 0 done (failed rows are listed),
    1 the import stopped, 2 refused (unknown user, unreadable file, no usable columns, a
    decimal separator or date format that must be given)."""
    from leadflow.imports.command import import_csv_file

    outcome = import_csv_file(file, user_email=user_email, policy=policy, encoding=encoding, delimiter=delimiter,
                              decimal=decimal, date_format=date_format, new_lead_rules=new_lead_rules)
    for line in outcome.lines:
        click.echo(line)
    for line in outcome.errors:
        click.echo(f"Error: {line}" if outcome.code else line, err=True)
    sys.exit(outcome.code)


@leadflow_cli.command("backup")
@click.argument("path", type=click.Path(dir_okay=False, writable=True, path_type=Path))
@click.option("--force", is_flag=True, help="Replace PATH when it already exists.")
def backup_command(path: Path, force: bool):
    """Write a consistent copy of the database to PATH while the app keeps running.

    SQLite: a copy made with SQLite's online backup API, itself a SQLite file you can open
    or put back in place of the database. PostgreSQL: a pg_dump archive in custom format
    (restore with pg_restore); needs pg_dump on the PATH.
    """
    path = path.expanduser()
    if path.exists() and not force:
        _fail(f"{path} already exists. Choose another name or pass --force to replace it.", EXIT_BAD_INPUT)
    if not path.parent.is_dir():
        _fail(f"The folder {path.parent} does not exist.", EXIT_BAD_INPUT)
    dialect = db.engine.dialect.name
    if dialect == "sqlite":
        _backup_sqlite(path)
    elif dialect == "postgresql":
        _backup_postgresql(path)
    else:
        _fail(f"Backups of {dialect} databases are not supported.", EXIT_BAD_INPUT)


def _partial(path: Path) -> Path:
    return path.with_name(f".{path.name}.partial")


def _backup_sqlite(path: Path) -> None:
    import sqlite3  # here, not at the top: a serving process on PostgreSQL never loads it

    _sqlite_file()
    partial = _partial(path)
    partial.unlink(missing_ok=True)
    source = db.engine.raw_connection()
    try:
        target = sqlite3.connect(partial)
        try:
            # One step copies every page inside one read transaction: a consistent snapshot,
            # while other connections go on reading and writing (WAL).
            source.driver_connection.backup(target)
            target.execute("PRAGMA journal_mode=DELETE")  # a single self-contained file
            check = target.execute("PRAGMA quick_check").fetchone()[0]
        finally:
            target.close()
    except sqlite3.Error as exc:
        partial.unlink(missing_ok=True)
        _fail(f"The backup failed: {exc}")
    finally:
        source.close()
    if check != "ok":
        partial.unlink(missing_ok=True)
        _fail(f"The copy did not pass SQLite's integrity check: {check}")
    os.replace(partial, path)
    click.echo(f"Backed up the SQLite database to {path} ({_size(path)}).")


def _backup_postgresql(path: Path) -> None:
    pg_dump = shutil.which("pg_dump")
    if pg_dump is None:
        _fail("pg_dump was not found on the PATH. Install the PostgreSQL client tools "
              "(the same major version as the server) and run the backup again.", EXIT_BAD_INPUT)
    url = db.engine.url
    env = dict(os.environ)
    # Connection details go through the environment, so the password never shows in `ps`.
    for key, value in (("PGHOST", url.host or url.query.get("host")), ("PGPORT", url.port), ("PGUSER", url.username),
                       ("PGPASSWORD", url.password), ("PGDATABASE", url.database)):
        if value is not None:
            env[key] = str(value)
    partial = _partial(path)
    partial.unlink(missing_ok=True)
    result = subprocess.run(
        [pg_dump, "--format=custom", "--no-owner", f"--file={partial}"],
        env=env, capture_output=True, text=True, check=False,
    )
    if result.returncode != 0:
        partial.unlink(missing_ok=True)
        _fail(f"pg_dump failed: {result.stderr.strip() or f'exit status {result.returncode}'}")
    os.replace(partial, path)
    click.echo(f"Backed up the PostgreSQL database to {path} ({_size(path)}, pg_dump custom format).")


@leadflow_cli.command("restore")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, readable=True, path_type=Path))
def restore_command(path: Path):
    """Put the SQLite backup PATH in place of the database. Stop every LeadFlow process first.

    Refuses while the database is open elsewhere, and refuses a backup that fails SQLite's
    integrity check. The old database (with its -wal) is moved aside, not deleted; stale
    -wal/-shm files are removed so they cannot be applied over the backup. PostgreSQL: use
    pg_restore (see docs/RELIABILITY.md, "Backup and restore").
    """
    from leadflow.restore import RestoreRefused, restore_sqlite

    dialect = db.engine.dialect.name
    if dialect == "postgresql":
        _fail("For PostgreSQL, restore a backup with pg_restore --clean --if-exists "
              "(see docs/RELIABILITY.md, \"Backup and restore\").", EXIT_BAD_INPUT)
    if dialect != "sqlite":
        _fail(f"Restoring {dialect} databases is not supported.", EXIT_BAD_INPUT)
    db.engine.dispose()  # this command's own connections, if any, are not "another process"
    try:
        report = restore_sqlite(path.expanduser(), Path(_sqlite_file()))
    except RestoreRefused as exc:
        _fail(str(exc), EXIT_BAD_INPUT)
    except OSError as exc:
        _fail(f"The restore failed: {exc}")
    for line in report.lines:
        click.echo(line)
    click.echo("Start LeadFlow again; if the backup is from an older version, run "
               "`flask --app wsgi db upgrade` first.")


def _sqlite_file() -> str:
    database = db.engine.url.database
    if not database or database == ":memory:" or "mode=memory" in str(db.engine.url):
        _fail("The database lives in memory; there is no file to back up or restore.", EXIT_BAD_INPUT)
    return database


def _size(path: Path) -> str:
    size = path.stat().st_size
    for unit in ("bytes", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:,.0f} {unit}" if unit == "bytes" else f"{size:,.1f} {unit}"
        size /= 1024
    return f"{size} bytes"
