"""home page: an owner's hot leads by index

The home page lists each person's hot leads with no next step. Without this index it read
every lead of the owner (33,000 for the demo's busiest rep at 100,000 leads) to find the few
hundred hot ones: 46 ms of CPU on SQLite, 1 ms with it.

Revision ID: 5b7d2e9c4a18
Revises: 3c9e5a7d1f42
Create Date: 2026-12-03 20:20:00

"""
from alembic import op


# revision identifiers, used by Alembic.
revision = '5b7d2e9c4a18'
down_revision = '3c9e5a7d1f42'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('leads', schema=None) as batch_op:
        batch_op.create_index('ix_leads_owner_temperature', ['owner_id', 'temperature', 'deleted_at', 'stage_id'],
                              unique=False)


def downgrade():
    with op.batch_alter_table('leads', schema=None) as batch_op:
        batch_op.drop_index('ix_leads_owner_temperature')
