"""capture token uses

A capture-form token is accepted once: the id of each token a submission used is kept
(until the token would have expired anyway).

Revision ID: 563432990cbf
Revises: fb1c2d3e4f50
Create Date: 2026-12-02 18:00:00

"""
from alembic import op
import sqlalchemy as sa

import leadflow.db


# revision identifiers, used by Alembic.
revision = '563432990cbf'
down_revision = 'fb1c2d3e4f50'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('capture_token_uses',
    sa.Column('token_id', sa.String(length=32), nullable=False),
    sa.Column('form_id', sa.Integer(), nullable=False),
    sa.Column('used_at', leadflow.db.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['form_id'], ['capture_forms.id'], name=op.f('fk_capture_token_uses_form_id_capture_forms'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('token_id', name=op.f('pk_capture_token_uses'))
    )
    with op.batch_alter_table('capture_token_uses', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_capture_token_uses_used_at'), ['used_at'], unique=False)


def downgrade():
    with op.batch_alter_table('capture_token_uses', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_capture_token_uses_used_at'))
    op.drop_table('capture_token_uses')
