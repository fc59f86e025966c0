"""Team activity against a small hand-checked fortnight."""

from __future__ import annotations

from datetime import timedelta

import pytest

from leadflow.extensions import db
from leadflow.leads.models import Lead
from leadflow.reports.activity import NOBODY, team_activity

from tests.reports.team_helpers import END, START, activity, at, lead, live_lead_ids, move, task, trash

NOW = END + timedelta(days=1)


@pytest.fixture
def team(app, make_user):
    ann, bob = make_user("rep", name="Ann"), make_user("rep", name="Bob")
    cat = make_user("manager", name="Cat")
    a1, a2 = lead(at(1), owner_id=ann.id), lead(at(1), owner_id=ann.id)
    a3 = lead(at(1), owner_id=ann.id)
    b1, gone, nobodys = lead(at(1), owner_id=bob.id), lead(at(1), owner_id=ann.id), lead(at(1), owner_id=None)

    activity(a1, "call", at(4), ann)
    activity(a1, "call", at(12), ann)
    activity(b1, "email", at(5), ann)       # on Bob's lead: Ann's work
    activity(a1, "meeting", at(3), ann)     # before the period
    activity(a1, "note", at(6), ann)        # a note is not a call, e-mail or meeting
    activity(b1, "call", at(7), bob)
    activity(gone, "call", at(7), bob)      # the lead is in the trash
    activity(a1, "email", at(8), None)      # logged by the API: nobody's

    task(a1, at(5), ann, done=at(6), done_by=ann)
    task(a1, at(5), ann, done=at(9), done_by=cat)   # Cat ticked Ann's task: Cat did it
    task(a1, at(2), ann, done=at(3), done_by=ann)   # done before the period
    task(b1, at(10), bob)                           # open, due before now: overdue
    task(b1, NOW + timedelta(hours=1), bob)         # open, not due yet
    task(b1, at(10), bob, done=at(19), done_by=bob)  # late but done: not overdue
    task(gone, at(10), ann)                         # overdue, but the lead is in the trash

    move(a1, "Won", at(6))
    move(a2, "Won", at(5))
    move(a2, "Negotiation", at(7))                  # reopened…
    move(a2, "Won", at(9))                          # …and won again: one lead won
    move(a3, "Won", at(2))                          # before the period
    move(b1, "Lost", at(8))
    move(nobodys, "Lost", at(8))
    move(gone, "Won", at(8))
    trash(gone)
    return ann, bob, cat


def test_each_person_gets_what_they_did_and_unattributed_work_comes_last(team):
    ann, bob, cat = team
    report = team_activity(live_lead_ids(), START, END, NOW)
    assert [(r.name, r.calls, r.emails, r.meetings, r.tasks_done, r.tasks_overdue, r.won, r.lost)
            for r in report.rows] == [
        ("Ann", 2, 1, 0, 1, 0, 2, 0),
        ("Bob", 1, 0, 0, 0, 1, 0, 1),
        ("Cat", 0, 0, 0, 1, 0, 0, 0),
        (NOBODY, 0, 1, 0, 0, 0, 0, 1),
    ]
    assert [r.user_id for r in report.rows] == [ann.id, bob.id, cat.id, None]
    total = report.total
    assert (total.calls, total.emails, total.meetings, total.tasks_done, total.tasks_overdue, total.won,
            total.lost) == (3, 2, 0, 2, 1, 2, 2)


def test_an_empty_period_still_shows_overdue_tasks_and_nothing_else(team):
    _, bob, _ = team
    report = team_activity(live_lead_ids(), at(1, month=6), at(15, month=6), NOW)
    assert [(r.name, r.figures()) for r in report.rows] == [("Bob", [0, 0, 0, 0, 1, 0, 0])]


def test_the_scope_keeps_work_on_the_leads_in_it_whoever_did_it(team):
    ann, bob, _ = team
    bobs = live_lead_ids().where(Lead.owner_id == bob.id)
    report = team_activity(bobs, START, END, NOW)
    # Ann's e-mail on Bob's lead stays Ann's; her own leads are out of scope
    assert [(r.name, r.figures()) for r in report.rows] == [
        ("Bob", [1, 0, 0, 0, 1, 0, 1]),
        ("Ann", [0, 1, 0, 0, 0, 0, 0]),
    ]


def test_with_no_leads_at_all_the_report_is_empty(app):
    report = team_activity(db.select(Lead.id).where(Lead.deleted_at.is_(None)), START, END, NOW)
    assert report.rows == [] and report.total.figures() == [0] * 7
