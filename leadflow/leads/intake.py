"""Leads that arrive from outside: the public capture forms and the REST API.

``intake_lead`` takes raw external input (strings from a form, values from JSON), and
either updates the live lead with the same email or creates a new one, logs what was
submitted on the lead's timeline and records marketing consent with its audit trail.
A public form ("form" channel) may only fill a known lead's blanks: ``leads.reviews`` decides
what it writes and keeps differing values (and consent after a withdrawal) for review.
It reads only lead fields a visitor may set: owner, stage, score, lifecycle and the
like come from the caller's ``defaults`` (the form's settings, the API token's
choices), never from the submitted data. It flushes; the caller commits. A busy database
runs the whole request again (``leadflow.retry``), so a submission is never half-taken.
Two submissions of one new email at once make one lead: the lead store's insert meets the
other's committed row (``INSERT … ON CONFLICT`` on the unique live-email index) and this
submission updates that lead instead, as if it had arrived second.
"""

from __future__ import annotations

from dataclasses import dataclass

from leadflow.activities.models import Activity
from leadflow.db import utcnow
from leadflow.errors import EmailTaken, ValidationFailed
from leadflow.extensions import db
from leadflow.leads import arrivals, events, reviews, services, store
from leadflow.leads.fields import (
    CUSTOM_KEY_MAX, CUSTOM_VALUE_MAX, MAX_CUSTOM_FIELDS, FieldError, consent_source_text, normalise_email,
)
from leadflow.leads.models import Lead
from leadflow.leads.policy import require_lead_edit
from leadflow.retry import in_unit_of_work

# The lead fields an outside party may send. Anything else in ``data`` is ignored.
CONTACT_KEYS = ("first_name", "last_name", "email", "phone", "title", "organization", "country")
ATTRIBUTION_KEYS = ("source", "utm_source", "utm_medium", "utm_campaign", "utm_term", "utm_content",
                    "referrer", "landing_page")
INPUT_KEYS = CONTACT_KEYS + ATTRIBUTION_KEYS + ("value", "tags")
# Fields a caller may choose for a new lead (a form's owner rule and stage, its default source).
DEFAULT_KEYS = ("owner_id", "stage_id", "source", "lifecycle", "tags")


@dataclass
class IntakeResult:
    lead: Lead
    created: bool


def _check_types(data: dict) -> dict[str, list[str]]:
    """JSON can carry numbers, lists and objects where text belongs: say so per field."""
    errors: dict[str, list[str]] = {}
    for key in INPUT_KEYS:
        value = data.get(key)
        if value is None or isinstance(value, str):
            continue
        if key == "value" and isinstance(value, (int, float)) and not isinstance(value, bool):
            continue
        if key == "tags" and isinstance(value, list) and all(isinstance(t, str) for t in value):
            continue
        expected = "text or a list of text" if key == "tags" else "text"
        errors[key] = [f"Send this field as {expected}."]
    custom = data.get("custom_fields")
    if custom is not None:
        if not isinstance(custom, dict):
            errors["custom_fields"] = ["Send custom fields as an object of name → text."]
        elif len(custom) > MAX_CUSTOM_FIELDS:
            errors["custom_fields"] = [f"Send at most {MAX_CUSTOM_FIELDS} custom fields."]
        else:
            for key, value in custom.items():
                if not isinstance(key, str) or not key or len(key) > CUSTOM_KEY_MAX:
                    errors.setdefault("custom_fields", []).append(
                        f"A custom field name must be 1 to {CUSTOM_KEY_MAX} characters.")
                elif value is not None and not isinstance(value, (str, int, float, bool)):
                    errors.setdefault(key, []).append("Send this field as text.")
                elif isinstance(value, str) and len(value) > CUSTOM_VALUE_MAX:
                    errors.setdefault(key, []).append(f"Use at most {CUSTOM_VALUE_MAX} characters.")
    return errors


def input_errors(data: dict, region: str | None = None) -> dict[str, list[str]]:
    """Everything wrong with ``data`` (wrong types, then bad values), writing nothing.

    For callers that refuse input for reasons of their own first (a missing required field,
    an unknown key): they add these, so the sender sees every problem in one answer.
    """
    errors = _check_types(data)
    values = {k: v for k, v in _submitted(data).items() if k in INPUT_KEYS and k not in errors}
    try:
        services.clean_lead_input(values, region)
    except ValidationFailed as exc:
        for key, messages in exc.errors.items():
            errors.setdefault(key, messages)
    return errors


