"""A form's own question answered by a visitor, then read and edited from the keyboard on a phone."""

from __future__ import annotations

import uuid

from playwright.sync_api import expect

from tests.e2e.conftest import sign_in
from tests.e2e.test_field_reviews import MIN_FILL_SECONDS

PHONE = {"width": 390, "height": 844}
LONG_WORD = "https://example.com/" + "a" * 120


def fits_the_screen(page) -> bool:
    return page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")


def test_a_custom_field_is_edited_added_and_removed_from_the_keyboard_at_phone_width(new_page, live_server):
    page = new_page(viewport=PHONE)
    email = f"custom-{uuid.uuid4().hex[:8]}@example.com"
    page.goto("/f/demo-contact")
    page.get_by_label("First name").fill("Katherine")
    page.get_by_label("Last name").fill("Johnson")
    page.get_by_label("Work email").fill(email)
    page.get_by_label("How can we help?").fill(f"We need a quote.\nSee {LONG_WORD}")
    page.wait_for_timeout(MIN_FILL_SECONDS * 1000 + 300)
    page.get_by_role("button", name="Send").click()
    expect(page.get_by_role("status")).to_contain_text("Thank you")

    sign_in(page)
    page.goto(f"{live_server}/leads?q={email}")
    page.get_by_role("link", name="Katherine Johnson").first.click()
    panel = page.locator("#custom-fields")
    expect(panel.get_by_role("heading", name="More details")).to_be_visible()
    expect(panel).to_contain_text("How can we help?")
    expect(panel).to_contain_text("We need a quote.")
    assert fits_the_screen(page), "a long value must wrap at phone width"
    # the timeline names the answer by the form's label, one line per field
    expect(page.locator("#timeline .entry-details")).to_contain_text("How can we help?")

    # edit: the Edit link from the keyboard, the editor takes the focus, Tab to Save
    panel.get_by_role("link", name="Edit how can we help?").focus()
    page.keyboard.press("Enter")
    editor = panel.get_by_role("textbox", name="How can we help?")
    expect(editor).to_be_focused()
    page.keyboard.press("ControlOrMeta+a")
    page.keyboard.type("Quote for 40 seats")
    page.keyboard.press("Enter")
    page.keyboard.type("Call after 3pm")
    page.keyboard.press("Tab")
    expect(panel.get_by_role("button", name="Save")).to_be_focused()
    page.keyboard.press("Enter")
    expect(panel).to_contain_text("Saved.")
    expect(panel.locator(".multiline").first).to_have_text("Quote for 40 seats\nCall after 3pm")
    expect(page.locator("#lead-history")).to_contain_text("How can we help?")

    # Escape leaves an editor without saving
    panel.get_by_role("link", name="Edit how can we help?").focus()
    page.keyboard.press("Enter")
    expect(panel.get_by_role("textbox", name="How can we help?")).to_be_focused()
    page.keyboard.type(" and more")
    page.keyboard.press("Escape")
    expect(panel.get_by_role("textbox", name="How can we help?")).to_have_count(0)
    expect(panel.locator(".multiline").first).to_have_text("Quote for 40 seats\nCall after 3pm")

    # add a field: open "Add a field", Tab through name, value and the button
    panel.get_by_text("Add a field").focus()
    page.keyboard.press("Enter")
    page.keyboard.press("Tab")
    expect(panel.get_by_label("Name")).to_be_focused()
    page.keyboard.type("Budget")
    page.keyboard.press("Tab")
    page.keyboard.type("€40,000")
    page.keyboard.press("Tab")
    page.keyboard.press("Enter")
    expect(panel).to_contain_text("Added “Budget”.")
    expect(panel.locator("dt", has_text="Budget")).to_be_visible()
    assert fits_the_screen(page)

    # remove it again (the browser asks first)
    page.once("dialog", lambda dialog: dialog.accept())
    panel.get_by_role("link", name="Edit budget").focus()
    page.keyboard.press("Enter")
    expect(panel.get_by_role("textbox", name="Budget")).to_be_focused()
    panel.get_by_role("button", name="Remove").focus()
    page.keyboard.press("Enter")
    expect(panel).to_contain_text("Removed “Budget”.")
    expect(panel.locator("dt", has_text="Budget")).to_have_count(0)
