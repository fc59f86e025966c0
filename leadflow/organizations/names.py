"""Finding organizations by name, adding the missing ones: what every lead writer calls
(the lead form and API through ``leads.services``, the import, the demo) when a lead names its
company. Below the organization pages and services, so lead writers need nothing else of this
package; the live-name unique index keeps concurrent writers to one organization per name.
"""

from __future__ import annotations

from sqlalchemy import bindparam

from leadflow.db import insert_missing, transaction_cache
from leadflow.extensions import db
from leadflow.organizations.models import Organization


# Built once: every lead that names its company asks it.
_LIVE_BY_NAME_KEY = db.select(Organization).where(Organization.name_key == bindparam("name_key"),
                                                  Organization.deleted_at.is_(None))


def find_organization(name: str) -> Organization | None:
    """The live organization called ``name`` (whatever its case and spacing), or None. Kept for
    the transaction while it still holds that name: the lead form looks the organization up for
    its duplicate check, then creates the lead with it, and reads it once."""
    key = " ".join(name.split()).lower()
    known = transaction_cache("organizations by name")
    found = known.get(key)
    if found is None or found.deleted_at is not None or found.name_key != key:
        found = db.session.scalar(_LIVE_BY_NAME_KEY, {"name_key": key})
        if found is not None:
            known[key] = found
    return found


def find_or_create_organization(name: str) -> Organization:
    """The live organization called ``name`` (whatever its case and spacing), added when there
    is none. A SELECT; when it finds none, ``INSERT … ON CONFLICT DO NOTHING`` on the live-name
    unique index and the SELECT again:
    requests adding the same new name at once all get the one organization."""
    name = " ".join(name.split())
    found = find_organization(name)  # read first: most leads name a company already known
    if found is None:
        add_organizations({name.lower(): name})
        found = find_organization(name)
    return found


def add_organizations(names: dict[str, str]) -> None:
    """Add a live organization for each ``{name_key: name}`` that has none (see
    ``find_or_create_organization``); the caller selects them afterwards."""
    if names:
        insert_missing(Organization.__table__, [{"name": name, "name_key": key} for key, name in names.items()],
                       ["name_key"], index_where=Organization.deleted_at.is_(None))
