"""Time in stage against a hand-checked history (period: October 2026, UTC; now: 1 Nov 00:00).

Completed stays that ended in October, in days:
  New        A 6, B 2, C 34 (created in New with no entering change), K 23  → 2, 6, 23, 34
  Contacted  A 3, B 1, J 1, L 2, L 2                                         → 1, 1, 2, 2, 3
  Qualified  A 10, B 4, J 5, L 2, L 3                                        → 2, 3, 4, 5, 10
  Negotiation E 12, E 10 (reopened after winning)                           → 10, 12
Still going: Contacted C 26.5, D 81.5; Qualified B 22.5; Proposal sent G 11.5 (never moved,
no history). F moved backwards too but is deleted; D's New stay and K's backward move ended
in August/September.
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from leadflow.leads import store
from leadflow.reports.time_in_stage import BackwardMove, backward_moves, stage_times, stuck_leads

from tests.factories import TEST_SETUP
from tests.reports.flow_data import at, live_leads, past_lead, stages

OCT_START, OCT_END, NOW = at(10, 1, 0), at(11, 1, 0), at(11, 1, 0)


@pytest.fixture
def history(app):
    ids = {
        "A": past_lead("A", at(9, 25), "New", [(at(10, 1), "Contacted"), (at(10, 4), "Qualified"), (at(10, 14), "Won")]),
        # B skips Contacted, then goes back to it and forward again.
        "B": past_lead("B", at(10, 2), "New", [(at(10, 4), "Qualified"), (at(10, 8), "Contacted"), (at(10, 9), "Qualified")]),
        "C": past_lead("C", at(9, 1), "New", [(at(10, 5), "Contacted")], history=False),
        "D": past_lead("D", at(8, 1), "New", [(at(8, 11), "Contacted")]),
        "E": past_lead("E", at(9, 20), "Negotiation",
                       [(at(10, 2), "Won"), (at(10, 10), "Negotiation"), (at(10, 20), "Won")]),
        "F": past_lead("F", at(10, 1), "New", [(at(10, 2), "Contacted"), (at(10, 3), "New")]),
        "G": past_lead("G", at(10, 20), "Proposal sent", history=False),
        "J": past_lead("J", at(10, 1), "Qualified", [(at(10, 6), "Contacted"), (at(10, 7), "Lost")]),
        "K": past_lead("K", at(9, 1), "Contacted", [(at(9, 10), "New"), (at(10, 3), "Lost")]),
        "L": past_lead("L", at(10, 1), "Qualified", [(at(10, 3), "Contacted"), (at(10, 5), "Qualified"),
                                                      (at(10, 8), "Contacted"), (at(10, 10), "Lost")]),
    }
    store.trash_leads([ids["F"]], TEST_SETUP)
    return ids


def _pipeline_id():
    return stages()["New"].pipeline_id


def _table(rows):
    return {row.name: (row.left, row.median_days, row.p90_days, row.current, row.current_median_days) for row in rows}


def test_median_and_p90_per_open_stage_from_stays_that_ended_in_the_period(history):
    rows = stage_times(live_leads(), _pipeline_id(), OCT_START, OCT_END, NOW)
    assert [row.name for row in rows] == ["New", "Contacted", "Qualified", "Proposal sent", "Negotiation"]
    assert _table(rows) == {
        "New": (4, 14.5, 34.0, 0, None),  # median of 2, 6, 23, 34 is the mean of 6 and 23
        "Contacted": (5, 2.0, 3.0, 2, 54.0),  # in it now: 26.5 and 81.5 days
        "Qualified": (5, 4.0, 10.0, 1, 22.5),
        "Proposal sent": (0, None, None, 1, 11.5),  # G never moved and has no history: from created_at
        "Negotiation": (2, 11.0, 12.0, 0, None),  # both stays of the reopened lead
    }


def test_p90_is_the_nearest_rank_and_the_median_of_an_odd_count_the_middle_stay(app):
    for days in range(1, 12):  # eleven stays in New of 1 … 11 days, all ended in October
        past_lead(f"N{days}", at(9, 30), "New", [(at(9, 30) + timedelta(days=days), "Contacted")])
    [new] = [row for row in stage_times(live_leads(), _pipeline_id(), OCT_START, OCT_END, NOW) if row.name == "New"]
    assert (new.left, new.median_days, new.p90_days) == (11, 6.0, 10.0)  # ⌈0.9 × 11⌉ = 10th shortest


def test_an_empty_period_has_no_finished_stays_but_still_shows_who_is_in_each_stage_now(history):
    rows = stage_times(live_leads(), _pipeline_id(), at(1, 1, 0), at(2, 1, 0), NOW)
    assert _table(rows)["Contacted"] == (0, None, None, 2, 54.0)
    assert all(row.left == 0 and row.median_days is None for row in rows)
    assert backward_moves(live_leads(), _pipeline_id(), at(1, 1, 0), at(2, 1, 0)) == []


def test_leads_stuck_longest_are_open_leads_in_their_current_stage_longest_first(history):
    stuck = stuck_leads(live_leads(), _pipeline_id(), NOW)
    assert [(lead.lead_id, lead.stage, lead.days) for lead in stuck] == [
        (history["D"], "Contacted", 81.5), (history["C"], "Contacted", 26.5),
        (history["B"], "Qualified", 22.5), (history["G"], "Proposal sent", 11.5)]
    assert stuck[0].name == "D Example" and stuck[0].entered_at == at(8, 11)
    assert [lead.lead_id for lead in stuck_leads(live_leads(), _pipeline_id(), NOW, limit=2)] == [history["D"], history["C"]]


def test_backward_moves_count_moves_and_leads_per_pair_in_the_period(history):
    assert backward_moves(live_leads(), _pipeline_id(), OCT_START, OCT_END) == [
        BackwardMove("Qualified", "Contacted", moves=4, leads=3),  # B once, J once, L twice
        BackwardMove("Won", "Negotiation", moves=1, leads=1),  # E reopened
    ]
    # K's move back to New was in September; F's (deleted) is never counted.
    assert backward_moves(live_leads(), _pipeline_id(), at(9, 1, 0), OCT_END) == [
        BackwardMove("Qualified", "Contacted", 4, 3), BackwardMove("Contacted", "New", 1, 1),
        BackwardMove("Won", "Negotiation", 1, 1)]


def test_the_scope_decides_whose_stays_count(history):
    only_b = live_leads().where(live_leads().selected_columns[0] == history["B"])
    rows = _table(stage_times(only_b, _pipeline_id(), OCT_START, OCT_END, NOW))
    assert rows["New"] == (1, 2.0, 2.0, 0, None) and rows["Qualified"] == (1, 4.0, 4.0, 1, 22.5)
    assert [lead.lead_id for lead in stuck_leads(only_b, _pipeline_id(), NOW)] == [history["B"]]
