"""Merging two leads that are the same person, and undoing a merge.

The survivor keeps its id and takes, field by field, the values the user picked;
everything hanging off the absorbed lead (timeline, tasks, stage history, audit
trail, tags, submitted values still waiting for review) moves to the survivor, and the absorbed lead goes to the trash marked
as merged. A ``LeadMerge`` row keeps the survivor's previous values and the id of
every moved row, so ``undo_merge`` puts back exactly what the merge changed.

Services take the actor, raise domain errors and flush; the view commits once.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, tzinfo

from sqlalchemy import func, update

from leadflow.activities.models import Activity, Task
from leadflow.db import utcnow
from leadflow.errors import DomainError, NotFound, PermissionDenied, ValidationFailed, VersionConflict
from leadflow.extensions import db
from leadflow.governance.audit import record_changes, record_event
from leadflow.governance.models import AuditEntry
from leadflow.leads import events, store
from leadflow.leads import fields as f
from leadflow.leads.merge_models import LeadMerge
from leadflow.leads.models import LIFECYCLE_LABELS, Lead, Tag
from leadflow.leads.policy import can_edit_lead
from leadflow.leads.reviews import move_open_reviews, movable_open_reviews
from leadflow.leads.services import (
    audit_snapshot, check_email_free_to_restore, restore_from_trash,
)
from leadflow.pipeline.models import StageChange
from leadflow.web.formatting import UTC_ZONE, format_day, format_time, money


@dataclass(frozen=True)
class MergeField:
    key: str
    label: str
    columns: tuple[str, ...]


# What the user picks, one radio per row, and the lead columns each choice carries.
MERGE_FIELDS = (
    MergeField("name", "Name", ("first_name", "last_name")),
    MergeField("email", "Email", ("email", "email_key")),
    MergeField("phone", "Phone", ("phone",)),
    MergeField("title", "Title", ("title",)),
    MergeField("country", "Country", ("country",)),
    MergeField("organization", "Organization", ("organization_id",)),
    MergeField("owner", "Owner", ("owner_id",)),
    MergeField("stage", "Stage", ("pipeline_id", "stage_id", "stage_entered_at", "won_lost_reason")),
    MergeField("value", "Value", ("value_cents",)),
    MergeField("currency", "Currency", ("currency",)),
    MergeField("expected_close_date", "Expected close date", ("expected_close_date",)),
    MergeField("source", "Source", ("source",)),
    MergeField("utm", "UTM, referrer and landing page",
               ("utm_source", "utm_medium", "utm_campaign", "utm_term", "utm_content", "referrer", "landing_page")),
    MergeField("lifecycle", "Lifecycle", ("lifecycle", "disqualified_reason")),
    MergeField("temperature", "Temperature", ("temperature",)),
    MergeField("consent", "Marketing consent", ("marketing_consent", "consent_at", "consent_source")),
    MergeField("custom_fields", "Custom fields", ("custom_fields",)),
)
FIELDS_BY_KEY = {field.key: field for field in MERGE_FIELDS}
# Columns the merge may change on the survivor, kept in LeadMerge.survivor_before.
SNAPSHOT_COLUMNS = tuple(c for field in MERGE_FIELDS for c in field.columns) + (
    "first_response_at", "last_activity_at", "search_text", "shared_email_key")
DATE_COLUMNS = {"expected_close_date"}
DATETIME_COLUMNS = {"stage_entered_at", "consent_at", "first_response_at", "last_activity_at"}
# The rows that follow a lead: (name in LeadMerge.moved, model, the column pointing at the lead).
MOVED_TABLES = (
    ("activities", Activity, Activity.lead_id),
    ("tasks", Task, Task.lead_id),
    ("stage_changes", StageChange, StageChange.lead_id),
)


def _encode(column: str, value):
    if isinstance(value, (date, datetime)):
        return value.isoformat()
    return value


def _decode(column: str, value):
    if value is None:
        return None
    if column in DATE_COLUMNS:
        return date.fromisoformat(value)
    if column in DATETIME_COLUMNS:
        return datetime.fromisoformat(value)
    return value


def _snapshot(lead: Lead) -> dict:
    return {column: _encode(column, getattr(lead, column)) for column in SNAPSHOT_COLUMNS}


def display_value(lead: Lead, field: MergeField, zone: tzinfo = UTC_ZONE) -> str:
    """How the merge page shows one lead's value of a field; a time as the reader in ``zone`` reads it."""
    if field.key == "name":
        return lead.name
    if field.key == "phone":
        return f.display_phone(lead.phone)
    if field.key == "organization":
        return lead.organization.name if lead.organization else ""
    if field.key == "owner":
        return lead.owner.name if lead.owner else "Unassigned"
    if field.key == "stage":
        return f"{lead.pipeline.name} · {lead.stage.name}" if lead.stage and lead.pipeline else (
            lead.stage.name if lead.stage else "")
    if field.key == "value":
        return "" if lead.value_cents is None else money(lead.value_cents, lead.currency)
    if field.key == "lifecycle":
        label = LIFECYCLE_LABELS.get(lead.lifecycle, lead.lifecycle)
        return f"{label} ({lead.disqualified_reason})" if lead.disqualified_reason else label
    if field.key == "utm":
        return ", ".join(f"{c.replace('_', ' ')}: {getattr(lead, c)}" for c in field.columns if getattr(lead, c))
    if field.key == "consent":
        if not lead.marketing_consent:
            return "No"
        return "Yes" + (f", since {format_time(lead.consent_at, zone)}" if lead.consent_at else "")
    if field.key == "expected_close_date":
        return "" if lead.expected_close_date is None else format_day(lead.expected_close_date, zone)
    if field.key == "custom_fields":
        return ", ".join(f"{k}: {v}" for k, v in sorted((lead.custom_fields or {}).items()))
    value = getattr(lead, field.columns[0])
    return "" if value is None else str(value)


