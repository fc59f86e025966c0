"""Putting e-mail in the outbox: every message the app sends is a row first.

``enqueue_mail`` inserts a message unless one with the same idempotency key exists (the
database keeps one message per key), in the caller's transaction; the delivery sweep
(``leadflow.mail.delivery``) sends it, straight after the commit when this process runs
the scheduler, otherwise at its next run. Nothing here commits.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlsplit

from flask import current_app, render_template
from sqlalchemy import event, select

from leadflow.accounts.zones import user_zone
from leadflow.db import insert_missing, utcnow
from leadflow.errors import ValidationFailed
from leadflow.extensions import db
from leadflow.governance.settings import get_setting
from leadflow.mail.models import MAIL_KINDS, OutboxMessage
from leadflow.scheduler import registry
from leadflow.scheduler.claims import insert_or_ignore
from leadflow.scheduler.wakeup import wakeable

OUTBOX_SWEEP = wakeable("outbox")  # the delivery sweep (mail.delivery) a queued e-mail wakes

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RenderedMail:
    subject: str
    text_body: str
    html_body: str


def smtp_configured() -> bool:
    return bool(current_app.config.get("SMTP_HOST"))


def waiting_state() -> str:
    """The state of a message that waits to be sent: "held" while no SMTP server is set up."""
    return "queued" if smtp_configured() else "held"


def absolute_url(endpoint: str, **values) -> str:
    """A link for an e-mail: the app's ``BASE_URL`` plus the endpoint's path (no request needed)."""
    base = urlsplit(current_app.config.get("BASE_URL") or "http://127.0.0.1:5000")
    adapter = current_app.url_map.bind(base.netloc, url_scheme=base.scheme or "http",
                                       script_name=base.path or "/")
    return adapter.build(endpoint, values, force_external=True)


def render_mail(kind: str, subject: str, **context) -> RenderedMail:
    """The text and HTML bodies of ``kind`` from ``templates/email/<kind>.txt`` and ``.html``,
    addressed to ``user`` (the recipient)."""
    subject = " ".join(subject.split())[:255]  # one line: a header never carries a line break
    # Every time in the message reads in the recipient's (``user``'s) time zone.
    context = {"subject": subject, "workspace": get_setting("workspace_name") or "LeadFlow",
               "zone": user_zone(context.get("user")), **context}
    return RenderedMail(
        subject=subject,
        text_body=render_template(f"email/{kind}.txt", **context),
        html_body=render_template(f"email/{kind}.html", **context),
    )


def enqueue_mail(*, to: str, kind: str, mail: RenderedMail, idempotency_key: str,
                 user_id: int | None = None, lead_id: int | None = None,
                 now: datetime | None = None, list_unsubscribe: str | None = None) -> int | None:
    """Queue one message; returns its id, or None when the key was already queued.

    A duplicate key never raises and never spoils the caller's transaction
    (``INSERT … ON CONFLICT (idempotency_key) DO NOTHING``).
    """
    row = _outbox_row(to=to, kind=kind, mail=mail, idempotency_key=idempotency_key, user_id=user_id,
                      lead_id=lead_id, now=now or utcnow(), list_unsubscribe=list_unsubscribe)
    message_id = insert_or_ignore(OutboxMessage, row, unique_columns=["idempotency_key"])
    if message_id is not None:
        send_soon_after_commit()
    return message_id


def _outbox_row(*, to: str, kind: str, mail: RenderedMail, idempotency_key: str, user_id: int | None,
                lead_id: int | None, now: datetime, list_unsubscribe: str | None = None) -> dict:
    if kind not in MAIL_KINDS:
        raise ValueError(f"unknown mail kind {kind!r}")
    if not to or "@" not in to or any(c.isspace() for c in to):
        raise ValidationFailed({"to": ["The message has no valid recipient address."]})
    return {
        "to_address": to[:254], "user_id": user_id, "lead_id": lead_id, "kind": kind,
        "subject": mail.subject, "text_body": mail.text_body, "html_body": mail.html_body,
        "list_unsubscribe": list_unsubscribe,
        "idempotency_key": idempotency_key[:200], "state": waiting_state(), "attempts": 0,
        "next_attempt_at": now, "created_at": now,
    }


def queue_many(messages: list[tuple]) -> None:
    """``queue_for`` for a batch, ``(user, kind, mail, idempotency_key, lead_id)`` each, in
    one ``INSERT … ON CONFLICT (idempotency_key) DO NOTHING``: a key already queued is left
    as it is, an address that cannot receive mail is logged and left out."""
    now = utcnow()
    rows = []
    for user, kind, mail, key, lead_id in messages:
        try:
            rows.append(_outbox_row(to=user.email, kind=kind, mail=mail, idempotency_key=key, user_id=user.id,
                                    lead_id=lead_id, now=now))
        except ValidationFailed:
            log.warning("No %s e-mail for user %s: their address cannot receive mail", kind, user.id)
    if rows:
        insert_missing(OutboxMessage.__table__, rows, ["idempotency_key"])
        send_soon_after_commit()


def queue_for(user, *, kind: str, mail, idempotency_key: str, lead_id: int | None = None,
              now: datetime | None = None) -> int:
    """Queue a message to ``user``; 1 if queued, 0 if it already was or the address is unusable
    (logged: one bad address must not stop the sweep for everyone else)."""
    try:
        return int(enqueue_mail(to=user.email, kind=kind, mail=mail, idempotency_key=idempotency_key,
                                user_id=user.id, lead_id=lead_id, now=now) is not None)
    except ValidationFailed:
        log.warning("No %s e-mail for user %s: their address cannot receive mail", kind, user.id)
        return 0


def send_soon_after_commit() -> None:
    """Ask this process's scheduler (if it runs one) to run the outbox sweep as soon as the
    current transaction commits, instead of at its next tick."""
    session = db.session()
    session.info["outbox_waiting"] = True
    if "outbox_listener" in session.info:
        return
    app = current_app._get_current_object()

    def after_commit(committed_session):
        # Also called when a savepoint is released: only the outermost commit makes the mail visible.
        if committed_session.in_nested_transaction() or not committed_session.info.pop("outbox_waiting", False):
            return
        registry.nudge(app, OUTBOX_SWEEP)

    event.listen(session, "after_commit", after_commit)
    session.info["outbox_listener"] = after_commit


def retry_now(message: OutboxMessage, now: datetime | None = None) -> bool:
    """Send a message that has not gone out now (straight after the commit) instead of after
    its back-off; for an "unknown" one, an admin's decision that it did not go out. Returns
    False (and changes nothing) for a message sent or with an attempt under way."""
    now = now or utcnow()
    if message.state in ("sent", "sending"):
        return False
    message.state = waiting_state()
    message.next_attempt_at = now
    message.lease_until = None
    message.claimed_by = None
    db.session.flush()
    send_soon_after_commit()
    return True


CONFIRMED_BY_ADMIN = "Not confirmed by the mail server; an admin found it delivered."


def confirm_delivered(message: OutboxMessage) -> bool:
    """An admin found an "unknown" message delivered (in the mailbox, in the server's log):
    it becomes "sent", dated when its attempt began. Returns False for any other state."""
    if message.state != "unknown":
        return False
    message.state = "sent"
    message.sent_at = message.attempt_started_at
    message.last_error = CONFIRMED_BY_ADMIN
    db.session.flush()
    return True


def retry_all_failing(now: datetime | None = None) -> int:
    """``retry_now`` for every failing message; returns how many."""
    now = now or utcnow()
    failing = db.session.scalars(select(OutboxMessage).where(OutboxMessage.state == "failing")).all()
    return sum(1 for message in failing if retry_now(message, now))
