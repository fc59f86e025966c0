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
    # the sweep would have (the stage or person deleted since, as no one).
    from leadflow.accounts.models import User
    from leadflow.activities.models import Activity
    from leadflow.db import UTCDateTime
    from leadflow.governance.models import AuditEntry
    from leadflow.leads.models import LifecycleChange
    from leadflow.leads.store import first_history_rows
    from leadflow.pipeline.models import Stage, StageChange

    bind = op.get_bind()
    arrivals = sa.table('lead_arrivals', sa.column('lead_id', sa.Integer), sa.column('created_at', UTCDateTime()),
                        sa.column('history', sa.JSON))
    items = [(row.lead_id, row.created_at, row.history) for row in bind.execute(
        sa.select(arrivals).where(arrivals.c.history.is_not(None)).order_by(arrivals.c.lead_id))]
    if items:
        rows = first_history_rows(items, stages=set(bind.scalars(sa.select(Stage.id))),
                                  users=set(bind.scalars(sa.select(User.id))))
        for table, batch in zip((StageChange.__table__, LifecycleChange.__table__, Activity.__table__,
                                 AuditEntry.__table__), rows):
            if batch:
                bind.execute(table.insert(), batch)
    with op.batch_alter_table('lead_arrivals') as batch:
        batch.drop_column('history')
