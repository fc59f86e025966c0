"""What a public form may change on a lead that already exists, and the review of the rest.

Anyone can post a capture form with someone's email address, so a submission that matches
a live lead never overwrites what the lead holds: empty contact fields are filled (audited,
as the system), attribution keeps the first touch, tags are added, new custom fields are
added. A value that differs from a non-empty one becomes a ``LeadFieldReview`` the lead's
editors settle with "Keep current" or "Use new"; the submitted values stay on the timeline.

Consent given through a form is an event on the submission's timeline entry (text, form,
IP, time). If the lead had withdrawn consent before (unsubscribed, or consent turned off
after it was given), the form does not switch marketing back on: it opens a review instead.

``intake.intake_lead`` calls ``split_public_submission`` for the "form" channel; the API keeps
its own update rules.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import tzinfo

from sqlalchemy import bindparam, func, update
from sqlalchemy.orm import aliased
from sqlalchemy.exc import IntegrityError

from leadflow.db import Rows, utcnow
from leadflow.errors import PermissionDenied
from leadflow.extensions import db
from leadflow.governance.audit import record_changes, record_event
from leadflow.leads import services, store
from leadflow.leads.custom_fields import label_for
from leadflow.leads.fields import consent_source_text
from leadflow.leads.forms import INLINE_FIELDS, current_input_value
from leadflow.leads.models import Lead
from leadflow.leads.policy import can_edit_lead
from leadflow.leads.review_models import LeadFieldReview
from leadflow.web.formatting import UTC_ZONE, format_day, format_moments_in, iso_with_offset

PUBLIC_CHANNEL = "form"
# Contact fields a submission may fill but never replace. The email is the match key.
GUARDED_KEYS = ("first_name", "last_name", "phone", "title", "organization", "country")
# Passed on to the ordinary update: attribution keeps the first touch there, tags are added.
PASSED_KEYS = ("source", "utm_source", "utm_medium", "utm_campaign", "utm_term", "utm_content",
               "referrer", "landing_page", "tags")
CONSENT = "marketing_consent"
CUSTOM_PREFIX = "custom:"


def _same(a: str, b: str) -> bool:
    return " ".join(a.split()).casefold() == " ".join(b.split()).casefold()


def _text(value) -> str:
    return "" if value is None else str(value)


def consent_withdrawn(lead: Lead) -> bool:
    """The lead opted out, or had consent and had it turned off: a form must not undo that."""
    return lead.unsubscribed_at is not None or (lead.consent_at is not None and not lead.marketing_consent)


def field_label(name: str, labels=None, form_id=None) -> str:
    """What a field is called: a custom field by its capture form's label (``labels``, from
    ``leads.custom_fields.custom_field_labels``) or its name made readable."""
    if name.startswith(CUSTOM_PREFIX):
        return label_for(name.removeprefix(CUSTOM_PREFIX), labels, form_id)
    if name in INLINE_FIELDS:
        return INLINE_FIELDS[name].label
    return name.replace("_", " ").capitalize()


@dataclass
class PublicMerge:
    """A form submission for an existing lead, split into what may be written and what waits."""

    lead: Lead
    source: str
    fills: dict = field(default_factory=dict)  # raw submitted values for the ordinary update
    custom_fills: dict = field(default_factory=dict)
    differences: list[tuple[str, str, str]] = field(default_factory=list)  # (field, submitted, current)
    consent_held: bool = False

    def hold_consent(self) -> bool:
        """True when consent given now must wait for a person (it was withdrawn before)."""
        if consent_withdrawn(self.lead):
            self.consent_held = True
            self.differences.append((CONSENT, "yes", _withdrawal_text(self.lead)))
        return self.consent_held

    def timeline_note(self) -> dict:
        """For the submission's timeline entry: the current values kept instead of the submitted ones."""
        return {name: current for name, _, current in self.differences}

    def open_reviews(self, activity) -> None:
        """One open review per differing value; a value already waiting is not added again."""
        for name, submitted, current in self.differences:
            _open_review(self.lead, name, submitted, current, self.source, activity.id)


def _withdrawal_text(lead: Lead, zone: tzinfo | None = None) -> str:
    """Why marketing is off. The day of an unsubscription is the reader's (``zone``); text kept
    for later (a review row, a timeline note) has no reader yet and gives the moment with its
    UTC offset, which the timeline shows in each reader's zone."""
    if lead.unsubscribed_at is not None:
        when = iso_with_offset(lead.unsubscribed_at) if zone is None else format_day(lead.unsubscribed_at, zone)
        return f"off (unsubscribed {when})"
    return "off (consent withdrawn)"