def default_choices(survivor: Lead, absorbed: Lead) -> dict[str, str]:
    """Keep the survivor's value unless it is empty and the other lead has one."""
    choices = {}
    for field in MERGE_FIELDS:
        mine, theirs = display_value(survivor, field), display_value(absorbed, field)
        empty = mine in ("", "No", "Unassigned")
        choices[field.key] = "absorbed" if empty and theirs not in ("", "No", "Unassigned") else "survivor"
    return choices


def moved_counts(lead: Lead) -> dict[str, int]:
    """How many rows of each kind a merge would move off ``lead`` (shown before confirming)."""
    counts = {name: db.session.scalar(db.select(func.count()).select_from(model).where(column == lead.id))
              for name, model, column in MOVED_TABLES}
    counts["audit_entries"] = db.session.scalar(db.select(func.count(AuditEntry.id)).where(
        AuditEntry.entity_type == "lead", AuditEntry.entity_id == lead.id))
    counts["tags"] = len(lead.tags)
    return counts


def _check_can_merge(actor, survivor: Lead, absorbed: Lead) -> None:
    if survivor.id == absorbed.id:
        raise ValidationFailed({"with": ["Choose two different leads."]})
    if survivor.deleted_at is not None or absorbed.deleted_at is not None:
        raise NotFound("One of these leads is in the trash. Restore it first.")
    if not (can_edit_lead(actor, survivor) and can_edit_lead(actor, absorbed)):
        raise PermissionDenied("You can only merge leads you may edit (both of them).")


