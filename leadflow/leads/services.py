"""Creating, changing, deleting and restoring leads. Every rule about a lead's data is here.

Services take the actor and plain data, raise domain errors and flush; the caller
(a view, the CLI, the API, a job) commits once.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

from sqlalchemy.orm import attributes

from leadflow.accounts.models import User
from leadflow.db import held_as_loaded, insert_missing, parse_id, utcnow
from leadflow.errors import DomainError, EmailTaken, NotFound, PermissionDenied, ValidationFailed, VersionConflict
from leadflow.extensions import db
from leadflow.governance.audit import record_changes, record_event
from leadflow.governance.settings import get_setting
from leadflow.leads import fields as f
from leadflow.leads import arrivals, store
from leadflow.leads.store import audit_snapshot  # noqa: F401  (what callers of the services read)
from leadflow.leads.custom_fields import AUDIT_PREFIX
from leadflow.leads.merge_models import LeadMerge
from leadflow.governance.models import CURRENCIES
from leadflow.leads.models import LIFECYCLES, SOURCES, TEMPERATURES, Lead, Tag
from leadflow.leads.policy import can_create_lead, require_lead_edit
from leadflow.organizations.names import find_or_create_organization
from leadflow.pipeline.models import Pipeline, Stage
from leadflow.web import refcache

TEXT_LIMITS = {
    "first_name": 80, "last_name": 80, "title": 120, "disqualified_reason": 200,
    "won_lost_reason": 200, "utm_source": 120, "utm_medium": 120, "utm_campaign": 120,
    "utm_term": 120, "utm_content": 120, "referrer": 2000, "landing_page": 2000,
}
CHOICES = {"lifecycle": LIFECYCLES, "temperature": TEMPERATURES, "currency": CURRENCIES, "source": SOURCES}
# What the audit log and history panel call each stored attribute.
AUDITED = (
    "first_name", "last_name", "email", "phone", "title", "country", "organization", "source",
    "utm_source", "utm_medium", "utm_campaign", "utm_term", "utm_content", "referrer", "landing_page",
    "owner", "lifecycle", "disqualified_reason", "temperature", "stage", "value", "currency",
    "expected_close_date", "won_lost_reason", "marketing_consent", "tags",
)
MAX_TAGS = 20


def _region() -> str:
    return get_setting("default_phone_region") or "US"


def lead_phone_region(lead: Lead, region: str | None = None) -> str:
    """The region a phone for this lead is read in: its country, else ``region`` or the workspace's."""
    return f.phone_region(lead.country, region or _region())


def _text(value, limit: int) -> str:
    text = "" if value is None else str(value)
    text = " ".join(text.split())  # one line, no control characters
    if len(text) > limit:
        raise f.FieldError(f"Use at most {limit} characters.")
    return text


def parse_tags(value) -> list[str]:
    if value is None:
        return []
    items = value if isinstance(value, (list, tuple)) else str(value).split(",")
    names, seen = [], set()
    for item in items:
        name = " ".join(str(item).split())
        if not name:
            continue
        if len(name) > 40:
            raise f.FieldError("A tag can have at most 40 characters.")
        if name.lower() not in seen:
            seen.add(name.lower())
            names.append(name)
    if len(names) > MAX_TAGS:
        raise f.FieldError(f"A lead can have at most {MAX_TAGS} tags.")
    return names


