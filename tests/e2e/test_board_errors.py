"""A board move that fails is never silent: the message shows in the page and the card goes
back to the column the server says it is in."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import drag_card, sign_in

pytestmark = pytest.mark.e2e

MOVE_URL = re.compile(r"/pipeline/move(\?|$)")


def _open_board(page):
    sign_in(page)
    page.goto("/pipeline")
    expect(page.locator(".board")).to_be_visible()
    columns = page.locator(".cards")
    source, target = columns.nth(0), columns.nth(1)
    card = source.locator(".card[data-draggable]").first
    expect(card).to_be_visible()
    return source, target, card, card.get_attribute("data-lead-id")


def _is_move(response) -> bool:
    return bool(MOVE_URL.search(response.url)) and response.request.method == "POST"


def test_a_drag_with_an_expired_csrf_token_says_so_and_puts_the_card_back(page, live_db):
    source, target, card, lead_id = _open_board(page)
    stage_before = live_db("SELECT stage_id FROM leads WHERE id = ?", (int(lead_id),))
    assert stage_before == [(int(source.get_attribute("data-stage-id")),)]
    # The token the page was served with no longer matches the session (as after a long idle).
    page.evaluate("""document.body.setAttribute("hx-headers", JSON.stringify({"X-CSRFToken": "expired"}))""")

    with page.expect_response(_is_move) as moved:
        drag_card(page, card, target)
    assert moved.value.status == 400

    expect(page.locator("#flash-area [role=alert]")).to_have_text(
        "Your session expired — reload the page to continue.")
    expect(source.locator(f"#card-{lead_id}")).to_be_visible()
    expect(target.locator(f"#card-{lead_id}")).to_have_count(0)
    assert live_db("SELECT stage_id FROM leads WHERE id = ?", (int(lead_id),)) == stage_before


def test_a_drag_that_cannot_reach_the_server_says_so_and_puts_the_card_back(page, live_db):
    source, target, card, lead_id = _open_board(page)
    stage_before = live_db("SELECT stage_id FROM leads WHERE id = ?", (int(lead_id),))
    page.route(MOVE_URL, lambda route: route.abort("connectionrefused"))

    drag_card(page, card, target)

    expect(page.locator("#flash-area [role=alert]")).to_have_text("Could not reach LeadFlow — check your connection.")
    expect(source.locator(f"#card-{lead_id}")).to_be_visible()
    expect(target.locator(f"#card-{lead_id}")).to_have_count(0)
    assert live_db("SELECT stage_id FROM leads WHERE id = ?", (int(lead_id),)) == stage_before


def test_a_drag_of_a_card_changed_meanwhile_says_so_and_shows_the_board_as_it_is(page, live_db):
    source, target, card, lead_id = _open_board(page)
    stage_before = live_db("SELECT stage_id FROM leads WHERE id = ?", (int(lead_id),))
    card.evaluate("card => { card.dataset.version = String(Number(card.dataset.version) - 1); }")

    with page.expect_response(_is_move) as moved:
        drag_card(page, card, target)
    assert moved.value.status == 409

    expect(page.locator("#board [role=alert]")).to_contain_text("was changed by someone else meanwhile")
    expect(page.locator(f".cards[data-stage-id='{stage_before[0][0]}'] #card-{lead_id}")).to_be_visible()
    assert live_db("SELECT stage_id FROM leads WHERE id = ?", (int(lead_id),)) == stage_before
