"""monthly targets: the won value a team aims for in a month

``monthly_targets``: one row a month for the whole workspace (no pipeline) and one a month per
pipeline, each kept unique by a partial index of its own (a unique key over a NULL pipeline
would let any number of workspace targets in). The amount is in the currency that was the
base currency when it was set; the forecast report shows won value against it.

Revision ID: 5b8e2d4f6a13
Revises: 5e2b7c9d41a3
Create Date: 2026-12-03 20:10:00

"""
from alembic import op
import sqlalchemy as sa

import leadflow.db


# revision identifiers, used by Alembic.
revision = '5b8e2d4f6a13'
down_revision = '5e2b7c9d41a3'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('monthly_targets',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('month', sa.Date(), nullable=False),
    sa.Column('pipeline_id', sa.Integer(), nullable=True),
    sa.Column('amount_cents', sa.BigInteger(), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('set_at', leadflow.db.UTCDateTime(), nullable=False),
    sa.Column('set_by_id', sa.Integer(), nullable=True),
    sa.CheckConstraint('amount_cents >= 0', name=op.f('ck_monthly_targets_amount_not_negative')),
    sa.ForeignKeyConstraint(['pipeline_id'], ['pipelines.id'], name=op.f('fk_monthly_targets_pipeline_id_pipelines'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['set_by_id'], ['users.id'], name=op.f('fk_monthly_targets_set_by_id_users'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_monthly_targets'))
    )
    op.create_index('uq_monthly_targets_month_all', 'monthly_targets', ['month'], unique=True,
                    sqlite_where=sa.text('pipeline_id IS NULL'), postgresql_where=sa.text('pipeline_id IS NULL'))
    op.create_index('uq_monthly_targets_month_pipeline', 'monthly_targets', ['month', 'pipeline_id'], unique=True,
                    sqlite_where=sa.text('pipeline_id IS NOT NULL'), postgresql_where=sa.text('pipeline_id IS NOT NULL'))


def downgrade():
    op.drop_index('uq_monthly_targets_month_pipeline', table_name='monthly_targets')
    op.drop_index('uq_monthly_targets_month_all', table_name='monthly_targets')
    op.drop_table('monthly_targets')
