"""The board in a real browser: drag a card to another column; the move is saved and shown."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import drag_card, sign_in

pytestmark = pytest.mark.e2e


def _count(page, stage_id: str) -> int:
    text = page.locator(f"#column-head-{stage_id} .column-count").get_attribute("data-count")
    return int(text)


def test_drag_a_card_to_the_next_column_updates_headers_and_is_saved(page, live_db):
    sign_in(page)
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Pipeline").click()
    expect(page.locator(".board")).to_be_visible()

    columns = page.locator(".cards")
    source, target = columns.nth(0), columns.nth(1)
    source_id, target_id = source.get_attribute("data-stage-id"), target.get_attribute("data-stage-id")
    card = source.locator(".card[data-draggable]").first
    expect(card).to_be_visible()
    lead_id = card.get_attribute("data-lead-id")
    name = card.locator(".card-name").inner_text().strip()
    before_source, before_target = _count(page, source_id), _count(page, target_id)

    page.evaluate("window.__e2eSameDocument = true")
    with page.expect_response(lambda r: r.url.split("?")[0].endswith("/pipeline/move") and r.request.method == "POST") as moved:
        drag_card(page, card, target)
    assert moved.value.status == 200

    # Both headers changed in place, and the card sits in the target column.
    expect(page.locator(f"#column-head-{source_id} .column-count")).to_have_attribute("data-count", str(before_source - 1))
    expect(page.locator(f"#column-head-{target_id} .column-count")).to_have_attribute("data-count", str(before_target + 1))
    expect(target.locator(f"#card-{lead_id}")).to_be_visible()
    assert page.evaluate("window.__e2eSameDocument === true"), "the move reloaded the page"

    # Saved in the server's database: the lead's stage, and a StageChange row for the move.
    assert live_db("SELECT stage_id FROM leads WHERE id = ?", (int(lead_id),)) == [(int(target_id),)]
    assert live_db("SELECT COUNT(*) FROM stage_changes WHERE lead_id = ? AND from_stage_id = ? AND to_stage_id = ?",
                   (int(lead_id), int(source_id), int(target_id))) == [(1,)]

    # A fresh load of the board shows it there, and the lead's history records the move.
    page.reload()
    expect(page.locator(f"#cards-{target_id} #card-{lead_id}")).to_be_visible()
    assert _count(page, target_id) == before_target + 1
    page.goto(f"/leads/{lead_id}")
    expect(page.get_by_role("heading", name=name, level=1)).to_be_visible()
    expect(page.locator("#lead-history")).to_contain_text("Stage")
    expect(page.locator("#field-stage_id .field-value")).not_to_have_text(re.compile(r"^New\b"))


def test_move_to_control_works_from_the_keyboard(page):
    sign_in(page)
    page.goto("/pipeline")
    source = page.locator(".cards").nth(0)
    card = source.locator(".card[data-draggable]").first
    lead_id = card.get_attribute("data-lead-id")
    target_id = page.locator(".cards").nth(2).get_attribute("data-stage-id")
    opener = card.get_by_role("button", name=re.compile("Move .* to another stage"))
    opener.focus()
    page.keyboard.press("Enter")
    select = card.locator("select[name=stage_id]")
    expect(select).to_be_focused()
    select.select_option(target_id)
    page.keyboard.press("Tab")
    page.keyboard.press("Enter")
    expect(page.locator(f"#cards-{target_id} #card-{lead_id}")).to_be_visible()
    expect(source.locator(f"#card-{lead_id}")).to_have_count(0)


# Records, for each stage picker the page adds, whether htmx had already wired it up (its
# htmx:load fired) by the time the page's own scripts could next run: the browser may focus
# the picker's autofocus field on its next frame, and a key pressed there before htmx wires
# the form submits it natively, leaving the board for a bare POST /pipeline/move.
_WATCH_PICKERS = """() => {
  const wired = new Set();
  window.pickerWiredOnArrival = [];
  document.addEventListener("htmx:load", (event) => wired.add(event.detail.elt));
  new MutationObserver((records) => {
    for (const record of records) {
      for (const node of record.addedNodes) {
        if (node.matches && node.matches("form.move-form")) window.pickerWiredOnArrival.push(wired.has(node));
      }
    }
  }).observe(document.body, {childList: true, subtree: true});
}"""


def test_a_stage_picker_is_wired_up_before_it_can_take_a_key(page):
    sign_in(page)
    page.goto("/pipeline")
    page.evaluate(_WATCH_PICKERS)
    card = page.locator(".cards").nth(0).locator(".card[data-draggable]").first
    card.get_by_role("button", name=re.compile("Move .* to another stage")).click()
    expect(card.locator("select[name=stage_id]")).to_be_focused()
    assert page.evaluate("window.pickerWiredOnArrival") == [True]


def test_moving_to_lost_asks_for_a_reason_in_a_dialog(page):
    sign_in(page)
    page.goto("/pipeline")
    lost_column = page.locator(".board-column.kind-lost .cards")
    lost_id = lost_column.get_attribute("data-stage-id")
    card = page.locator(".cards").nth(1).locator(".card[data-draggable]").first
    lead_id = card.get_attribute("data-lead-id")
    card.get_by_role("button", name=re.compile("Move .* to another stage")).click()
    card.locator("select[name=stage_id]").select_option(lost_id)
    card.get_by_role("button", name="Move").click()

    dialog = page.locator("#board-dialog")
    expect(dialog).to_be_visible()
    expect(dialog.get_by_role("heading")).to_contain_text("as lost")
    dialog.get_by_label("Why was it lost?").fill("Went with a competitor")
    dialog.get_by_role("button", name="Mark as lost").click()

    expect(dialog).to_be_hidden()
    expect(page.locator(f"#cards-{lost_id} #card-{lead_id}")).to_be_visible()
    page.goto(f"/leads/{lead_id}")
    expect(page.locator("#lead-history")).to_contain_text("Went with a competitor")


def test_board_at_phone_width_scrolls_its_columns_not_the_page(new_page):
    page = new_page(viewport={"width": 390, "height": 844})
    sign_in(page)
    page.goto("/pipeline")
    expect(page.locator(".board")).to_be_visible()
    widths = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
    assert widths[0] <= widths[1], f"the page scrolls sideways: {widths}"
    assert page.evaluate("document.querySelector('.board-wrap').scrollWidth > window.innerWidth"), \
        "the columns should scroll inside the board"
