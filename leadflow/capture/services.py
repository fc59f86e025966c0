"""Capture forms: building them (admins) and taking submissions (anyone).

Builder functions take the acting user and plain data (see ``forms.builder_input``),
raise ValidationFailed / PermissionDenied and flush; the view commits. ``submit``
turns a checked submission into a lead through ``leads.intake``.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import urlsplit

from flask import current_app
from sqlalchemy import bindparam, delete, update

from leadflow.accounts.models import Team, User
from leadflow.accounts.services import WRITER_ROLES, menu_teams, menu_users
from leadflow.accounts.system import system_actor
from leadflow.capture.models import OWNER_RULES, CaptureForm, CaptureTokenUse
from leadflow.db import held_as_loaded, parse_id, transaction_cache, utcnow
from leadflow.errors import PermissionDenied, ValidationFailed
from leadflow.extensions import db
from leadflow.governance.audit import record_event
from leadflow.leads.events import arriving
from leadflow.leads.intake import ATTRIBUTION_KEYS, IntakeResult, input_errors, intake_lead
from leadflow.leads.models import SOURCES
from leadflow.pipeline.models import Pipeline, Stage
from leadflow.pipeline.stages import stage_choices
from leadflow.routing.models import RoutingRule
from leadflow.routing.services import available_users, kept_people
from leadflow.scheduler.claims import insert_or_ignore
from leadflow.web import refcache

# Standard lead fields a form may ask for: key → (default label, input type, autocomplete).
STANDARD_FIELDS = {
    "first_name": ("First name", "text", "given-name"),
    "last_name": ("Last name", "text", "family-name"),
    "email": ("Email", "email", "email"),
    "phone": ("Phone", "tel", "tel"),
    "organization": ("Company", "text", "organization"),
    "title": ("Job title", "text", "organization-title"),
    "country": ("Country (two-letter code, e.g. US)", "text", "country"),
}
CUSTOM_TYPES = {"text": "Short text", "textarea": "Long text", "select": "Choice from a list"}
# Names the public form uses for itself; a custom field may not take them.
HONEYPOT_FIELD = "website"
TOKEN_FIELD = "form_token"
CONSENT_FIELD = "consent"
# Where the visitor came from: filled in by the hosted page or the embed script, never typed.
TRACKING_KEYS = tuple(k for k in ATTRIBUTION_KEYS if k != "source")
RESERVED_KEYS = set(STANDARD_FIELDS) | set(ATTRIBUTION_KEYS) | {
    HONEYPOT_FIELD, TOKEN_FIELD, CONSENT_FIELD, "embed", "custom_fields", "tags", "value",
    "owner_id", "stage_id", "score", "lifecycle", "temperature"}

HOST_RE = re.compile(r"^[A-Za-z0-9.-]+(:[0-9]{1,5})?$|^\[[0-9A-Fa-f:.]+\](:[0-9]{1,5})?$")
SLUG_RE = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
CUSTOM_KEY_RE = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
MAX_FIELDS = 30
MAX_OPTIONS = 50
LABEL_MAX = 80
TRACKING_LIMITS = {"referrer": 2000, "landing_page": 2000}
TRACKING_TEXT_MAX = 120
DEFAULT_THANK_YOU = "Thank you! We received your details and will be in touch soon."
BUILDER_ROLES = ("admin",)


# --- helpers shared by the builder and the public side ---------------------------------

def slugify(text: str) -> str:
    ascii_text = unicodedata.normalize("NFKD", text or "").encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")[:60].strip("-")


def check_redirect_url(url: str) -> str | None:
    """None for an absolute http(s) address; otherwise a message saying what is wrong."""
    if any(ord(ch) < 0x21 or ch in "\\\x7f" for ch in url):
        return "The address may not contain spaces, backslashes or control characters."
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018  (raises for a port that is not a number)
    except ValueError:
        return "That is not a web address we can read."
    if parts.scheme.lower() not in ("http", "https"):
        return "Use a full web address starting with https:// (or http://)."
    if parts.username or parts.password:
        return "The address may not contain a user name or password."
    if not parts.hostname or not HOST_RE.match(parts.netloc):
        return "Use a full web address with a site name, such as https://example.com/thanks."
    return None


def _safe_web_url(value, limit: int) -> str | None:
    """A visitor's page address: kept when it is an http(s) URL, shortened to the column."""
    if not isinstance(value, str) or not value.strip():
        return None
    value = value.strip()[:limit]
    return value if check_redirect_url(value) is None else None


