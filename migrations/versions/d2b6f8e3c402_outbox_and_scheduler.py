"""outbox and scheduler

Revision ID: d2b6f8e3c402
Revises: a49c21e8881d
Create Date: 2026-11-23 12:00:00

"""
from alembic import op
import sqlalchemy as sa

import leadflow.db


# revision identifiers, used by Alembic.
revision = 'd2b6f8e3c402'
down_revision = 'a49c21e8881d'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('outbox_messages',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('to_address', sa.String(length=254), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=True),
    sa.Column('lead_id', sa.Integer(), nullable=True),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('subject', sa.String(length=255), nullable=False),
    sa.Column('text_body', sa.Text(), nullable=False),
    sa.Column('html_body', sa.Text(), nullable=True),
    sa.Column('idempotency_key', sa.String(length=200), nullable=False),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('next_attempt_at', leadflow.db.UTCDateTime(), nullable=False),
    sa.Column('lease_until', leadflow.db.UTCDateTime(), nullable=True),
    sa.Column('sent_at', leadflow.db.UTCDateTime(), nullable=True),
    sa.Column('last_error', sa.String(length=1000), nullable=True),
    sa.Column('created_at', leadflow.db.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['lead_id'], ['leads.id'], name=op.f('fk_outbox_messages_lead_id_leads'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_outbox_messages_user_id_users'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_outbox_messages')),
    sa.UniqueConstraint('idempotency_key', name=op.f('uq_outbox_messages_idempotency_key'))
    )
    with op.batch_alter_table('outbox_messages', schema=None) as batch_op:
        batch_op.create_index('ix_outbox_messages_created', ['created_at'], unique=False)
        batch_op.create_index('ix_outbox_messages_state_due', ['state', 'next_attempt_at'], unique=False)

    op.create_table('lead_alerts',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('lead_id', sa.Integer(), nullable=False),
    sa.Column('due_at', leadflow.db.UTCDateTime(), nullable=False),
    sa.Column('lease_until', leadflow.db.UTCDateTime(), nullable=True),
    sa.Column('done_at', leadflow.db.UTCDateTime(), nullable=True),
    sa.Column('outcome', sa.String(length=16), nullable=True),
    sa.Column('created_at', leadflow.db.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['lead_id'], ['leads.id'], name=op.f('fk_lead_alerts_lead_id_leads'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_lead_alerts')),
    sa.UniqueConstraint('kind', 'lead_id', name='uq_lead_alerts_kind_lead')
    )
    with op.batch_alter_table('lead_alerts', schema=None) as batch_op:
        batch_op.create_index('ix_lead_alerts_open_due', ['done_at', 'due_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_lead_alerts_lead_id'), ['lead_id'], unique=False)

    op.create_table('digest_schedules',
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('next_due_at', leadflow.db.UTCDateTime(), nullable=False),
    sa.Column('lease_until', leadflow.db.UTCDateTime(), nullable=True),
    sa.Column('last_sent_on', sa.String(length=10), nullable=True),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_digest_schedules_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('user_id', name=op.f('pk_digest_schedules'))
    )
    with op.batch_alter_table('digest_schedules', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_digest_schedules_next_due_at'), ['next_due_at'], unique=False)


def downgrade():
    with op.batch_alter_table('digest_schedules', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_digest_schedules_next_due_at'))
    op.drop_table('digest_schedules')

    with op.batch_alter_table('lead_alerts', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_lead_alerts_lead_id'))
        batch_op.drop_index('ix_lead_alerts_open_due')
    op.drop_table('lead_alerts')

    with op.batch_alter_table('outbox_messages', schema=None) as batch_op:
        batch_op.drop_index('ix_outbox_messages_state_due')
        batch_op.drop_index('ix_outbox_messages_created')
    op.drop_table('outbox_messages')
