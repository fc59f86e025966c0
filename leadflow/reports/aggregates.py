"""SQL pieces reports share, the same on SQLite and PostgreSQL."""

from __future__ import annotations

from sqlalchemy import func

from leadflow.extensions import db


def days_between(later, earlier):
    """``later - earlier`` in days (fractional), as a SQL expression over two UTC timestamps."""
    if db.session.get_bind().dialect.name == "postgresql":
        return func.extract("epoch", later - earlier) / 86400.0
    return func.julianday(later) - func.julianday(earlier)


def median_by(values, group, value):
    """SELECT (group, median of value) from ``values`` (a subquery with those two columns):
    the rows are ranked within each group with ROW_NUMBER() and counted with COUNT() OVER,
    and the middle row (or the mean of the middle two) is picked, since SQLite has no
    percentile function."""
    ranked = db.select(
        group.label("grp"), value.label("val"),
        func.row_number().over(partition_by=group, order_by=value).label("rn"),
        # The same window as the rank's, over the whole group: one sort serves both.
        func.count().over(partition_by=group, order_by=value, rows=(None, None)).label("n"),
    ).select_from(values).subquery("ranked")
    middle = ranked.c.rn.in_([(ranked.c.n + 1) // 2, (ranked.c.n + 2) // 2])  # SQL integer division
    return db.select(ranked.c.grp, func.avg(ranked.c.val)).where(middle).group_by(ranked.c.grp)