def clean_lead_input(data: dict, region: str | None = None) -> dict:
    """Turn user input into model values. Only the keys present are cleaned.

    Returns a dict of attribute → value (``organization_name``, ``owner``, ``stage``
    and ``tags`` are resolved later); raises ValidationFailed with every problem. A phone
    without its country code is read in the given country (``data["country"]``) when it is
    a known one, else in ``region`` (the lead's, or the workspace's).
    """
    country = data.get("country")
    region = f.phone_region(country if isinstance(country, str) else None, region or _region())
    out: dict = {}
    errors: dict[str, list[str]] = {}
    for key, raw in data.items():
        try:
            if key in TEXT_LIMITS:
                out[key] = _text(raw, TEXT_LIMITS[key]) or (None if key not in ("first_name", "last_name") else "")
            elif key == "email":
                out["email"], out["email_key"] = f.normalise_email(raw)
            elif key == "phone":
                out["phone"] = f.normalise_phone(raw, region)
            elif key == "country":
                code = _text(raw, 2).upper()
                if code and not code.isalpha():
                    raise f.FieldError("Use a two-letter country code such as US or DE.")
                out["country"] = code or None
            elif key == "organization":
                out["organization_name"] = _text(raw, 200) or None
            elif key in CHOICES:
                value = _text(raw, 40)
                if key == "source" and not value:
                    out[key] = None
                    continue
                if key == "currency":
                    value = value.upper()
                elif key in ("lifecycle", "temperature"):
                    value = value.lower()
                if value not in CHOICES[key]:
                    raise f.FieldError("Choose one of the listed values.")
                out[key] = value
            elif key == "owner_id":
                out["owner_id"] = _resolve_owner_id(raw)
            elif key == "stage_id":
                out["stage_id"] = _resolve_stage_id(raw)
            elif key == "value":
                out["value_cents"] = f.parse_money(raw)
            elif key == "expected_close_date":
                out["expected_close_date"] = f.parse_date(raw)
            elif key == "marketing_consent":
                out["marketing_consent"] = raw in (True, "y", "yes", "on", "true", "1", 1)
            elif key == "tags":
                out["tags"] = parse_tags(raw)
            elif key in ("score",):
                continue  # computed, never taken from input
            else:
                continue  # unknown keys are ignored, never stored
        except f.FieldError as exc:
            errors.setdefault(key, []).append(str(exc))
    if errors:
        raise ValidationFailed(errors)
    return out


def _resolve_owner_id(raw) -> int | None:
    if raw in (None, "", "none", 0, "0"):
        return None
    owner_id = parse_id(raw)
    if owner_id is None:
        raise f.FieldError("Choose an owner from the list.")
    user = db.session.get(User, owner_id)
    if user is None or not user.active:
        raise f.FieldError("That owner does not exist or is not active.")
    return owner_id


def _resolve_stage_id(raw) -> int | None:
    if raw in (None, "", 0, "0"):
        return None
    stage_id = parse_id(raw)
    if stage_id is None:
        raise f.FieldError("Choose a stage from the list.")
    stage = db.session.get(Stage, stage_id)
    if stage is None or stage.pipeline.archived_at is not None:
        raise f.FieldError("That stage does not exist.")
    return stage_id


def identity_errors(first_name, last_name, email, phone) -> dict[str, list[str]]:
    """A lead needs a name (first or last) and a way to reach it (email or phone)."""
    errors: dict[str, list[str]] = {}
    if not (first_name or last_name):
        errors["first_name"] = ["Enter a name (first or last)."]
    if not (email or phone):
        errors["email"] = ["Enter an email or a phone number."]
    return errors


def _require_identity(first_name: str, last_name: str, email: str | None, phone: str | None) -> None:
    errors = identity_errors(first_name, last_name, email, phone)
    if errors:
        raise ValidationFailed(errors)


def default_stage() -> Stage | None:
    """The first open stage of the default pipeline (else of the first live one). Its columns
    are reference data (``web.refcache``, kept while no pipeline or stage changes): the session
    gets the stage as a loaded object without a query (``db.held_as_loaded``)."""
    values = refcache.cached(("pipelines",), "default stage", _load_default_stage)
    return held_as_loaded(Stage, values) if values is not None else None


def _load_default_stage() -> dict | None:
    pipeline_id = (db.select(Pipeline.id).where(Pipeline.archived_at.is_(None))
                   .order_by(Pipeline.is_default.desc(), Pipeline.position, Pipeline.id).limit(1).scalar_subquery())
    stage = db.session.execute(db.select(*Stage.__table__.c).where(
        Stage.pipeline_id == pipeline_id, Stage.kind == "open").order_by(Stage.position, Stage.id).limit(1)).first()
    return dict(stage._mapping) if stage is not None else None  # plain data: kept for the process