def merge_leads(actor, survivor: Lead, absorbed: Lead, choices: dict[str, str], *,
                expected_versions: tuple[int | None, int | None] = (None, None)) -> LeadMerge:
    """Fold ``absorbed`` into ``survivor``; ``choices`` maps a MERGE_FIELDS key to
    "survivor" or "absorbed" (missing keys keep the survivor's value)."""
    _check_can_merge(actor, survivor, absorbed)
    for lead, expected in zip((survivor, absorbed), expected_versions):
        if expected is not None and expected != lead.version:
            raise VersionConflict(lead)
    bad = {k: ["Choose one of the two values."] for k, v in choices.items()
           if k not in FIELDS_BY_KEY or v not in ("survivor", "absorbed")}
    if bad:
        raise ValidationFailed(bad)
    now = utcnow()
    before, audit_before = _snapshot(survivor), audit_snapshot(survivor)
    survivor_tag_ids = [t.id for t in survivor.tags]
    absorbed_tags = list(absorbed.tags)
    moved: dict[str, list[int]] = {"tag_ids_before": survivor_tag_ids, "absorbed_tag_ids": [t.id for t in absorbed_tags]}

    # A lead from the API or a capture form may still wait for its first history (the arrivals
    # sweep writes it after the create's commit): written now, so the absorbed lead's moves.
    store.write_pending_first_histories([survivor.id, absorbed.id])
    with db.session.no_autoflush:
        for name, model, column in MOVED_TABLES:
            moved[name] = list(db.session.scalars(db.select(model.id).where(column == absorbed.id).order_by(model.id)))
        moved["audit_entries"] = list(db.session.scalars(db.select(AuditEntry.id).where(
            AuditEntry.entity_type == "lead", AuditEntry.entity_id == absorbed.id).order_by(AuditEntry.id)))

    # The absorbed lead leaves first: it holds its email until its row says it is trashed,
    # and the survivor may take that email (emails are unique among live leads).
    store.update_lead(absorbed, {}, actor, tag_ids=[], audit=False, announce=[], at=now)
    store.trash_leads([absorbed.id], actor, at=now)
    old_stage_id = survivor.stage_id
    values = {column: getattr(absorbed, column) for key, pick in choices.items() if pick == "absorbed"
              for column in FIELDS_BY_KEY[key].columns}
    values["first_response_at"] = min(
        (t for t in (survivor.first_response_at, absorbed.first_response_at) if t), default=None)
    values["last_activity_at"] = max(
        (t for t in (survivor.last_activity_at, absorbed.last_activity_at) if t), default=None)
    values.update(_take_back_shared_email(survivor, absorbed, values.get("email_key", survivor.email_key)))
    tag_ids = list(dict.fromkeys(survivor_tag_ids + [t.id for t in absorbed_tags]))
    store.update_lead(survivor, values, actor, tag_ids=tag_ids, note_owner=False, audit=False, announce=[], at=now)
    _move_rows(moved, absorbed.id, survivor.id)
    # Open reviews follow (one the survivor already has open for the same value stays behind).
    moved["field_reviews"] = move_open_reviews(absorbed.id, survivor.id)
    if survivor.stage_id != old_stage_id:
        moved["created_stage_changes"] = [store.record_stage_change(survivor.id, old_stage_id, survivor.stage_id,
                                                                    actor, now)]

    entries = record_changes(actor, "lead", survivor.id, audit_before, audit_snapshot(survivor))
    entry = record_event(actor, "lead", survivor.id, "merge", f"Merged {absorbed.name} (#{absorbed.id}) into this lead")
    record_event(actor, "lead", absorbed.id, "merge", f"Merged into {survivor.name} (#{survivor.id})")
    db.session.flush()
    merge = LeadMerge(survivor_id=survivor.id, absorbed_id=absorbed.id, survivor_before=before, moved=moved,
                      audit_entry_id=entry.id, actor_id=getattr(actor, "id", None), merged_at=now)
    db.session.add(merge)
    activity = store.add_timeline_entry(survivor.id, "merge", actor, f"Merged with {absorbed.name} (#{absorbed.id})", now)
    activity.details = {"absorbed_id": absorbed.id, "moved": {k: len(v) for k, v in moved.items()}}
    db.session.flush()
    # What the survivor took from the other lead reaches workflow rules, scoring and sequences
    # like any edit (a stage it took, as a move).
    if survivor.stage_id != old_stage_id:
        events.leads_moved([survivor.id], actor, old_stage_id, survivor.stage_id)
    events.leads_changed([survivor.id], actor, [e.field for e in entries])
    return merge


def _take_back_shared_email(survivor: Lead, absorbed: Lead, email_key: str | None) -> dict:
    """A survivor whose email was parked beside the absorbed lead's (``Lead.shared_email_key``)
    holds it again once the absorbed lead, the holder, is gone: the values that say so."""
    key = survivor.shared_email_key
    if key and email_key is None and absorbed.email_key == key and (survivor.email or "").lower() == key:
        return {"email_key": key, "shared_email_key": None}
    if email_key is not None:
        return {"shared_email_key": None}
    return {}


def _move_rows(moved: dict, from_id: int, to_id: int) -> None:
    """Point the rows listed in ``moved`` from one lead at another (in bulk, by id)."""
    for name, model, column in MOVED_TABLES:
        if moved.get(name) and model is StageChange:
            store.reassign_stage_changes(moved[name], from_id, to_id)
        elif moved.get(name):
            db.session.execute(update(model).where(model.id.in_(moved[name]), column == from_id)
                               .values({column.key: to_id}).execution_options(synchronize_session=False))
    if moved.get("audit_entries"):
        db.session.execute(update(AuditEntry).where(
            AuditEntry.id.in_(moved["audit_entries"]), AuditEntry.entity_type == "lead",
            AuditEntry.entity_id == from_id).values(entity_id=to_id).execution_options(synchronize_session=False))
    # Objects already in the session must show where their rows now point.
    for obj in list(db.session.identity_map.values()):
        if isinstance(obj, (Activity, Task, StageChange, AuditEntry)):
            db.session.expire(obj)


def _refresh(lead: Lead) -> None:
    """Reload relationships after their foreign keys were set directly."""
    db.session.expire(lead, ["organization", "owner", "stage", "pipeline"])


def get_merge(merge_id: int) -> LeadMerge:
    merge = db.session.get(LeadMerge, merge_id)
    if merge is None:
        raise NotFound("There is no such merge.")
    return merge


def merged_into(lead_id: int) -> Lead | None:
    """The live lead that a merged (trashed) lead now lives on in, following later merges."""
    seen: set[int] = set()
    while lead_id not in seen and len(seen) < 20:
        seen.add(lead_id)
        survivor_id = db.session.scalar(
            db.select(LeadMerge.survivor_id).where(LeadMerge.absorbed_id == lead_id, LeadMerge.undone_at.is_(None))
            .order_by(LeadMerge.merged_at.desc()).limit(1))
        if survivor_id is None:
            return None
        survivor = db.session.get(Lead, survivor_id)
        if survivor is None:
            return None
        if survivor.deleted_at is None:
            return survivor
        lead_id = survivor.id
    return None


