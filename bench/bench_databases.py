"""Where a benchmark's database lives: a SQLite file (the default) or, with
``--database-url postgresql://…/NAME``, a PostgreSQL database ``NAME_<label>`` per size on that
server, created when missing (through the server's ``postgres`` database).

Reuse: a SQLite file in the ``--reuse`` folder, or a PostgreSQL database that already holds
the demo (its leads), is used as it is; otherwise a PostgreSQL database is dropped and made
anew, empty, so the benchmark migrates and seeds it like a fresh SQLite file.
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url


def is_postgresql(url: str | None) -> bool:
    return bool(url) and make_url(url).get_backend_name() == "postgresql"


def database_for(label: str, folder: Path, *, database_url: str | None = None,
                 reuse: bool = False) -> tuple[str, bool, str]:
    """(SQLAlchemy URL, whether it must be seeded, a name to print) for the size ``label``."""
    if not is_postgresql(database_url):
        path = folder.resolve() / f"leads-{label}.sqlite3"
        return f"sqlite:///{path}", not (reuse and path.exists()), str(path)
    from config import normalise_database_url

    base = make_url(normalise_database_url(database_url))
    name = f"{base.database}_{label}"
    url = base.set(database=name)
    server = create_engine(base.set(database="postgres"), isolation_level="AUTOCOMMIT")
    try:
        with server.connect() as connection:
            exists = connection.scalar(text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name})
            if exists and not reuse:
                connection.execute(text(f'DROP DATABASE "{name}" WITH (FORCE)'))
                exists = False
            if not exists:
                connection.execute(text(f'CREATE DATABASE "{name}"'))
    finally:
        server.dispose()
    seeded = exists and _has_leads(url)
    return url.render_as_string(hide_password=False), not seeded, f"PostgreSQL database {name}"


def _has_leads(url) -> bool:
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            if not connection.scalar(text("SELECT to_regclass('leads') IS NOT NULL")):
                return False
            return bool(connection.scalar(text("SELECT EXISTS (SELECT 1 FROM leads)")))
    finally:
        engine.dispose()


def database_label(url: str | None) -> str:
    return "PostgreSQL" if is_postgresql(url) else "SQLite"
