"""The "possible duplicates" queue: pairs of live leads that may be one person.

Same email and same phone come from SQL (GROUP BY over indexed columns; a live email
belongs to one lead, so same-email pairs are the leads whose email was parked beside an
older lead's when emails became unique, ``Lead.shared_email_key``); similar
names at one organization come from rapidfuzz, with the thresholds of
``leadflow.leads.duplicates``. Every stage is bounded, so the page costs the same
on a big workspace: the caps below limit groups, members and name comparisons.
A pair someone marked "not a duplicate" is kept in ``DuplicateDismissal`` and
never shown again.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from itertools import combinations

from rapidfuzz import fuzz
from sqlalchemy import func
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import joinedload

from leadflow.errors import NotFound, PermissionDenied, ValidationFailed
from leadflow.extensions import db
from leadflow.leads.duplicates import NAME_SIMILARITY, _full_name
from leadflow.leads.merge_models import DuplicateDismissal
from leadflow.leads.models import Lead
from leadflow.leads.policy import can_edit_lead
from leadflow.leads.store import email_holders

MAX_GROUPS = 1000          # email or phone values shared by several leads, per kind
MAX_GROUP_MEMBERS = 10     # leads per shared value (the first ten make 45 pairs)
MAX_ORGANIZATIONS = 500    # organizations whose names are compared
MAX_ORG_LEADS = 200        # leads per organization compared
MAX_COMPARISONS = 300_000  # name comparisons per page view, all organizations together
PER_PAGE = 25

REASON_EMAIL, REASON_PHONE, REASON_NAME = "same email", "same phone", "similar name at the same organization"


@dataclass
class DuplicatePair:
    first: Lead
    second: Lead
    reasons: list[str] = field(default_factory=list)
    can_merge: bool = False


def _shared_value_pairs(column, reason: str, found: dict) -> None:
    live = Lead.deleted_at.is_(None)
    values = db.select(column).where(live, column.is_not(None), column != "").group_by(column) \
        .having(func.count(Lead.id) > 1).order_by(column).limit(MAX_GROUPS).subquery()
    members: dict[str, list[int]] = {}
    for lead_id, value in db.session.execute(
            db.select(Lead.id, column).where(live, column.in_(db.select(values))).order_by(column, Lead.id)):
        group = members.setdefault(value, [])
        if len(group) < MAX_GROUP_MEMBERS:
            group.append(lead_id)
    for ids in members.values():
        for pair in combinations(ids, 2):
            found.setdefault(pair, []).append(reason)


def _shared_email_pairs(found: dict) -> None:
    """Leads whose email was parked beside an older live lead's when emails became unique
    (``Lead.shared_email_key``): paired with the lead that holds it and with each other."""
    parked: dict[str, list[int]] = {}
    for key, lead_id in db.session.execute(
            db.select(Lead.shared_email_key, Lead.id).where(Lead.shared_email_key.is_not(None), Lead.deleted_at.is_(None))
            .order_by(Lead.shared_email_key, Lead.id).limit(MAX_GROUPS * MAX_GROUP_MEMBERS)):
        parked.setdefault(key, []).append(lead_id)
    holders = email_holders(list(parked))
    for key, ids in parked.items():
        group = sorted(([holders[key]] if key in holders else []) + ids)[:MAX_GROUP_MEMBERS]
        for pair in combinations(group, 2):
            reasons = found.setdefault(pair, [])
            if REASON_EMAIL not in reasons:
                reasons.append(REASON_EMAIL)


def _similar_name_pairs(found: dict) -> bool:
    """Add name pairs; returns False when the comparison budget ran out before the end."""
    live = Lead.deleted_at.is_(None)
    orgs = db.select(Lead.organization_id).where(live, Lead.organization_id.is_not(None)) \
        .group_by(Lead.organization_id).having(func.count(Lead.id) > 1) \
        .order_by(Lead.organization_id).limit(MAX_ORGANIZATIONS).subquery()
    by_org: dict[int, list[tuple[int, str]]] = {}
    for lead_id, org_id, first, last in db.session.execute(
            db.select(Lead.id, Lead.organization_id, Lead.first_name, Lead.last_name)
            .where(live, Lead.organization_id.in_(db.select(orgs))).order_by(Lead.organization_id, Lead.id)):
        name = _full_name(first, last)
        group = by_org.setdefault(org_id, [])
        if name and len(group) < MAX_ORG_LEADS:
            group.append((lead_id, name))
    budget = MAX_COMPARISONS
    for people in by_org.values():
        for (a_id, a_name), (b_id, b_name) in combinations(people, 2):
            budget -= 1
            if budget < 0:
                return False
            if fuzz.token_sort_ratio(a_name, b_name) >= NAME_SIMILARITY:
                found.setdefault((a_id, b_id), []).append(REASON_NAME)
    return True


def _dismissed(pairs) -> set[tuple[int, int]]:
    lows = sorted({low for low, _ in pairs})
    dismissed = set()
    for start in range(0, len(lows), 500):
        dismissed.update(db.session.execute(
            db.select(DuplicateDismissal.lead_low_id, DuplicateDismissal.lead_high_id)
            .where(DuplicateDismissal.lead_low_id.in_(lows[start:start + 500]))).tuples())
    return dismissed


def candidate_pairs() -> tuple[dict[tuple[int, int], list[str]], bool]:
    """{(lower id, higher id): reasons} of undismissed pairs, and whether the search was complete."""
    found: dict[tuple[int, int], list[str]] = {}
    _shared_value_pairs(Lead.email_key, REASON_EMAIL, found)
    _shared_email_pairs(found)
    _shared_value_pairs(Lead.phone, REASON_PHONE, found)
    complete = _similar_name_pairs(found)
    for pair in _dismissed(found):
        found.pop(pair, None)
    return found, complete


def duplicates_queue_context(viewer, page: int = 1) -> dict:
    found, complete = candidate_pairs()
    ordered = sorted(found.items(), key=lambda item: (-len(item[1]), -item[0][1], -item[0][0]))
    pages = max(1, math.ceil(len(ordered) / PER_PAGE))
    page = min(max(1, page), pages)
    shown = ordered[(page - 1) * PER_PAGE: page * PER_PAGE]
    ids = {i for pair, _ in shown for i in pair}
    leads = {lead.id: lead for lead in db.session.scalars(
        db.select(Lead).options(joinedload(Lead.organization), joinedload(Lead.owner)).where(Lead.id.in_(ids)))}
    pairs = [DuplicatePair(leads[a], leads[b], reasons,
                           can_edit_lead(viewer, leads[a]) and can_edit_lead(viewer, leads[b]))
             for (a, b), reasons in shown]
    return {"pairs": pairs, "total": len(ordered), "page": page, "pages": pages, "complete": complete}


def dismiss_pair(actor, first: Lead, second: Lead) -> bool:
    """Mark two leads as different people; returns False when they already were."""
    if first.id == second.id:
        raise ValidationFailed({"lead": ["Choose two different leads."]})
    if first.deleted_at is not None or second.deleted_at is not None:
        raise NotFound("One of these leads is in the trash.")
    if not (can_edit_lead(actor, first) and can_edit_lead(actor, second)):
        raise PermissionDenied("You can only dismiss pairs of leads you may edit.")
    low, high = sorted((first.id, second.id))
    try:
        with db.session.begin_nested():
            db.session.add(DuplicateDismissal(lead_low_id=low, lead_high_id=high, actor_id=getattr(actor, "id", None)))
    except IntegrityError:
        return False
    return True
