"""Webhook calls: URL safety, signing, queueing and the delivery sweep.

A URL is checked when a rule is saved and again right before each call: http or https
only, and every address its host resolves to must be public (not loopback, private,
link-local, multicast, reserved or unspecified). An IPv6 address that carries an IPv4
address (IPv4-mapped ``::ffff:a.b.c.d``, 6to4 ``2002::/16``, Teredo ``2001::/32``, NAT64
``64:ff9b::/96``) is judged by the IPv4 addresses inside it; the deprecated IPv4-compatible
form ``::a.b.c.d`` is refused as reserved. The call
connects to the address that was checked (no second lookup), follows no redirects and
gives up after ``WEBHOOK_TIMEOUT_SECONDS``. ``WEBHOOK_ALLOW_PRIVATE`` lifts the address
check for a receiver on the same network.

Each call is signed Stripe-style: ``X-LeadFlow-Signature: t=<unix seconds>,v1=<hex>``, the
HMAC-SHA256 of ``"<t>.<body>"`` with the rule's secret (``verify_signature`` is how a
receiver checks it). The timestamp lets a receiver refuse a replayed call.

Each call is a ``WebhookDelivery`` row first (one per delivery key); the sweep claims due
rows under a lease, sends them, and records the response code or error, retrying with
back-off up to ``MAX_ATTEMPTS`` times.
"""

from __future__ import annotations

import hashlib
import hmac
import http.client
import ipaddress
import json
import logging
import socket
import ssl
import time
from datetime import datetime, timedelta
from urllib.parse import urlsplit

from flask import current_app
from sqlalchemy import or_, select

from leadflow.db import utcnow
from leadflow.errors import PermissionDenied, ValidationFailed
from leadflow.extensions import db
from leadflow.governance.audit import record_event
from leadflow.scheduler.claims import claim_due, insert_or_ignore
from leadflow.workflows.models import WebhookDelivery, WorkflowRule

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 6
LEASE_SECONDS = 120
BATCH = 20
SIGNATURE_HEADER = "X-LeadFlow-Signature"
TIMESTAMP_HEADER = "X-LeadFlow-Timestamp"
SIGNATURE_TOLERANCE_SECONDS = 300
NAT64 = ipaddress.ip_network("64:ff9b::/96")


class WebhookUrlRefused(ValueError):
    """The URL may not be called; the message says why, in words for the admin."""


def resolve(host: str, port: int) -> list[str]:
    """Every address ``host`` resolves to (tests replace this)."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return sorted({info[4][0] for info in infos})


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> list[ipaddress.IPv4Address] | None:
    """The IPv4 addresses a packet to ``ip`` really reaches, for the forms that carry one;
    None for an ordinary IPv6 address. For Teredo both the server and the client (its
    last 32 bits inverted) count."""
    if ip.ipv4_mapped is not None:
        return [ip.ipv4_mapped]
    if ip.sixtofour is not None:
        return [ip.sixtofour]
    if ip.teredo is not None:
        return list(ip.teredo)
    if ip in NAT64:
        return [ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)]
    return None


def _is_public_ip(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    return not (ip.is_loopback or ip.is_private or ip.is_link_local or ip.is_multicast
                or ip.is_reserved or ip.is_unspecified or not ip.is_global)


def _is_public(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address):
        embedded = _embedded_ipv4(ip)
        if embedded is not None:
            return all(_is_public_ip(inner) for inner in embedded)
    return _is_public_ip(ip)


def check_url(url: str) -> tuple[str, str, int, str]:
    """Validate ``url``; returns (scheme, host, port, address to connect to)."""
    text = (url or "").strip()
    if not text:
        raise WebhookUrlRefused("Enter the address to call, starting with https://.")
    if len(text) > 2000 or any(c.isspace() or ord(c) < 32 for c in text):
        raise WebhookUrlRefused("The address is too long or contains spaces.")
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https"):
        raise WebhookUrlRefused("Use an address that starts with https:// or http://.")
    if parts.username or parts.password:
        raise WebhookUrlRefused("Leave the user name and password out of the address.")
    host = parts.hostname
    if not host:
        raise WebhookUrlRefused("The address has no host name.")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError as exc:
        raise WebhookUrlRefused("The address has an invalid port.") from exc
    try:
        addresses = [str(ipaddress.ip_address(host))]  # an address written in the URL needs no lookup
    except ValueError:
        addresses = None
    try:
        addresses = addresses or resolve(host, port)
    except (OSError, UnicodeError) as exc:
        raise WebhookUrlRefused(f"The host {host} could not be found.") from exc
    if not addresses:
        raise WebhookUrlRefused(f"The host {host} could not be found.")
    if not current_app.config.get("WEBHOOK_ALLOW_PRIVATE"):
        for address in addresses:
            try:
                public = _is_public(address)
            except ValueError:
                public = False
            if not public:
                raise WebhookUrlRefused(
                    f"The host {host} points to a private or local network address, which webhooks may not call.")
    return parts.scheme, host, port, addresses[0]


def _digest(secret: str, timestamp: int, body: bytes) -> str:
    return hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()


def sign(secret: str, body: bytes, timestamp: int) -> str:
    """The ``X-LeadFlow-Signature`` value: ``t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">``."""
    return f"t={timestamp},v1={_digest(secret, timestamp, body)}"