def clean_tracking(source: dict) -> dict:
    """Landing page, referrer and UTM values from a query string or a submission.

    They are not typed by the visitor, so bad ones are dropped or shortened, never an error.
    """
    out = {}
    for key in TRACKING_KEYS:
        value = source.get(key)
        if key in TRACKING_LIMITS:
            value = _safe_web_url(value, TRACKING_LIMITS[key])
        elif isinstance(value, str):
            value = " ".join(value.split())[:TRACKING_TEXT_MAX] or None
        else:
            value = None
        if value:
            out[key] = value
    return out


def field_input_type(field: dict) -> str:
    if field.get("custom"):
        return field.get("type", "text")
    return STANDARD_FIELDS[field["key"]][1]


def field_autocomplete(field: dict) -> str:
    return "off" if field.get("custom") else STANDARD_FIELDS[field["key"]][2]


# --- the builder --------------------------------------------------------------------

def _require_builder(actor) -> None:
    if actor is None or getattr(actor, "role", None) not in BUILDER_ROLES:
        raise PermissionDenied("Only admins can change capture forms.")


def _text(value, limit: int, errors: dict, key: str, label: str) -> str:
    text = (value or "").strip() if isinstance(value, str) else ""
    if len(text) > limit:
        errors.setdefault(key, []).append(f"{label}: use at most {limit} characters.")
    return text


def _order(value, default: int) -> int:
    try:
        return int(str(value).strip())
    except (TypeError, ValueError):
        return default


def _options(raw) -> list[str]:
    items = raw if isinstance(raw, list) else re.split(r"[\n,]", raw or "")
    seen, out = set(), []
    for item in items:
        item = " ".join(str(item).split())
        if item and item.lower() not in seen:
            seen.add(item.lower())
            out.append(item)
    return out


def clean_fields(data: dict, errors: dict) -> list[dict]:
    """The ordered field list from the builder's rows; problems go into ``errors``."""
    rows: list[tuple[int, int, dict]] = []
    for index, row in enumerate(data.get("standard", [])):
        key = row.get("key")
        if key not in STANDARD_FIELDS or not row.get("include"):
            continue
        label = _text(row.get("label"), LABEL_MAX, errors, f"std-{key}-label", "Label") or STANDARD_FIELDS[key][0]
        rows.append((_order(row.get("order"), index + 1), index,
                     {"key": key, "label": label, "required": bool(row.get("required")), "custom": False}))
    keys_seen: set[str] = set()
    for index, row in enumerate(data.get("custom", [])):
        if row.get("remove"):
            continue
        prefix = f"custom-{index}"
        label = _text(row.get("label"), LABEL_MAX, errors, f"{prefix}-label", "Label")
        key = (row.get("key") or "").strip().lower() or slugify(label).replace("-", "_")[:40]
        if not label and not (row.get("key") or "").strip():
            continue  # an empty row: nothing to add
        if not label:
            errors.setdefault(f"{prefix}-label", []).append("Give the custom field a label.")
        if not CUSTOM_KEY_RE.match(key or ""):
            errors.setdefault(f"{prefix}-key", []).append(
                "Use a lower-case name of letters, digits and _ starting with a letter, such as message.")
        elif key in RESERVED_KEYS or key in keys_seen:
            errors.setdefault(f"{prefix}-key", []).append(f"The name “{key}” is taken; choose another.")
        keys_seen.add(key)
        kind = row.get("type") or "text"
        if kind not in CUSTOM_TYPES:
            errors.setdefault(f"{prefix}-type", []).append("Choose one of the listed types.")
        field = {"key": key, "label": label, "required": bool(row.get("required")), "custom": True,
                 "type": kind if kind in CUSTOM_TYPES else "text"}
        if kind == "select":
            options = _options(row.get("options"))
            if not options:
                errors.setdefault(f"{prefix}-options", []).append("List the choices, one per line.")
            elif len(options) > MAX_OPTIONS or any(len(o) > LABEL_MAX for o in options):
                errors.setdefault(f"{prefix}-options", []).append(
                    f"Use at most {MAX_OPTIONS} choices of at most {LABEL_MAX} characters.")
            field["options"] = options
        elif _options(row.get("options")):
            errors.setdefault(f"{prefix}-options", []).append(
                "Choices are only for a “Choice from a list” field: pick that type, or clear the choices.")
        rows.append((_order(row.get("order"), 100 + index), 100 + index, field))
    rows.sort(key=lambda r: (r[0], r[1]))
    return [field for _, _, field in rows]


