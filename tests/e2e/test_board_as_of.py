"""The board as of a past day in a real browser: pick another day and a card is back where it stood."""

from __future__ import annotations

import re
from datetime import datetime, timedelta

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import sign_in

pytestmark = pytest.mark.e2e

# A lead of the default pipeline whose last move (into the stage it is in now) is more than
# three days old, with no other move in the five days before it: two days before that move it
# stood in the move's "from" stage, whatever the reader's time zone.
MOVED_LEAD = """
SELECT l.email, sc.from_stage_id, sc.to_stage_id, sc.at FROM stage_changes sc
JOIN leads l ON l.id = sc.lead_id JOIN stages s ON s.id = sc.to_stage_id JOIN pipelines p ON p.id = s.pipeline_id
WHERE sc.from_stage_id IS NOT NULL AND sc.to_stage_id = l.stage_id AND l.deleted_at IS NULL AND l.email IS NOT NULL
  AND p.is_default = 1 AND p.archived_at IS NULL AND sc.at < datetime('now', '-3 days')
  AND NOT EXISTS (SELECT 1 FROM stage_changes o WHERE o.lead_id = sc.lead_id AND o.id != sc.id
                  AND o.at > datetime(sc.at, '-5 days'))
ORDER BY sc.at DESC LIMIT 1
"""


def test_pick_an_earlier_day_and_the_card_is_in_its_past_column(page, live_db):
    email, from_stage, to_stage, at = live_db(MOVED_LEAD)[0]
    moved_at = datetime.fromisoformat(at)
    sign_in(page)
    page.goto(f"/pipeline?as_of={(moved_at + timedelta(days=2)).date().isoformat()}&q={email}")
    expect(page.get_by_role("status").filter(has_text="Past view, read-only")).to_be_visible()
    expect(page.locator(f"#cards-{to_stage} .card")).to_have_count(1)
    expect(page.locator(".card[data-draggable]")).to_have_count(0)
    expect(page.get_by_role("button", name="Move to…")).to_have_count(0)

    day = page.get_by_label("Show the board as it stood at the end of")
    day.fill((moved_at - timedelta(days=2)).date().isoformat())
    day.press("Enter")  # the keyboard submits the form, as the "Show that day" button does

    expect(page).to_have_url(re.compile(re.escape(f"as_of={(moved_at - timedelta(days=2)).date().isoformat()}")))
    expect(page.locator(f"#cards-{from_stage} .card")).to_have_count(1)
    expect(page.locator(f"#cards-{to_stage} .card")).to_have_count(0)
    page.get_by_role("link", name="Back to today's board").click()
    expect(page.locator(f"#cards-{to_stage} .card[data-draggable]")).to_have_count(1)
