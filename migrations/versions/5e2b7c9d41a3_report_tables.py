"""report tables: lifecycle history and source costs

``lifecycle_changes`` keeps each change of a lead's lifecycle (the lead store writes it), so
the funnel can tell how far a lead ever got; every existing lead gets one row for the
lifecycle it has now, dated when it was created (nothing older is known).
``source_costs`` is what an admin says a lead source cost in a month.

Revision ID: 5e2b7c9d41a3
Revises: 0a7c3e5f9b21
Create Date: 2026-12-03 20:30:00

"""
from alembic import op
import sqlalchemy as sa

import leadflow.db


# revision identifiers, used by Alembic.
revision = '5e2b7c9d41a3'
down_revision = '0a7c3e5f9b21'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('lifecycle_changes',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('lead_id', sa.Integer(), nullable=False),
    sa.Column('from_lifecycle', sa.String(length=16), nullable=True),
    sa.Column('to_lifecycle', sa.String(length=16), nullable=False),
    sa.Column('actor_id', sa.Integer(), nullable=True),
    sa.Column('at', leadflow.db.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['actor_id'], ['users.id'], name=op.f('fk_lifecycle_changes_actor_id_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['lead_id'], ['leads.id'], name=op.f('fk_lifecycle_changes_lead_id_leads'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_lifecycle_changes'))
    )
    with op.batch_alter_table('lifecycle_changes', schema=None) as batch_op:
        batch_op.create_index('ix_lifecycle_changes_lead_to', ['lead_id', 'to_lifecycle'], unique=False)
    op.execute("INSERT INTO lifecycle_changes (lead_id, from_lifecycle, to_lifecycle, actor_id, at) "
               "SELECT id, NULL, lifecycle, NULL, created_at FROM leads ORDER BY id")

    op.create_table('source_costs',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('source', sa.String(length=40), nullable=False),
    sa.Column('month', sa.Date(), nullable=False),
    sa.Column('amount_cents', sa.BigInteger(), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('updated_at', leadflow.db.UTCDateTime(), nullable=False),
    sa.Column('updated_by_id', sa.Integer(), nullable=True),
    sa.CheckConstraint('amount_cents >= 0', name=op.f('ck_source_costs_amount_not_negative')),
    sa.ForeignKeyConstraint(['updated_by_id'], ['users.id'], name=op.f('fk_source_costs_updated_by_id_users'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_source_costs')),
    sa.UniqueConstraint('source', 'month', name='uq_source_costs_source_month')
    )


def downgrade():
    op.drop_table('source_costs')
    with op.batch_alter_table('lifecycle_changes', schema=None) as batch_op:
        batch_op.drop_index('ix_lifecycle_changes_lead_to')
    op.drop_table('lifecycle_changes')
