"""The outbox delivery sweep: claim due messages, send each (once, but for one narrow window), record the outcome.

One message, one attempt, in this order:

1. **Claim.** A batch is leased to this scheduler (``lease_until``, ``claimed_by``) and
   committed before any SMTP traffic; the rows keep their state. If this scheduler dies now,
   another takes the batch over as soon as its heartbeat stops (``leadflow.scheduler.heartbeat``):
   nothing was sent yet, so sending it is safe.
2. **Mark "sending".** Just before a message is handed to the server, its row gets state
   "sending" and a fresh ``attempt_id``, committed, and only while the claim is still ours
   (a scheduler that took the batch over wins, and this one skips the message).
3. **Send** with a Message-ID fixed for the row (``OutboxMessage.message_id``), so a copy sent
   again by hand is recognisable as the same message.
4. **Record "sent"** (with ``sent_at``, the moment the server accepted it). If that write fails
   (a locked SQLite file, a lost connection), the write is retried, never the send, for up to
   ``RECORD_RETRY_SECONDS``, and the scheduler keeps beating meanwhile, so no other scheduler
   takes it for dead and sends the message again.

A row left "sending" by a scheduler that died (its heartbeat stopped) is sent again by the
next sweep of any scheduler (``settle_interrupted``): with the same Message-ID and a new attempt
id. Almost every such death comes before or during the hand-over, when nothing reached the
server; in the few milliseconds between the server accepting a message and "sent" being
committed, it means the recipient gets a second copy with the same Message-ID. Two rows are
not sent again by themselves but marked "unknown" for an admin to decide (Settings → Outbox):
one whose connection broke after its last byte went out but before the server answered (the
server may have accepted it), and one whose lease ran out while its scheduler is still alive
(stuck, not dead: it may still be about to record the outcome). See docs/RELIABILITY.md,
"E-mail delivery".

Failures that certainly sent nothing never drop a message: attempts go up, the next attempt
backs off exponentially up to a cap, and the message stays "failing" and visible. When the
server could not be reached, each sweep probes it (connect, NOOP) and, once it answers,
makes those messages due at once instead of at the end of their back-off.
"""

from __future__ import annotations

import logging
import secrets
import smtplib
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime, parseaddr
from typing import TypeVar

from flask import current_app
from sqlalchemy import and_, case, or_, select, update
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError

from leadflow.db import is_retryable
from leadflow.extensions import db
from leadflow.mail.models import OutboxMessage
from leadflow.mail.services import OUTBOX_SWEEP, smtp_configured
from leadflow.scheduler.claims import Claim, claim_due, lease_is_free
from leadflow.scheduler.heartbeat import BEAT_EVERY_SECONDS, beat, claimant_is_gone, forget_gone

log = logging.getLogger(__name__)
T = TypeVar("T")

BATCH_SIZE = 10
MAX_BATCHES_PER_RUN = 20
LEASE_SECONDS = 300  # longer than a batch can take: BATCH_SIZE × the SMTP timeout, with room
BACKOFF_FIRST_SECONDS = 60
BACKOFF_CAP_SECONDS = 6 * 3600
CLAIMABLE_STATES = ("queued", "held", "failing")  # never "sending" or "unknown": they may have gone out
# How long the outcome of an attempt is retried when the database refuses the write. Long,
# because giving up leaves a message that was probably sent in the "unknown" state.
RECORD_RETRY_SECONDS = 300
RECORD_RETRY_MAX_DELAY = 2.0
INTERRUPTED = ("The scheduler sending this message stopped mid-attempt, so it was sent again with the same "
               "Message-ID. If the first attempt had reached the mail server, the recipient has two copies with one "
               "Message-ID (most mail programs show one).")
STUCK = ("The attempt did not finish within its lease although its scheduler is still running (a very slow mail "
         "server, or a database that would not record the outcome); the server may have accepted it. It is not "
         "sent again by itself: look for its Message-ID in the recipient's mailbox or the mail server's log, and "
         "send it again only if it is not there.")
