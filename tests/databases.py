"""An app on a SQLite database of its own, for tests of migrations on older data and of
processes that share a database with the test."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from leadflow.extensions import db


@contextmanager
def own_sqlite_app(directory: Path, revision: str = "head", **config) -> Iterator:
    """Inside the app context of an app on ``directory/own.sqlite3``, migrated to
    ``revision``; ``config`` overrides the test configuration. Closed on the way out."""
    from flask_migrate import upgrade

    from config import TestConfig
    from leadflow import create_app

    url = f"sqlite:///{directory / 'own.sqlite3'}"
    app = create_app(type("OwnDatabase", (TestConfig,), {"SQLALCHEMY_DATABASE_URI": url, **config}))
    with app.app_context():
        try:
            upgrade(revision=revision)
            yield app
        finally:
            db.session.remove()
            db.engine.dispose()


@contextmanager
def scratch_database_url(directory: Path, database_url: str, suffix: str) -> Iterator[str]:
    """The URL of an empty database of the kind the suite uses: a SQLite file in ``directory``,
    or a PostgreSQL database named after the test one plus ``suffix`` (dropped on the way out)."""
    from sqlalchemy import create_engine
    from sqlalchemy.engine import make_url

    if not database_url.startswith("postgresql"):
        yield f"sqlite:///{directory / 'old.sqlite3'}"
        return
    url = make_url(database_url)
    name = f"{url.database}_{suffix}"
    admin = create_engine(database_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}"')
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    try:
        yield url.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()
