"""routing rules

Revision ID: c8a2b3d4e507
Revises: b7f1a2c3d406
Create Date: 2026-11-23 13:40:00

"""
from alembic import op
import sqlalchemy as sa

import leadflow.db


# revision identifiers, used by Alembic.
revision = 'c8a2b3d4e507'
down_revision = 'b7f1a2c3d406'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('routing_rules',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=120), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('conditions', sa.JSON(), nullable=False),
    sa.Column('target_kind', sa.String(length=8), nullable=False),
    sa.Column('target_user_id', sa.Integer(), nullable=True),
    sa.Column('target_team_id', sa.Integer(), nullable=True),
    sa.Column('strategy', sa.String(length=16), nullable=False),
    sa.Column('rotation', sa.Integer(), nullable=False),
    sa.Column('created_at', leadflow.db.UTCDateTime(), nullable=False),
    sa.Column('updated_at', leadflow.db.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['target_team_id'], ['teams.id'], name=op.f('fk_routing_rules_target_team_id_teams'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['target_user_id'], ['users.id'], name=op.f('fk_routing_rules_target_user_id_users'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_routing_rules'))
    )
    with op.batch_alter_table('routing_rules', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_routing_rules_position'), ['position'], unique=False)

    op.create_table('routing_assignees',
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('last_assigned_at', leadflow.db.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_routing_assignees_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('user_id', name=op.f('pk_routing_assignees'))
    )

    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.add_column(sa.Column('out_of_office_until', leadflow.db.UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column('max_open_leads', sa.Integer(), nullable=True))


def downgrade():
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.drop_column('max_open_leads')
        batch_op.drop_column('out_of_office_until')
    op.drop_table('routing_assignees')
    with op.batch_alter_table('routing_rules', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_routing_rules_position'))
    op.drop_table('routing_rules')
