"""one live organization per name

Adds the partial unique index uq_organizations_live_name_key on organizations(name_key)
WHERE deleted_at IS NULL, so that requests adding the same new organization at once end
with one organization (trashed ones may still share a name).

A database may already hold live organizations with the same name (concurrent requests
made them before the index existed). They are merged first, losing nothing: in each group
the oldest stays; it takes the leads of the others (trashed leads too) and any detail
(domain, industry, size, territory) it lacks; the others go to the trash with their own
values intact, and each organization's history says what happened. Those leads keep the
same organization name, so their search text is unchanged.

Downgrade drops the index; the merges stay.

Revision ID: c3e91a7d5b20
Revises: faacf2c25cd1
Create Date: 2026-12-03 02:40:00

"""
from datetime import datetime, timezone

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'c3e91a7d5b20'
down_revision = 'faacf2c25cd1'
branch_labels = None
depends_on = None

INDEX = "uq_organizations_live_name_key"
LIVE = "deleted_at IS NULL"
ACTOR = "LeadFlow upgrade"
DETAILS = ("domain", "industry", "size_band", "territory")


def _audit(bind, now, org_id: int, action: str, value: str, field: str | None = None, old: str | None = None):
    bind.execute(sa.text(
        "INSERT INTO audit_entries (at, actor_name, entity_type, entity_id, action, field, old_value, new_value) "
        "VALUES (:at, :actor, 'organization', :id, :action, :field, :old, :new)"),
        {"at": now, "actor": ACTOR, "id": org_id, "action": action, "field": field, "old": old, "new": value})


def _merge_group(bind, now, orgs) -> None:
    """``orgs``: the live organizations sharing one name, oldest first."""
    keep, others = orgs[0], orgs[1:]
    filled = {}
    for field in DETAILS:
        if getattr(keep, field) is None:
            value = next((getattr(o, field) for o in others if getattr(o, field) is not None), None)
            if value is not None:
                filled[field] = value
    for other in others:
        moved = bind.execute(sa.text(
            "UPDATE leads SET organization_id = :keep, version = version + 1, updated_at = :now "
            "WHERE organization_id = :other"), {"keep": keep.id, "other": other.id, "now": now}).rowcount
        bind.execute(sa.text(
            "UPDATE organizations SET deleted_at = :now, updated_at = :now, version = version + 1 WHERE id = :id"),
            {"now": now, "id": other.id})
        _audit(bind, now, other.id, "merge",
               f"into organization #{keep.id} “{keep.name}”, which has the same name: its {moved} lead(s) "
               "moved there and this one went to the trash")
        _audit(bind, now, keep.id, "merge",
               f"organization #{other.id} “{other.name}”, which had the same name: {moved} lead(s) moved here")
    if filled:
        assignments = ", ".join(f"{field} = :{field}" for field in filled)
        bind.execute(sa.text(
            f"UPDATE organizations SET {assignments}, updated_at = :now, version = version + 1 WHERE id = :id"),
            {**filled, "now": now, "id": keep.id})
        for field, value in filled.items():
            _audit(bind, now, keep.id, "update", value, field=field)


def upgrade():
    bind = op.get_bind()
    now = datetime.now(timezone.utc).replace(tzinfo=None)
    keys = bind.execute(sa.text(
        f"SELECT name_key FROM organizations WHERE {LIVE} GROUP BY name_key HAVING COUNT(*) > 1 ORDER BY name_key"
    )).scalars().all()
    for key in keys:
        orgs = bind.execute(sa.text(
            f"SELECT id, name, {', '.join(DETAILS)} FROM organizations WHERE name_key = :key AND {LIVE} ORDER BY id"),
            {"key": key}).all()
        _merge_group(bind, now, orgs)
    op.create_index(INDEX, 'organizations', ['name_key'], unique=True,
                    sqlite_where=sa.text(LIVE), postgresql_where=sa.text(LIVE))


def downgrade():
    op.drop_index(INDEX, table_name='organizations', sqlite_where=sa.text(LIVE), postgresql_where=sa.text(LIVE))
