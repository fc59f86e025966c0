"""Webhook addresses are checked, calls are signed, retried with back-off and sent once."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest

from leadflow.db import utcnow
from leadflow.extensions import db
from leadflow.workflows import webhooks
from leadflow.workflows.models import WebhookDelivery
from leadflow.workflows.webhooks import WebhookUrlRefused, check_url, deliver_webhooks


@pytest.fixture
def public_dns(monkeypatch):
    answers = {"hooks.example.com": ["93.184.216.34"], "intranet.example.com": ["10.1.2.3"],
               "mixed.example.com": ["93.184.216.34", "192.168.1.5"]}
    monkeypatch.setattr(webhooks, "resolve", lambda host, port: answers.get(host) or [host])
    return answers


@pytest.mark.parametrize("url", [
    "http://127.0.0.1/hook", "http://10.0.0.8/hook", "http://169.254.169.254/latest/meta-data",
    "http://[::1]/hook", "http://[::ffff:127.0.0.1]/hook", "https://intranet.example.com/hook",
    "https://mixed.example.com/hook", "http://0.0.0.0/", "http://224.0.0.1/",
])
def test_private_and_local_addresses_are_refused(app, public_dns, url):
    with pytest.raises(WebhookUrlRefused, match="private or local"):
        check_url(url)


@pytest.mark.parametrize("url, message", [
    ("ftp://hooks.example.com/x", "https://"), ("file:///etc/passwd", "https://"), ("", "Enter the address"),
    ("https://user:pw@hooks.example.com/", "user name"),
])
def test_other_bad_addresses_say_why(app, public_dns, url, message):
    with pytest.raises(WebhookUrlRefused, match=message):
        check_url(url)


def test_a_public_address_is_accepted(app, public_dns):
    assert check_url("https://hooks.example.com/lead")[1:] == ("hooks.example.com", 443, "93.184.216.34")


def _ipv6_forms(ipv4: str) -> dict[str, str]:
    """The IPv6 addresses that carry ``ipv4``: 6to4, Teredo (client bits inverted), NAT64, mapped."""
    import ipaddress

    value = int(ipaddress.IPv4Address(ipv4))
    teredo_server = int(ipaddress.IPv4Address("65.54.227.120"))
    return {
        "6to4": str(ipaddress.IPv6Address((0x2002 << 112) | (value << 80))),
        "teredo": str(ipaddress.IPv6Address((0x20010000 << 96) | (teredo_server << 64) | (value ^ 0xFFFFFFFF))),
        "nat64": str(ipaddress.IPv6Address(int(ipaddress.IPv6Address("64:ff9b::")) | value)),
        "mapped": f"::ffff:{ipv4}",
    }


@pytest.mark.parametrize("inner", ["10.0.0.1", "127.0.0.1", "192.168.1.1", "169.254.169.254"])
@pytest.mark.parametrize("form", ["6to4", "teredo", "nat64", "mapped"])
def test_ipv6_forms_of_a_private_ipv4_are_refused(app, public_dns, inner, form):
    address = _ipv6_forms(inner)[form]
    with pytest.raises(WebhookUrlRefused, match="private or local"):
        check_url(f"http://[{address}]/hook")
    public_dns["sneaky.example.com"] = [address]  # the same through a name
    with pytest.raises(WebhookUrlRefused, match="private or local"):
        check_url("https://sneaky.example.com/hook")


@pytest.mark.parametrize("address", ["::10.0.0.1", "::127.0.0.1", "::169.254.169.254"])
def test_ipv4_compatible_addresses_are_refused(app, public_dns, address):
    with pytest.raises(WebhookUrlRefused, match="private or local"):
        check_url(f"http://[{address}]/hook")


@pytest.mark.parametrize("form", ["6to4", "teredo", "nat64"])
def test_ipv6_forms_of_a_public_ipv4_are_accepted(app, public_dns, form):
    address = _ipv6_forms("93.184.216.34")[form]
    assert check_url(f"http://[{address}]/hook")[3] == address


def test_private_forms_are_allowed_when_private_receivers_are(app, public_dns):
    app.config["WEBHOOK_ALLOW_PRIVATE"] = True
    address = _ipv6_forms("10.0.0.1")["6to4"]
    assert check_url(f"http://[{address}]/hook")[3] == address


def _delivery(make_rule, make_lead, url="https://hooks.example.com/lead", key="k1"):
    rule = make_rule("lead_created", [])
    lead = make_lead()
    webhooks.queue_delivery(rule=rule, lead=lead, url=url, payload={"lead": {"id": lead.id}}, delivery_key=key)
    webhooks.queue_delivery(rule=rule, lead=lead, url=url, payload={"lead": {"id": lead.id}}, delivery_key=key)
    db.session.commit()
    return rule, db.session.scalar(db.select(WebhookDelivery).where(WebhookDelivery.delivery_key == key))


def test_delivery_is_signed_and_sent_once(make_rule, make_lead, monkeypatch, public_dns):
    sent = []
    monkeypatch.setattr(webhooks, "post", lambda url, body, headers: sent.append((url, body, headers)) or 200)
    rule, delivery = _delivery(make_rule, make_lead)
    assert db.session.scalar(db.select(db.func.count()).select_from(WebhookDelivery)) == 1
    assert [deliver_webhooks(utcnow()) for _ in range(3)] == [1, 0, 0]
    (url, body, headers), = sent
    assert webhooks.verify_signature("s3cret-for-tests", headers["X-LeadFlow-Signature"], body)
    db.session.refresh(delivery)
    assert delivery.state == "delivered" and delivery.response_code == 200


def _receiver_check(secret: str, header: str, body: bytes, now: float) -> bool:
    """The README's verification, word for word, as a receiver would write it."""
    parts = dict(item.split("=", 1) for item in header.split(","))
    timestamp = int(parts["t"])
    if abs(now - timestamp) > 300:
        return False
    expected = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, parts["v1"])


