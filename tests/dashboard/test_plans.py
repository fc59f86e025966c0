"""How the home page's hot leads are read: a walk of an index led by the owner in the page's
order, which stops at the page's rows (one plan that suits every owner), and a capped count
from the index alone.

SQLite plans a test's few rows as it plans 100,000, so its plan is checked; PostgreSQL plans
a tiny table by its size (any index will do), so there the index is checked to hold the page's
order and every column the count reads."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from leadflow.dashboard.scope import Scope
from leadflow.dashboard.today import COUNT_CAP, LIST_LIMIT, hot_query
from leadflow.extensions import db
from leadflow.leads.models import HOT_QUIET_INDEX, OWNER_HOT_QUIET_INDEX

pytestmark = pytest.mark.usefixtures("app")


def _is_postgresql() -> bool:
    return db.session.get_bind().dialect.name == "postgresql"


def _sqlite_plan(statement) -> str:
    compiled = statement.compile(db.session.get_bind(), compile_kwargs={"literal_binds": True})
    return "\n".join(row[-1] for row in db.session.execute(text(f"EXPLAIN QUERY PLAN {compiled}")))


def _postgresql_index(name: str) -> str:
    return db.session.scalar(text("SELECT indexdef FROM pg_indexes WHERE indexname = :name"), {"name": name})


def test_a_persons_hot_leads_are_walked_in_the_pages_order_from_the_owners_index(world):
    if _is_postgresql():
        assert ("(owner_id, temperature, last_activity_at NULLS FIRST, id, stage_id, lifecycle, deleted_at) "
                "WHERE (deleted_at IS NULL)") in _postgresql_index(OWNER_HOT_QUIET_INDEX)
        return
    plan = _sqlite_plan(hot_query(Scope("me", world.ann.id)).shown.limit(LIST_LIMIT + 1))
    assert OWNER_HOT_QUIET_INDEX in plan and "TEMP B-TREE FOR ORDER BY" not in plan, plan


@pytest.mark.parametrize("view, index", [("me", OWNER_HOT_QUIET_INDEX), ("all", HOT_QUIET_INDEX)])
def test_the_hot_lead_count_reads_an_index_alone(world, view, index):
    if _is_postgresql():
        assert "id, stage_id, lifecycle, deleted_at) WHERE (deleted_at IS NULL)" in _postgresql_index(index)
        return
    counted = hot_query(Scope(view, world.ann.id)).counted.limit(COUNT_CAP + 1)
    plan = _sqlite_plan(db.select(db.func.count()).select_from(counted.subquery()))
    assert f"COVERING INDEX {index}" in plan, plan
