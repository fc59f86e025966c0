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
