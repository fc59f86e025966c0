"""Organizations (accounts): the companies leads work at.

Services at the top (they take the actor, raise domain errors and flush; the
caller commits), then the queries that build each organization screen.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from sqlalchemy import func, or_
from sqlalchemy.orm import joinedload

from leadflow.db import utcnow
from leadflow.errors import NotFound, PermissionDenied, ValidationFailed, VersionConflict
from leadflow.extensions import db
from leadflow.governance.audit import history, record_changes, record_event
from leadflow.leads import store
from leadflow.leads.models import Lead
from leadflow.leads.policy import can_delete_organizations, can_manage_organizations
from leadflow.organizations.models import SIZE_BANDS, Organization

_DOMAIN = re.compile(r"^(?=.{1,253}$)([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")
ORG_FIELDS = ("name", "domain", "industry", "size_band", "territory")


def _domain_of(raw) -> str:
    """``https://www.Example.com/about`` → ``example.com``."""
    domain = str(raw or "").strip().lower()
    return re.sub(r"^https?://", "", domain).split("/")[0].removeprefix("www.")


def clean_organization_input(data: dict) -> dict:
    errors: dict[str, list[str]] = {}
    out: dict = {}
    name = " ".join(str(data.get("name") or "").split())
    if not name:
        errors["name"] = ["Enter the organization's name."]
    elif len(name) > 200:
        errors["name"] = ["Use at most 200 characters."]
    out["name"] = name
    domain = _domain_of(data.get("domain"))
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


def _live_name_taken(name_key: str, exclude_id: int | None = None) -> bool:
    query = db.select(Organization.id).where(Organization.name_key == name_key, Organization.deleted_at.is_(None))
    if exclude_id is not None:
        query = query.where(Organization.id != exclude_id)
    return db.session.scalar(query.limit(1)) is not None


def _validated(data: dict, exclude_id: int | None = None) -> dict:
    """Clean ``data`` and check the name is free, reporting every problem at once."""
    try:
        values, errors = clean_organization_input(data), {}
    except ValidationFailed as exc:
        values, errors = None, dict(exc.errors)
    name = " ".join(str(data.get("name") or "").split())
    if "name" not in errors and name and _live_name_taken(name.lower(), exclude_id):
        errors["name"] = ["Another organization already has this name." if exclude_id
                          else "An organization with this name already exists."]
    if errors:
        raise ValidationFailed(errors)
    return values


def _snapshot(org: Organization) -> dict:
    return {key: getattr(org, key) for key in ORG_FIELDS}


def create_organization(actor, data: dict) -> Organization:
    if not can_manage_organizations(actor):
        raise PermissionDenied("Your role cannot create organizations.")
    values = _validated(data)
    org = Organization(name_key=values["name"].lower(), **values)
    db.session.add(org)
    db.session.flush()
    record_event(actor, "organization", org.id, "create", org.name)
    return org


def update_organization(actor, org: Organization, data: dict, expected_version: int | None = None) -> list[str]:
    """Change an organization; returns the names of the fields that changed.

    ``expected_version`` is the version the user's form was loaded with: if the
    organization changed since, ``VersionConflict`` is raised and nothing is written.
    """
    if not can_manage_organizations(actor):
        raise PermissionDenied("Your role cannot edit organizations.")
    if org.deleted_at is not None:
        raise NotFound("This organization is in the trash. Restore it before editing it.")
    if expected_version is not None and expected_version != org.version:
        raise VersionConflict(org)
    values = _validated(data, exclude_id=org.id)
    before = _snapshot(org)
    for k, v in values.items():
        setattr(org, k, v)
    org.name_key = values["name"].lower()
    entries = record_changes(actor, "organization", org.id, before, _snapshot(org))
    if any(e.field == "name" for e in entries):
        _refresh_lead_search_text(org)
    db.session.flush()
    return [e.field for e in entries]


def _refresh_lead_search_text(org: Organization) -> None:
    db.session.flush()  # the new name is what the search text is derived from
    store.refresh_search_text([lead.id for lead in org.leads])


def delete_organization(actor, org: Organization) -> None:
    """Move to the trash. Its leads keep their link and still show its name."""
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
        if _live_name_taken(org.name_key):
            raise ValidationFailed({"name": [
                f"Another organization is already called “{org.name}”. "
                "Rename or delete that one first, then restore this one."]})
        org.deleted_at = None
        record_event(actor, "organization", org.id, "restore", org.name)
        db.session.flush()


# --- What the organization screens show -------------------------------------------

PER_PAGE = 50
SORT_LABELS = {"name": "Name (A–Z)", "newest": "Newest first", "leads": "Most leads"}
DETAIL_LEADS_LIMIT = 100