def _submitted(data: dict) -> dict:
    """What the sender sent (known keys only, blanks dropped): kept on the timeline."""
    values = {k: data[k] for k in INPUT_KEYS if data.get(k) not in (None, "", [])}
    custom = {k: v for k, v in (data.get("custom_fields") or {}).items() if v not in (None, "")}
    if custom:
        values["custom_fields"] = custom
    return values


def _clean_custom(data: dict) -> dict:
    return {k: (v.strip() if isinstance(v, str) else v)
            for k, v in (data.get("custom_fields") or {}).items() if v not in (None, "")}


def find_live_lead_by_email(email_key: str | None) -> Lead | None:
    """The live lead that holds this email (at most one: ``uq_leads_live_email_key``)."""
    holder = store.email_holders([email_key]).get(email_key) if email_key else None
    return db.session.get(Lead, holder) if holder is not None else None


def _update_existing(actor, lead: Lead, submitted: dict, region: str | None) -> None:
    """Fill in what the submission says, as ``actor`` (the API token's user, or the capture
    form's system actor), who must be allowed to change the lead: else PermissionDenied,
    before anything is written.

    Contact details the sender gave replace the stored ones; attribution (source, UTM,
    referrer, landing page) keeps the first touch and only fills blanks; tags are added;
    the owner, stage and lifecycle stay as they are.
    """
    require_lead_edit(actor, lead)
    raw = {k: v for k, v in submitted.items() if k in INPUT_KEYS and k != "email"}
    values = services.clean_lead_input(raw, services.lead_phone_region(lead, region))
    for key in ATTRIBUTION_KEYS:
        if key in values and getattr(lead, key):
            values.pop(key)
    if "tags" in values:
        existing = [t.name for t in lead.tags]
        try:
            values["tags"] = services.parse_tags(existing + values["tags"])
        except FieldError as exc:  # too many with the lead's own
            raise ValidationFailed({"tags": [str(exc)]}) from exc
    services.write_changes(actor, lead, values)


def _consent_columns(consent: dict, at) -> dict:
    return {"marketing_consent": True, "consent_at": at, "consent_source": consent_source_text(consent)}


def _record_consent(lead: Lead, consent: dict, at, *, held: bool = False, written: bool = False) -> dict:
    """The consent event kept on the timeline; the lead's consent is switched on unless ``held``
    (a public form after a withdrawal: a person decides, see ``leads.reviews``) or ``written``
    already (a new lead's row went in with it: ``_consent_columns``)."""
    if not held and not written:
        store.update_columns([lead.id], _consent_columns(consent, at), None)
    event = {"given": True, "text": consent.get("text") or "", "source": consent.get("source") or "",
             "ip": consent.get("ip"), "at": at.isoformat()}
    if held:
        event["held_for_review"] = True
    return event


def _submission_entry(lead_id, actor, now, submitted: dict, created: bool, channel: str, kind: str,
                      subject: str, details: dict | None, consent_event: dict | None) -> dict:
    """The timeline entry that logs what a submission sent (``lead_id`` None: the store fills it)."""
    details = {"values": submitted, "created": created, "channel": channel, **(details or {})}
    if consent_event:
        details["consent"] = consent_event
    return {**({"lead_id": lead_id} if lead_id is not None else {}), "kind": kind,
            "actor_id": getattr(actor, "id", None), "occurred_at": now,
            "subject": (subject or kind.replace("_", " ").capitalize())[:200], "details": details}


