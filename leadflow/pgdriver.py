"""psycopg settings of the app's PostgreSQL connections: work the driver does on every
statement that SQLAlchemy never looks at; and SQLAlchemy's PostgreSQL dialect loaded without
the other drivers' dialects. Loaded by the app factory on PostgreSQL only (importing psycopg
costs memory a SQLite worker does not need)."""

from __future__ import annotations

import sys
from collections.abc import Sequence

import psycopg

from leadflow.lazymodules import left_unrun

# SQLAlchemy's ``sqlalchemy.dialects.postgresql`` imports the dialect module of every PostgreSQL
# driver it knows; LeadFlow connects through psycopg. These three (with the asyncio connector
# asyncpg's pulls in) run only if something reads them. psycopg2's runs anyway: the package
# reads its ``dialect`` as the default of ``postgresql://``.
UNUSED_DIALECTS = tuple(f"sqlalchemy.dialects.postgresql.{driver}" for driver in ("asyncpg", "pg8000", "psycopg2cffi"))


def load_dialect() -> None:
    """Import SQLAlchemy's PostgreSQL dialect with ``UNUSED_DIALECTS`` left unrun (about
    0.4 MB of a worker's memory; ``bench/bench_memory.py``). Called by the app factory before
    it makes the engine, which would import the dialect with all of them. A module left unrun
    still works: it runs when something reads it (``create_engine("postgresql+asyncpg://…")``)."""
    if "sqlalchemy.dialects.postgresql" in sys.modules:
        return
    with left_unrun(UNUSED_DIALECTS):
        import sqlalchemy.dialects.postgresql  # noqa: F401


class _ColumnsOnFirstRead(Sequence):
    """A result's ``cursor.description``, its columns described when first read.

    psycopg describes every column of a result up front: an object per column, its type
    looked up by name, on every statement (sixty for a lead's row). SQLAlchemy reads the
    description of each statement but looks inside it only the first time a compiled
    statement runs; after that its result metadata comes cached with the statement, and
    the description only says that rows came back."""

    __slots__ = ("_cursor", "_result", "_columns")

    def __init__(self, cursor: psycopg.Cursor, result):
        self._cursor, self._result, self._columns = cursor, result, None

    def _described(self) -> list:
        if self._columns is None:
            cursor = self._cursor
            current = cursor.pgresult
            cursor.pgresult = self._result  # the result this description is of, if the cursor moved on
            try:
                self._columns = psycopg.Cursor.description.fget(cursor)
            finally:
                cursor.pgresult = current
        return self._columns

    def __len__(self) -> int:
        return self._result.nfields

    def __getitem__(self, index):
        return self._described()[index]

    def __iter__(self):
        return iter(self._described())

    def __repr__(self) -> str:
        return repr(self._described())


class Cursor(psycopg.Cursor):
    """psycopg's cursor with the description of a result that has columns read lazily."""

    @property
    def description(self):
        result = self.pgresult
        if result is None or not result.nfields:
            return super().description
        return _ColumnsOnFirstRead(self, result)


def configure_connection(dbapi_connection) -> None:
    """Called for each new connection (the engine's ``connect`` event)."""
    dbapi_connection.cursor_factory = Cursor
