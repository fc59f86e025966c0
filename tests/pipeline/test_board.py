"""The board as each role uses it: columns, totals, moves, prompts, conflicts, filters, paging."""

from __future__ import annotations

import re
from datetime import date, timedelta

import pytest
from sqlalchemy import event

from leadflow.activities.models import Activity
from leadflow.extensions import db
from leadflow.governance.models import AuditEntry
from leadflow.leads.models import Lead
from leadflow.activities.services import create_task
from leadflow.pipeline.models import Pipeline, StageChange, StageTotals
from leadflow.pipeline.services import (archive_pipeline, create_pipeline, ensure_default_pipeline, set_default_pipeline,
                                        update_stage)
from leadflow.workflows.models import WorkflowRule


@pytest.fixture
def stages(app):
    pipeline = ensure_default_pipeline()
    db.session.commit()
    return {s.name: s for s in pipeline.stages}


def column_head(html: str, stage_id: int) -> str:
    match = re.search(rf'<header class="column-head" id="column-head-{stage_id}".*?</header>', html, re.S)
    assert match, f"no header for stage {stage_id}"
    return match.group(0)


def order_in(html: str, stage_id: int) -> list[int]:
    start = html.index(f'id="cards-{stage_id}"')
    end = html.find('<section class="board-column', start)
    return [int(i) for i in re.findall(r'id="card-(\d+)"', html[start:end if end > 0 else None])]


@pytest.mark.parametrize("role", ["admin", "manager", "rep", "viewer"])
def test_board_shows_columns_with_counts_values_and_weighted_values(login_as, make_lead, stages, role):
    make_lead(first_name="Ann", value="1000", stage_id=stages["Qualified"].id)
    make_lead(first_name="Bob", value="3000", stage_id=stages["Qualified"].id)
    db.session.commit()
    _, client = login_as(role)
    page = client.get("/pipeline")
    assert page.status_code == 200
    head = column_head(page.text, stages["Qualified"].id)
    assert "2 leads" in head and "$4,000" in head and "$1,600 weighted" in head  # 40% of 4,000
    assert "Ann Example" in page.text and "Bob Example" in page.text
    assert ("Move to" in page.text) == (role != "viewer")


def test_drag_move_saves_and_updates_both_headers_out_of_band(login_as, make_lead, stages):
    lead = make_lead(first_name="Mover", value="500", stage_id=stages["New"].id)
    db.session.commit()
    user, client = login_as("manager", htmx=True)
    response = client.post("/pipeline/move", data={
        "lead_id": lead.id, "stage_id": stages["Contacted"].id, "version": lead.version, "mode": "drag"})
    assert response.status_code == 200
    assert "stage-changed" in response.headers["HX-Trigger"]
    new_head = column_head(response.text, stages["Contacted"].id)
    old_head = column_head(response.text, stages["New"].id)
    assert 'hx-swap-oob="true"' in new_head and "1 lead" in new_head and "$500" in new_head
    assert "0 leads" in old_head
    assert f'id="card-{lead.id}"' in response.text
    db.session.expire_all()
    moved = db.session.get(Lead, lead.id)
    assert moved.stage_id == stages["Contacted"].id
    change = db.session.scalar(db.select(StageChange).where(StageChange.lead_id == lead.id)
                               .order_by(StageChange.id.desc()))
    assert (change.from_stage_id, change.to_stage_id, change.actor_id) == (stages["New"].id, stages["Contacted"].id, user.id)
    entry = db.session.scalar(db.select(Activity).where(Activity.lead_id == lead.id, Activity.kind == "stage_change"))
    assert (entry.subject, entry.actor_id) == ("Moved from New to Contacted", user.id)
    audited = db.session.execute(db.select(AuditEntry.field, AuditEntry.old_value, AuditEntry.new_value,
                                           AuditEntry.actor_id, AuditEntry.actor_name, AuditEntry.action)
                                 .where(AuditEntry.entity_type == "lead", AuditEntry.entity_id == lead.id,
                                        AuditEntry.field.is_not(None))).all()
    assert audited == [("stage", "New", "Contacted", user.id, user.name, "update")]


def test_a_card_moved_to_won_is_audited_with_its_new_lifecycle(login_as, make_lead, stages):
    lead = make_lead(first_name="Winner", stage_id=stages["Negotiation"].id)
    db.session.commit()
    user, client = login_as("manager", htmx=True)
    response = client.post("/pipeline/move", data={"lead_id": lead.id, "stage_id": stages["Won"].id,
                                                   "version": lead.version, "mode": "drag", "confirm": "y"})
    assert response.status_code == 200
    audited = dict(db.session.execute(db.select(AuditEntry.field, AuditEntry.new_value).where(
        AuditEntry.entity_type == "lead", AuditEntry.entity_id == lead.id, AuditEntry.field.in_(["stage", "lifecycle"]),
        AuditEntry.actor_id == user.id)).all())
    assert audited == {"stage": "Won", "lifecycle": "customer"}


