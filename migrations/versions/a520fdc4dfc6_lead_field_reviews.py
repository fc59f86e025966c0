"""lead field reviews

Values a public capture form submitted for a lead that already had different ones: kept
for the lead's owner to keep or apply, instead of overwriting the lead.

Revision ID: a520fdc4dfc6
Revises: 563432990cbf
Create Date: 2026-12-02 17:45:00

"""
from alembic import op
import sqlalchemy as sa

import leadflow.db


# revision identifiers, used by Alembic.
revision = 'a520fdc4dfc6'
down_revision = '563432990cbf'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('lead_field_reviews',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('lead_id', sa.Integer(), nullable=False),
    sa.Column('field', sa.String(length=80), nullable=False),
    sa.Column('submitted_value', sa.Text(), nullable=False),
    sa.Column('value_key', sa.String(length=64), nullable=False),
    sa.Column('current_value', sa.Text(), nullable=True),
    sa.Column('source', sa.String(length=200), nullable=False),
    sa.Column('activity_id', sa.Integer(), nullable=True),
    sa.Column('created_at', leadflow.db.UTCDateTime(), nullable=False),
    sa.Column('resolved_at', leadflow.db.UTCDateTime(), nullable=True),
    sa.Column('resolved_by_id', sa.Integer(), nullable=True),
    sa.Column('resolution', sa.String(length=8), nullable=True),
    sa.Column('open_flag', sa.Boolean(), nullable=True),
    sa.CheckConstraint("resolution IS NULL OR resolution IN ('kept', 'applied')",
                       name=op.f('ck_lead_field_reviews_resolution')),
    sa.ForeignKeyConstraint(['activity_id'], ['activities.id'],
                            name=op.f('fk_lead_field_reviews_activity_id_activities'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['lead_id'], ['leads.id'],
                            name=op.f('fk_lead_field_reviews_lead_id_leads'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['resolved_by_id'], ['users.id'],
                            name=op.f('fk_lead_field_reviews_resolved_by_id_users'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_lead_field_reviews')),
    sa.UniqueConstraint('lead_id', 'field', 'value_key', 'open_flag', name='uq_lead_field_reviews_open')
    )


def downgrade():
    op.drop_table('lead_field_reviews')
