"""A visitor fills the embedded capture form on another site; the lead arrives with its campaign."""

from __future__ import annotations

import re
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import sign_in

MIN_FILL_SECONDS = 3  # the server's default minimum fill time


@pytest.fixture
def host_site(live_server):
    """A second site on another port whose page embeds /f/demo-contact with the snippet."""
    html = (f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Customer site</title></head>'
            f'<body><h1>Talk to us</h1><script src="{live_server}/f/demo-contact/embed.js" async></script>'
            f'</body></html>').encode()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 (http.server's name)
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(html)))
            self.end_headers()
            self.wfile.write(html)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def test_embedded_form_on_another_site_creates_a_lead_with_its_campaign(page, host_site, live_server):
    email = f"visitor-{uuid.uuid4().hex[:8]}@example.com"
    landing = f"{host_site}/pricing?utm_source=spring-news&utm_campaign=launch"
    page.goto(landing)
    frame_element = page.locator("iframe[data-leadflow-form=demo-contact]")
    expect(frame_element).to_be_visible()
    frame = page.frame_locator("iframe[data-leadflow-form=demo-contact]")
    frame.get_by_label("First name").fill("Grace")
    frame.get_by_label("Last name").fill("Hopper")
    frame.get_by_label("Work email").fill(email)
    frame.get_by_label("How can we help?").fill("We need a demo")
    frame.get_by_label(re.compile("product news")).check()
    page.wait_for_timeout(MIN_FILL_SECONDS * 1000 + 300)  # a person takes longer than a bot
    frame.get_by_role("button", name="Send").click()
    expect(frame.get_by_role("status")).to_contain_text("Thank you")
    # The frame shrinks to the short thank-you instead of leaving a tall blank box on the site.
    page.wait_for_function("() => document.querySelector('iframe[data-leadflow-form]').offsetHeight < 250")

    sign_in(page)
    page.goto(f"{live_server}/leads?q={email}")
    page.get_by_role("link", name="Grace Hopper").first.click()
    expect(page.locator("#field-utm_source")).to_contain_text("spring-news")
    expect(page.locator("#field-landing_page")).to_contain_text(f"{host_site}/pricing")


def test_a_refused_form_names_every_problem_and_starts_at_the_first(page):
    page.goto("/f/demo-contact")
    page.get_by_label("Work email").fill("not-an-email")
    page.wait_for_timeout(MIN_FILL_SECONDS * 1000 + 300)
    page.get_by_role("button", name="Send").click()
    expect(page.get_by_role("alert")).to_contain_text("Please correct the fields marked below")
    expect(page.get_by_text("Please fill in “First name”")).to_be_visible()
    expect(page.get_by_text("not a valid email")).to_be_visible()
    expect(page.get_by_label("First name")).to_be_focused()
    expect(page.get_by_label("Work email")).to_have_value("not-an-email")


def _page_width(page) -> int:
    return page.evaluate("document.documentElement.scrollWidth")


def test_capture_tokens_and_merge_screens_fit_a_phone(new_page, live_db):
    page = new_page(viewport={"width": 390, "height": 800})
    sign_in(page)
    [(form_id,)] = live_db("SELECT id FROM capture_forms WHERE slug = 'demo-contact'")
    page.goto(f"/settings/forms/{form_id}")
    expect(page.get_by_role("heading", name="Preview")).to_be_attached()
    assert _page_width(page) <= 390, "the form builder's field table widens the page"

    page.goto("/settings/api-tokens")
    page.get_by_label("Name").fill(f"Phone check {uuid.uuid4().hex[:6]}")
    page.get_by_role("button", name="Create token").click()
    expect(page.get_by_text("shown only this once")).to_be_visible()
    assert _page_width(page) <= 390, "the token table widens the page"

    (first,), (second,) = live_db("SELECT id FROM leads WHERE deleted_at IS NULL ORDER BY id LIMIT 2")
    page.goto(f"/leads/{first}/merge?with={second}")
    choice = page.locator("#choice-email-absorbed")
    expect(choice).to_be_visible()
    assert _page_width(page) <= 390, "the merge table widens the page"
    box = page.locator("label[for=choice-email-absorbed]").bounding_box()
    assert box["x"] + box["width"] <= 390, "the merged-in lead's values are off screen"