@dataclass
class OrganizationFilters:
    q: str = ""
    sort: str = "name"
    page: int = 1

    @classmethod
    def from_args(cls, args) -> "OrganizationFilters":
        try:
            page = max(1, min(int(args.get("page", 1)), 100_000))
        except ValueError:
            page = 1
        return cls(
            q=" ".join((args.get("q") or "").split())[:100],
            sort=args.get("sort") if args.get("sort") in SORT_LABELS else "name",
            page=page,
        )


def _like(text: str) -> str:
    return "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def _live_lead_count_column():
    """Live leads of the organization on the same row, as a correlated scalar subquery.

    Used to sort by it: per organization it is one index lookup (with an index on
    ``leads (organization_id, deleted_at)`` an index-only one), which SQLite runs far
    faster than joining an aggregate over every lead.
    """
    return (
        db.select(func.count(Lead.id))
        .where(Lead.organization_id == Organization.id, Lead.deleted_at.is_(None))
        .correlate(Organization)
        .scalar_subquery()
    )


def live_lead_counts(org_ids: list[int]) -> dict[int, int]:
    """Live leads of each of ``org_ids``, in one grouped query."""
    if not org_ids:
        return {}
    return dict(db.session.execute(
        db.select(Lead.organization_id, func.count(Lead.id))
        .where(Lead.organization_id.in_(org_ids), Lead.deleted_at.is_(None))
        .group_by(Lead.organization_id)
    ).tuples().all())


def organization_list_context(filters: OrganizationFilters) -> dict:
    """Live organizations matching the search, one page of them, each with its live-lead count.

    A fixed number of queries whatever the page size: the total, the page, and the
    page's lead counts in one grouped query (computed inside the page query when sorting by them).
    """
    base = db.select(Organization).where(Organization.deleted_at.is_(None))
    if filters.q:
        name_q, domain_q = filters.q.lower(), _domain_of(filters.q)
        conditions = [Organization.name_key.like(_like(name_q), escape="\\")]
        if domain_q:
            conditions.append(Organization.domain.like(_like(domain_q), escape="\\"))
        base = base.where(or_(*conditions))
    total = db.session.scalar(base.with_only_columns(func.count(Organization.id)).order_by(None))
    pages = max(1, math.ceil(total / PER_PAGE))
    page = min(filters.page, pages)
    offset = (page - 1) * PER_PAGE
    if filters.sort == "leads":
        lead_count = _live_lead_count_column().label("lead_count")
        rows = db.session.execute(
            base.add_columns(lead_count)
            .order_by(lead_count.desc(), Organization.name_key.asc(), Organization.id.asc())
            .limit(PER_PAGE).offset(offset)
        ).tuples().all()
    else:
        order = {
            "name": (Organization.name_key.asc(), Organization.id.asc()),
            "newest": (Organization.created_at.desc(), Organization.id.desc()),
        }[filters.sort]
        orgs = db.session.scalars(base.order_by(*order).limit(PER_PAGE).offset(offset)).all()
        counts = live_lead_counts([org.id for org in orgs])
        rows = [(org, counts.get(org.id, 0)) for org in orgs]
    return {
        "rows": rows, "total": total, "page": page, "pages": pages, "filters": filters,
        "sort_labels": SORT_LABELS,
        "first_row": (page - 1) * PER_PAGE + 1 if total else 0,
        "last_row": min(page * PER_PAGE, total),
    }


def get_organization(org_id: int) -> Organization:
    """Any organization, live or in the trash (its page explains which)."""
    org = db.session.get(Organization, org_id)
    if org is None:
        raise NotFound("There is no such organization.")
    return org


def organization_detail_context(org: Organization) -> dict:
    live = db.select(Lead).where(Lead.organization_id == org.id, Lead.deleted_at.is_(None))
    lead_total = db.session.scalar(live.with_only_columns(func.count(Lead.id)).order_by(None))
    leads = db.session.scalars(
        live.options(joinedload(Lead.owner), joinedload(Lead.stage))
        # Newest first by id: the organization_id index yields rows in id order, so no
        # planner is tempted to walk every live lead by creation date instead.
        .order_by(Lead.id.desc()).limit(DETAIL_LEADS_LIMIT)
    ).all()
    return {
        "org": org, "leads": leads, "lead_total": lead_total,
        "history": history("organization", org.id),
    }


def organization_trash_context(page: int = 1) -> dict:
    base = db.select(Organization).where(Organization.deleted_at.is_not(None))
    total = db.session.scalar(base.with_only_columns(func.count(Organization.id)).order_by(None))
    pages = max(1, math.ceil(total / PER_PAGE))
    page = max(1, min(page, pages))
    orgs = db.session.scalars(
        base.order_by(Organization.deleted_at.desc(), Organization.id.desc())
        .limit(PER_PAGE).offset((page - 1) * PER_PAGE)
    ).all()
    counts = live_lead_counts([org.id for org in orgs])
    rows = [(org, counts.get(org.id, 0)) for org in orgs]
    return {"rows": rows, "total": total, "page": page, "pages": pages}
