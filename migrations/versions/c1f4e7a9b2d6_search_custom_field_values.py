"""search custom field values

The lead list's search now also matches the values of a lead's custom fields. New and changed
leads get them in ``leads.search_text`` as they are written; this rebuilds the search text of
the leads that already have custom fields (the lead_search triggers copy it on). It reads and
writes a batch of leads at a time, in id order, so a large table is never held in memory.

The rule is written out here as it was when this migration was made (later changes to
``leadflow.leads.fields.search_text_for`` do not change what an old migration did).

Revision ID: c1f4e7a9b2d6
Revises: e8f3b2d5c1a7
Create Date: 2026-12-03 10:30:00

"""
import json

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'c1f4e7a9b2d6'
down_revision = 'e8f3b2d5c1a7'
branch_labels = None
depends_on = None

BATCH = 1000
VALUE_CHARS = 200
TOTAL_CHARS = 1000


def _custom_words(custom) -> str:
    if isinstance(custom, str):
        try:
            custom = json.loads(custom)
        except ValueError:
            return ""
    if not isinstance(custom, dict):
        return ""
    parts, room = [], TOTAL_CHARS
    for value in custom.values():
        if value is None or room <= 0:
            continue
        text = " ".join(str(value).split())[:min(VALUE_CHARS, room)]
        if text:
            parts.append(text)
            room -= len(text) + 1
    return " ".join(parts)


def _search_text(row, custom) -> str:
    parts = [row.first_name, row.last_name, row.email, row.organization]
    if row.phone:
        parts += [row.phone, row.phone.lstrip("+")]
    parts.append(custom)
    return " ".join(p for p in parts if p).lower()


def _rebuild(with_custom: bool) -> None:
    bind = op.get_bind()
    select = sa.text(
        "SELECT l.id, l.first_name, l.last_name, l.email, l.phone, o.name AS organization, l.custom_fields "
        "FROM leads l LEFT JOIN organizations o ON o.id = l.organization_id "
        "WHERE l.id > :after AND l.custom_fields IS NOT NULL ORDER BY l.id LIMIT :size")
    update = sa.text("UPDATE leads SET search_text = :text WHERE id = :id")
    after = 0
    while True:
        rows = bind.execute(select, {"after": after, "size": BATCH}).all()
        if not rows:
            break
        changes = []
        for row in rows:
            custom = _custom_words(row.custom_fields) if with_custom else ""
            if custom or not with_custom:
                changes.append({"id": row.id, "text": _search_text(row, custom)})
        if changes:
            bind.execute(update, changes)
        after = rows[-1].id


def upgrade():
    _rebuild(with_custom=True)


def downgrade():
    _rebuild(with_custom=False)
