"""Time spans in SQL, the same figure on SQLite and PostgreSQL.

``seconds_between(later, earlier)`` is the span between two datetime columns in seconds,
rounded to the millisecond (SQLite measures it with ``julianday``, a float, so 300 seconds
could otherwise read 300.0000001 and miss a "within 5 minutes" bound).
"""

from __future__ import annotations

from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import FunctionElement
from sqlalchemy.types import Numeric


class seconds_between(FunctionElement):  # noqa: N801 - reads as the SQL function it stands for
    type = Numeric(asdecimal=False)
    inherit_cache = True
    name = "seconds_between"


@compiles(seconds_between)
def _seconds_between_default(element, compiler, **kw):
    later, earlier = list(element.clauses)
    return (f"ROUND(CAST(EXTRACT(EPOCH FROM ({compiler.process(later, **kw)} - {compiler.process(earlier, **kw)}))"
            " AS NUMERIC), 3)")


@compiles(seconds_between, "sqlite")
def _seconds_between_sqlite(element, compiler, **kw):
    later, earlier = list(element.clauses)
    return (f"ROUND((julianday({compiler.process(later, **kw)}) - julianday({compiler.process(earlier, **kw)}))"
            " * 86400.0, 3)")
