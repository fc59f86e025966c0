"""The demo admin reassigns two leads from the lead list's bulk bar, mostly by keyboard, then every
lead of a filter; the bulk bar also fits a phone screen."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import sign_in

pytestmark = pytest.mark.e2e


def test_admin_reassigns_two_ticked_leads_from_the_bulk_bar(page, live_db):
    sign_in(page)
    page.goto("/leads")
    boxes = page.locator("[data-bulk-item]")
    lead_ids = [int(boxes.nth(i).get_attribute("value")) for i in (0, 1)]
    owners_of = "SELECT owner_id FROM leads WHERE id IN (?, ?)"
    owners = {row[0] for row in live_db(owners_of, tuple(lead_ids))}
    target_id, target_name = next(
        (uid, name) for uid, name in live_db("SELECT id, name FROM users WHERE active = 1 AND role != 'viewer' "
                                             "ORDER BY id")
        if uid not in owners)

    for i in (0, 1):  # tick by keyboard: focus the row's box, press Space
        boxes.nth(i).focus()
        page.keyboard.press("Space")
        expect(boxes.nth(i)).to_be_checked()
    expect(page.locator("[data-bulk-count]")).to_have_text("2 selected.")
    page.get_by_label("Action", exact=True).select_option("reassign")
    page.get_by_label("Reassign to").select_option(str(target_id))
    expect(page.get_by_label("Reassign to")).to_have_value(str(target_id))
    page.get_by_role("button", name="Apply to selected leads").focus()
    page.keyboard.press("Enter")

    expect(page.locator(".flash").first).to_contain_text("Reassigned 2 leads.")
    rows = live_db(owners_of, tuple(lead_ids))
    assert [row[0] for row in rows] == [target_id, target_id], f"both leads should now belong to {target_name}"


def test_the_bulk_bar_is_usable_at_phone_width(new_page):
    page = new_page(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
    sign_in(page)
    page.goto("/leads")
    bar = page.locator("fieldset.bulk-bar")
    expect(bar).to_be_visible()
    width = page.evaluate("window.innerWidth")
    for control in (bar, page.get_by_label("Action", exact=True), page.get_by_label("Reassign to"),
                    page.get_by_label("The leads ticked below"), page.locator("label[for=bulk-scope-filter]"),
                    page.get_by_role("button", name="Apply to selected leads")):
        control.scroll_into_view_if_needed()
        expect(control).to_be_visible()
        box = control.bounding_box()
        assert box["x"] >= 0 and box["x"] + box["width"] <= width + 1, f"{control} overflows the {width}px screen"
    assert page.evaluate("(el) => el.scrollWidth <= el.clientWidth + 1", bar.element_handle()), \
        "the bulk bar's content is wider than the bar"
    page.locator("[data-bulk-item]").first.tap()
    expect(page.locator("[data-bulk-count]")).to_have_text("1 selected.")


def test_admin_reassigns_every_lead_of_a_filter_by_keyboard_and_sees_the_outcome(page, live_db):
    sign_in(page)
    lead_id, email, owner_id = live_db("SELECT id, email, owner_id FROM leads WHERE deleted_at IS NULL "
                                       "AND email IS NOT NULL ORDER BY id DESC LIMIT 1")[0]
    target_id = next(uid for (uid,) in live_db("SELECT id FROM users WHERE active = 1 AND role != 'viewer' "
                                               "ORDER BY id") if uid != owner_id)
    page.goto(f"/leads?q={email}")
    every = page.get_by_label("All 1 lead matching this filter")
    every.focus()
    page.keyboard.press("Space")
    expect(every).to_be_checked()
    expect(page.locator("[data-bulk-count]")).to_have_text("Every lead of the list is selected.")
    page.get_by_label("Action", exact=True).select_option("reassign")
    page.get_by_label("Reassign to").select_option(str(target_id))
    page.get_by_role("button", name="Apply to selected leads").focus()
    page.keyboard.press("Enter")

    expect(page.locator(".flash").first).to_contain_text("Reassigned 1 lead.")
    assert live_db("SELECT owner_id FROM leads WHERE id = ?", (lead_id,))[0][0] == target_id