def intake_lead(data: dict, *, channel: str, actor, defaults: dict | None = None,
                activity_kind: str = "form_submission", activity_subject: str = "",
                activity_details: dict | None = None, consent: dict | None = None,
                region: str | None = None) -> IntakeResult:
    """Create or update one lead from external input; see the module docstring.

    ``actor`` is who sends it: the API token's user, or the capture form's system actor.
    ``consent`` is ``{"text", "source", "ip"}`` when the sender agreed to marketing.
    Raises ValidationFailed (per-field messages), or PermissionDenied when the email is
    that of a lead ``actor`` may not change, and writes nothing in either case.
    """
    if not isinstance(data, dict):
        raise ValidationFailed({"data": ["Send the lead as an object of field → value."]})
    errors = _check_types(data)
    if errors:
        raise ValidationFailed(errors)
    submitted = _submitted(data)
    inputs = {k: v for k, v in submitted.items() if k in INPUT_KEYS}
    # The lead the submission is for reads its phone in its own country (cleaning reports a bad email).
    try:
        lead = find_live_lead_by_email(normalise_email(inputs.get("email"))[1])
    except FieldError:
        lead = None
    if lead is not None:
        region = services.lead_phone_region(lead, region)
    # Clean everything first: a refused submission must not half-update a lead.
    services.clean_lead_input(inputs, region)
    custom = _clean_custom(data)
    now = utcnow()

    created = False
    if lead is None:
        # A default may be a function, called only when a lead is made, by ``create_lead`` just
        # before its INSERT (a form's round-robin owner: the turn locks the form's row until the
        # commit, and every submission to the form waits for it).
        given = {k: v for k, v in (defaults or {}).items() if k in DEFAULT_KEYS}
        late = {k: v for k, v in given.items() if callable(v)}
        defaults = {k: v for k, v in given.items() if not callable(v)}
        new_data = {k: v for k, v in defaults.items() if v not in (None, "")}
        new_data.update({k: v for k, v in submitted.items() if k in INPUT_KEYS})
        if "tags" in submitted and defaults.get("tags"):
            new_data["tags"] = services.parse_tags(services.parse_tags(defaults["tags"])
                                                   + services.parse_tags(submitted["tags"]))
        # What this submission writes on a new lead goes in with its row: its consent, its last activity;
        # and, when its arrival is queued (nothing in this request reads the entry), its timeline entry.
        columns = {"last_activity_at": now, **(_consent_columns(consent, now) if consent else {})}
        entry = None if custom or not in_unit_of_work() else _submission_entry(
            None, actor, now, submitted, True, channel, activity_kind, activity_subject, activity_details,
            consent and _record_consent(None, consent, now, written=True))
        try:
            lead, created = services.create_lead(actor, new_data, region=region, channel=channel, columns=columns,
                                                 entries=[entry] if entry else None, late=late), True
            if entry is not None:  # in a unit of work its arrival is queued: nothing reads the entry now
                return IntakeResult(lead=lead, created=True)  # it went in with the lead's own entries
        except EmailTaken as taken:
            # A concurrent submission with this email committed its lead first (the store's
            # INSERT … ON CONFLICT waited for it and wrote nothing): this one updates it. The
            # row is locked (PostgreSQL) so the others that lost the same race update it in
            # turn, each reading the version the one before it wrote.
            lead = db.session.get(Lead, taken.lead_id, with_for_update=True)
    public_merge = None
    if not created and channel == reviews.PUBLIC_CHANNEL:
        # anyone may post a form: fill blanks, differing values wait for review
        public_merge = reviews.split_public_submission(
            lead, submitted, custom, region, source=actor.name)
        _update_existing(actor, lead, public_merge.fills, region)
        custom = public_merge.custom_fills
    elif not created:
        _update_existing(actor, lead, submitted, region)

    # A new lead whose arrival is queued has its handlers run after the commit, seeing all
    # that this submission writes about it: nothing downstream has anything to do now.
    arriving = created and arrivals.queued(lead.id)
    if custom:
        store.update_lead(lead, {"custom_fields": {**(lead.custom_fields or {}), **custom}}, actor, audit=False,
                          announce=["custom_fields"])
    consent_event = consent and _record_consent(lead, consent, now, written=created,
                                                held=public_merge is not None and public_merge.hold_consent())
    entry = _submission_entry(lead.id, actor, now, submitted, created, channel, activity_kind, activity_subject,
                              activity_details, consent_event)
    if public_merge is not None and public_merge.differences:
        entry["details"]["kept"] = public_merge.timeline_note()
    if arriving:  # nothing in this request reads the entry (no review, no handler): one INSERT
        db.session.execute(Activity.__table__.insert(), [entry])
        return IntakeResult(lead=lead, created=created)
    activity = Activity(**entry)
    db.session.add(activity)
    if not created:
        store.update_columns([lead.id], {"last_activity_at": now}, actor)
    db.session.flush()
    if public_merge is not None:
        public_merge.open_reviews(activity)
    events.activity_added(lead, actor, activity)
    return IntakeResult(lead=lead, created=created)
