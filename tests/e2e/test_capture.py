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

    sign_in(page)
    page.goto(f"{live_server}/leads?q={email}")
    page.get_by_role("link", name="Grace Hopper").first.click()
    expect(page.locator("#field-utm_source")).to_contain_text("spring-news")
    expect(page.locator("#field-landing_page")).to_contain_text(f"{host_site}/pricing")