def test_a_dragged_card_writes_its_row_once_and_each_totals_table_once(login_as, make_lead, stages, count_queries):
    lead = make_lead(first_name="Once", value="700", stage_id=stages["New"].id)
    db.session.commit()
    version = lead.version
    _, client = login_as("manager", htmx=True)
    data = {"lead_id": lead.id, "stage_id": stages["Contacted"].id, "version": lead.version, "mode": "drag"}
    with count_queries() as statements:
        response = client.post("/pipeline/move", data=data)
    assert response.status_code == 200
    # the user; the lead with its owner, organization, stage and the pipeline's stages; the
    # answer's rates (reference versions, rates); the writes (the top of the new column is
    # worked out by the UPDATE); the other areas' listeners (sequences' exits, scoring's rules:
    # no rule reads the stage, so the lead is not scored again); the two column headers with
    # the card's next task. Its tags are not read. On PostgreSQL the UPDATE, the history row,
    # the timeline entry and the audit entry are one statement, and so are the two totals
    # upserts, the headers' read and the next task's.
    assert len(statements) <= (7 if db.engine.dialect.name == "postgresql" else 12), "\n".join(statements)
    assert not [s for s in statements if re.match(r"\s*SELECT leads\.board_rank", s)], "the top was read apart"
    assert not [s for s in statements if "lead_tags" in s], "a plain move read the lead's tags"
    writes = [verb.upper() + " " + table for s in statements
              for verb, table in re.findall(r"(?<!DO )\b(UPDATE|INSERT)\s+(?:INTO\s+)?(\w+)", s)]
    # stage, place, version and time in stage in one versioned UPDATE; the two stages'
    # totals in one upsert per table; the history row and the timeline entry (on PostgreSQL
    # in one statement)
    assert writes.count("UPDATE leads") == 1, writes
    assert writes.count("INSERT stage_totals") == writes.count("INSERT stage_currency_totals") == 1, writes
    assert writes.count("INSERT stage_changes") == writes.count("INSERT activities") == 1, writes
    if db.engine.dialect.name == "postgresql":
        assert [s for s in statements if "UPDATE leads" in s and "stage_changes" in s and "activities" in s
                and "audit_entries" in s], statements
        assert [s for s in statements if "stage_totals" in s and "stage_currency_totals" in s and "INSERT" in s]
    assert not [w for w in writes if w.startswith("UPDATE stage_")], writes
    db.session.expire_all()
    moved = db.session.get(Lead, lead.id)
    assert (moved.stage_id, moved.version) == (stages["Contacted"].id, version + 1)
    totals = {t.stage_id: (t.lead_count, t.value_cents) for t in db.session.scalars(db.select(StageTotals))}
    assert totals[stages["Contacted"].id] == (1, 70000) and totals[stages["New"].id] == (0, 0)


@pytest.mark.real_commits  # the test's own transaction would be a savepoint around the request's
def test_a_move_with_the_reference_data_kept_runs_no_savepoint_and_few_statements(login_as, make_lead, stages):
    """Every statement is a round trip (0.3-0.5 ms on PostgreSQL): with the rules, rates and
    settings kept from the first move, the second one runs only what it must, and no listener
    opens a savepoint (none runs a statement; the totals wait for the commit)."""
    lead = make_lead(first_name="Twice", value="300", stage_id=stages["New"].id)
    user, client = login_as("manager", htmx=True)
    create_task(user, lead, {"kind": "call", "title": "Send the revised quote",
                             "due": (date.today() + timedelta(days=3)).strftime("%Y-%m-%dT09:00")})
    db.session.commit()
    lead_id, version = lead.id, lead.version
    ids = {name: stage.id for name, stage in stages.items()}
    for target in ("Contacted", "Qualified"):
        statements: list[str] = []

        def record(conn, cursor, statement, *args):
            statements.append(statement)

        event.listen(db.engine, "before_cursor_execute", record)
        try:
            response = client.post("/pipeline/move", data={
                "lead_id": lead_id, "stage_id": ids[target], "version": version, "mode": "drag"})
        finally:
            event.remove(db.engine, "before_cursor_execute", record)
        assert response.status_code == 200
        version += 1
    assert not [s for s in statements if s.lstrip().upper().startswith(("SAVEPOINT", "RELEASE"))], statements
    card = re.search(rf'<article class="card[^"]*" id="card-{lead_id}".*?</article>', response.text, re.S).group(0)
    assert 'title="Next step: Send the revised quote"' in card
    # the user with the reference versions, the lead, the UPDATE with the history rows and the
    # audit entry (SQLite: four statements), the totals (SQLite: one per table) and the headers
    # with the card's next task (PostgreSQL: read by the statement that adds the totals)
    work = [s for s in statements if not s.lstrip().upper().startswith(("BEGIN", "COMMIT", "PRAGMA"))]
    assert len(work) <= (4 if db.engine.dialect.name == "postgresql" else 9), "\n".join(work)
    assert not [s for s in work if re.match(r"\s*SELECT leads\.id, tasks\.id", s)], "the next task was read apart"
    if db.engine.dialect.name == "postgresql":
        assert not [s for s in work if re.match(r"\s*SELECT stage_totals", s)], "the headers were read apart"
    db.session.expire_all()
    assert db.session.get(Lead, lead_id).stage_id == ids["Qualified"]
    counts = {t.stage_id: (t.lead_count, t.value_cents) for t in db.session.scalars(db.select(StageTotals))}
    assert counts[ids["Qualified"]] == (1, 30000)
    assert counts[ids["Contacted"]] == counts[ids["New"]] == (0, 0)


