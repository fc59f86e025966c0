"""The sweep that keeps the closed months before anyone asks, against the hand-checked
workspace of ``conftest.py``: Ann (rep, New York), Bob and Cid (reps), Meg (manager of team
East) and the admin, all but Ann on UTC."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from leadflow.accounts.models import User
from leadflow.dashboard import jobs, kept, month, queries
from leadflow.dashboard.models import MonthlyFigures
from leadflow.dashboard.scope import scope_for
from leadflow.extensions import db
from leadflow.governance.money import current_rates

from tests.dashboard.conftest import NOW


def _kept():
    rows = db.session.scalars(db.select(MonthlyFigures))
    return sorted((r.scope_kind, r.scope_id, r.zone, r.month.isoformat(), r.id, r.computed_at) for r in rows)


def _scopes(rows):
    return {(kind, scope_id, zone) for kind, scope_id, zone, *_ in rows}


def test_the_sweep_keeps_each_scope_the_home_page_shows_in_its_viewers_zone(world):
    active = db.session.scalar(db.select(db.func.count()).select_from(User).where(User.active.is_(True)))
    missing = jobs.keep_closed_months(NOW)
    rows = _kept()
    expected = {("person", world.ann.id, "America/New_York"), ("team", world.ann.team_id, "UTC"),
                ("everyone", 0, "UTC")} | {("person", u.id, "UTC") for u in (world.bob, world.cid, world.meg, world.admin)}
    assert expected <= _scopes(rows)
    assert len(_scopes(rows)) == active + 2   # each active user's own, Meg's team, everyone's (once: one zone)
    assert missing == len(rows) == 5 * len(_scopes(rows))
    assert {r[3] for r in rows} == {f"2026-{m:02}-01" for m in (7, 8, 9, 10, 11)}


def test_running_the_sweep_again_changes_nothing(world):
    jobs.keep_closed_months(NOW)
    first = _kept()
    assert jobs.keep_closed_months(NOW) == 0
    assert _kept() == first


def test_an_inactive_user_gets_no_figures_kept(world):
    world.cid.active = False
    db.session.flush()
    jobs.keep_closed_months(NOW)
    assert ("person", world.cid.id, "UTC") not in _scopes(_kept())


def test_a_month_later_the_sweep_adds_only_the_month_that_closed(world):
    jobs.keep_closed_months(NOW)
    before = _kept()
    january = datetime(2027, 1, 2, 12, tzinfo=UTC)
    assert jobs.keep_closed_months(january) == len(_scopes(before))
    after = _kept()
    assert set(before) < set(after)
    assert {r[3] for r in set(after) - set(before)} == {"2026-12-01"}


@pytest.mark.parametrize("who, view", [("ann", "me"), ("meg", "team"), ("admin", "all")])
def test_a_viewer_after_the_sweep_reads_what_working_it_out_live_gives(world, monkeypatch, who, view):
    viewer = getattr(world, who)
    scope = scope_for(viewer, view)
    starts = month.month_starts(queries.user_zone(viewer), NOW)
    live = month.figures(month.closed_months(scope, starts, NOW) + [month.current_month(scope, starts)],
                         current_rates())
    jobs.keep_closed_months(NOW)
    monkeypatch.setattr(kept, "closed_months", lambda *a: pytest.fail("the viewer worked a month out"))
    shown = queries.month_context(scope, viewer, NOW)
    for name in ("won_value", "won_count", "response", "pipeline"):
        assert shown[name] == live[name], name
