"""lead arrivals: a new lead's routing, scoring and alerts run after the commit that creates it

The lead form, the API and capture forms write one ``lead_arrivals`` row beside each new lead,
in the same transaction; the ``lead_arrivals`` sweep runs ``leads.arrived`` for a batch of them
and deletes their rows in one transaction, so each runs once even if a process dies between.

Revision ID: 4b7e2c9d1a60
Revises: 5b7d2e9c4a18
Create Date: 2026-12-03 20:20:00

"""
import sqlalchemy as sa
from alembic import op

from leadflow.db import UTCDateTime

revision = '4b7e2c9d1a60'
down_revision = '5b7d2e9c4a18'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'lead_arrivals',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('lead_id', sa.Integer(), nullable=False),
        sa.Column('channel', sa.String(length=16), nullable=False),
        sa.Column('context', sa.JSON(), nullable=True),
        sa.Column('created_at', UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(['lead_id'], ['leads.id'], name=op.f('fk_lead_arrivals_lead_id_leads'),
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_lead_arrivals')),
    )
    op.create_index(op.f('ix_lead_arrivals_lead_id'), 'lead_arrivals', ['lead_id'], unique=False)


def downgrade():
    op.drop_index(op.f('ix_lead_arrivals_lead_id'), table_name='lead_arrivals')
    op.drop_table('lead_arrivals')