def test_a_card_moved_into_a_stage_whose_rule_adds_a_task_shows_that_task(login_as, make_lead, stages):
    """The moved card's next task is read after the move's rules ran (with the headers), not with the lead."""
    lead = make_lead(first_name="Ruled", stage_id=stages["New"].id)
    db.session.add(WorkflowRule(
        name="Call the contacted", active=True, trigger="stage_changed", trigger_config={"to_stage_id": stages["Contacted"].id},
        conditions=[], actions=[{"type": "create_task", "kind": "call", "title": "Call within the hour", "due_hours": 1,
                                 "assignee": "owner"}], secret="s3cret-for-tests"))
    db.session.commit()
    _, client = login_as("manager", htmx=True)
    response = client.post("/pipeline/move", data={"lead_id": lead.id, "stage_id": stages["Contacted"].id,
                                                   "version": lead.version, "mode": "drag"})
    assert response.status_code == 200
    card = re.search(rf'<article class="card[^"]*" id="card-{lead.id}".*?</article>', response.text, re.S).group(0)
    assert 'title="Next step: Call within the hour"' in card


def test_move_to_a_position_between_two_cards(login_as, make_lead, stages):
    qualified = stages["Qualified"].id
    a, b, c = (make_lead(first_name=n, stage_id=qualified) for n in ("A", "B", "C"))
    db.session.commit()
    _, client = login_as("manager", htmx=True)
    before = order_in(client.get("/pipeline", headers={"HX-Request": ""}).text, qualified)
    assert before == [c.id, b.id, a.id], "newest first"
    response = client.post("/pipeline/move", data={"lead_id": c.id, "stage_id": qualified, "version": c.version,
                                                   "above_id": b.id, "below_id": a.id, "mode": "drag"})
    assert response.status_code == 200
    after = order_in(client.get("/pipeline", headers={"HX-Request": ""}).text, qualified)
    assert after == [b.id, c.id, a.id]


def test_a_card_dropped_between_two_cards_of_another_column_reads_both_in_one_query(login_as, make_lead, stages,
                                                                                    count_queries):
    qualified = stages["Qualified"].id
    a, b = (make_lead(first_name=n, stage_id=qualified) for n in ("A", "B"))
    dropped = make_lead(first_name="Dropped", stage_id=stages["New"].id)
    db.session.commit()
    _, client = login_as("manager", htmx=True)
    with count_queries() as statements:
        response = client.post("/pipeline/move", data={
            "lead_id": dropped.id, "stage_id": qualified, "version": dropped.version,
            "above_id": b.id, "below_id": a.id, "mode": "drag"})
    assert response.status_code == 200
    # where the card goes: the ranks of its new neighbours, read together (no lookup of the top)
    reads = [s for s in statements if re.match(r"\s*SELECT (leads\.id, )?leads\.board_rank\s+FROM leads", s)]
    assert len(reads) == 1 and "leads.id IN" in reads[0], reads
    assert order_in(client.get("/pipeline", headers={"HX-Request": ""}).text, qualified) == [b.id, dropped.id, a.id]


def test_keyboard_move_removes_the_card_and_inserts_it_at_the_top_of_the_new_column(login_as, make_lead, stages):
    lead = make_lead(first_name="Keys", stage_id=stages["New"].id)
    db.session.commit()
    _, client = login_as("rep", htmx=True)
    response = client.post("/pipeline/move", data={"lead_id": lead.id, "stage_id": stages["Qualified"].id,
                                                   "version": lead.version, "mode": "select"})
    assert response.status_code == 200
    assert response.headers["HX-Reswap"] == "delete"
    assert f'<div hx-swap-oob="afterbegin:#cards-{stages["Qualified"].id}"><article' in response.text.replace("\n", "")


def test_moving_to_lost_asks_for_a_reason_first(login_as, make_lead, stages):
    lead = make_lead(first_name="Loser", stage_id=stages["Negotiation"].id)
    db.session.commit()
    _, client = login_as("manager", htmx=True)
    asked = client.post("/pipeline/move", data={"lead_id": lead.id, "stage_id": stages["Lost"].id,
                                                "version": lead.version, "mode": "drag"})
    assert asked.status_code == 200
    assert asked.headers["HX-Retarget"] == "#board-dialog"
    assert "Why was it lost?" in asked.text
    db.session.expire_all()
    assert db.session.get(Lead, lead.id).stage_id == stages["Negotiation"].id, "nothing moves before the answer"
    empty = client.post("/pipeline/move", data={"lead_id": lead.id, "stage_id": stages["Lost"].id, "version": lead.version,
                                                "mode": "drag", "from_dialog": "1", "lost_reason": "  "})
    assert empty.headers["HX-Retarget"] == "#board-dialog"
    done = client.post("/pipeline/move", data={"lead_id": lead.id, "stage_id": stages["Lost"].id, "version": lead.version,
                                               "mode": "drag", "from_dialog": "1", "lost_reason": "Went with a competitor"})
    assert done.status_code == 200
    db.session.expire_all()
    lost = db.session.get(Lead, lead.id)
    assert lost.stage_id == stages["Lost"].id and lost.won_lost_reason == "Went with a competitor"


