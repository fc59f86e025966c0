"""scoring rules

Revision ID: b7f1a2c3d406
Revises: a5e9cbf6f705
Create Date: 2026-11-23 13:40:00

"""
from alembic import op
import sqlalchemy as sa

import leadflow.db


# revision identifiers, used by Alembic.
revision = 'b7f1a2c3d406'
down_revision = 'a5e9cbf6f705'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('scoring_rules',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=120), nullable=False),
    sa.Column('category', sa.String(length=12), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('points', sa.Integer(), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('field', sa.String(length=16), nullable=True),
    sa.Column('custom_key', sa.String(length=64), nullable=True),
    sa.Column('operator', sa.String(length=8), nullable=True),
    sa.Column('value', sa.Text(), nullable=True),
    sa.Column('activity_kind', sa.String(length=24), nullable=True),
    sa.Column('contains', sa.String(length=200), nullable=True),
    sa.Column('cap', sa.Integer(), nullable=True),
    sa.Column('days', sa.Integer(), nullable=True),
    sa.Column('created_at', leadflow.db.UTCDateTime(), nullable=False),
    sa.Column('updated_at', leadflow.db.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_scoring_rules'))
    )
    with op.batch_alter_table('scoring_rules', schema=None) as batch_op:
        batch_op.create_index('ix_scoring_rules_active_position', ['active', 'position'], unique=False)

    op.create_table('rescore_jobs',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('reason', sa.String(length=12), nullable=False),
    sa.Column('dedupe_key', sa.String(length=40), nullable=True),
    sa.Column('status', sa.String(length=8), nullable=False),
    sa.Column('total', sa.Integer(), nullable=False),
    sa.Column('done', sa.Integer(), nullable=False),
    sa.Column('changed', sa.Integer(), nullable=False),
    sa.Column('last_lead_id', sa.Integer(), nullable=False),
    sa.Column('error', sa.Text(), nullable=True),
    sa.Column('lease_owner', sa.String(length=64), nullable=True),
    sa.Column('lease_until', leadflow.db.UTCDateTime(), nullable=True),
    sa.Column('created_by_id', sa.Integer(), nullable=True),
    sa.Column('created_at', leadflow.db.UTCDateTime(), nullable=False),
    sa.Column('updated_at', leadflow.db.UTCDateTime(), nullable=False),
    sa.Column('finished_at', leadflow.db.UTCDateTime(), nullable=True),
    sa.ForeignKeyConstraint(['created_by_id'], ['users.id'], name=op.f('fk_rescore_jobs_created_by_id_users'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_rescore_jobs')),
    sa.UniqueConstraint('dedupe_key', name=op.f('uq_rescore_jobs_dedupe_key'))
    )
    with op.batch_alter_table('rescore_jobs', schema=None) as batch_op:
        batch_op.create_index('ix_rescore_jobs_status_lease', ['status', 'lease_until'], unique=False)


def downgrade():
    op.drop_table('rescore_jobs')
    op.drop_table('scoring_rules')
