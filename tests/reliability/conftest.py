"""The reliability run (``make test-reliability``): a real LeadFlow server process, real
schedulers and a real SMTP sink on loopback, under bounded load and faults.

These tests are marked ``reliability`` and left out of ``make test`` (``addopts`` in
``pyproject.toml``); ``make test-reliability`` runs them, on SQLite by default and on the
PostgreSQL server of ``DATABASE_URL`` when it names one. Each test gets a database of its
own (a SQLite file, or a new PostgreSQL database dropped afterwards), migrated with
``flask db upgrade`` as an operator would. What they measure is written to
``docs/RELIABILITY.md`` by ``record_figures``.
"""

from __future__ import annotations

import os
import re
import secrets
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from config import normalise_database_url
from tests.servers import REPO_ROOT, flask_cli, production_env

FIGURES_FILE = REPO_ROOT / "docs" / "RELIABILITY.md"
FIGURES_HEADING = "## Measured by `make test-reliability`"


def pytest_collection_modifyitems(items):
    here = Path(__file__).parent
    for item in items:
        if here in Path(item.fspath).parents:
            item.add_marker(pytest.mark.reliability)


def _server_url() -> str | None:
    url = os.environ.get("TEST_DATABASE_URL") or os.environ.get("DATABASE_URL")
    return normalise_database_url(url) if url else None


@pytest.fixture
def database_kind() -> str:
    """``"postgresql"`` when the run targets PostgreSQL, else ``"sqlite"``."""
    url = _server_url()
    return "postgresql" if url and url.startswith("postgresql") else "sqlite"


@pytest.fixture
def fresh_database(tmp_path, database_kind):
    """The URL of an empty database of this test's own, migrated to head."""
    if database_kind == "sqlite":
        url = f"sqlite:///{tmp_path / 'leadflow.sqlite3'}"
        flask_cli(["db", "upgrade"], production_env(tmp_path, url))
        yield url
        return
    server = make_url(_server_url())
    name = f"leadflow_rel_{secrets.token_hex(4)}"
    admin = create_engine(server.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = server.set(database=name).render_as_string(hide_password=False)
    try:
        flask_cli(["db", "upgrade"], production_env(tmp_path, url))
        yield url
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def write_figures(name: str, database_kind: str, lines: list[str], path: Path = FIGURES_FILE) -> None:
    """Put ``lines`` (Markdown) in ``path`` between the markers of ``name`` on ``database_kind``,
    replacing what a previous run wrote there; markers not there yet are added at the end of
    the "Measured by make test-reliability" section (made if missing)."""
    start, end = f"<!-- figures:{name}:{database_kind} -->", f"<!-- /figures:{name}:{database_kind} -->"
    stamp = datetime.now(UTC).strftime("%Y-%m-%d")
    block = "\n".join([start, f"*{database_kind}, measured {stamp}:*", "", *lines, end])
    doc = path.read_text(encoding="utf-8")
    pattern = re.compile(re.escape(start) + r".*?" + re.escape(end), re.S)
    if pattern.search(doc):
        doc = pattern.sub(lambda _: block, doc)
    else:
        if FIGURES_HEADING not in doc:
            doc = doc.rstrip("\n") + f"\n\n{FIGURES_HEADING}\n"
        head, _, tail = doc.partition(FIGURES_HEADING)
        section, heading, rest = tail, "", ""
        match = re.search(r"^## ", tail, re.M)
        if match:
            section, rest = tail[:match.start()], tail[match.start():]
        section = section.rstrip("\n") + f"\n\n{block}\n" + ("\n" if rest else "")
        doc = head + FIGURES_HEADING + section + rest
    path.write_text(doc, encoding="utf-8")


@pytest.fixture
def record_figures(database_kind):
    """``record_figures("load", ["| … |", …])``: this run's figures into docs/RELIABILITY.md."""
    return lambda name, lines: write_figures(name, database_kind, lines)
