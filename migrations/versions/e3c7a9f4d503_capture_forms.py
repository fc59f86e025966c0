"""capture forms

Revision ID: e3c7a9f4d503
Revises: d2b6f8e3c402
Create Date: 2026-11-23 12:00:00

"""
from alembic import op
import sqlalchemy as sa

import leadflow.db


# revision identifiers, used by Alembic.
revision = 'e3c7a9f4d503'
down_revision = 'd2b6f8e3c402'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('capture_forms',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=120), nullable=False),
    sa.Column('slug', sa.String(length=60), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('fields', sa.JSON(), nullable=False),
    sa.Column('consent_text', sa.Text(), nullable=True),
    sa.Column('button_label', sa.String(length=60), nullable=False),
    sa.Column('thank_you_message', sa.Text(), nullable=True),
    sa.Column('redirect_url', sa.String(length=2000), nullable=True),
    sa.Column('default_source', sa.String(length=40), nullable=True),
    sa.Column('stage_id', sa.Integer(), nullable=True),
    sa.Column('owner_rule', sa.String(length=16), nullable=False),
    sa.Column('owner_id', sa.Integer(), nullable=True),
    sa.Column('team_id', sa.Integer(), nullable=True),
    sa.Column('rotation_counter', sa.Integer(), nullable=False),
    sa.Column('submission_count', sa.Integer(), nullable=False),
    sa.Column('last_submission_at', leadflow.db.UTCDateTime(), nullable=True),
    sa.Column('created_by_id', sa.Integer(), nullable=True),
    sa.Column('created_at', leadflow.db.UTCDateTime(), nullable=False),
    sa.Column('updated_at', leadflow.db.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['created_by_id'], ['users.id'], name=op.f('fk_capture_forms_created_by_id_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['owner_id'], ['users.id'], name=op.f('fk_capture_forms_owner_id_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['stage_id'], ['stages.id'], name=op.f('fk_capture_forms_stage_id_stages'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['team_id'], ['teams.id'], name=op.f('fk_capture_forms_team_id_teams'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_capture_forms')),
    sa.UniqueConstraint('slug', name=op.f('uq_capture_forms_slug'))
    )


def downgrade():
    op.drop_table('capture_forms')
