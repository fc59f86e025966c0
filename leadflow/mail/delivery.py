"""The outbox delivery sweep: claim due messages, send them over SMTP, record the outcome.

A batch is claimed (state "sending", a lease) and committed before any SMTP traffic, so no
database lock is held while talking to the mail server. Each outcome is written in a short
transaction of its own, only while the lease is still ours. A process that dies mid-send
leaves a lease that runs out; the message is then sent again with the same Message-ID, so
the receiving side can tell it is the same message.

Failures never drop a message: attempts go up, the next attempt backs off exponentially up
to a cap, and the message stays "failing" and visible in Settings → Outbox.
"""

from __future__ import annotations

import logging
import smtplib
import ssl
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime, parseaddr

from flask import current_app
from sqlalchemy import and_, select, update

from leadflow.extensions import db
from leadflow.mail.models import OutboxMessage
from leadflow.mail.services import smtp_configured
from leadflow.scheduler.claims import Claim, claim_due
from leadflow.scheduler.registry import register_sweep

log = logging.getLogger(__name__)

BATCH_SIZE = 10
MAX_BATCHES_PER_RUN = 20
LEASE_SECONDS = 300  # longer than a batch can take: BATCH_SIZE × the SMTP timeout, with room
BACKOFF_FIRST_SECONDS = 60
BACKOFF_CAP_SECONDS = 6 * 3600
DELIVERABLE_STATES = ("queued", "held", "failing", "sending")


def backoff_seconds(attempts: int) -> int:
    """Wait before the next attempt after ``attempts`` failed ones: 1, 2, 4 … minutes, at most 6 hours."""
    return min(BACKOFF_CAP_SECONDS, BACKOFF_FIRST_SECONDS * 2 ** max(0, min(attempts - 1, 20)))


@dataclass(frozen=True)
class Outgoing:
    id: int
    to: str
    subject: str
    text_body: str
    html_body: str | None
    message_id: str
    list_unsubscribe: str | None = None


def mail_domain() -> str:
    address = parseaddr(current_app.config.get("MAIL_FROM") or "")[1]
    return address.rpartition("@")[2] or "leadflow.invalid"


