"""The board as of a past day, from stage history: a hand-checked set of leads and their moves."""

from __future__ import annotations

import re
from datetime import date, datetime, timezone

import pytest

from leadflow.extensions import db
from leadflow.leads.models import Lead
from leadflow.pipeline.history import as_of_context, columns_as_of, end_of_day, parse_as_of, stage_names_then
from leadflow.pipeline.board import BoardFilters
from leadflow.pipeline.models import StageChange
from leadflow.pipeline.services import ensure_default_pipeline
from leadflow.accounts.zones import user_zone
from tests.pipeline.test_money_totals import set_rates


def utc(month: int, day: int, hour: int = 12, minute: int = 0) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=timezone.utc)


@pytest.fixture
def stages(app):
    pipeline = ensure_default_pipeline()
    db.session.commit()
    return {s.name: s for s in pipeline.stages}


def rewrite_history(lead: Lead, created: datetime, moves: list[tuple[str | None, str | None, datetime]], stages,
                    deleted: datetime | None = None) -> None:
    """Give ``lead`` this creation time, these stage changes (from, to, at) and trash time."""
    table = StageChange.__table__
    db.session.execute(table.delete().where(table.c.lead_id == lead.id))
    if moves:
        db.session.execute(table.insert(), [
            {"lead_id": lead.id, "from_stage_id": stages[a].id if a else None,
             "to_stage_id": stages[b].id if b else None, "at": at} for a, b, at in moves])
    db.session.execute(Lead.__table__.update().where(Lead.__table__.c.id == lead.id)
                       .values(created_at=created, deleted_at=deleted))


@pytest.fixture
def past(make_lead, stages):
    """Nine leads; where each stood at the end of 1 October 2026 is worked out by hand below."""
    def lead(name, stage, **fields):
        return make_lead(first_name=name, stage_id=stages[stage].id, **fields)

    leads = {
        "Ada": lead("Ada", "Qualified", value="100"),      # New → Contacted 10 Sep → Qualified 5 Oct
        "Ben": lead("Ben", "Won", value="250", currency="EUR"),  # New → Qualified 15 Sep (skips), back to Contacted 20 Sep, Won 3 Oct
        "Cy": lead("Cy", "New"),                            # created 5 Oct: not on the board yet
        "Dee": lead("Dee", "New", value="40"),              # in New; trashed 10 Oct, after the day: shown
        "Eve": lead("Eve", "Negotiation"),                  # trashed 20 Sep: gone by then
        "Fay": lead("Fay", "Proposal sent"),                # no stage history at all: never moved
        "Gus": lead("Gus", "Won"),                          # no creation row; first change Qualified → Won 3 Oct
        "Hal": lead("Hal", "Lost"),                         # New → Lost 2 Oct 03:30 UTC (1 Oct 23:30 in New York)
        "Ivy": lead("Ivy", "Contacted"),                    # New → Contacted 2 Oct 04:30 UTC (2 Oct 00:30 in New York)
    }
    sep1 = utc(9, 1)
    rewrite_history(leads["Ada"], sep1, [(None, "New", sep1), ("New", "Contacted", utc(9, 10)),
                                         ("Contacted", "Qualified", utc(10, 5))], stages)
    rewrite_history(leads["Ben"], sep1, [(None, "New", sep1), ("New", "Qualified", utc(9, 15)),
                                         ("Qualified", "Contacted", utc(9, 20)), ("Contacted", "Won", utc(10, 3))], stages)
    rewrite_history(leads["Cy"], utc(10, 5), [(None, "New", utc(10, 5))], stages)
    rewrite_history(leads["Dee"], sep1, [(None, "New", sep1)], stages, deleted=utc(10, 10))
    rewrite_history(leads["Eve"], sep1, [(None, "Negotiation", sep1)], stages, deleted=utc(9, 20))
    rewrite_history(leads["Fay"], sep1, [], stages)
    rewrite_history(leads["Gus"], sep1, [("Qualified", "Won", utc(10, 3))], stages)
    rewrite_history(leads["Hal"], sep1, [(None, "New", sep1), ("New", "Lost", utc(10, 2, 3, 30))], stages)
    rewrite_history(leads["Ivy"], sep1, [(None, "New", sep1), ("New", "Contacted", utc(10, 2, 4, 30))], stages)
    db.session.commit()
    return leads


def names(pipeline, at, leads) -> dict[str, list[str]]:
    by_id = {lead.id: name for name, lead in leads.items()}
    return {stage: sorted(by_id[i] for i in ids) for stage, ids in stage_names_then(pipeline, at).items()}


NEW_YORK_END_OF_OCT_1 = {
    "New": ["Dee", "Ivy"], "Contacted": ["Ada", "Ben"], "Qualified": ["Gus"], "Proposal sent": ["Fay"],
    "Negotiation": [], "Won": [], "Lost": ["Hal"],
}


def test_each_lead_stands_where_its_history_put_it_at_the_end_of_the_viewers_day(past, stages):
    from zoneinfo import ZoneInfo

    pipeline = stages["New"].pipeline
    at = end_of_day(date(2026, 10, 1), ZoneInfo("America/New_York"))
    assert at == utc(10, 2, 4, 0)
    assert names(pipeline, at, past) == NEW_YORK_END_OF_OCT_1