def verify_signature(secret: str, header: str | None, body: bytes,
                     tolerance: int = SIGNATURE_TOLERANCE_SECONDS, now: float | None = None) -> bool:
    """Whether ``header`` (an ``X-LeadFlow-Signature`` value) signs the raw ``body`` with
    ``secret`` at a time no more than ``tolerance`` seconds from ``now``.

    What a receiver does (the README shows it in a dozen lines): split the header on ``,``
    into ``t`` and ``v1``; refuse when ``t`` is further than five minutes from its clock;
    compute HMAC-SHA256 of ``"<t>.<raw body>"`` with the secret and compare it with each
    ``v1`` in constant time.
    """
    if not isinstance(header, str):
        return False
    parts: dict[str, list[str]] = {}
    for item in header.split(","):
        key, _, value = item.strip().partition("=")
        parts.setdefault(key, []).append(value)
    try:
        timestamp = int(parts["t"][0])
    except (KeyError, ValueError):
        return False
    if abs((time.time() if now is None else now) - timestamp) > tolerance:
        return False
    expected = _digest(secret, timestamp, body)
    return any(hmac.compare_digest(expected, candidate) for candidate in parts.get("v1", []))


class _PinnedHTTPSConnection(http.client.HTTPSConnection):
    """HTTPS to a checked address while the certificate is verified for the host name."""

    def __init__(self, host, address, port, timeout):
        super().__init__(host, port, timeout=timeout, context=ssl.create_default_context())
        self._address = address

    def connect(self):
        sock = socket.create_connection((self._address, self.port), self.timeout)
        self.sock = self._context.wrap_socket(sock, server_hostname=self.host)


def post(url: str, body: bytes, headers: dict) -> int:
    """POST ``body`` to ``url`` (checked again now); returns the HTTP status. Redirects are
    not followed: a 3xx comes back as the status. Tests replace this."""
    scheme, host, port, address = check_url(url)
    timeout = current_app.config.get("WEBHOOK_TIMEOUT_SECONDS", 5)
    if scheme == "https":
        connection = _PinnedHTTPSConnection(host, address, port, timeout)
    else:
        connection = http.client.HTTPConnection(address, port, timeout=timeout)
    parts = urlsplit(url.strip())
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    host_header = host if port in (80, 443) else f"{host}:{port}"
    try:
        connection.request("POST", path, body=body, headers={**headers, "Host": host_header})
        response = connection.getresponse()
        response.read(65536)
        return response.status
    finally:
        connection.close()


def queue_delivery(*, rule, lead, url: str, payload: dict, delivery_key: str, now: datetime | None = None) -> int | None:
    """Add one webhook call; returns its id, or None when the key was already queued."""
    now = now or utcnow()
    row = {"rule_id": rule.id, "lead_id": lead.id if lead is not None else None, "url": url[:2000],
           "payload": json.dumps(payload, sort_keys=True, default=str), "delivery_key": delivery_key[:200],
           "state": "pending", "attempts": 0, "next_attempt_at": now, "created_at": now}
    return insert_or_ignore(WebhookDelivery, row, unique_columns=["delivery_key"])