def test_moving_to_won_confirms_value_and_close_date_and_makes_a_customer(login_as, make_lead, stages):
    lead = make_lead(first_name="Winner", value="1000", stage_id=stages["Negotiation"].id)
    db.session.commit()
    _, client = login_as("manager", htmx=True)
    asked = client.post("/pipeline/move", data={"lead_id": lead.id, "stage_id": stages["Won"].id,
                                                "version": lead.version, "mode": "drag"})
    assert "Mark Winner Example as won" in asked.text and 'value="1000.00"' in asked.text
    bad = client.post("/pipeline/move", data={"lead_id": lead.id, "stage_id": stages["Won"].id, "version": lead.version,
                                              "mode": "drag", "from_dialog": "1", "confirm": "y", "value": "lots"})
    assert bad.status_code == 422 and "amount" in bad.text
    db.session.expire_all()
    assert db.session.get(Lead, lead.id).stage_id == stages["Negotiation"].id
    done = client.post("/pipeline/move", data={"lead_id": lead.id, "stage_id": stages["Won"].id, "version": lead.version,
                                               "mode": "drag", "from_dialog": "1", "confirm": "y", "value": "1250",
                                               "expected_close_date": "2026-11-20"})
    assert done.status_code == 200
    db.session.expire_all()
    won = db.session.get(Lead, lead.id)
    assert (won.stage_id, won.value_cents, won.expected_close_date, won.lifecycle) == (
        stages["Won"].id, 125000, date(2026, 11, 20), "customer")


def test_second_mover_gets_a_conflict_with_the_current_board(login_as, make_lead, stages):
    lead = make_lead(first_name="Race", stage_id=stages["New"].id)
    db.session.commit()
    seen = lead.version
    _, client = login_as("manager", htmx=True)
    first = client.post("/pipeline/move", data={"lead_id": lead.id, "stage_id": stages["Contacted"].id,
                                                "version": seen, "mode": "drag"})
    assert first.status_code == 200
    second = client.post("/pipeline/move", data={"lead_id": lead.id, "stage_id": stages["Qualified"].id,
                                                 "version": seen, "mode": "drag"})
    assert second.status_code == 409
    assert second.headers["HX-Retarget"] == "#board"
    assert "was changed by someone else" in second.text
    assert order_in(second.text, stages["Contacted"].id) == [lead.id]
    db.session.expire_all()
    assert db.session.get(Lead, lead.id).stage_id == stages["Contacted"].id


def test_rep_cannot_move_a_lead_they_may_not_edit(login_as, make_lead, make_user, stages):
    other = make_user("rep")
    lead = make_lead(first_name="Theirs", owner_id=other.id, stage_id=stages["New"].id)
    db.session.commit()
    _, client = login_as("rep", htmx=True)
    board = client.get("/pipeline", headers={"HX-Request": ""}).text
    card = re.search(rf'<article[^>]*id="card-{lead.id}".*?</article>', board, re.S).group(0)
    assert "data-draggable" not in card and "Move to" not in card
    response = client.post("/pipeline/move", data={"lead_id": lead.id, "stage_id": stages["Won"].id,
                                                   "version": lead.version, "mode": "drag"})
    assert response.status_code == 403
    db.session.expire_all()
    assert db.session.get(Lead, lead.id).stage_id == stages["New"].id


def test_viewer_cannot_move(login_as, make_lead, stages):
    lead = make_lead(first_name="Fixed", stage_id=stages["New"].id)
    db.session.commit()
    _, client = login_as("viewer", htmx=True)
    assert client.post("/pipeline/move", data={"lead_id": lead.id, "stage_id": stages["Contacted"].id}).status_code == 403


def test_bad_move_input_is_a_clear_400(login_as):
    _, client = login_as("manager", htmx=True)
    response = client.post("/pipeline/move", data={"lead_id": "abc", "stage_id": "1"})
    assert response.status_code == 400


def test_filters_narrow_cards_and_totals(login_as, make_lead, make_user, stages):
    owner = make_user("rep", name="Olga Owner")
    make_lead(first_name="Big", value="90000", owner_id=owner.id, stage_id=stages["Qualified"].id)
    make_lead(first_name="Small", value="100", stage_id=stages["Qualified"].id)
    db.session.commit()
    _, client = login_as("viewer")
    by_owner = client.get(f"/pipeline?owner={owner.id}").text
    assert "Big Example" in by_owner and "Small Example" not in by_owner
    assert "1 lead" in column_head(by_owner, stages["Qualified"].id)
    by_value = client.get("/pipeline?value_min=1000&value_max=100000").text
    assert "Big Example" in by_value and "Small Example" not in by_value
    bad = client.get("/pipeline?value_min=lots")
    assert bad.status_code == 200 and "Ignored the value" in bad.text


