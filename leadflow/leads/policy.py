"""Who may do what to a lead. Views, queries and services all ask here.

``require_lead_edit`` is the one check a change to a lead goes through, whichever way it
comes (the web page, htmx, the API, imports, automation): the lead services call it.
"""

from __future__ import annotations

from sqlalchemy import false, or_, true

from leadflow.errors import PermissionDenied
from leadflow.leads.models import Lead


def can_edit_lead(user, lead: Lead) -> bool:
    if user is None or not getattr(user, "is_authenticated", False):
        return False
    if user.role in ("admin", "manager"):
        return True
    if user.role == "rep":
        return lead.owner_id is None or lead.owner_id == user.id
    return False


def require_lead_edit(user, lead: Lead) -> None:
    """Raise PermissionDenied, naming the lead, unless ``user`` may change ``lead``."""
    if can_edit_lead(user, lead):
        return
    if user is None or not getattr(user, "is_authenticated", False):
        why = "no one is signed in"
    elif user.role == "rep":
        why = "it belongs to another user"
    else:
        why = "your role may only read leads"
    raise PermissionDenied(f"You may not change lead #{lead.id} “{lead.name}”: {why}.", lead_id=lead.id)


def can_create_lead(user) -> bool:
    return bool(user and user.is_authenticated and user.role in ("admin", "manager", "rep"))


def editable_leads_clause(user):
    """A WHERE clause selecting the leads ``user`` may edit."""
    if user.role in ("admin", "manager"):
        return true()
    if user.role == "rep":
        return or_(Lead.owner_id.is_(None), Lead.owner_id == user.id)
    return false()


def can_manage_organizations(user) -> bool:
    return can_create_lead(user)


def can_delete_organizations(user) -> bool:
    return bool(user and user.is_authenticated and user.role in ("admin", "manager"))