def _slug_taken(slug: str, form: CaptureForm | None) -> bool:
    taken = db.session.scalar(db.select(CaptureForm.id).where(CaptureForm.slug == slug))
    return taken is not None and (form is None or taken != form.id)


def clean_builder_input(data: dict, form: CaptureForm | None = None) -> dict:
    """Model values for a capture form, or ValidationFailed with every problem."""
    errors: dict[str, list[str]] = {}
    name = _text(data.get("name"), 120, errors, "name", "Name")
    if not name:
        errors.setdefault("name", []).append("Give the form a name, such as “Contact us”.")
    typed_slug = (data.get("slug") or "").strip().lower()
    slug = typed_slug or slugify(name)
    if not SLUG_RE.match(slug) or len(slug) > 60:
        errors.setdefault("slug", []).append(
            "Use lower-case letters, digits and single hyphens (at most 60), such as contact-us.")
    elif _slug_taken(slug, form):
        if typed_slug or form is not None:
            errors.setdefault("slug", []).append(f"Another form already uses the address /f/{slug}.")
        else:  # a new form's address made from a name another form shares: the first free "-2", "-3"…
            slug = next(f"{slug[:56]}-{n}" for n in range(2, 10_000) if not _slug_taken(f"{slug[:56]}-{n}", form))
    fields = clean_fields(data, errors)
    keys = {f["key"] for f in fields}
    if not fields:
        errors.setdefault("fields", []).append("Pick at least one field.")
    elif len(fields) > MAX_FIELDS:
        errors.setdefault("fields", []).append(f"A form can have at most {MAX_FIELDS} fields.")
    if fields and not keys & {"email", "phone"}:
        errors.setdefault("fields", []).append("Include Email or Phone, so the lead can be contacted.")
    if fields and not keys & {"first_name", "last_name"}:
        errors.setdefault("fields", []).append("Include First name or Last name: every lead needs a name.")

    redirect_url = _text(data.get("redirect_url"), 2000, errors, "redirect_url", "Redirect address")
    if redirect_url and (problem := check_redirect_url(redirect_url)):
        errors.setdefault("redirect_url", []).append(problem)
    source = (data.get("default_source") or "").strip() or None
    if source is not None and source not in SOURCES:
        errors.setdefault("default_source", []).append("Choose one of the listed sources.")
    stage_id = _choice_id(data.get("stage_id"), errors, "stage_id", _live_stage, "Choose a stage from the list.")
    owner_rule = data.get("owner_rule") or "none"
    if owner_rule not in OWNER_RULES:
        errors.setdefault("owner_rule", []).append("Choose one of the listed rules.")
    owner_id = _choice_id(data.get("owner_id"), errors, "owner_id", _active_user, "Choose an active user.")
    team_id = _choice_id(data.get("team_id"), errors, "team_id", lambda i: db.session.get(Team, i),
                         "Choose a team from the list.")
    if owner_rule == "user" and owner_id is None and "owner_id" not in errors:
        errors["owner_id"] = ["Choose who receives the leads from this form."]
    if owner_rule == "round_robin" and team_id is None and "team_id" not in errors:
        errors["team_id"] = ["Choose the team whose members take turns."]
    values = {
        "name": name, "slug": slug, "active": bool(data.get("active")), "fields": fields,
        "consent_text": _text(data.get("consent_text"), 1000, errors, "consent_text", "Consent text") or None,
        "button_label": _text(data.get("button_label"), 60, errors, "button_label", "Button label") or "Send",
        "thank_you_message": _text(data.get("thank_you_message"), 2000, errors, "thank_you_message",
                                   "Thank-you message") or None,
        "redirect_url": redirect_url or None, "default_source": source, "stage_id": stage_id,
        "owner_rule": owner_rule, "owner_id": owner_id if owner_rule == "user" else None,
        "team_id": team_id if owner_rule == "round_robin" else None,
    }
    if errors:
        raise ValidationFailed(errors)
    return values