def test_columns_show_25_cards_and_load_the_rest_on_scroll(login_as, make_lead, stages):
    new = stages["New"].id
    for i in range(30):
        make_lead(first_name=f"C{i:02d}", stage_id=new)
    db.session.commit()
    _, client = login_as("viewer")
    page = client.get("/pipeline").text
    first = order_in(page, new)
    assert len(first) == 25 and "30 leads" in column_head(page, new)
    more_url = re.search(r'class="load-more" hx-get="([^"]+)"', page).group(1).replace("&amp;", "&")
    rest = client.get(more_url, headers={"HX-Request": "true"}).text
    rest_ids = [int(i) for i in re.findall(r'id="card-(\d+)"', rest)]
    assert len(rest_ids) == 5 and not set(rest_ids) & set(first)
    assert "load-more" not in rest


def test_a_columns_next_cards_take_few_statements(login_as, make_lead, stages, count_queries):
    new = stages["New"].id
    for i in range(30):
        make_lead(first_name=f"M{i:02d}", stage_id=new, organization=f"Org{i}")
    db.session.commit()
    _, client = login_as("viewer")
    page = client.get("/pipeline").text
    more_url = re.search(r'class="load-more" hx-get="([^"]+)"', page).group(1).replace("&amp;", "&")
    client.get(more_url, headers={"HX-Request": "true"})
    with count_queries() as statements:
        rest = client.get(more_url, headers={"HX-Request": "true"}).text
    assert len(re.findall(r'id="card-(\d+)"', rest)) == 5
    # the user with the reference versions, the page's cards with their next tasks (the page's
    # ids picked inside that statement); the stage is kept for the process (web/refcache.py)
    assert len(statements) <= 2, "\n".join(statements)
    assert not [s for s in statements if re.match(r"\s*SELECT leads\.id\s+FROM leads", s)], "the ids were read apart"


def test_a_filtered_column_loads_its_next_cards_in_board_order_through_the_filter(login_as, make_lead, make_user,
                                                                                   stages):
    owner = make_user("rep", name="Pia Pager")
    new = stages["New"].id
    mine = [make_lead(first_name=f"P{i:02d}", owner_id=owner.id, stage_id=new).id for i in range(28)]
    for i in range(10):
        make_lead(first_name=f"X{i:02d}", stage_id=new)
    db.session.commit()
    _, client = login_as("viewer")
    page = client.get(f"/pipeline?owner={owner.id}").text
    first = order_in(page, new)
    assert len(first) == 25 and set(first) <= set(mine)
    more_url = re.search(r'class="load-more" hx-get="([^"]+)"', page).group(1).replace("&amp;", "&")
    assert f"owner={owner.id}" in more_url
    rest = client.get(more_url, headers={"HX-Request": "true"}).text
    rest_ids = [int(i) for i in re.findall(r'id="card-(\d+)"', rest)]
    # the owner's three other cards, newest first as on the board, and nothing after them
    assert rest_ids == sorted(set(mine) - set(first), reverse=True) and "load-more" not in rest


def test_a_column_page_deep_in_the_column_says_whether_more_follow(login_as, make_lead, stages):
    new = stages["New"].id
    ids = [make_lead(first_name=f"D{i:02d}", stage_id=new).id for i in range(60)]
    db.session.commit()
    _, client = login_as("viewer")
    page = client.get("/pipeline").text
    more_url = re.search(r'class="load-more" hx-get="([^"]+)"', page).group(1).replace("&amp;", "&")
    second = client.get(more_url, headers={"HX-Request": "true"}).text
    assert [int(i) for i in re.findall(r'id="card-(\d+)"', second)] == sorted(ids, reverse=True)[25:50]
    third_url = re.search(r'class="load-more" hx-get="([^"]+)"', second).group(1).replace("&amp;", "&")
    third = client.get(third_url, headers={"HX-Request": "true"}).text
    assert [int(i) for i in re.findall(r'id="card-(\d+)"', third)] == sorted(ids, reverse=True)[50:]
    assert "load-more" not in third


def test_board_query_count_does_not_grow_with_leads(login_as, make_lead, stages, count_queries):
    for i in range(10):
        make_lead(first_name=f"Q{i}", stage_id=stages["New"].id, organization=f"Org{i}")
    db.session.commit()
    _, client = login_as("manager")
    client.get("/pipeline")
    with count_queries() as few:
        client.get("/pipeline")
    for i in range(40):
        make_lead(first_name=f"R{i}", stage_id=stages["Qualified"].id, organization=f"Org{i}")
    db.session.commit()
    with count_queries() as many:
        client.get("/pipeline")
    # the user with the reference versions, the pipelines with their stages and the stamp's marks,
    # totals, the cards (every column's first page picked by one UNION ALL in the same statement,
    # owner, organization and next task joined in) (owners, teams, settings and rates are kept
    # for the process: web/refcache.py)
    assert len(few) == len(many) <= 4, many