def test_signature_carries_a_timestamp_and_verifies_only_for_this_body_and_time(
        make_rule, make_lead, monkeypatch, public_dns):
    sent = []
    monkeypatch.setattr(webhooks, "post", lambda url, body, headers: sent.append((body, headers)) or 200)
    _delivery(make_rule, make_lead)
    before = int(time.time())
    deliver_webhooks(utcnow())
    (body, headers), = sent
    header = headers["X-LeadFlow-Signature"]
    timestamp = int(headers["X-LeadFlow-Timestamp"])
    assert before <= timestamp <= time.time()
    assert header == f"t={timestamp},v1=" + hmac.new(
        b"s3cret-for-tests", f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    secret = "s3cret-for-tests"
    for check in (webhooks.verify_signature, _receiver_check):
        assert check(secret, header, body, now=timestamp + 299)
        assert not check(secret, header, body.replace(b"{", b"{ ", 1), now=timestamp)  # tampered body
        assert not check(secret, header, body, now=timestamp + 301)  # an old call replayed
        assert not check("another-secret", header, body, now=timestamp)
    # a replayed body under a fresh timestamp needs the secret
    forged = header.replace(f"t={timestamp}", f"t={timestamp + 3600}")
    assert not webhooks.verify_signature(secret, forged, body, now=timestamp + 3600)
    for junk in (None, "", "sha256=abc", "t=x,v1=00", f"v1={header.split('v1=')[1]}"):
        assert not webhooks.verify_signature(secret, junk, body, now=timestamp)


def test_failed_calls_are_retried_with_backoff_then_given_up(make_rule, make_lead, monkeypatch, public_dns):
    monkeypatch.setattr(webhooks, "post", lambda url, body, headers: 503)
    _, delivery = _delivery(make_rule, make_lead)
    now = utcnow()
    assert deliver_webhooks(now) == 1
    db.session.refresh(delivery)
    assert delivery.state == "pending" and delivery.attempts == 1 and delivery.response_code == 503
    assert "HTTP 503" in delivery.last_error
    assert deliver_webhooks(now + timedelta(seconds=5)) == 0  # backing off
    for step in range(1, webhooks.MAX_ATTEMPTS):
        now = now + timedelta(hours=2)
        assert deliver_webhooks(now) == 1
    db.session.refresh(delivery)
    assert delivery.state == "failed" and delivery.attempts == webhooks.MAX_ATTEMPTS
    assert deliver_webhooks(now + timedelta(days=1)) == 0


def test_a_url_that_turns_private_is_refused_at_call_time(make_rule, make_lead, public_dns):
    _, delivery = _delivery(make_rule, make_lead, url="https://hooks.example.com/lead")
    public_dns["hooks.example.com"] = ["10.9.9.9"]
    deliver_webhooks(utcnow())
    db.session.refresh(delivery)
    assert delivery.state == "pending" and "private or local" in delivery.last_error


def test_real_delivery_to_a_local_receiver(make_rule, make_lead, app):
    received = []

    class Receiver(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802
            body = self.rfile.read(int(self.headers["Content-Length"]))
            received.append((body, self.headers["X-LeadFlow-Signature"]))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", 0), Receiver)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    app.config["WEBHOOK_ALLOW_PRIVATE"] = True
    try:
        _, delivery = _delivery(make_rule, make_lead, url=f"http://127.0.0.1:{server.server_port}/hook")
        assert deliver_webhooks(utcnow()) == 1
    finally:
        server.shutdown()
        server.server_close()
    (body, signature), = received
    assert json.loads(body)["lead"]["id"] == delivery.lead_id
    assert webhooks.verify_signature("s3cret-for-tests", signature, body)
    db.session.refresh(delivery)
    assert delivery.state == "delivered" and delivery.response_code == 204


def test_redirects_are_not_followed(make_rule, make_lead, app):
    hits = []

    class Redirector(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802
            hits.append(self.path)
            self.send_response(302)
            self.send_header("Location", "http://169.254.169.254/")
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", 0), Redirector)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    app.config["WEBHOOK_ALLOW_PRIVATE"] = True
    try:
        _, delivery = _delivery(make_rule, make_lead, url=f"http://127.0.0.1:{server.server_port}/hook")
        deliver_webhooks(utcnow())
    finally:
        server.shutdown()
        server.server_close()
    db.session.refresh(delivery)
    assert hits == ["/hook"] and delivery.response_code == 302 and delivery.state == "pending"


def _failed_webhook_run(make_rule, make_lead, monkeypatch):
    """A rule whose webhook call got HTTP 500 on every attempt; returns (rule, lead, delivery)."""
    from leadflow.workflows.services import run_rule

    monkeypatch.setattr(webhooks, "post", lambda url, body, headers: 500)
    lead = make_lead(first_name="Hooked")
    rule = make_rule("lead_created", [{"type": "add_tag", "tag": "hooked"},
                                      {"type": "call_webhook", "url": "https://hooks.example.com/lead"}],
                     name="Tell the shop")
    run_rule(rule, lead, {"trigger": "lead_created"})
    db.session.commit()
    now = utcnow()
    for _ in range(webhooks.MAX_ATTEMPTS):
        deliver_webhooks(now)
        now += timedelta(hours=2)
    delivery = db.session.scalar(db.select(WebhookDelivery))
    assert delivery.state == "failed"
    return rule, lead, delivery


def test_run_log_shows_each_webhook_call_with_status_error_and_attempts(login_as, make_rule, make_lead,
                                                                       monkeypatch, public_dns):
    rule, _, delivery = _failed_webhook_run(make_rule, make_lead, monkeypatch)
    _, client = login_as("admin")
    page = client.get(f"/settings/workflows/{rule.id}/runs").get_data(as_text=True)
    assert "call webhook: webhook call queued" in page
    assert "Failed" in page and f"{webhooks.MAX_ATTEMPTS} attempts" in page and "last answer HTTP 500" in page
    assert "The receiver answered HTTP 500." in page and "https://hooks.example.com/lead" in page
    assert f'/settings/workflows/{rule.id}/deliveries/{delivery.id}/retry' in page


def test_admin_retries_a_failed_webhook_call_once_more_with_an_audit_entry(login_as, make_rule, make_lead,
                                                                          monkeypatch, public_dns):
    from leadflow.governance.models import AuditEntry

    rule, _, delivery = _failed_webhook_run(make_rule, make_lead, monkeypatch)
    admin, client = login_as("admin")
    response = client.post(f"/settings/workflows/{rule.id}/deliveries/{delivery.id}/retry")
    assert response.status_code in (302, 303)
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "The webhook call will be sent again within a minute" in page and "Waiting to be sent" in page
    audit = db.session.scalar(db.select(AuditEntry).where(AuditEntry.entity_type == "webhook_delivery"))
    assert (audit.action, audit.actor_id, audit.entity_id) == ("retry", admin.id, delivery.id)

    monkeypatch.setattr(webhooks, "post", lambda url, body, headers: 204)
    assert deliver_webhooks(utcnow()) == 1
    db.session.refresh(delivery)
    assert (delivery.state, delivery.response_code, delivery.attempts) == ("delivered", 204, webhooks.MAX_ATTEMPTS + 1)
    page = client.get(f"/settings/workflows/{rule.id}/runs").get_data(as_text=True)
    assert "Delivered" in page and "HTTP 204" in page and "/retry" not in page


def test_a_retry_that_fails_again_is_failed_at_once(login_as, make_rule, make_lead, monkeypatch, public_dns):
    rule, _, delivery = _failed_webhook_run(make_rule, make_lead, monkeypatch)
    _, client = login_as("admin")
    client.post(f"/settings/workflows/{rule.id}/deliveries/{delivery.id}/retry")
    assert deliver_webhooks(utcnow()) == 1
    db.session.refresh(delivery)
    assert (delivery.state, delivery.attempts) == ("failed", webhooks.MAX_ATTEMPTS + 1)


def test_only_failed_calls_of_that_rule_can_be_retried_and_only_by_admins(login_as, make_rule, make_lead,
                                                                          monkeypatch, public_dns):
    rule, _, delivery = _failed_webhook_run(make_rule, make_lead, monkeypatch)
    other = make_rule("lead_created", [], name="Other")
    db.session.commit()
    _, client = login_as("manager")
    assert client.post(f"/settings/workflows/{rule.id}/deliveries/{delivery.id}/retry").status_code == 403
    db.session.refresh(delivery)
    assert delivery.state == "failed"

    with client.client.session_transaction() as session:
        session.clear()
    _, client = login_as("admin")
    assert client.post(f"/settings/workflows/{other.id}/deliveries/{delivery.id}/retry").status_code == 404
    assert client.post(f"/settings/workflows/{rule.id}/deliveries/99999/retry").status_code == 404
    client.post(f"/settings/workflows/{rule.id}/deliveries/{delivery.id}/retry")
    response = client.post(f"/settings/workflows/{rule.id}/deliveries/{delivery.id}/retry")  # now pending
    assert response.status_code in (302, 303)
    assert "Only a failed webhook call can be retried." in client.get(response.headers["Location"]).get_data(as_text=True)