def _choice_id(raw, errors: dict, key: str, load, message: str) -> int | None:
    if raw in (None, "", "0"):
        return None
    ident = parse_id(raw)
    if ident is None or load(ident) is None:
        errors.setdefault(key, []).append(message)
        return None
    return ident


def _active_user(user_id: int) -> User | None:
    user = db.session.get(User, user_id)
    return user if user is not None and user.active else None


def _live_stage(stage_id: int) -> Stage | None:
    stage = db.session.get(Stage, stage_id)
    return stage if stage is not None and stage.pipeline.archived_at is None else None


def preview_form(data: dict) -> CaptureForm:
    """An unsaved form built from the builder's current input, for the live preview."""
    fields = clean_fields(data, {})
    return CaptureForm(name=(data.get("name") or "").strip() or "Untitled form", slug="preview", fields=fields,
                       consent_text=(data.get("consent_text") or "").strip() or None,
                       button_label=(data.get("button_label") or "").strip()[:60] or "Send", active=True)


def create_form(actor, data: dict) -> CaptureForm:
    _require_builder(actor)
    values = clean_builder_input(data)
    form = CaptureForm(created_by_id=actor.id, rotation_counter=0, submission_count=0, **values)
    db.session.add(form)
    db.session.flush()
    record_event(actor, "capture_form", form.id, "create", form.name)
    return form


def update_form(actor, form: CaptureForm, data: dict) -> None:
    _require_builder(actor)
    values = clean_builder_input(data, form)
    for key, value in values.items():
        setattr(form, key, value)
    form.updated_at = utcnow()
    record_event(actor, "capture_form", form.id, "update", form.name)
    db.session.flush()


def set_form_active(actor, form: CaptureForm, active: bool) -> None:
    _require_builder(actor)
    if form.active != active:
        form.active = active
        form.updated_at = utcnow()
        record_event(actor, "capture_form", form.id, "activate" if active else "deactivate", form.name)
        db.session.flush()


def delete_form(actor, form: CaptureForm) -> None:
    """Delete the form. Its leads and their timeline entries stay."""
    _require_builder(actor)
    rules = [rule.name for rule in db.session.scalars(db.select(RoutingRule).order_by(RoutingRule.name))
             if form.id in ((rule.conditions or {}).get("form_ids") or [])]
    if rules:  # the rule would lose its form condition on its next save and then route every lead
        names = ", ".join(f"“{name}”" for name in rules)
        raise ValidationFailed({"form": [
            f"Form “{form.name}” is a condition of the routing rule{'s' if len(rules) > 1 else ''} {names}. "
            "Take it out of those rules under Settings → Lead routing first, or deactivate the form instead."]})
    record_event(actor, "capture_form", form.id, "delete", form.name)
    db.session.delete(form)
    db.session.flush()


