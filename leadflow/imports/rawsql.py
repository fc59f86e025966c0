"""Bulk writes and look-ups for the import through the database driver itself.

A large import spends most of its time in SQLAlchemy's per-value bind processing when it
goes through Core inserts with dict rows. Here rows are plain tuples handed to the driver
(multi-row ``VALUES`` on sqlite3, ``COPY`` with psycopg on PostgreSQL), with the few conversions
the column types would have made done up front, once per chunk: datetimes as SQLAlchemy
stores them on that database, dates, JSON text.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime, timezone
from itertools import chain

from sqlalchemy import Table

from leadflow.extensions import db


def sqlite_max_variables(sqlite_version: tuple[int, ...]) -> int:
    """Bound parameters per statement the SQLite library of ``sqlite_version`` accepts (32,766
    since 3.32, 999 before). Read from the connection's driver when a SQLite import writes:
    importing ``sqlite3`` here would load it into every serving process on PostgreSQL too."""
    return 32_000 if sqlite_version >= (3, 32) else 999


def array_text(values) -> str:
    """A one-dimensional PostgreSQL array of ``values`` (text, numbers or None) written as the
    server reads it (``{"a","b"}``), for a parameter the statement uses as an array. psycopg
    dumps a Python list element by element in Python: for the 10,000 e-mails and phones a
    chunk looks up that took longer than the look-ups themselves."""
    return "{" + ",".join(map(_array_element, values)) + "}"


def _array_element(value) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return repr(value)  # a float's repr reads back as the same float8


class RawWriter:
    """Bound to the session's current connection; build one per chunk (cheap)."""

    def __init__(self):
        self.connection = db.session.connection()
        self.sqlite = self.connection.dialect.name == "sqlite"
        self.mark = "?" if self.connection.dialect.paramstyle == "qmark" else "%s"

    # -- values as the column types would bind them ------------------------------------
    def time(self, value: datetime | None):
        """A UTC datetime as ``leadflow.db.UTCDateTime`` stores it (naive UTC)."""
        if value is None:
            return None
        naive = value.astimezone(timezone.utc).replace(tzinfo=None)
        return naive.strftime("%Y-%m-%d %H:%M:%S.%f") if self.sqlite else naive

    def day(self, value: date | None):
        if value is None:
            return None
        return value.isoformat() if self.sqlite else value

    @staticmethod
    def json(value):
        """JSON text; None stays SQL NULL (as the ORM writes a missing value)."""
        return None if value is None else json.dumps(value)

    def python_value(self, value):
        if isinstance(value, datetime):
            return self.time(value)
        if isinstance(value, date):
            return self.day(value)
        if isinstance(value, (dict, list)):
            return self.json(value)
        return value

    array = staticmethod(array_text)

    # -- statements ---------------------------------------------------------------------
    def defaults(self, table: Table, given: set[str]) -> dict[str, object]:
        """Python-side column defaults of the columns an insert leaves out (an ORM or Core
        insert would have applied them)."""
        values = {}
        for column in table.c:
            if column.name in given or column.primary_key or column.default is None:
                continue
            default = column.default
            if default.is_scalar:
                values[column.name] = self.python_value(default.arg)
            elif default.is_callable:
                values[column.name] = self.python_value(default.arg(None))
        return values

    def insert_many(self, table: Table, columns: list[str], rows: list[tuple], suffix: str = "") -> None:
        """Every tuple into ``table``, in their order (SQLite: ``INSERT … VALUES`` of many rows a
        statement; PostgreSQL: through ``staged``, then one ``INSERT … SELECT``); the other columns
        get their Python-side defaults. ``suffix`` ends each ``INSERT`` (an ``ON CONFLICT``)."""
        if not rows:
            return
        if not self.sqlite:
            with self.staged(table, columns, rows) as (staging, names):
                self.connection.exec_driver_sql(f"INSERT INTO {table.name} ({names}) SELECT {names} FROM {staging} "
                                                f"ORDER BY import_order {suffix}")
            return
        columns, rows = self._with_defaults(table, columns, rows)
        names = ", ".join(columns)
        marks = f"({', '.join([self.mark] * len(columns))})"
        # On SQLite, many rows per statement: the driver then leaves Python's lock for the
        # whole statement instead of once per row, so the writer thread really runs
        # alongside the one cleaning the next chunk.
        per_statement = max(1, sqlite_max_variables(self.connection.dialect.dbapi.sqlite_version_info)
                            // len(columns))
        for start in range(0, len(rows), per_statement):
            batch = rows[start:start + per_statement]
            self.connection.exec_driver_sql(
                f"INSERT INTO {table.name} ({names}) VALUES {', '.join([marks] * len(batch))} {suffix}",
                tuple(chain.from_iterable(batch)))

    def _with_defaults(self, table: Table, columns: list[str], rows: list[tuple]) -> tuple[list[str], list[tuple]]:
        """The columns and rows with the Python-side defaults of ``table``'s other columns added."""
        extra = self.defaults(table, set(columns))
        if not extra:
            return columns, rows
        tail = tuple(extra.values())
        return [*columns, *extra], [row + tail for row in rows]

    @contextmanager
    def staged(self, table: Table, columns: list[str], rows: list[tuple]) -> Iterator[tuple[str, str]]:
        """PostgreSQL: the rows (with ``_with_defaults``) through ``COPY`` into a temporary table
        of those columns and an ``import_order`` (made in this transaction, dropped after), for
        the caller's ``INSERT … SELECT … ORDER BY import_order``; yields its name and the column
        list. With psycopg's pipelined ``executemany`` each row was a statement for the server to
        start, run and answer. The write itself stays an ``INSERT`` run through SQLAlchemy: the
        lead store's guard sees it, triggers and foreign keys check each row, ``ON CONFLICT``
        applies."""
        columns, rows = self._with_defaults(table, columns, rows)
        names = ", ".join(columns)
        staging = f"import_{table.name}"
        # CREATE … AS … WITH NO DATA: the columns' types without their defaults (an id would
        # take a number from the table's sequence) and without NOT NULL (ids are not copied).
        self.connection.exec_driver_sql(f"CREATE TEMPORARY TABLE {staging} ON COMMIT DROP AS SELECT {names}, "
                                        f"0::bigint AS import_order FROM {table.name} WITH NO DATA")
        cursor = self.connection.connection.driver_connection.cursor()
        with cursor.copy(f"COPY {staging} ({names}, import_order) FROM STDIN") as copy:
            for order, row in enumerate(rows):
                copy.write_row((*row, order))
        yield staging, names
        self.connection.exec_driver_sql(f"DROP TABLE {staging}")

    def select_in(self, sql: str, values: list, batch: int, before: tuple = ()) -> list[tuple]:
        """Rows of ``sql`` for every value; ``sql`` tests a column with ``{in}`` (``WHERE phone
        {in}``), and ``before`` are the parameters ahead of it. On SQLite ``{in}`` is ``IN (?, …)``,
        ``batch`` values at a time; on PostgreSQL ``= ANY(%s)`` with every value in one array
        (``array_text``): one statement instead of one per ``batch`` (a chunk's 5,000 e-mails were
        looked up in a third of the time, as the server neither parses nor plans 900 parameters
        six times)."""
        if not values:
            return []
        if not self.sqlite:
            statement = sql.format(**{"in": "= ANY(%s)"})
            return self.connection.exec_driver_sql(statement, (*before, array_text(values))).fetchall()
        found = []
        for start in range(0, len(values), batch):
            part = values[start:start + batch]
            statement = sql.format(**{"in": f"IN ({', '.join([self.mark] * len(part))})"})
            found.extend(self.connection.exec_driver_sql(statement, (*before, *part)).fetchall())
        return found

    def execute(self, sql: str, params: tuple = ()) -> None:
        self.connection.exec_driver_sql(sql.replace("?", self.mark), params)

    def scalar(self, sql: str, params: tuple = ()):
        return self.connection.exec_driver_sql(sql.replace("?", self.mark), params).scalar()

    def rows(self, sql: str, params: tuple = ()) -> list[tuple]:
        return self.connection.exec_driver_sql(sql.replace("?", self.mark), params).fetchall()