def test_an_unfiltered_boards_cards_write_their_limit_and_a_filtered_boards_bind_it(login_as, make_lead, stages,
                                                                                     count_queries):
    # A board without filters runs one plan for every request (PostgreSQL's generic plan needs the
    # LIMIT in the text), its columns' next cards too; a filtered board's keep it bound, so each
    # filter's values are planned for.
    for i in range(30):
        make_lead(first_name=f"L{i:02d}", stage_id=stages["New"].id, temperature="hot")
    db.session.commit()
    _, client = login_as("viewer")
    for query, written in (("", True), ("?temperature=hot", False)):
        page = client.get(f"/pipeline{query}").text
        more_url = re.search(r'class="load-more" hx-get="([^"]+)"', page).group(1).replace("&amp;", "&")
        with count_queries() as statements:
            client.get(f"/pipeline{query}", headers={"HX-Request": "true"})
            client.get(more_url, headers={"HX-Request": "true"})
        limited = [s for s in statements if "LIMIT" in s and "FROM leads" in s]
        assert len(limited) == 2, "\n".join(statements)
        assert all(bool(re.search(r"LIMIT \d+", s)) is written for s in limited), "\n".join(limited)


def test_stamp_tells_an_open_board_when_something_changed(login_as, make_lead, stages):
    lead = make_lead(first_name="Stamp", stage_id=stages["New"].id)
    db.session.commit()
    _, client = login_as("manager", htmx=True)
    page = client.get("/pipeline", headers={"HX-Request": ""}).text
    stamp_url = re.search(r'hx-get="(/pipeline/\d+/stamp\?seen=[^"]+)"', page).group(1)
    assert client.get(stamp_url).status_code == 204
    client.post("/pipeline/move", data={"lead_id": lead.id, "stage_id": stages["Contacted"].id,
                                        "version": lead.version, "mode": "drag"})
    changed = client.get(stamp_url)
    assert changed.status_code == 200 and changed.headers["HX-Trigger"] == "board-stale"


def test_forecast_weights_open_deals_by_close_month(login_as, make_lead, stages):
    this_month = date.today().replace(day=15)
    make_lead(first_name="F1", value="1000", stage_id=stages["Negotiation"].id, expected_close_date=this_month.isoformat())
    make_lead(first_name="F2", value="5000", stage_id=stages["Won"].id, expected_close_date=this_month.isoformat())
    make_lead(first_name="F3", value="2000", stage_id=stages["Qualified"].id,
              expected_close_date=(this_month - timedelta(days=62)).isoformat())
    db.session.commit()
    _, client = login_as("viewer", htmx=True)
    pipeline_id = stages["New"].pipeline_id
    strip = client.get(f"/pipeline/{pipeline_id}/forecast").text
    months = re.findall(r'<span class="forecast-label">([^<]+)</span>.*?<span class="forecast-value">([^<]+)</span>', strip, re.S)
    assert months[0] == ("Overdue", "$800")  # 40% of 2,000
    assert months[1] == (this_month.strftime("%b %Y"), "$800")  # 80% of 1,000; won deals are not forecast


def test_forecast_adds_each_stage_at_its_own_probability_within_a_month(login_as, make_lead, stages):
    this_month = date.today().replace(day=5)
    for name, value in (("Negotiation", "1000"), ("Qualified", "2000"), ("Qualified", "0.50"), ("New", None)):
        make_lead(first_name=name, value=value, stage_id=stages[name].id, expected_close_date=this_month.isoformat())
    db.session.commit()
    _, client = login_as("viewer", htmx=True)
    strip = client.get(f"/pipeline/{stages['New'].pipeline_id}/forecast").text
    month = re.search(r'<span class="forecast-label">' + this_month.strftime("%b %Y") + r"</span>(.*?)</li>",
                      strip, re.S).group(1)
    # 80% of 1,000 + 40% of 2,000.50 = 800 + 800.20; the lead with no value adds nothing.
    assert re.search(r'<span class="forecast-value">([^<]+)</span>', month).group(1) == "$1,600.20"


def test_forecast_reads_the_pipeline_and_every_months_figures_in_few_statements(login_as, make_lead, stages,
                                                                                count_queries):
    this_month = date.today().replace(day=10)
    make_lead(first_name="Late", value="1000", stage_id=stages["Qualified"].id,
              expected_close_date=(this_month - timedelta(days=40)).isoformat())
    make_lead(first_name="Soon", value="3000", stage_id=stages["Negotiation"].id,
              expected_close_date=this_month.isoformat())
    db.session.commit()
    _, client = login_as("viewer", htmx=True)
    url = f"/pipeline/{stages['New'].pipeline_id}/forecast"
    client.get(url)
    with count_queries() as statements:
        strip = client.get(url).text
    # the user with the reference versions, and the overdue deals and the months' deals summed
    # in one statement; the pipeline and its stages are kept for the process
    assert len(statements) <= 2, "\n".join(statements)
    months = re.findall(r'<span class="forecast-label">([^<]+)</span>.*?<span class="forecast-value">([^<]+)</span>'
                        r'\s*<small class="muted">([^<]+)</small>', strip, re.S)
    assert months[0] == ("Overdue", "$400", "1 deal")  # 40% of 1,000
    assert months[1] == (this_month.strftime("%b %Y"), "$2,400", "1 deal")  # 80% of 3,000
    assert all(value == "$0" for _, value, _ in months[2:])