def list_forms() -> list[CaptureForm]:
    return list(db.session.scalars(db.select(CaptureForm).order_by(CaptureForm.active.desc(), CaptureForm.name)))


# With the reference versions: a submission's reference data (settings, the default stage) is
# then checked without a query of its own (as the signed-in user's statement does for pages).
_ACTIVE_BY_SLUG = (db.select(CaptureForm, refcache.versions_column())
                   .where(CaptureForm.slug == bindparam("slug"), CaptureForm.active.is_(True)))


def active_form(slug: str) -> CaptureForm | None:
    return refcache.first_noting_versions(_ACTIVE_BY_SLUG, {"slug": slug})


def builder_choices() -> dict:
    """Select options for the builder: stages, users and teams."""
    return {"stages": stage_choices(), "users": [(u.id, u.name) for u in menu_users(roles=WRITER_ROLES)],
            "teams": [(t.id, t.name) for t in menu_teams()], "sources": SOURCES}


# --- submissions --------------------------------------------------------------------

def _blank(value) -> bool:
    return value is None or (isinstance(value, str) and not value.strip()) or value == []


def read_submission(form: CaptureForm, payload: dict) -> tuple[dict, bool]:
    """The intake data (only this form's fields and the tracking values) and whether the
    visitor agreed to the consent text. Raises ValidationFailed for missing required
    fields and choices outside the list; intake checks the rest."""
    errors: dict[str, list[str]] = {}
    data: dict = clean_tracking(payload)
    custom: dict = {}
    for field in form.fields or []:
        key, value = field["key"], payload.get(field["key"])
        if _blank(value):
            if field.get("required"):
                errors.setdefault(key, []).append(f"Please fill in “{field['label']}”.")
            continue
        if field.get("custom"):
            if field.get("type") == "select" and value not in field.get("options", []):
                errors.setdefault(key, []).append("Choose one of the listed options.")
                continue
            custom[key] = value
        else:
            data[key] = value
    if custom:
        data["custom_fields"] = custom
    if errors:  # an email without @ or a short phone too, so the visitor corrects everything in one go
        for key, messages in input_errors(data).items():
            errors.setdefault(key, messages)
        raise ValidationFailed(errors)
    consent = bool(form.consent_text) and payload.get(CONSENT_FIELD) in (True, 1, "1", "on", "yes", "true", "y")
    return data, consent


def choose_owner(form: CaptureForm) -> int | None:
    """The owner for a new lead from this form, by its owner rule, among the people who can
    take a lead now (routing's test: active, in office, under their cap). None when the form
    names nobody available: the lead then arrives without an owner and the routing rules
    (or the fallback owner) decide, so a lead never waits on someone out of office.

    The people come from those kept for the process (routing's ``kept_people``: no query
    while nobody's availability changed). Round-robin advances the form's counter with one
    atomic UPDATE (the row stays locked until the submission commits), so concurrent
    submissions take different turns; that UPDATE counts the submission too
    (``count_submission`` then writes nothing). The owner chosen is held by the session for
    the transaction, as loaded from the kept columns, so the owner's checks and the
    "Assigned to" entry find them there instead of reading them.
    """
    round_robin = form.owner_rule == "round_robin" and form.team_id
    if form.owner_rule == "user" and form.owner_id:
        person = kept_people().by_id.get(form.owner_id)
        candidates = [person] if person is not None else []
    elif round_robin:
        candidates = list(kept_people().team_writers.get(form.team_id, ()))
    else:
        return None
    members = available_users(candidates)
    if not members:
        return None
    if round_robin:
        turn = db.session.scalar(_COUNT_TURN, {"form_id": form.id, "now": utcnow()})
        transaction_cache("capture counted")[form.id] = True
    owner = members[(turn - 1) % len(members)] if round_robin else members[0]
    # The session holds users weakly: kept here for the transaction.
    transaction_cache("capture owners")[form.id] = held_as_loaded(User, owner._asdict())
    return owner.id


