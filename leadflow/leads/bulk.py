"""Bulk actions on the lead list, in one registry: add an action with ``register_bulk_action``.

They sit with the pages (``tests/test_layers.py``): an action hands the ticked leads to the
area that does the work (routing reassigns, sequences enrol).

A handler gets the actor, the selected live leads and the posted form data, checks each lead
itself (a refusal is reported, never fatal), flushes, and returns a BulkResult the view
turns into one flash. The view commits once.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from leadflow.accounts.models import Team, User
from leadflow.db import parse_id
from leadflow.errors import ValidationFailed
from leadflow.extensions import db
from leadflow.leads.models import Lead
from leadflow.leads.policy import can_edit_lead
from leadflow.routing.services import assign_lead, team_round_robin
from leadflow.sequences.services import enroll_many
from leadflow.sequences.templates import marketing_skip_reason

MAX_SELECTED = 500


@dataclass
class BulkResult:
    changed: int = 0
    unchanged: int = 0
    refused: list[str] = field(default_factory=list)  # names of leads the actor may not change
    skipped: dict[str, list[str]] = field(default_factory=dict)  # reason -> names of leads left alone
    unchanged_label: str = "already matched"  # "1 already matched."

    def skip(self, lead: Lead, reason: str) -> None:
        self.skipped.setdefault(reason, []).append(lead.name)

    def summary(self, verb: str) -> str:
        parts = [f"{verb} {self.changed} lead{'' if self.changed == 1 else 's'}."]
        if self.unchanged:
            parts.append(f"{self.unchanged} {self.unchanged_label}.")
        for reason, names in self.skipped.items():
            parts.append(f"{len(names)} skipped ({reason}): {_names(names)}.")
        if self.refused:
            parts.append(f"{len(self.refused)} not changed because you cannot edit them: {_names(self.refused)}.")
        return " ".join(parts)


def _names(names: list[str]) -> str:
    return ", ".join(names[:5]) + (" …" if len(names) > 5 else "")


@dataclass(frozen=True)
class BulkAction:
    name: str
    label: str
    verb: str  # for the flash: "Reassigned 3 leads."
    handler: Callable[[object, list[Lead], dict], BulkResult]


BULK_ACTIONS: dict[str, BulkAction] = {}


def register_bulk_action(name: str, label: str, verb: str):
    def add(handler):
        BULK_ACTIONS[name] = BulkAction(name, label, verb, handler)
        return handler

    return add


def selected_leads(raw_ids) -> list[Lead]:
    ids = {lead_id for lead_id in map(parse_id, raw_ids) if lead_id is not None}
    if not ids:
        raise ValidationFailed({"lead_ids": ["Select at least one lead."]})
    if len(ids) > MAX_SELECTED:
        raise ValidationFailed({"lead_ids": [f"Select at most {MAX_SELECTED} leads at a time."]})
    return list(db.session.scalars(db.select(Lead).where(Lead.id.in_(ids), Lead.deleted_at.is_(None))
                                   .order_by(Lead.id)))


def run_bulk_action(actor, name: str, raw_ids, form_data: dict) -> tuple[BulkAction, BulkResult]:
    action = BULK_ACTIONS.get(name)
    if action is None:
        raise ValidationFailed({"action": ["Choose an action."]})
    return action, action.handler(actor, selected_leads(raw_ids), form_data)


def reassign_choices(actor) -> list[tuple[str, str]]:
    """``(value, label)`` for the Reassign menu: people, then round-robin over each team."""
    users = db.session.scalars(db.select(User).where(User.active.is_(True), User.role != "viewer")
                               .order_by(User.name))
    teams = db.session.scalars(db.select(Team).order_by(Team.name))
    return ([(str(u.id), u.name) for u in users]
            + [(f"team:{t.id}", f"Round-robin over team {t.name}") for t in teams])


@register_bulk_action("reassign", "Reassign to…", "Reassigned")
def reassign(actor, leads: list[Lead], form_data: dict) -> BulkResult:
    target = str(form_data.get("assignee") or "")
    result = BulkResult()
    if target.startswith("team:"):
        team = db.session.get(Team, int(target[5:])) if target[5:].isdigit() else None
        next_member = team_round_robin(team) if team else None
        if next_member is None:
            raise ValidationFailed({"assignee": ["That team has nobody available to take leads."]})
        reason = f"by {actor.name} (bulk round-robin over {team.name})"
    else:
        user = db.session.get(User, int(target)) if target.isdigit() else None
        if user is None or not user.active or user.role == "viewer":
            raise ValidationFailed({"assignee": ["Choose an active person to reassign to."]})
        reason = f"by {actor.name} (bulk reassign)"
        next_member = None
    for lead in leads:
        if not can_edit_lead(actor, lead):
            result.refused.append(lead.name)
            continue
        owner = next_member() if next_member is not None else user
        if assign_lead(lead, owner.id, actor, reason):
            result.changed += 1
        else:
            result.unchanged += 1
    return result


@register_bulk_action("enrol_sequence", "Enrol in sequence…", "Enrolled")
def enrol_in_sequence(actor, leads: list[Lead], form_data: dict) -> BulkResult:
    """Leads without marketing consent are reported as skipped, with the reason; leads
    already in the sequence as unchanged."""
    result = BulkResult(unchanged_label="already in the sequence")
    candidates = []
    for lead in leads:
        reason = marketing_skip_reason(lead) if can_edit_lead(actor, lead) else None
        if reason:
            result.skip(lead, reason)
        else:
            candidates.append(lead)
    result.changed, result.unchanged, result.refused = enroll_many(actor, candidates, form_data.get("sequence_id"))
    return result


def bulk_context(viewer) -> dict:
    """What the lead list needs to offer bulk actions (writers only)."""
    if not getattr(viewer, "can_write", False):
        return {"bulk_actions": [], "reassign_choices": []}
    return {"bulk_actions": [(a.name, a.label) for a in BULK_ACTIONS.values()],
            "reassign_choices": reassign_choices(viewer)}