def build_email(outgoing: Outgoing, now: datetime) -> EmailMessage:
    message = EmailMessage()
    message["From"] = current_app.config["MAIL_FROM"]
    message["To"] = outgoing.to
    message["Subject"] = outgoing.subject
    message["Message-ID"] = outgoing.message_id
    message["Date"] = format_datetime(now)
    message["Auto-Submitted"] = "auto-generated"
    if outgoing.list_unsubscribe:  # RFC 2369 + RFC 8058 one-click opt-out for marketing mail
        message["List-Unsubscribe"] = f"<{outgoing.list_unsubscribe}>"
        message["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    message.set_content(outgoing.text_body)
    if outgoing.html_body:
        message.add_alternative(outgoing.html_body, subtype="html")
    return message


def open_smtp() -> smtplib.SMTP:
    """A connection to the configured server, with TLS and login as configured."""
    config = current_app.config
    host, port, timeout = config["SMTP_HOST"], int(config["SMTP_PORT"]), float(config["SMTP_TIMEOUT_SECONDS"])
    if port == 465:
        smtp = smtplib.SMTP_SSL(host, port, timeout=timeout, context=ssl.create_default_context())
    else:
        smtp = smtplib.SMTP(host, port, timeout=timeout)
    try:
        if port != 465 and config.get("SMTP_STARTTLS"):
            smtp.starttls(context=ssl.create_default_context())
        if config.get("SMTP_USER"):
            smtp.login(config["SMTP_USER"], config.get("SMTP_PASSWORD") or "")
    except BaseException:
        smtp.close()
        raise
    return smtp


def describe_error(error: BaseException) -> str:
    """What went wrong, for the outbox page: never the SMTP password."""
    text = f"{type(error).__name__}: {error}"
    for secret in (current_app.config.get("SMTP_PASSWORD"),):
        if secret:
            text = text.replace(secret, "[hidden]")
    return text[:1000]


@register_sweep("outbox", every_seconds=10)
def deliver_outbox(now: datetime) -> int:
    """Send what is due; returns how many messages went out. Commits as it goes."""
    if not smtp_configured():
        db.session.execute(update(OutboxMessage.__table__).where(OutboxMessage.state == "queued")
                           .values(state="held"))
        db.session.commit()
        return 0
    sent, started, run_start = 0, time.monotonic(), now
    for batch_number in range(MAX_BATCHES_PER_RUN):
        if batch_number:  # a long run's later batches are claimed and leased from the moment they are taken
            now = run_start + timedelta(seconds=time.monotonic() - started)
        claim = claim_due(
            OutboxMessage,
            due=and_(OutboxMessage.state.in_(DELIVERABLE_STATES), OutboxMessage.next_attempt_at <= now),
            lease_column=OutboxMessage.lease_until, now=now, lease_seconds=LEASE_SECONDS, limit=BATCH_SIZE,
            order_by=OutboxMessage.next_attempt_at, values={"state": "sending"},
        )
        outgoing = _load(claim)
        db.session.commit()  # the claim is ours before any SMTP traffic; no lock held while sending
        if not claim:
            break
        sent += _send_batch(outgoing, claim, now)
        if len(claim.ids) < BATCH_SIZE:
            break
    return sent


def _load(claim: Claim) -> list[Outgoing]:
    if not claim:
        return []
    domain = mail_domain()
    messages = db.session.scalars(select(OutboxMessage).where(OutboxMessage.id.in_(claim.ids))
                                  .order_by(OutboxMessage.id)).all()
    return [Outgoing(m.id, m.to_address, m.subject, m.text_body, m.html_body, m.message_id(domain), m.list_unsubscribe)
            for m in messages]


def _send_batch(batch: list[Outgoing], claim: Claim, now: datetime) -> int:
    sent = 0
    try:
        smtp = open_smtp()
    except (OSError, smtplib.SMTPException) as error:
        log.warning("Could not reach the SMTP server: %s", describe_error(error))
        for outgoing in batch:
            _record_failure(outgoing.id, claim, now, error)
        return 0
    try:
        for index, outgoing in enumerate(batch):
            try:
                smtp.send_message(build_email(outgoing, now))
            except (smtplib.SMTPRecipientsRefused, smtplib.SMTPDataError, smtplib.SMTPSenderRefused,
                    ValueError, TypeError) as error:
                _record_failure(outgoing.id, claim, now, error)  # this message only (refused, malformed); go on
            except (OSError, smtplib.SMTPException) as error:
                for rest in batch[index:]:  # the connection is gone: the rest wait for the next run
                    _record_failure(rest.id, claim, now, error)
                break
            else:
                _record_sent(outgoing.id, claim, now)
                sent += 1
    finally:
        try:
            smtp.quit()
        except (OSError, smtplib.SMTPException):
            smtp.close()
    return sent


def _ours(message_id: int, claim: Claim):
    return and_(OutboxMessage.id == message_id, OutboxMessage.state == "sending",
                OutboxMessage.lease_until == claim.lease_until)


def _record_sent(message_id: int, claim: Claim, now: datetime) -> None:
    db.session.execute(update(OutboxMessage.__table__).where(_ours(message_id, claim)).values(
        state="sent", sent_at=now, attempts=OutboxMessage.attempts + 1, lease_until=None, last_error=None))
    db.session.commit()


def _record_failure(message_id: int, claim: Claim, now: datetime, error: BaseException) -> None:
    attempts = db.session.scalar(select(OutboxMessage.attempts).where(OutboxMessage.id == message_id)) or 0
    db.session.execute(update(OutboxMessage.__table__).where(_ours(message_id, claim)).values(
        state="failing", attempts=attempts + 1, lease_until=None, last_error=describe_error(error),
        next_attempt_at=now + timedelta(seconds=backoff_seconds(attempts + 1))))
    db.session.commit()
