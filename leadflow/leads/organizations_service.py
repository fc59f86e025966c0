"""Organizations (accounts): the companies leads work at."""

from __future__ import annotations

import re

from leadflow.db import utcnow
from leadflow.errors import PermissionDenied, ValidationFailed, VersionConflict
from leadflow.extensions import db
from leadflow.governance.audit import record_changes, record_event
from leadflow.leads.models import SIZE_BANDS, Organization
from leadflow.leads.policy import can_delete_organizations, can_manage_organizations

_DOMAIN = re.compile(r"^(?=.{1,253}$)([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")
ORG_FIELDS = ("name", "domain", "industry", "size_band", "territory")


def find_or_create_organization(name: str) -> Organization:
    key = " ".join(name.split()).lower()
    org = db.session.scalar(
        db.select(Organization).where(Organization.name_key == key, Organization.deleted_at.is_(None)).limit(1)
    )
    if org is None:
        org = Organization(name=" ".join(name.split()), name_key=key)
        db.session.add(org)
        db.session.flush()
    return org


def clean_organization_input(data: dict) -> dict:
    errors: dict[str, list[str]] = {}
    out: dict = {}
    name = " ".join(str(data.get("name") or "").split())
    if not name:
        errors["name"] = ["Enter the organization's name."]
    elif len(name) > 200:
        errors["name"] = ["Use at most 200 characters."]
    out["name"] = name
    domain = str(data.get("domain") or "").strip().lower()
    domain = re.sub(r"^https?://", "", domain).split("/")[0].removeprefix("www.")
    if domain and not _DOMAIN.match(domain):
        errors["domain"] = ["Enter a domain such as example.com."]
    out["domain"] = domain or None
    for key, limit in (("industry", 80), ("territory", 80)):
        value = " ".join(str(data.get(key) or "").split())
        if len(value) > limit:
            errors[key] = [f"Use at most {limit} characters."]
        out[key] = value or None
    size_band = str(data.get("size_band") or "").strip()
    if size_band and size_band not in SIZE_BANDS:
        errors["size_band"] = ["Choose a size from the list."]
    out["size_band"] = size_band or None
    if errors:
        raise ValidationFailed(errors)
    return out


def _snapshot(org: Organization) -> dict:
    return {key: getattr(org, key) for key in ORG_FIELDS}


def create_organization(actor, data: dict) -> Organization:
    if not can_manage_organizations(actor):
        raise PermissionDenied("Your role cannot create organizations.")
    values = clean_organization_input(data)
    key = values["name"].lower()
    if db.session.scalar(db.select(Organization.id).where(Organization.name_key == key, Organization.deleted_at.is_(None))):
        raise ValidationFailed({"name": ["An organization with this name already exists."]})
    org = Organization(name_key=key, **values)
    db.session.add(org)
    db.session.flush()
    record_event(actor, "organization", org.id, "create", org.name)
    return org


def update_organization(actor, org: Organization, data: dict, expected_version: int | None = None) -> list[str]:
    if not can_manage_organizations(actor):
        raise PermissionDenied("Your role cannot edit organizations.")
    if expected_version is not None and expected_version != org.version:
        raise VersionConflict(org)
    values = clean_organization_input(data)
    key = values["name"].lower()
    clash = db.session.scalar(db.select(Organization.id).where(
        Organization.name_key == key, Organization.deleted_at.is_(None), Organization.id != org.id))
    if clash:
        raise ValidationFailed({"name": ["Another organization already has this name."]})
    before = _snapshot(org)
    for k, v in values.items():
        setattr(org, k, v)
    org.name_key = key
    entries = record_changes(actor, "organization", org.id, before, _snapshot(org))
    if any(e.field == "name" for e in entries):
        _refresh_lead_search_text(org)
    db.session.flush()
    return [e.field for e in entries]


def _refresh_lead_search_text(org: Organization) -> None:
    from leadflow.leads.fields import search_text_for

    for lead in org.leads:
        lead.search_text = search_text_for(lead.first_name, lead.last_name, lead.email, lead.phone, org.name)


def delete_organization(actor, org: Organization) -> None:
    if not can_delete_organizations(actor):
        raise PermissionDenied("Only managers and admins can delete organizations.")
    if org.deleted_at is None:
        org.deleted_at = utcnow()
        record_event(actor, "organization", org.id, "delete", org.name)
        db.session.flush()


def restore_organization(actor, org: Organization) -> None:
    if not can_delete_organizations(actor):
        raise PermissionDenied("Only managers and admins can restore organizations.")
    if org.deleted_at is not None:
        clash = db.session.scalar(db.select(Organization.id).where(
            Organization.name_key == org.name_key, Organization.deleted_at.is_(None)))
        if clash:
            raise ValidationFailed({"name": ["A live organization already has this name; rename it first."]})
        org.deleted_at = None
        record_event(actor, "organization", org.id, "restore", org.name)
        db.session.flush()