def resolve_tags(names: list[str]) -> list[Tag]:
    """The tags called ``names``, in that order, adding the missing ones with ``INSERT … ON
    CONFLICT DO NOTHING`` before selecting them: requests adding the same new tag at once all
    get the one tag."""
    if not names:
        return []
    wanted = {n.lower(): n for n in names}

    def existing():
        return {t.name_key: t for t in db.session.scalars(db.select(Tag).where(Tag.name_key.in_(list(wanted))))}

    found = existing()
    if len(found) < len(wanted):
        insert_missing(Tag.__table__, [{"name": n, "name_key": k} for k, n in wanted.items() if k not in found],
                       ["name_key"])
        found = existing()
    return [found[n.lower()] for n in names]


def write_changes(actor, lead: Lead, values: dict, **options) -> list[str]:
    """Write cleaned values (``clean_lead_input``'s) to the lead through the lead store,
    resolving organization, tags and stage first; returns the fields that changed."""
    values = dict(values)
    tag_ids = stage = None
    if "organization_name" in values:
        name = values.pop("organization_name")
        values["organization_id"] = find_or_create_organization(name).id if name else None
    if "tags" in values:
        tag_ids = [tag.id for tag in resolve_tags(values.pop("tags"))]
    if "stage_id" in values:
        stage_id = values.pop("stage_id")
        options["stage"] = db.session.get(Stage, stage_id) if stage_id else None
    return store.update_lead(lead, values, actor, tag_ids=tag_ids, **options)


def create_lead(actor, data: dict, *, region: str | None = None, channel: str = "manual",
                columns: dict | None = None, entries: list[dict] | None = None,
                late: dict[str, Callable[[], Any]] | None = None) -> Lead:
    """Create a lead from user input. ``channel`` says how it came in (see
    ``leadflow.leads.events.CHANNELS``); the arrival steps run before this returns.
    ``columns``: values the caller sets on the new row as they are, not input to clean (a
    submission's consent and time of last activity), so they need no UPDATE after the INSERT.
    ``entries``: timeline entries of the new lead the store writes with its own (none when
    the email is taken: ``EmailTaken``). ``late``: column → function giving its value when
    ``data`` has none, asked after everything else the create reads, just before its INSERT
    (a form's round-robin owner, whose turn keeps the form's row locked until the commit)."""
    if not can_create_lead(actor):
        raise PermissionDenied("Your role cannot create leads.")
    values = clean_lead_input(data, region)
    _require_identity(values.get("first_name", ""), values.get("last_name", ""),
                      values.get("email"), values.get("phone"))
    stage = None
    if not values.get("stage_id"):
        stage = default_stage()
        values["stage_id"] = stage.id if stage else None
    org_name = values.pop("organization_name", None)
    organization = find_or_create_organization(org_name) if org_name else None
    tags = resolve_tags(values.pop("tags", []))
    for key, default in (late or {}).items():
        if values.get(key) in (None, "") and (value := default()) not in (None, ""):
            values[key] = value
    if "owner_id" not in values and actor is not None and actor.role == "rep":
        values["owner_id"] = actor.id
    row = {"first_name": "", "last_name": "", "email": None, "email_key": None, "phone": None,
           "lifecycle": "lead", "temperature": "cold", "score": 0, "value_cents": None,
           "currency": get_setting("default_currency") or "USD", "deleted_at": None, "owner_id": None,
           **values, "organization_id": organization.id if organization else None, **(columns or {})}
    new = store.NewLead(row, organization_name=org_name, tag_ids=[tag.id for tag in tags], entries=entries or [])
    for _ in range(3):  # the holder went to the trash in between: the address is free again
        result = store.create_leads([new], actor, channel, note_owner=True, audit=True)
        if result.ids[0] is not None:
            lead = db.session.get(Lead, result.ids[0])
            if arrivals.queued(lead.id):  # else its arrival ran already, and may have changed them
                _show_related(lead, organization, stage, tags)
            return lead
        if 0 in result.taken:
            raise EmailTaken(result.taken[0])
    raise DomainError("This email was being changed elsewhere at the same moment. Please try again.")