def split_public_submission(lead: Lead, submitted: dict, custom: dict, region: str | None,
                            source: str) -> PublicMerge:
    """Decide, for a known lead, which submitted values fill blanks and which wait for review.

    ``submitted`` holds the sender's raw values (intake has already checked they clean).
    """
    merge = PublicMerge(lead=lead, source=source[:200])
    merge.fills = {k: v for k, v in submitted.items() if k in PASSED_KEYS}
    guarded = {k: submitted[k] for k in GUARDED_KEYS if k in submitted}
    cleaned = services.clean_lead_input(guarded, region)
    for key in guarded:
        value = _text(cleaned.get("organization_name" if key == "organization" else key))
        current = current_input_value(lead, key)
        if not value:
            continue
        if not current:
            merge.fills[key] = guarded[key]
        elif not _same(value, current):
            merge.differences.append((key, value, current))
    stored = lead.custom_fields or {}
    for key, raw in custom.items():
        value, current = _text(raw), _text(stored.get(key))
        if key not in stored or not current:
            merge.custom_fills[key] = raw
        elif not _same(value, current):
            merge.differences.append((CUSTOM_PREFIX + key, value, current))
    return merge


def _value_key(value: str) -> str:
    return hashlib.sha256(" ".join(value.split()).casefold().encode()).hexdigest()


def _open_review(lead: Lead, name: str, submitted: str, current: str, source: str, activity_id: int | None) -> None:
    key = _value_key(submitted)
    waiting = db.select(LeadFieldReview.id).where(
        LeadFieldReview.lead_id == lead.id, LeadFieldReview.field == name,
        LeadFieldReview.value_key == key, LeadFieldReview.open_flag.is_(True))
    if db.session.scalar(waiting) is not None:
        return
    try:  # the unique (lead, field, value, open) key settles a concurrent submission of the same value
        with db.session.begin_nested():
            db.session.add(LeadFieldReview(lead_id=lead.id, field=name, submitted_value=submitted, value_key=key,
                                           current_value=current or None, source=source, activity_id=activity_id,
                                           open_flag=True))
    except IntegrityError:
        pass


# --- the lead page ------------------------------------------------------------------------

# The values of a lead waiting for review, oldest first. Value: lead_id.
OPEN_REVIEWS = Rows(LeadFieldReview,
                    (LeadFieldReview.lead_id == bindparam("lead_id"), LeadFieldReview.open_flag.is_(True)),
                    lambda review: (review.id,))


def movable_open_reviews(from_id: int, to_id: int, ids: list[int] | None = None) -> list[int]:
    """Ids of the open reviews of lead ``from_id`` (of ``ids`` only, when given) that can move to
    lead ``to_id``: all but those ``to_id`` already has open for the same field and value."""
    twin = aliased(LeadFieldReview)
    query = db.select(LeadFieldReview.id).where(
        LeadFieldReview.lead_id == from_id, LeadFieldReview.open_flag.is_(True),
        ~db.select(twin.id).where(twin.lead_id == to_id, twin.field == LeadFieldReview.field,
                                  twin.value_key == LeadFieldReview.value_key, twin.open_flag.is_(True)).exists())
    if ids is not None:
        query = query.where(LeadFieldReview.id.in_(ids or [0]))
    return list(db.session.scalars(query.order_by(LeadFieldReview.id)))


def move_open_reviews(from_id: int, to_id: int, ids: list[int] | None = None) -> list[int]:
    """Hand lead ``from_id``'s open reviews (see ``movable_open_reviews``) to lead ``to_id``, as a
    merge and its undo do; returns the ids moved. Settled reviews stay with the lead they were
    settled on: that lead's history tells what was kept or used."""
    moving = movable_open_reviews(from_id, to_id, ids)
    if moving:
        db.session.execute(update(LeadFieldReview).where(LeadFieldReview.id.in_(moving))
                           .values(lead_id=to_id).execution_options(synchronize_session=False))
        for obj in list(db.session.identity_map.values()):
            if isinstance(obj, LeadFieldReview):
                db.session.expire(obj)
    return moving


def open_review_count(lead: Lead) -> int:
    return db.session.scalar(db.select(func.count(LeadFieldReview.id)).where(
        LeadFieldReview.lead_id == lead.id, LeadFieldReview.open_flag.is_(True)))


def get_review(lead: Lead, review_id: int) -> LeadFieldReview | None:
    review = db.session.get(LeadFieldReview, review_id)
    return review if review is not None and review.lead_id == lead.id else None


def current_value(review: LeadFieldReview, zone: tzinfo = UTC_ZONE) -> str:
    """What the lead holds now for the reviewed field (it may have changed since the submission),
    a day in it as the reader in ``zone`` reads it."""
    lead = review.lead
    if review.field == CONSENT:
        return "on" if lead.marketing_consent and lead.unsubscribed_at is None else _withdrawal_text(lead, zone)
    if review.field.startswith(CUSTOM_PREFIX):
        return _text((lead.custom_fields or {}).get(review.field.removeprefix(CUSTOM_PREFIX)))
    return current_input_value(lead, review.field)