def test_the_same_day_ends_earlier_for_a_viewer_in_utc(past, stages):
    pipeline = stages["New"].pipeline
    at = end_of_day(date(2026, 10, 1), timezone.utc)
    assert names(pipeline, at, past) == {**NEW_YORK_END_OF_OCT_1, "New": ["Dee", "Hal", "Ivy"], "Lost": []}


def test_earlier_days_show_skipped_and_backward_moves_where_they_were(past, stages):
    pipeline = stages["New"].pipeline
    sep_16 = names(pipeline, end_of_day(date(2026, 9, 16), timezone.utc), past)
    assert sep_16["Qualified"] == ["Ben", "Gus"]  # Ben skipped Contacted; Gus's first change came from Qualified
    assert sep_16["Contacted"] == ["Ada"]
    assert sep_16["Negotiation"] == ["Eve"]  # not trashed until the 20th
    assert names(pipeline, end_of_day(date(2026, 8, 31), timezone.utc), past) == {s: [] for s in NEW_YORK_END_OF_OCT_1}


def test_columns_count_and_total_in_the_base_currency_with_the_filters_of_the_board(past, stages, login_as):
    from zoneinfo import ZoneInfo

    admin, client = login_as("admin")
    set_rates(client, EUR="1.2")
    pipeline = stages["New"].pipeline
    at = end_of_day(date(2026, 10, 1), ZoneInfo("America/New_York"))
    columns = {c.stage.name: c for c in columns_as_of(pipeline, at, BoardFilters(), admin, fields=[])}
    contacted = columns["Contacted"]
    assert contacted.count == 2 and contacted.total.rounded_cents == 10000 + 30000  # $100 + €250 at 1.2
    assert [c.name for c in contacted.cards] == ["Ben Example", "Ada Example"]  # latest arrival first
    assert columns["New"].count == 2 and columns["New"].total.rounded_cents == 4000
    assert columns["Won"].count == 0 and columns["Won"].cards == []
    filtered = {c.stage.name: c for c in columns_as_of(pipeline, at, BoardFilters(q="Ada"), admin, fields=[])}
    assert filtered["Contacted"].count == 1 and [c.name for c in filtered["Contacted"].cards] == ["Ada Example"]
    assert sum(c.count for c in filtered.values()) == 1


def test_a_past_day_is_parsed_and_bad_or_future_days_are_explained():
    today = date(2026, 12, 3)
    assert parse_as_of("2026-10-01", today).day == date(2026, 10, 1)
    assert parse_as_of("2026-12-03", today).day == today
    assert "in the future" in parse_as_of("2026-12-04", today).problem
    assert "not a date" in parse_as_of("2026-13-01", today).problem
    assert "not a date" in parse_as_of("yesterday", today).problem
    assert "Pick a day" in parse_as_of("", today).problem
    assert parse_as_of("0001-01-01", today).problem


def test_the_past_board_page_is_read_only_with_a_banner_a_date_picker_and_a_way_back(past, stages, login_as):
    _, client = login_as("manager", timezone="America/New_York")
    page = client.get("/pipeline?as_of=2026-10-01")
    assert page.status_code == 200
    html = page.text
    assert "Past view, read-only" in html and "2026-10-01" in html
    assert re.search(r'<a href="/pipeline/{}">Back to today'.format(stages["New"].pipeline_id), html)
    assert '<label for="as-of-day">' in html and 'id="as-of-day" name="as_of" value="2026-10-01"' in html
    contacted = html[html.index(f'id="cards-{stages["Contacted"].id}"'):html.index(f'id="cards-{stages["Qualified"].id}"')]
    assert "Ada Example" in contacted and "Ben Example" in contacted
    assert "data-draggable" not in html and "Move to" not in html and "Add next step" not in html
    assert "Cy Example" not in html and "Eve Example" not in html


@pytest.mark.parametrize("raw, message", [("2026-02-30", "is not a date"), ("9999-01-01", "is in the future"),
                                          ("", "Pick a day")])
def test_a_bad_day_gets_a_message_not_an_error(past, login_as, raw, message):
    _, client = login_as("rep")
    page = client.get(f"/pipeline?as_of={raw}")
    assert page.status_code == 400 and message in page.text and 'role="alert"' in page.text


def test_the_past_board_keeps_the_board_filters(past, stages, login_as):
    _, client = login_as("admin")
    page = client.get("/pipeline?as_of=2026-10-01&q=Ben")
    assert page.status_code == 200 and "Ben Example" in page.text and "Ada Example" not in page.text
    assert 'name="q" value="Ben"' in page.text


def test_as_of_context_in_the_viewers_zone(app, past, stages, login_as):
    manager, _ = login_as("manager", timezone="America/New_York")
    pipeline = stages["New"].pipeline
    with app.test_request_context("/pipeline"):
        context = as_of_context(pipeline, parse_as_of("2026-10-01", date(2026, 12, 3)), user_zone(manager),
                                BoardFilters(), manager)
    lost = next(c for c in context["columns"] if c.stage.name == "Lost")
    assert [c.name for c in lost.cards] == ["Hal Example"] and context["read_only"] is True