def _show_related(lead: Lead, organization, stage: Stage | None, tags: list[Tag]) -> None:
    """A new lead's organization, stage and tags are the objects its create just read (nothing
    has changed them yet): what shows the lead (the API's answer) reads them without a query each."""
    related = {"organization": organization, "tags": sorted(tags, key=lambda tag: tag.name_key)}
    if stage is not None and stage.id == lead.stage_id:
        related["stage"] = stage
    for key, value in related.items():
        if key not in lead.__dict__ and (key == "tags" or getattr(value, "id", None) == getattr(lead, f"{key}_id")):
            attributes.set_committed_value(lead, key, value)


def _check_email_free(lead: Lead, email_key: str | None) -> None:
    """EmailTaken when another live lead holds ``email_key`` (the address ``lead`` would get)."""
    if email_key and email_key != lead.email_key:
        holder = store.email_holders([email_key], exclude_id=lead.id).get(email_key)
        if holder is not None:
            raise EmailTaken(holder)


def update_lead(actor, lead: Lead, data: dict, *, expected_version: int | None = None,
                region: str | None = None, rank: float | store.ColumnTop | None = None) -> list[str]:
    """Change some fields of a lead (and, with ``rank``, its place in its board column);
    returns the names of the fields that changed."""
    _check_editable(actor, lead, expected_version)
    values = clean_lead_input(data, lead_phone_region(lead, region))
    _require_identity(
        values.get("first_name", lead.first_name), values.get("last_name", lead.last_name),
        values.get("email", lead.email), values.get("phone", lead.phone),
    )
    if lead.shared_email_key and values.get("email_key") == lead.shared_email_key:
        values.pop("email_key")  # its own address again: still parked beside the holder's (merge them)
    new_email = "email_key" in values and values["email_key"] != lead.email_key
    if new_email:
        _check_email_free(lead, values["email_key"])
        values["shared_email_key"] = None  # its own address now: no longer parked beside another lead's
    return write_changes(actor, lead, values, rank=rank)


def _check_editable(actor, lead: Lead, expected_version: int | None) -> None:
    if lead.deleted_at is not None:
        raise NotFound("This lead is in the trash. Restore it first.")
    require_lead_edit(actor, lead)
    if expected_version is not None and expected_version != lead.version:
        raise VersionConflict(lead)


def clean_custom_key(key) -> str:
    """A new custom field's name, on one line; FieldError when empty or too long."""
    text = " ".join(str(key or "").split())
    if not text:
        raise f.FieldError("Give the field a name.")
    if len(text) > f.CUSTOM_KEY_MAX:
        raise f.FieldError(f"Use at most {f.CUSTOM_KEY_MAX} characters for the name.")
    return text


def clean_custom_value(value) -> str:
    """A custom field's text as kept: line breaks kept (as \\n), no other control characters,
    no blank lines at either end; FieldError when empty or too long."""
    lines = str("" if value is None else value).replace("\r\n", "\n").replace("\r", "\n").split("\n")
    text = "\n".join("".join(c for c in line if c == "\t" or c.isprintable()).rstrip() for line in lines).strip()
    if not text:
        raise f.FieldError("Enter a value, or remove the field.")
    if len(text) > f.CUSTOM_VALUE_MAX:
        raise f.FieldError(f"Use at most {f.CUSTOM_VALUE_MAX} characters.")
    return text


def update_custom_field(actor, lead: Lead, key: str, value: str | None, *,
                        expected_version: int | None = None) -> bool:
    """Set one custom field of a lead, or remove it (``value`` None): a person's choice,
    audited like any other field; True when it changed."""
    _check_editable(actor, lead, expected_version)
    stored = dict(lead.custom_fields or {})
    before = stored.get(key)
    if value is None:
        if key not in stored:
            return False
        del stored[key]
    elif before == value:
        return False
    else:
        stored[key] = value
    label = f"{AUDIT_PREFIX}{key}"[:64]
    record_changes(actor, "lead", lead.id, {label: before}, {label: value})
    store.update_lead(lead, {"custom_fields": stored}, actor, audit=False, announce=["custom_fields"])
    return True