def backoff(attempts: int) -> timedelta:
    return timedelta(seconds=min(3600, 30 * 2 ** max(0, attempts - 1)))


def _send_one(delivery: WebhookDelivery, now: datetime) -> None:
    rule = db.session.get(WorkflowRule, delivery.rule_id) if delivery.rule_id else None
    delivery.lease_until = None
    if rule is None:  # no secret to sign with: an unsigned call is never sent
        delivery.state, delivery.last_error = "failed", "The rule that made this call was deleted."
        return
    body = delivery.payload.encode()
    timestamp = int(time.time())  # the moment of sending (each attempt anew), not the sweep's ``now``
    headers = {"Content-Type": "application/json", "User-Agent": "LeadFlow-Webhook/1",
               "X-LeadFlow-Delivery": delivery.delivery_key, TIMESTAMP_HEADER: str(timestamp),
               SIGNATURE_HEADER: sign(rule.secret, body, timestamp)}
    delivery.attempts += 1
    error, status = None, None
    try:
        status = post(delivery.url, body, headers)
        if not 200 <= status < 300:
            error = f"The receiver answered HTTP {status}."
    except WebhookUrlRefused as exc:
        error = str(exc)
    except (OSError, http.client.HTTPException) as exc:
        error = f"The call failed: {type(exc).__name__}: {exc}"[:1000]
    delivery.response_code = status
    delivery.lease_until = None
    if error is None:
        delivery.state, delivery.delivered_at, delivery.last_error = "delivered", now, None
    else:
        delivery.last_error = error[:1000]
        if delivery.attempts >= MAX_ATTEMPTS:
            delivery.state = "failed"
        else:
            delivery.next_attempt_at = now + backoff(delivery.attempts)


def retry_delivery(actor, delivery: WebhookDelivery, now: datetime | None = None) -> None:
    """Send a failed call once more, at the next sweep (an admin's "Retry"); audited.

    The retry is one more attempt: if it fails too, the delivery is failed again."""
    if getattr(actor, "role", None) != "admin":
        raise PermissionDenied("Only admins can retry webhook calls.")
    if delivery.state != "failed":
        raise ValidationFailed({"delivery": ["Only a failed webhook call can be retried."]})
    if delivery.rule_id is None:
        raise ValidationFailed({"delivery": ["The rule that made this call was deleted: it cannot be signed."]})
    delivery.state, delivery.next_attempt_at, delivery.lease_until = "pending", now or utcnow(), None
    record_event(actor, "webhook_delivery", delivery.id, "retry", delivery.url[:200])
    db.session.flush()


def deliveries_of_runs(rule_id: int, run_ids: list[int]) -> dict[str, WebhookDelivery]:
    """The webhook calls these runs of a rule queued, by delivery key (``workflow:<run>:<action index>``)."""
    if not run_ids:
        return {}
    rows = db.session.scalars(select(WebhookDelivery).where(
        WebhookDelivery.rule_id == rule_id,
        or_(*(WebhookDelivery.delivery_key.like(f"workflow:{run_id}:%") for run_id in run_ids))))
    return {row.delivery_key: row for row in rows}


def deliver_webhooks(now: datetime | None = None) -> int:
    """Send the due webhook calls; returns how many were attempted."""
    now = now or utcnow()
    claim = claim_due(WebhookDelivery, due=(WebhookDelivery.state == "pending") & (WebhookDelivery.next_attempt_at <= now),
                      lease_column=WebhookDelivery.lease_until, now=now, lease_seconds=LEASE_SECONDS,
                      limit=BATCH, order_by=WebhookDelivery.next_attempt_at)
    db.session.commit()  # the lease holds other sweeps off while the calls are made
    for delivery_id in claim.ids:
        delivery = db.session.get(WebhookDelivery, delivery_id)
        if delivery is None or delivery.state != "pending":
            continue
        _send_one(delivery, now)
        db.session.commit()
    return len(claim.ids)


def register_sweeps(add) -> None:
    """This area's periodic work, for the scheduler (``leadflow.wiring.schedule``)."""
    add("workflow_webhooks", every_seconds=15, func=deliver_webhooks)
