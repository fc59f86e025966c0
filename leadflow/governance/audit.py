"""The audit log: one row per changed field, written by the service that changed it.

Every entry says who acted: ``actor_id`` for a user, and always ``actor_name`` (the user's
name, or the name of the system actor: "Import #12 (Ada Lovelace)", "Workflow rule “Hot
lead”", "Capture form “Contact us”"…), which stays when the user is deleted. A change
without an actor is a bug: it raises here, and the database refuses it too.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import bindparam

from leadflow.db import Rows, read
from leadflow.extensions import db
from leadflow.governance.models import ACTOR_NAME_MAX, AuditEntry


def _text(value) -> str | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, (list, tuple)):
        return ", ".join(str(v) for v in value) or None
    return str(value)


def actor_name(actor) -> str:
    """The name the audit log keeps for ``actor`` (a User or a system actor)."""
    name = getattr(actor, "name", None)
    if actor is None or not name:
        raise ValueError("An audit entry needs an actor: pass the user, or a named system actor "
                         "(leadflow.accounts.system.system_actor).")
    return str(name)[:ACTOR_NAME_MAX]


def record_event(actor, entity_type: str, entity_id: int, action: str, detail: str | None = None) -> AuditEntry:
    entry = AuditEntry(
        actor_id=getattr(actor, "id", None), actor_name=actor_name(actor), entity_type=entity_type,
        entity_id=entity_id, action=action, new_value=detail,
    )
    db.session.add(entry)
    return entry


def event_row(actor_id: int | None, name: str, entity_type: str, entity_id: int, action: str,
              detail: str | None, at: datetime) -> dict:
    """``record_event``'s entry as a row of a set-based INSERT (the lead store's first
    histories, written by the arrivals sweep): the actor by id and by name (``actor_name``)."""
    return {"at": at, "actor_id": actor_id, "actor_name": name, "entity_type": entity_type, "entity_id": entity_id,
            "action": action, "field": None, "old_value": None, "new_value": detail}


def record_changes(actor, entity_type: str, entity_id: int, before: dict, after: dict,
                   action: str = "update") -> list[AuditEntry]:
    """Write an entry for every field whose value differs between ``before`` and ``after``."""
    entries = [AuditEntry(entity_type=entity_type, entity_id=entity_id, **values)
               for values in changed_fields(actor, before, after, action)]
    db.session.add_all(entries)
    return entries


def changed_fields(actor, before: dict, after: dict, action: str = "update") -> list[dict]:
    """The column values (all but the entity's type and id) of the entries ``record_changes``
    writes: for a writer that puts them in a statement of its own (the lead store's move)."""
    name = actor_name(actor)
    rows = []
    for field, new in after.items():
        old_text, new_text = _text(before.get(field)), _text(new)
        if old_text != new_text:
            rows.append({"actor_id": getattr(actor, "id", None), "actor_name": name, "action": action,
                         "field": field, "old_value": old_text, "new_value": new_text})
    return rows


def record_changes_many(actor, entity_type: str, changes: dict[int, tuple[dict, dict]],
                        action: str = "update") -> None:
    """``record_changes`` for several records at once (entity id → (before, after)), in one
    INSERT that nothing in the session waits to flush."""
    rows = [{"entity_type": entity_type, "entity_id": entity_id, **values}
            for entity_id, (before, after) in changes.items()
            for values in changed_fields(actor, before, after, action)]
    if rows:
        db.session.execute(AuditEntry.__table__.insert(), rows)


# A record's history, newest first, its last 200 entries (each entry's actor comes joined:
# ``AuditEntry.actor``). Values: entity_type, entity_id.
HISTORY = Rows(AuditEntry, (AuditEntry.entity_type == bindparam("entity_type"),
                            AuditEntry.entity_id == bindparam("entity_id")),
               # By time: a new lead's entry from the arrivals sweep is written after the create.
               lambda entry: (entry.at.desc(), entry.id.desc()), 200)


def history(entity_type: str, entity_id: int) -> list[AuditEntry]:
    return read(HISTORY, entity_type=entity_type, entity_id=entity_id)