_forms = CaptureForm.__table__
# One submission counted (and, for a round-robin turn, the turn taken) by one prebuilt UPDATE.
_COUNT_SUBMISSION = (update(_forms).where(_forms.c.id == bindparam("form_id"))
                     .values(submission_count=_forms.c.submission_count + 1, last_submission_at=bindparam("now")))
_COUNT_TURN = _COUNT_SUBMISSION.values(rotation_counter=_forms.c.rotation_counter + 1).returning(
    _forms.c.rotation_counter)


def count_submission(form_id: int) -> None:
    """One more submission of the form (unless its round-robin turn counted it already)."""
    if not transaction_cache("capture counted").get(form_id):
        db.session.execute(_COUNT_SUBMISSION, {"form_id": form_id, "now": utcnow()})


def _stage_for(form: CaptureForm) -> int | None:
    if form.stage_id is None:
        return None
    stage = db.session.get(Stage, form.stage_id)
    pipeline = db.session.get(Pipeline, stage.pipeline_id) if stage else None
    return stage.id if pipeline is not None and pipeline.archived_at is None else None


class TokenAlreadyUsed(Exception):
    """The submission's form token was used by an accepted submission before (a replay)."""


def record_token_use(token_id: str, form_id: int, now: datetime | None = None) -> bool:
    """Mark the token as used; False when it was already. The INSERT relies on the primary
    key (``ON CONFLICT DO NOTHING``), so of two concurrent uses only one gets True."""
    row = {"token_id": token_id, "form_id": form_id, "used_at": now or utcnow()}
    return insert_or_ignore(CaptureTokenUse, row, unique_columns=["token_id"]) is not None


def prune_token_uses(now: datetime) -> int:
    """Forget used token ids older than ``CAPTURE_TOKEN_MAX_AGE``: those tokens have expired."""
    cutoff = now - timedelta(seconds=current_app.config["CAPTURE_TOKEN_MAX_AGE"])
    result = db.session.execute(delete(CaptureTokenUse).where(CaptureTokenUse.used_at < cutoff))
    return result.rowcount or 0  # the scheduler's runner commits


def form_actor(form: CaptureForm):
    """Who the audit log says acted on a submission: 'Capture form “Contact us”'."""
    return system_actor(f"Capture form “{form.name}”")


@dataclass
class Submission:
    form_id: int
    data: dict
    consent: bool
    ip: str | None
    token_id: str | None = None


def submit(submission: Submission) -> IntakeResult:
    """Create or update the lead for one accepted submission; flushes, the caller commits.

    With a ``token_id``, the token is marked used first, in the same transaction: a token
    used before raises TokenAlreadyUsed and nothing is saved. Loads the form itself so it
    can run again from scratch after a rolled-back attempt.
    """
    if submission.token_id is not None and not record_token_use(submission.token_id, submission.form_id):
        raise TokenAlreadyUsed()
    form = db.session.get(CaptureForm, submission.form_id)
    label = f"Form “{form.name}”"
    consent = ({"text": form.consent_text, "source": label, "ip": submission.ip}
               if submission.consent else None)
    data = submission.data
    # The owner rule only matters for a new lead (intake keeps an existing lead's owner): it
    # is asked only when intake makes one.
    defaults = {"source": form.default_source or "web form", "stage_id": _stage_for(form),
                "owner_id": lambda: choose_owner(form)}
    with arriving(form_id=form.id, form_name=form.name):
        result = intake_lead(data, channel="form", actor=form_actor(form), defaults=defaults,
                             activity_subject=f"Submitted {label}",
                             activity_details={"form_id": form.id, "form_name": form.name}, consent=consent)
    count_submission(form.id)
    db.session.flush()
    return result


def register_sweeps(add) -> None:
    """This area's periodic work, for the scheduler (``leadflow.wiring.schedule``)."""
    add("capture-tokens", every_seconds=3600, func=prune_token_uses)
