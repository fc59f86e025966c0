"""A form sent again with a known email and another phone: the owner sees it and chooses "Use new"."""

from __future__ import annotations

import uuid

from playwright.sync_api import expect

from tests.e2e.conftest import sign_in

MIN_FILL_SECONDS = 3  # the server's default minimum fill time


def send_form(page, email: str, phone: str) -> None:
    page.goto("/f/demo-contact")
    page.get_by_label("First name").fill("Grace")
    page.get_by_label("Last name").fill("Hopper")
    page.get_by_label("Work email").fill(email)
    page.get_by_label("Phone").fill(phone)
    page.wait_for_timeout(MIN_FILL_SECONDS * 1000 + 300)  # a person takes longer than a bot
    page.get_by_role("button", name="Send").click()
    expect(page.get_by_role("status")).to_contain_text("Thank you")


def test_a_differing_phone_waits_until_the_owner_uses_it(page, live_server):
    email = f"review-{uuid.uuid4().hex[:8]}@example.com"
    send_form(page, email, "+1 415 555 0132")
    send_form(page, email, "+44 20 7946 0000")

    sign_in(page)
    page.goto(f"{live_server}/leads?q={email}")
    page.get_by_role("link", name="Grace Hopper").first.click()
    expect(page.locator("#field-phone")).to_contain_text("415")
    panel = page.locator("#field-reviews")
    expect(panel).to_contain_text("Submitted phone differs: +442079460000")
    expect(page.get_by_role("link", name="1 submitted value to review")).to_be_visible()

    panel.get_by_role("button", name="Use new phone +442079460000").click()
    expect(page.locator("#field-reviews")).to_contain_text("Phone set to +442079460000.")
    expect(page.locator("#field-phone")).to_contain_text("7946")
    expect(page.locator("#field-reviews").get_by_role("button", name="Use new phone +442079460000")).to_have_count(0)
    expect(page.locator("#lead-history")).to_contain_text("+442079460000")