def test_a_forecast_weighs_a_stage_by_its_new_probability_and_an_archived_pipeline_has_none(
        login_as, make_lead, stages):
    this_month = date.today().replace(day=12)
    make_lead(first_name="Deal", value="1000", stage_id=stages["Qualified"].id, expected_close_date=this_month.isoformat())
    db.session.commit()
    admin, client = login_as("admin", htmx=True)
    pipeline_id = stages["New"].pipeline_id
    url = f"/pipeline/{pipeline_id}/forecast"

    def this_months_value():
        strip = client.get(url).text
        return re.search(r'<span class="forecast-label">' + this_month.strftime("%b %Y")
                         + r'</span>.*?<span class="forecast-value">([^<]+)</span>', strip, re.S).group(1)

    assert this_months_value() == "$400"  # 40% of 1,000
    qualified = stages["Qualified"]
    update_stage(admin, qualified, {"name": qualified.name, "probability": "70", "kind": "open"})
    db.session.commit()
    assert this_months_value() == "$700"
    other = create_pipeline(admin, "Partners")
    set_default_pipeline(admin, other)
    db.session.commit()
    archive_pipeline(admin, db.session.get(Pipeline, pipeline_id))
    db.session.commit()
    assert client.get(url).status_code == 404
    assert client.get(f"/pipeline/{other.id}/forecast").status_code == 200


def test_a_filtered_forecast_counts_only_the_filtered_deals_overdue_and_by_month(login_as, make_lead, make_user,
                                                                                 stages):
    owner = make_user("rep", name="Fay Filter")
    this_month = date.today().replace(day=10)
    overdue = (this_month - timedelta(days=40)).isoformat()
    for first_name, owner_id, value, when in (("Mine", owner.id, "1000", overdue), ("Also", owner.id, "2000", None),
                                              ("Other", None, "5000", overdue), ("Else", None, "7000", None)):
        make_lead(first_name=first_name, owner_id=owner_id, value=value, stage_id=stages["Qualified"].id,
                  expected_close_date=when or this_month.isoformat())
    db.session.commit()
    _, client = login_as("viewer", htmx=True)
    strip = client.get(f"/pipeline/{stages['New'].pipeline_id}/forecast?owner={owner.id}").text
    months = re.findall(r'<span class="forecast-label">([^<]+)</span>.*?<span class="forecast-value">([^<]+)</span>'
                        r'\s*<small class="muted">([^<]+)</small>', strip, re.S)
    # 40% of each of the owner's deals: 1,000 overdue, 2,000 this month
    assert months[:2] == [("Overdue", "$400", "1 deal"), (this_month.strftime("%b %Y"), "$800", "1 deal")]


def test_unknown_pipeline_is_404(login_as):
    _, client = login_as("viewer")
    assert client.get("/pipeline/9999").status_code == 404


def test_admin_chooses_extra_card_fields(login_as, make_lead, stages):
    make_lead(first_name="Carded", tags="enterprise", source="referral", stage_id=stages["New"].id)
    db.session.commit()
    _, client = login_as("admin")
    assert "enterprise" not in client.get("/pipeline").text
    assert client.post("/pipeline/card-fields", data={"fields": ["tags", "source", "lifecycle"]}).status_code == 303
    board = client.get("/pipeline").text
    assert "enterprise" in board and "referral" in board and '<span class="badge">Lead</span>' in board
    bad = client.post("/pipeline/card-fields", data={"fields": ["password_hash"]})
    assert bad.status_code == 422 and "Choose only from the listed fields" in bad.text


@pytest.mark.parametrize("role", ["manager", "rep", "viewer"])
def test_only_admins_choose_card_fields(login_as, role):
    _, client = login_as(role)
    assert client.get("/pipeline/card-fields").status_code == 403
    assert client.post("/pipeline/card-fields", data={"fields": ["tags"]}).status_code == 403


def test_move_control_opens_a_stage_picker_for_leads_the_user_may_edit(login_as, make_lead, make_user, stages):
    other = make_user("rep")
    mine_lead = make_lead(first_name="Pick", stage_id=stages["New"].id)
    theirs = make_lead(first_name="NotMine", owner_id=other.id, stage_id=stages["New"].id)
    db.session.commit()
    _, client = login_as("rep", htmx=True)
    button = client.get(f"/pipeline/leads/{mine_lead.id}/move-control")
    assert button.status_code == 200 and "Move to…" in button.text and "<select" not in button.text
    picker = client.get(f"/pipeline/leads/{mine_lead.id}/move-control?pick=1")
    assert picker.status_code == 200
    options = re.findall(r'<option value="(\d+)"', picker.text)
    assert options == [str(s.id) for s in stages.values()]
    assert 'name="version"' in picker.text and 'data-cancel' in picker.text
    assert client.get(f"/pipeline/leads/{theirs.id}/move-control?pick=1").status_code == 403


