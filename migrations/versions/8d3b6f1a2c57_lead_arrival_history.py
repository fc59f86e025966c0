"""lead arrivals: a new lead's first history rides on its arrival row

A lead created through the API or a capture form gets its first stage change, lifecycle change,
"Lead created" timeline entries and audit entry from the ``lead_arrivals`` sweep, in the
transaction that runs its arrival, instead of in the request that creates it: the row says
what they are (``history``, JSON), so they are written once, even when the process that
created the lead is gone before the sweep. Nothing answers the request with them.

Revision ID: 8d3b6f1a2c57
Revises: 8c2e4a6f1b37
Create Date: 2026-12-04 23:20:00

"""
from datetime import datetime, timezone

import sqlalchemy as sa
from alembic import op

revision = '8d3b6f1a2c57'
down_revision = '8c2e4a6f1b37'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('lead_arrivals') as batch:
        batch.add_column(sa.Column('history', sa.JSON(), nullable=True))


def downgrade():
    # A row still queued holds its lead's first history: written before the column goes, as
    # the sweep would have (a stage or person deleted since, as no one). The tables and the
    # rows are spelt here as they were at this revision, not taken from the app, whose code
    # moves on after this migration.
    bind = op.get_bind()
    arrivals = sa.table('lead_arrivals', sa.column('lead_id', sa.Integer), sa.column('created_at', sa.DateTime),
                        sa.column('history', sa.JSON))
    items = [(row.lead_id, row.created_at, row.history) for row in bind.execute(
        sa.select(arrivals).where(arrivals.c.history.is_not(None)).order_by(arrivals.c.lead_id))]
    if items:
        stages = set(bind.scalars(sa.text('SELECT id FROM stages')))
        users = set(bind.scalars(sa.text('SELECT id FROM users')))
        for table, rows in zip(_HISTORY_TABLES, _first_history_rows(items, stages, users)):
            if rows:
                bind.execute(table.insert(), rows)
    with op.batch_alter_table('lead_arrivals') as batch:
        batch.drop_column('history')


# The history tables' columns the first history fills (times naive UTC, as stored).
_HISTORY_TABLES = (
    sa.table('stage_changes', *(sa.column(name) for name in ('lead_id', 'from_stage_id', 'to_stage_id', 'actor_id')),
             sa.column('at', sa.DateTime)),
    sa.table('lifecycle_changes', *(sa.column(name) for name in ('lead_id', 'from_lifecycle', 'to_lifecycle',
                                                                   'actor_id')),
             sa.column('at', sa.DateTime)),
    sa.table('activities', *(sa.column(name) for name in ('lead_id', 'kind', 'actor_id', 'subject')),
             sa.column('details', sa.JSON), sa.column('occurred_at', sa.DateTime), sa.column('created_at', sa.DateTime)),
    sa.table('audit_entries', *(sa.column(name) for name in ('actor_id', 'actor_name', 'entity_type', 'entity_id',
                                                               'action', 'field', 'old_value', 'new_value')),
             sa.column('at', sa.DateTime)),
)


def _naive_utc(text, default):
    if not text:
        return default
    value = datetime.fromisoformat(text)
    return value.astimezone(timezone.utc).replace(tzinfo=None) if value.tzinfo else value


def _first_history_rows(items, stages, users):
    """The rows of each queued first history (lead id, time of its create, ``history``), as
    the sweep wrote them at this revision: stage changes, lifecycle changes, timeline entries,
    audit entries."""
    def user(i):
        return i if i in users else None

    stage_changes, lifecycle_changes, activities, audit_entries = [], [], [], []
    for lead_id, at, history in items:
        actor_id = user(history['actor_id'])
        if history['stage_id'] is not None:
            stage_changes.append({'lead_id': lead_id, 'from_stage_id': None, 'actor_id': actor_id, 'at': at,
                                  'to_stage_id': history['stage_id'] if history['stage_id'] in stages else None})
        lifecycle_changes.append({'lead_id': lead_id, 'from_lifecycle': None, 'to_lifecycle': history['lifecycle'],
                                  'actor_id': actor_id, 'at': at})
        for kind, by, subject, occurred_at, details in history['entries']:
            activities.append({'lead_id': lead_id, 'kind': kind, 'actor_id': user(by), 'subject': subject[:200],
                               'details': details, 'occurred_at': _naive_utc(occurred_at, at), 'created_at': at})
        if 'audit' in history:
            name, detail = history['audit']
            audit_entries.append({'at': at, 'actor_id': actor_id, 'actor_name': name, 'entity_type': 'lead',
                                  'entity_id': lead_id, 'action': 'create', 'field': None, 'old_value': None,
                                  'new_value': detail})
    return stage_changes, lifecycle_changes, activities, audit_entries