def review_text(review: LeadFieldReview) -> str:
    """'Submitted phone differs: +442079460000' or 'Consent given again via Form “Contact us”'."""
    if review.field == CONSENT:
        return f"Consent given again via {review.source}"
    return f"Submitted {field_label(review.field).lower()} differs: {review.submitted_value}"


def _resolve(actor, review: LeadFieldReview, resolution: str) -> None:
    review.resolved_at = utcnow()
    review.resolved_by_id = actor.id
    review.resolution = resolution
    review.open_flag = None
    db.session.flush()


def _require_open_and_editable(actor, review: LeadFieldReview) -> bool:
    if not can_edit_lead(actor, review.lead):
        raise PermissionDenied("You can only review values of leads you own or unassigned leads.")
    return review.open_flag is True


def keep_current(actor, review: LeadFieldReview) -> str:
    """Settle the review without touching the lead; returns the message for the user."""
    if not _require_open_and_editable(actor, review):
        return "This value was already reviewed."
    _resolve(actor, review, "kept")
    label = field_label(review.field)
    record_event(actor, "lead", review.lead_id, "review_kept",
                 f"{label}: kept the current value, not {review.submitted_value} from {review.source}"[:2000])
    return f"Kept the current {label.lower()}."


def use_new(actor, review: LeadFieldReview, *, expected_version: int | None = None) -> str:
    """Apply the submitted value through the ordinary lead services (permission, validation,
    version check, audit with ``actor``, events), then settle the review."""
    if not _require_open_and_editable(actor, review):
        return "This value was already reviewed."
    lead = review.lead
    label = field_label(review.field)
    if review.field == CONSENT:
        _turn_marketing_on(actor, lead, review, expected_version)
        message = "Marketing consent is on again."
    elif review.field.startswith(CUSTOM_PREFIX):
        services.update_custom_field(actor, lead, review.field.removeprefix(CUSTOM_PREFIX), review.submitted_value,
                                     expected_version=expected_version)
        message = f"{label} set to {review.submitted_value}."
    else:
        services.update_lead(actor, lead, {review.field: review.submitted_value}, expected_version=expected_version)
        message = f"{label} set to {current_input_value(lead, review.field)}."
    _resolve(actor, review, "applied")
    return message


def _turn_marketing_on(actor, lead: Lead, review: LeadFieldReview, expected_version: int | None) -> None:
    """The person confirmed the new consent: marketing on, the opt-out lifted (it stays on the
    timeline and in the history), consent dated from the form's consent event."""
    services.update_lead(actor, lead, {CONSENT: True}, expected_version=expected_version)
    event = ((review.activity.details or {}).get("consent") if review.activity is not None else None) or {}
    values = {"consent_at": review.activity.occurred_at if review.activity is not None else utcnow(),
              "consent_source": consent_source_text(event) if event else review.source}
    if lead.unsubscribed_at is not None:
        record_changes(actor, "lead", lead.id, {"unsubscribed": lead.unsubscribed_at}, {"unsubscribed": None})
        values["unsubscribed_at"] = None
    store.update_columns([lead.id], values, actor)


# --- the timeline ---------------------------------------------------------------------------

def submission_rows(details: dict, labels=None, zone: tzinfo = UTC_ZONE) -> list[tuple[str, str, str]]:
    """(label, value, note) for each value a form or API submission sent, then its consent:
    what the timeline shows. The note says when the lead kept its own value instead. Custom
    fields are named by the submitting form's labels (``labels``; see ``field_label``)."""
    values = details.get("values") if isinstance(details.get("values"), dict) else details
    kept = details.get("kept") or {}
    form_id = details.get("form_id")
    rows = []

    def add(name: str, value) -> None:
        if isinstance(value, (list, tuple)):
            value = ", ".join(str(v) for v in value)
        elif isinstance(value, bool):
            value = "Yes" if value else "No"
        keeps = format_moments_in(str(kept[name]), zone) if name in kept and kept[name] else "—"
        note = f"not used: the lead keeps {keeps} until someone reviews it" if name in kept else ""
        rows.append((field_label(name, labels, form_id), _text(value), note))

    for key, value in values.items():
        if key == "custom_fields" and isinstance(value, dict):
            for custom_key, custom_value in value.items():
                add(CUSTOM_PREFIX + custom_key, custom_value)
        elif not isinstance(value, dict):
            add(key, value)
    consent = details.get("consent") if values is not details else None
    if isinstance(consent, dict) and consent.get("given"):
        where = " · ".join(p for p in (consent.get("source"), f"IP {consent['ip']}" if consent.get("ip") else "") if p)
        note = where + (" — marketing stays off until someone reviews it: consent had been withdrawn before"
                        if consent.get("held_for_review") else "")
        rows.append(("Marketing consent", f"Given: “{consent.get('text') or ''}”", note))
    return rows