def test_a_lean_card_still_shows_everything_a_person_reads_and_can_reach_by_keyboard(login_as, make_lead, stages):
    from datetime import datetime, timezone

    manager, client = login_as("manager", htmx=True)
    lead = make_lead(first_name="Lean", last_name="Card", organization="Acme Ltd", value="1234", currency="EUR",
                     stage_id=stages["New"].id, owner_id=manager.id)  # New rots after 3 days
    db.session.execute(Lead.__table__.update().where(Lead.__table__.c.id == lead.id)
                       .values(stage_entered_at=datetime(2020, 1, 1, tzinfo=timezone.utc)))
    db.session.commit()
    page = client.get("/pipeline", headers={"HX-Request": ""}).text
    card = re.search(rf'<article class="card[^"]*" id="card-{lead.id}".*?</article>', page, re.S).group(0)
    assert "Lean Card" in card and "Acme Ltd" in card and "€1,234" in card
    assert f'aria-label="Owner: {manager.name}"' in card
    assert "rotting" in card and re.search(r"Rotting: \d+ days in stage", card)
    assert 'aria-label="Move Lean Card to another stage"' in card and 'aria-label="Add next step for Lean Card"' in card
    # the buttons find their slot through the column, which says where their answers go
    column = page[page.index(f'id="cards-{stages["New"].id}"'):page.index(card)]
    assert 'hx-target="closest div" hx-swap="innerHTML"' in column
    picker = client.get(f"/pipeline/leads/{lead.id}/move-control?pick=1")
    assert picker.status_code == 200 and f'<label for="move-{lead.id}"' in picker.text


def test_a_card_escapes_what_people_typed_and_shows_its_value_converted(login_as, make_lead, stages):
    admin, client = login_as("admin")
    assert client.post("/settings/currency", data={"rate-EUR": "1.10"}).status_code == 302
    lead = make_lead(first_name="<b>Bold", last_name='"Quote" & Co', organization="<i>Org</i>", value="1000",
                     currency="EUR", stage_id=stages["New"].id, owner_id=admin.id)
    db.session.commit()
    page = client.get("/pipeline").text
    card = re.search(rf'<article class="card[^"]*" id="card-{lead.id}".*?</article>', page, re.S).group(0)
    assert "<b>" not in card and "<i>" not in card and '"Quote"' not in card
    name = "&lt;b&gt;Bold &#34;Quote&#34; &amp; Co"
    # the name in the link and both buttons' labels, each escaped
    assert card.count(name) == 3, card
    assert f'aria-label="Move {name} to another stage"' in card and f'aria-label="Add next step for {name}"' in card
    assert "&lt;i&gt;Org&lt;/i&gt;" in card
    assert "€1,000" in card and "≈ $1,100 USD" in card and 'title="Converted to USD, the base currency, at 1.1 set' in card


def test_a_card_escapes_scripts_in_every_field_people_type_and_ampersands_in_its_addresses(
        login_as, make_lead, make_user, stages):
    """The card prints its values with autoescape off (they come escaped from Python): nothing
    typed, the owner's name nor the next step's title may reach the page as markup."""
    from datetime import datetime, timezone

    from leadflow.activities.models import Task

    admin, client = login_as("admin")
    script = "<script>alert(1)</script>"
    owner = make_user("rep", name=f"Rep {script}")
    lead = make_lead(first_name=script, last_name="Smith", organization=f"Org {script}", value="500",
                     currency="EUR", stage_id=stages["New"].id, owner_id=owner.id, source="referral")
    db.session.add(Task(lead_id=lead.id, kind="call", title=f"Call {script}", created_by_id=admin.id,
                        assignee_id=admin.id, due_at=datetime(2030, 1, 1, tzinfo=timezone.utc),
                        remind_at=datetime(2030, 1, 1, tzinfo=timezone.utc)))
    db.session.commit()
    # two filters, so each card address carries an "&" in its query
    page = client.get("/pipeline?source=referral&q=Smith").text
    card = re.search(rf'<article class="card[^"]*" id="card-{lead.id}".*?</article>', page, re.S).group(0)
    assert "<script>" not in card and "&amp;lt;" not in card, card  # escaped, and only once
    escaped = "&lt;script&gt;alert(1)&lt;/script&gt;"
    assert card.count(f"{escaped} Smith") == 3  # the link and both buttons' labels
    assert f'aria-label="Owner: Rep {escaped}"' in card and f"Org {escaped}" in card
    assert f'title="Next step: Call {escaped}"' in card
    addresses = re.findall(r'hx-get="([^"]+)"', card)
    assert len(addresses) == 2 and all("&amp;" in a and not re.search(r"&(?!amp;)", a) for a in addresses)