def set_custom_field(actor, lead: Lead, key: str, raw_value, *, expected_version: int | None = None) -> bool:
    """Change an existing custom field to what a person typed (ValidationFailed with a message
    under ``value`` when it cannot be kept); NotFound when the lead has no such field."""
    if key not in (lead.custom_fields or {}):
        raise NotFound("This lead has no such field any more.")
    try:
        value = clean_custom_value(raw_value)
    except f.FieldError as exc:
        raise ValidationFailed({"value": [str(exc)]}) from exc
    return update_custom_field(actor, lead, key, value, expected_version=expected_version)


def add_custom_field(actor, lead: Lead, raw_key, raw_value, *, expected_version: int | None = None) -> str:
    """Give the lead a new custom field; returns its name. ValidationFailed (under ``key`` and
    ``value``) for a missing or too long name or value, a name the lead has already, or a lead
    that has the most fields it may have."""
    _check_editable(actor, lead, expected_version)
    errors: dict[str, list[str]] = {}
    stored = lead.custom_fields or {}
    key = None
    try:
        key = clean_custom_key(raw_key)
    except f.FieldError as exc:
        errors["key"] = [str(exc)]
    if key is not None and any(k.casefold() == key.casefold() for k in stored):
        errors["key"] = [f"This lead already has a field named “{key}”: change its value instead."]
    elif key is not None and len(stored) >= f.MAX_CUSTOM_FIELDS:
        errors["key"] = [f"A lead can have at most {f.MAX_CUSTOM_FIELDS} fields here. Remove one first."]
    try:
        value = clean_custom_value(raw_value)
    except f.FieldError as exc:
        errors["value"] = [str(exc)]
    if errors:
        raise ValidationFailed(errors)
    update_custom_field(actor, lead, key, value)
    return key


def delete_lead(actor, lead: Lead) -> None:
    require_lead_edit(actor, lead)
    if lead.deleted_at is None:
        store.trash_leads([lead.id], actor)
        record_event(actor, "lead", lead.id, "delete", lead.name)
        db.session.flush()


def restore_lead(actor, lead: Lead) -> None:
    require_lead_edit(actor, lead)
    survivor_id = db.session.scalar(db.select(LeadMerge.survivor_id).where(
        LeadMerge.absorbed_id == lead.id, LeadMerge.undone_at.is_(None)))
    if lead.deleted_at is not None and survivor_id is not None:
        # Restoring it alone would leave its activities and tasks on the other lead.
        raise DomainError(f"{lead.name} was merged into lead #{survivor_id}. "
                          "Undo the merge from that lead's history to bring it back with everything it had.")
    if lead.deleted_at is not None:
        check_email_free_to_restore(lead)
        restore_from_trash(lead, actor)
        record_event(actor, "lead", lead.id, "restore", lead.name)
        db.session.flush()


def check_email_free_to_restore(lead: Lead) -> None:
    """A trashed lead whose email another live lead has taken since cannot come back beside
    it (emails are unique among live leads): EmailTaken, saying to merge them instead."""
    holder = store.email_holders([lead.email_key], exclude_id=lead.id).get(lead.email_key) if lead.email_key else None
    if holder is not None:
        raise EmailTaken(holder, _restore_refusal(lead, holder))


def restore_from_trash(lead: Lead, actor) -> None:
    """Take the lead out of the trash through the lead store; EmailTaken (saying to merge
    them) when another live lead took its email meanwhile."""
    store.restore_lead(lead, actor, refusal=lambda holder: _restore_refusal(lead, holder))


def _restore_refusal(lead: Lead, holder: int) -> str:
    return (f"Lead #{holder} already has this email ({lead.email}), so {lead.name} cannot be restored beside it. "
            "Merge them instead: restoring works again once that lead has another email or is in the trash.")


def purge_trash(older_than_days: int, now=None) -> int:
    """Delete for good the leads that have sat in the trash longer than the retention."""
    cutoff = (now or utcnow()) - timedelta(days=older_than_days)
    return store.purge_leads(list(db.session.scalars(db.select(Lead.id).where(Lead.deleted_at < cutoff))))