HANDED_OVER = ("The connection broke after the whole message was handed to the mail server, before it answered; "
               "the server may have accepted it. It is not sent again by itself: look for its Message-ID in the "
               "recipient's mailbox or the mail server's log, and send it again only if it is not there.")


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


def build_email(outgoing: Outgoing, now: datetime, attempt_id: str | None = None) -> EmailMessage:
    message = EmailMessage()
    message["From"] = current_app.config["MAIL_FROM"]
    message["To"] = outgoing.to
    message["Subject"] = outgoing.subject
    message["Message-ID"] = outgoing.message_id
    message["Date"] = format_datetime(now)
    message["Auto-Submitted"] = "auto-generated"
    if attempt_id:  # which attempt sent this copy: two copies with one Message-ID tell their attempts apart
        message["X-LeadFlow-Attempt"] = attempt_id
    if outgoing.list_unsubscribe:  # RFC 2369 + RFC 8058 one-click opt-out for marketing mail
        message["List-Unsubscribe"] = f"<{outgoing.list_unsubscribe}>"
        message["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    message.set_content(outgoing.text_body)
    if outgoing.html_body:
        message.add_alternative(outgoing.html_body, subtype="html")
    return message


class _NoticesHandOver:
    """``handed_over``: the whole of the current message went out (the end-of-data line was
    written), so an error from here on may come after the server accepted it."""

    handed_over = False

    def send(self, s):
        super().send(s)
        if isinstance(s, bytes) and s.endswith(b"\r\n.\r\n"):  # only DATA's body is sent as bytes
            self.handed_over = True


class _SMTP(_NoticesHandOver, smtplib.SMTP):
    pass


class _SMTPS(_NoticesHandOver, smtplib.SMTP_SSL):
    pass


def open_smtp() -> smtplib.SMTP:
    """A connection to the configured server, with TLS and login as configured."""
    config = current_app.config
    host, port, timeout = config["SMTP_HOST"], int(config["SMTP_PORT"]), float(config["SMTP_TIMEOUT_SECONDS"])
    if port == 465:
        smtp = _SMTPS(host, port, timeout=timeout, context=ssl.create_default_context())
    else:
        smtp = _SMTP(host, port, timeout=timeout)
    try:
        if port != 465 and config.get("SMTP_STARTTLS"):
            smtp.starttls(context=ssl.create_default_context())
        if config.get("SMTP_USER"):
            smtp.login(config["SMTP_USER"], config.get("SMTP_PASSWORD") or "")
    except BaseException:
        smtp.close()
        raise
    return smtp


def _close(smtp: smtplib.SMTP) -> None:
    try:
        smtp.quit()
    except (OSError, smtplib.SMTPException):
        smtp.close()


def smtp_reachable() -> bool:
    """A cheap probe: connect (with TLS and login as configured), NOOP, quit."""
    try:
        smtp = open_smtp()
    except (OSError, smtplib.SMTPException):
        return False
    try:
        return smtp.noop()[0] == 250
    except (OSError, smtplib.SMTPException):
        return False
    finally:
        _close(smtp)


def describe_error(error: BaseException) -> str:
    """What went wrong, for the outbox page: never the SMTP password."""
    text = f"{type(error).__name__}: {error}"
    for secret in (current_app.config.get("SMTP_PASSWORD"),):
        if secret:
            text = text.replace(secret, "[hidden]")
    return text[:1000]


class _Clock:
    """The sweep's ``now`` moved on by the time the run has taken: the real time in
    production, and a time a test chose plus the real elapsed time in tests."""

    def __init__(self, start: datetime):
        self.start, self.started = start, time.monotonic()

    def __call__(self) -> datetime:
        return self.start + timedelta(seconds=time.monotonic() - self.started)


def deliver_outbox(now: datetime) -> int:
    """Send what is due; returns how many messages went out. Commits as it goes."""
    if not smtp_configured():
        db.session.execute(update(OutboxMessage.__table__).where(OutboxMessage.state == "queued")
                           .values(state="held"))
        db.session.commit()
        return 0
    me = beat(now)
    forget_gone(now)
    settle_interrupted(now)
    wake_if_server_is_back(now)  # commits when it probes; otherwise all this goes with the first claim
    clock, sent = _Clock(now), 0
    for batch_number in range(MAX_BATCHES_PER_RUN):
        # A long run's later batches are claimed and leased from the moment they are taken.
        batch_now = clock() if batch_number else now
        if batch_number:
            beat(batch_now, me)
        claim = claim_due(
            OutboxMessage,
            due=and_(OutboxMessage.state.in_(CLAIMABLE_STATES), OutboxMessage.next_attempt_at <= batch_now),
            lease_column=OutboxMessage.lease_until, now=batch_now, lease_seconds=LEASE_SECONDS, limit=BATCH_SIZE,
            order_by=OutboxMessage.next_attempt_at, values={"claimed_by": me},
            takeover=claimant_is_gone(OutboxMessage.claimed_by, batch_now, lease_until=OutboxMessage.lease_until,
                                      lease_seconds=LEASE_SECONDS),
        )
        outgoing = _load(claim)
        db.session.commit()  # the claim is ours before any SMTP traffic; no lock held while sending
        if not claim:
            break
        try:
            sent += _send_batch(outgoing, _Batch(claim, me, batch_now, clock))
        except BaseException:
            _release(claim, me)
            raise
        if len(claim.ids) < BATCH_SIZE:
            break
    return sent


def settle_interrupted(now: datetime) -> tuple[int, int]:
    """Rows left "sending" by an attempt that will not finish. Those whose scheduler is gone
    (its heartbeat stopped; or no claimant recorded and the lease ran out) are queued to be sent
    again at once, keeping their Message-ID: the attempt most likely died before the server had
    the message. Those whose lease ran out while their scheduler is still alive become
    "unknown": that scheduler may yet record the outcome. Returns (sent again, unknown)."""
    sending = OutboxMessage.state == "sending"
    dead = or_(claimant_is_gone(OutboxMessage.claimed_by, now),
               and_(OutboxMessage.claimed_by.is_(None), lease_is_free(OutboxMessage.lease_until, now)))
    again = db.session.execute(update(OutboxMessage.__table__).where(sending, dead).values(
        state="queued", attempts=OutboxMessage.attempts + 1, next_attempt_at=now, lease_until=None,
        claimed_by=None, last_error=INTERRUPTED)).rowcount
    stuck = db.session.execute(update(OutboxMessage.__table__).where(
        sending, lease_is_free(OutboxMessage.lease_until, now)).values(
        state="unknown", attempts=OutboxMessage.attempts + 1, lease_until=None, claimed_by=None,
        last_error=STUCK)).rowcount
    if again:
        log.warning("%s outbox message(s) were cut off mid-attempt by a scheduler that stopped; sending them again "
                    "with the same Message-ID", again)
    if stuck:
        log.error("%s outbox message(s) outlived their lease while their scheduler still runs; marked unknown, "
                  "not sent again", stuck)
    return again, stuck


def _waiting_for_server():
    return and_(OutboxMessage.state == "failing", OutboxMessage.server_unreachable.is_(True))


def wake_if_server_is_back(now: datetime) -> int:
    """When messages wait out a back-off because the server could not be reached, probe it;
    if it answers, they are due at once. Returns how many were woken."""
    waiting = db.session.scalar(select(OutboxMessage.id).where(_waiting_for_server(),
                                                               OutboxMessage.next_attempt_at > now).limit(1))
    if waiting is None:
        return 0
    db.session.commit()  # no transaction (on SQLite, no write lock) is held during the probe
    if not smtp_reachable():
        return 0
    result = db.session.execute(update(OutboxMessage.__table__).where(
        _waiting_for_server(), OutboxMessage.next_attempt_at > now).values(next_attempt_at=now))
    db.session.commit()
    log.info("The mail server answers again: %s waiting message(s) are due now", result.rowcount)
    return result.rowcount


def _load(claim: Claim) -> list[Outgoing]:
    if not claim:
        return []
    domain = mail_domain()
    messages = db.session.scalars(select(OutboxMessage).where(OutboxMessage.id.in_(claim.ids))
                                  .order_by(OutboxMessage.id)).all()
    return [Outgoing(m.id, m.to_address, m.subject, m.text_body, m.html_body, m.message_id(domain), m.list_unsubscribe)
            for m in messages]


@dataclass(frozen=True)
class _Batch:
    claim: Claim
    me: str
    now: datetime  # when the batch was claimed: failures back off from here
    clock: _Clock  # the time now: when a message was accepted

    def ours(self, message_id: int):
        """The row is still claimed by this batch and no attempt has started on it."""
        return and_(OutboxMessage.id == message_id, OutboxMessage.claimed_by == self.me,
                    OutboxMessage.lease_until == self.claim.lease_until, OutboxMessage.state.in_(CLAIMABLE_STATES))

    def keep_alive(self) -> None:
        """Renew this scheduler's heartbeat in a short transaction of its own, best effort: while
        a write is retried, so that no other scheduler takes this one for dead and sends its
        message again."""
        try:
            beat(self.clock(), self.me)
            db.session.commit()
        except DBAPIError:
            _roll_back()


def _attempt(attempt_id: str):
    return OutboxMessage.attempt_id == attempt_id


def _send_batch(batch: list[Outgoing], run: _Batch) -> int:
    try:
        smtp = open_smtp()
    except (OSError, smtplib.SMTPException) as error:
        log.warning("Could not reach the SMTP server: %s", describe_error(error))
        for outgoing in batch:
            _record_failure(run.ours(outgoing.id), run, error, unreachable=True)
        return 0
    sent = 0
    try:
        for index, outgoing in enumerate(batch):
            attempt_id = _start_attempt(outgoing.id, run)
            if attempt_id is None:  # another scheduler took it over: it is theirs now
                continue
            smtp.handed_over = False
            try:
                smtp.send_message(build_email(outgoing, run.clock(), attempt_id))
            except (smtplib.SMTPRecipientsRefused, smtplib.SMTPDataError, smtplib.SMTPSenderRefused,
                    ValueError, TypeError) as error:
                _record_failure(_attempt(attempt_id), run, error)  # this message only (refused, malformed); go on
            except (OSError, smtplib.SMTPException) as error:
                if smtp.handed_over:  # the server may have it: never sent again by itself
                    _record_unconfirmed(attempt_id, run, error)
                else:
                    _record_failure(_attempt(attempt_id), run, error, unreachable=True)
                for rest in batch[index + 1:]:  # the connection is gone: the rest wait for the next run
                    _record_failure(run.ours(rest.id), run, error, unreachable=True)
                break
            else:
                _record_sent(attempt_id, run)
                sent += 1
    finally:
        _close(smtp)
    return sent


def _roll_back() -> None:
    try:
        db.session.rollback()
    except DBAPIError:  # the connection is gone: the session starts afresh on its next use
        pass


def _write_until_it_lands(write: Callable[[], T], what: str, run: _Batch) -> T:
    """``write()`` and commit; when the database refuses (busy, connection lost), roll back and
    do it again, for up to ``OUTBOX_RECORD_RETRY_SECONDS``, beating between tries. Only for
    writes that may be done twice."""
    seconds = _record_seconds()
    deadline, delay = time.monotonic() + seconds, 0.05
    while True:
        try:
            result = write()
            db.session.commit()
            return result
        except DBAPIError as error:
            _roll_back()
            if not (is_retryable(error) or isinstance(error, (OperationalError, InterfaceError))):
                raise
            if time.monotonic() + delay > deadline:
                log.error("%s: the database refused the write for %.0f s; giving up", what, seconds)
                raise
            log.warning("%s: the database refused the write (%s); again in %.2f s", what, error.orig, delay)
            run.keep_alive()
            time.sleep(delay)
            delay = min(RECORD_RETRY_MAX_DELAY, delay * 2)


def _record_seconds() -> float:
    return float(current_app.config.get("OUTBOX_RECORD_RETRY_SECONDS") or RECORD_RETRY_SECONDS)


def _start_attempt(message_id: int, run: _Batch) -> str | None:
    """Mark the row "sending" with a new attempt id (committed), if the claim is still ours."""
    attempt_id = secrets.token_hex(8)

    def write() -> bool:
        beat(run.clock(), run.me)
        return db.session.execute(update(OutboxMessage.__table__).where(run.ours(message_id)).values(
            state="sending", attempt_id=attempt_id, attempt_started_at=run.clock())).rowcount == 1

    started = _write_until_it_lands(write, f"Outbox message {message_id}: starting an attempt", run)
    return attempt_id if started else None


def _record_sent(attempt_id: str, run: _Batch) -> None:
    """The server accepted the message: record it, retrying the write (never the send). Also
    over "unknown", or over "queued" after a sweep took this scheduler for dead: a slow write
    that lands before another attempt starts still counts. A note that an earlier attempt was
    cut off stays: the recipient may have two copies."""
    accepted_at = run.clock()

    def write() -> None:
        db.session.execute(update(OutboxMessage.__table__).where(_attempt(attempt_id)).values(
            state="sent", sent_at=accepted_at, attempts=OutboxMessage.attempts + 1, lease_until=None,
            claimed_by=None, server_unreachable=False,
            last_error=case((OutboxMessage.last_error == INTERRUPTED, INTERRUPTED), else_=None)))

    _write_until_it_lands(write, f"Outbox attempt {attempt_id}: recording it as sent", run)


def _record_unconfirmed(attempt_id: str, run: _Batch, error: BaseException) -> None:
    def write() -> None:
        db.session.execute(update(OutboxMessage.__table__).where(_attempt(attempt_id), OutboxMessage.state == "sending")
                           .values(state="unknown", attempts=OutboxMessage.attempts + 1, lease_until=None,
                                   claimed_by=None, last_error=f"{HANDED_OVER} ({describe_error(error)})"[:1000]))

    _write_until_it_lands(write, f"Outbox attempt {attempt_id}: recording it as unconfirmed", run)


def _record_failure(which, run: _Batch, error: BaseException, unreachable: bool = False) -> None:
    """Nothing was sent: back off (from when the batch was claimed) and try again later.
    ``which``: the row, while it is ours."""
    def write() -> None:
        attempts = db.session.scalar(select(OutboxMessage.attempts).where(which))
        if attempts is None:  # no longer ours
            return
        db.session.execute(update(OutboxMessage.__table__).where(which).values(
            state="failing", attempts=attempts + 1, lease_until=None, claimed_by=None,
            last_error=describe_error(error), server_unreachable=unreachable,
            next_attempt_at=run.now + timedelta(seconds=backoff_seconds(attempts + 1))))

    _write_until_it_lands(write, "Recording a failed outbox attempt", run)


def _release(claim: Claim, me: str) -> None:
    """The run stopped half-way (an error): give back the rows no attempt has started on, so
    they need not wait for the lease. Best effort: if this fails too, the lease runs out."""
    try:
        db.session.rollback()
        db.session.execute(update(OutboxMessage.__table__).where(
            OutboxMessage.id.in_(claim.ids), OutboxMessage.claimed_by == me,
            OutboxMessage.lease_until == claim.lease_until, OutboxMessage.state.in_(CLAIMABLE_STATES),
        ).values(lease_until=None, claimed_by=None))
        db.session.commit()
    except DBAPIError:
        db.session.rollback()
        log.warning("Could not give back %s claimed outbox message(s); they wait for their lease", len(claim.ids))


def register_sweeps(add) -> None:
    """This area's periodic work, for the scheduler (``leadflow.wiring.schedule``)."""
    add(OUTBOX_SWEEP, every_seconds=BEAT_EVERY_SECONDS, func=deliver_outbox)
