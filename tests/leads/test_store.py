"""The lead store is the only writer of leads, their stage history and the board totals.

Two checks keep it so. At run time, every test runs with the store's guard on
(``LEAD_STORE_GUARD``): in every request and every scheduler tick, any INSERT, UPDATE or
DELETE of those tables that is not issued inside a store function fails (and is never
swallowed as a handler's or a sweep's failure), so every channel a test drives through the
app (the lead form, inline edits, the board, the API, capture forms, imports, merges,
scoring, routing, workflow rules, sequences) is proven to write through the store. (A test
arranging its data directly, outside a request, is not a channel and is not checked.) And the source: no module other than the
store names those tables in SQL it writes (which a driver-level statement would slip past
the run-time guard)."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest
from sqlalchemy import text, update

from leadflow.errors import WriteOutsideStore
from leadflow.extensions import db
from leadflow.leads import store
from leadflow.leads.models import Lead
from leadflow.pipeline.models import StageChange, StageTotals
from leadflow.pipeline.services import ensure_default_pipeline

from tests.factories import TEST_SETUP

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = (ROOT / "leadflow", ROOT / "leadflow_demo")  # the app, and the demo that writes like any other writer
OWNED = "|".join(store.OWNED_TABLES)
SQL_WRITE = re.compile(rf"\b(INSERT\s+INTO|UPDATE|DELETE\s+FROM)\s+\"?({OWNED})\b")  # SQL, not prose
MODEL_WRITE = re.compile(r"\b(update|insert|delete)\((Lead|StageChange|StageTotals|StageCurrencyTotals)\b"
                         r"|\b(Lead|StageChange|StageTotals|StageCurrencyTotals)\.__table__\.(update|insert|delete)\("
                         r"|\bStageChange\(")
# The store itself and the totals arithmetic it calls.
ALLOWED = {"leadflow/leads/store.py", "leadflow/pipeline/totals.py"}


def test_no_module_but_the_store_writes_its_tables_in_sql():
    offenders = []
    paths = sorted(path for package in PACKAGES for path in package.rglob("*.py"))
    assert any(path.parent.name == "leadflow_demo" for path in paths)  # the scan sees the demo
    for path in paths:
        name = path.relative_to(ROOT).as_posix()
        if name in ALLOWED or name.endswith("models.py"):
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        strings = [node.value for node in ast.walk(tree) if isinstance(node, ast.Constant) and isinstance(node.value, str)]
        offenders += [f"{name}: {s[:60]!r}" for s in strings if SQL_WRITE.search(s)]
        offenders += [f"{name}:{n}: {line.strip()[:80]}" for n, line in
                      enumerate(path.read_text(encoding="utf-8").splitlines(), 1) if MODEL_WRITE.search(line)]
    assert offenders == []


def test_the_scan_would_see_a_writer(tmp_path):
    """The patterns above catch the ways a write is spelled (so the test can fail)."""
    assert SQL_WRITE.search("UPDATE leads SET owner_id = 3")
    assert SQL_WRITE.search('INSERT INTO "stage_changes" (lead_id) VALUES (1)')
    assert MODEL_WRITE.search("db.session.execute(update(Lead).where(Lead.id == 1))")
    assert MODEL_WRITE.search("db.session.add(StageChange(lead_id=1))")
    assert not SQL_WRITE.search("SELECT id FROM leads")


@pytest.fixture
def lead(app, make_lead):
    made = make_lead(first_name="Guarded")
    db.session.commit()
    return made


def test_an_orm_change_flushed_outside_the_store_is_refused(lead):
    lead.title = "Written behind the store's back"
    with store.guarded(), pytest.raises(WriteOutsideStore, match="leads written outside the lead store"):
        db.session.flush()
    db.session.rollback()


@pytest.mark.own_app  # it adds a route, which the shared app refuses once it has served a request
def test_a_request_is_guarded(app, lead, login_as):
    """A view that wrote a lead itself would fail its request (here: a route added for the test)."""
    @app.route("/test-only/sneaky/<int:lead_id>", methods=["POST"])
    def sneaky(lead_id):
        db.session.execute(update(Lead).where(Lead.id == lead_id).values(title="sneaked"))
        return "written"

    _, client = login_as("admin")
    app.testing, propagate = True, app.config.get("PROPAGATE_EXCEPTIONS")
    app.config["PROPAGATE_EXCEPTIONS"] = True
    try:
        with pytest.raises(WriteOutsideStore):
            client.post(f"/test-only/sneaky/{lead.id}")
    finally:
        app.config["PROPAGATE_EXCEPTIONS"] = propagate


@pytest.mark.parametrize("statement", [
    lambda: update(Lead).values(title="x"),
    lambda: text("UPDATE leads SET title = 'x'"),
    lambda: text("DELETE FROM stage_changes"),
    lambda: update(StageTotals).values(lead_count=0),
])
def test_core_and_sql_writes_outside_the_store_are_refused(lead, statement):
    with store.guarded(), pytest.raises(WriteOutsideStore):
        db.session.execute(statement())
    db.session.rollback()


def test_reads_and_the_stores_own_writes_pass(lead):
    assert db.session.scalar(text("SELECT count(*) FROM leads")) == 1
    store.update_lead(lead, {"title": "Through the store"}, TEST_SETUP)
    db.session.commit()
    db.session.refresh(lead)
    assert lead.title == "Through the store"


def test_a_handler_writing_a_lead_itself_is_refused_even_inside_a_store_write(lead, monkeypatch):
    """Listeners run outside the store's context: what they write must go through it too, and
    such a write is a bug that fails loudly, not a handler failure logged and forgotten."""
    from leadflow.leads import events

    def sneaky(ids, actor, fields=()):
        db.session.execute(update(Lead).where(Lead.id.in_(ids)).values(title="sneaked"))

    monkeypatch.setitem(events.bus._handlers, events.CHANGED, [(50, sneaky)])
    with store.guarded(), pytest.raises(WriteOutsideStore):
        store.update_lead(lead, {"title": "Seen"}, TEST_SETUP)
    db.session.rollback()


def test_moving_many_leads_writes_history_totals_and_timeline_set_based(app, count_queries):
    pipeline = ensure_default_pipeline()
    first, second = [s for s in pipeline.stages if s.kind == "open"][:2]
    rows = [store.NewLead({"first_name": f"Bulk{i}", "last_name": "", "email": None, "email_key": None,
                           "stage_id": first.id, "value_cents": 100 * i, "currency": "EUR" if i % 2 else "USD"})
            for i in range(300)]
    ids = store.create_leads(rows, TEST_SETUP, "import").inserted
    db.session.commit()

    with count_queries() as queries:
        moved = store.move_leads(ids, second, TEST_SETUP)
    db.session.commit()

    assert moved == {first.id: sorted(ids)}
    assert len(queries) < 25, "a fixed number of statements, not one per lead"
    totals = {t.stage_id: (t.lead_count, t.value_cents) for t in db.session.scalars(db.select(StageTotals))}
    assert totals[second.id] == (300, sum(100 * i for i in range(300)))
    assert totals.get(first.id, (0, 0)) == (0, 0)
    assert db.session.scalar(db.select(db.func.count(StageChange.id)).where(
        StageChange.from_stage_id == first.id, StageChange.to_stage_id == second.id)) == 300
