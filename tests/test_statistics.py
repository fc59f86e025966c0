"""After a bulk write (the demo seed, an import, a bulk job, a restore) the planner's
statistics count the leads that are there now (``db.refresh_statistics``): PostgreSQL's
``pg_class.reltuples`` (what the lead list's "about N" reads), SQLite's ``sqlite_stat1``."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from leadflow import db as framework
from leadflow.extensions import db
from leadflow.leads import bulk
from leadflow.leads.models import Lead
from leadflow_demo import seed_demo


def planner_rows(table: str = "leads") -> int | None:
    """How many rows the planner believes ``table`` has (None: never analysed)."""
    if db.engine.dialect.name == "postgresql":
        rows = db.session.scalar(db.text("SELECT reltuples::bigint FROM pg_class WHERE oid = CAST(:t AS regclass)"),
                                 {"t": table})
        return None if rows is None or rows < 0 else rows
    return sqlite_planner_rows(lambda sql, *args: db.session.execute(db.text(sql.replace("?", ":p")),
                                                                      {"p": a for a in args}).scalar(), table)


def sqlite_planner_rows(scalar, table: str = "leads") -> int | None:
    """``sqlite_stat1``'s row count of ``table``; ``scalar(sql, *args)`` runs a query."""
    if scalar("SELECT count(*) FROM sqlite_master WHERE name = 'sqlite_stat1'") == 0:
        return None
    stat = scalar("SELECT stat FROM sqlite_stat1 WHERE tbl = ? LIMIT 1", table)
    return None if stat is None else int(stat.split()[0])


def forget_statistics() -> None:
    """Make the planner's figure for the leads wrong, so only a refresh can put it right."""
    if db.engine.dialect.name == "postgresql":
        db.session.execute(db.text("UPDATE pg_class SET reltuples = 123456 WHERE oid = 'leads'::regclass"))
    elif db.session.execute(db.text("SELECT count(*) FROM sqlite_master WHERE name = 'sqlite_stat1'")).scalar():
        db.session.execute(db.text("DELETE FROM sqlite_stat1"))


def leads_in_table() -> int:
    return db.session.scalar(select(func.count()).select_from(Lead))


def test_refresh_counts_the_leads_written(make_lead):
    for i in range(7):
        make_lead(first_name=f"Stat{i}")
    db.session.commit()
    forget_statistics()
    assert planner_rows() != 7
    framework.refresh_statistics(db.session)
    assert planner_rows() == 7


def test_a_small_job_leaves_the_statistics_alone(make_lead):
    make_lead(first_name="Alone")
    db.session.commit()
    forget_statistics()
    framework.refresh_statistics(db.session, rows_written=framework.STATISTICS_AFTER_ROWS - 1)
    assert planner_rows() != 1


def test_the_demo_seed_refreshes_the_statistics(app):
    forget_statistics()
    seed_demo(lead_count=30)
    db.session.commit()
    assert planner_rows() == leads_in_table() >= 30


def test_a_bulk_job_over_the_threshold_refreshes_them(login_as, make_user, make_lead, monkeypatch):
    monkeypatch.setattr(framework, "STATISTICS_AFTER_ROWS", 3)
    admin, _ = login_as("admin")
    ana = make_user("rep", name="Ana")
    for i in range(4):
        make_lead(first_name=f"Bulk{i}", source="event")
    job = bulk.queue_bulk_job(admin, "reassign", [], {"assignee": str(ana.id)}, filter_query="source=event")
    db.session.commit()
    forget_statistics()
    bulk.run_job(job.id)
    assert planner_rows() == leads_in_table() == 4


def test_the_duplicate_check_finds_a_lead_by_its_keys_after_analyze(make_lead):
    """Columns empty on nearly every lead are indexed where they hold a value: with a
    whole-column index, SQLite's statistics said one value of the shared email key matches
    every lead, and its planner scanned the whole table for the lead page's duplicate check
    (40 ms a lead page at 100,000 leads)."""
    if db.engine.dialect.name != "sqlite":
        pytest.skip("SQLite's statistics; PostgreSQL's count a column's NULLs apart")
    for i in range(60):
        make_lead(first_name=f"Sparse{i}", email=f"sparse{i}@example.com")
    db.session.commit()
    framework.refresh_statistics(db.session)
    plan = " | ".join(row[-1] for row in db.session.execute(db.text(
        "EXPLAIN QUERY PLAN SELECT id FROM leads WHERE email_key = :key OR shared_email_key = :key"),
        {"key": "sparse7@example.com"}))
    assert "SCAN leads" not in plan, plan
    assert "ix_leads_shared_email_key" in plan, plan