def undoable_merge(entry: AuditEntry) -> LeadMerge | None:
    """The merge recorded by this history entry, while it can still be undone."""
    if entry.action != "merge" or entry.entity_type != "lead":
        return None
    return db.session.scalar(db.select(LeadMerge).where(
        LeadMerge.audit_entry_id == entry.id, LeadMerge.undone_at.is_(None),
        LeadMerge.absorbed_id.is_not(None)))


def undo_merge(actor, merge: LeadMerge) -> Lead:
    """Put both leads back as they were before ``merge``; returns the restored absorbed lead."""
    if merge.undone_at is not None:
        raise DomainError("This merge has already been undone.")
    survivor, absorbed = merge.survivor, merge.absorbed
    if survivor is None or absorbed is None:
        raise DomainError("This merge can no longer be undone: one of the leads has been deleted for good.")
    if survivor.deleted_at is not None:
        raise DomainError(f"{survivor.name} is in the trash. Restore it first, then undo the merge.")
    if not (can_edit_lead(actor, survivor) and can_edit_lead(actor, absorbed)):
        raise PermissionDenied("You can only undo merges of leads you may edit (both of them).")
    later = db.session.scalar(db.select(LeadMerge.id).where(
        LeadMerge.id > merge.id, LeadMerge.undone_at.is_(None),
        (LeadMerge.survivor_id == survivor.id) | (LeadMerge.absorbed_id == survivor.id)).limit(1))
    if later is not None:
        raise DomainError(f"{survivor.name} was merged again afterwards. Undo the later merge first.")
    now = utcnow()
    audit_before = audit_snapshot(survivor)
    moved = merge.moved
    # The survivor gives back the absorbed lead's email (if it took it) before that lead returns.
    values = {column: _decode(column, value) for column, value in merge.survivor_before.items()
              if column != "search_text"}  # derived again by the store
    store.update_lead(survivor, values, actor, tag_ids=moved.get("tag_ids_before", []), note_owner=False,
                      audit=False, announce=[], at=now)
    check_email_free_to_restore(absorbed)
    store.update_lead(absorbed, {}, actor, tag_ids=moved.get("absorbed_tag_ids", []), audit=False, announce=[],
                      at=now)
    restore_from_trash(absorbed, actor)
    if moved.get("created_stage_changes"):
        store.delete_stage_changes(moved["created_stage_changes"])
    _move_rows(moved, survivor.id, absorbed.id)
    move_open_reviews(survivor.id, absorbed.id, moved.get("field_reviews", []))  # those still open
    _refresh(survivor)
    merge.undone_at = now
    merge.undone_by_id = getattr(actor, "id", None)
    db.session.flush()
    entries = record_changes(actor, "lead", survivor.id, audit_before, audit_snapshot(survivor))
    record_event(actor, "lead", survivor.id, "unmerge", f"Undid the merge of {absorbed.name} (#{absorbed.id})")
    record_event(actor, "lead", absorbed.id, "restore", f"Restored by undoing its merge into {survivor.name}")
    store.add_timeline_entry(survivor.id, "merge", actor, f"Merge with {absorbed.name} (#{absorbed.id}) undone", now)
    db.session.flush()
    events.leads_changed([survivor.id], actor, [e.field for e in entries])
    return absorbed


def _tags(ids: list[int]) -> list[Tag]:
    if not ids:
        return []
    return list(db.session.scalars(db.select(Tag).where(Tag.id.in_(ids)).order_by(Tag.name_key)))


def choices_from_form(form) -> dict[str, str]:
    """The radio values of the merge page (``choice-<field>``), unknown keys dropped."""
    return {field.key: form.get(f"choice-{field.key}", "survivor") for field in MERGE_FIELDS}


def merge_page_context(survivor: Lead, absorbed: Lead, choices: dict[str, str] | None = None,
                       zone: tzinfo = UTC_ZONE) -> dict:
    """The merge page, its times in ``zone`` (the reader's)."""
    rows = [{"field": field, "survivor": display_value(survivor, field, zone),
             "absorbed": display_value(absorbed, field, zone)} for field in MERGE_FIELDS]
    tags = sorted({t.name for t in list(survivor.tags) + list(absorbed.tags)}, key=str.lower)
    counts = moved_counts(absorbed)
    counts["field_reviews"] = len(movable_open_reviews(absorbed.id, survivor.id))
    return {"survivor": survivor, "absorbed": absorbed, "rows": rows, "tags": tags,
            "choices": choices or default_choices(survivor, absorbed), "counts": counts}
