"""email templates and sequences

Revision ID: eac4d5f6a709
Revises: d9b3c4e5f608
Create Date: 2026-11-23 13:40:00

"""
from alembic import op
import sqlalchemy as sa

import leadflow.db


# revision identifiers, used by Alembic.
revision = 'eac4d5f6a709'
down_revision = 'd9b3c4e5f608'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('email_templates',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=120), nullable=False),
    sa.Column('subject', sa.String(length=200), nullable=False),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('created_by_id', sa.Integer(), nullable=True),
    sa.Column('created_at', leadflow.db.UTCDateTime(), nullable=False),
    sa.Column('updated_at', leadflow.db.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['created_by_id'], ['users.id'], name=op.f('fk_email_templates_created_by_id_users'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_email_templates'))
    )
    op.create_table('sequences',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=120), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('exit_on_reply', sa.Boolean(), nullable=False),
    sa.Column('exit_on_stage_change', sa.Boolean(), nullable=False),
    sa.Column('exit_on_won_lost', sa.Boolean(), nullable=False),
    sa.Column('exit_score_at_least', sa.Integer(), nullable=True),
    sa.Column('created_by_id', sa.Integer(), nullable=True),
    sa.Column('created_at', leadflow.db.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['created_by_id'], ['users.id'], name=op.f('fk_sequences_created_by_id_users'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_sequences'))
    )
    op.create_table('sequence_steps',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('sequence_id', sa.Integer(), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=8), nullable=False),
    sa.Column('template_id', sa.Integer(), nullable=True),
    sa.Column('wait_amount', sa.Integer(), nullable=True),
    sa.Column('wait_unit', sa.String(length=8), nullable=True),
    sa.Column('task_title', sa.String(length=200), nullable=True),
    sa.ForeignKeyConstraint(['sequence_id'], ['sequences.id'], name=op.f('fk_sequence_steps_sequence_id_sequences'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['template_id'], ['email_templates.id'], name=op.f('fk_sequence_steps_template_id_email_templates'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_sequence_steps'))
    )
    with op.batch_alter_table('sequence_steps', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_sequence_steps_sequence_id'), ['sequence_id'], unique=False)

    op.create_table('enrollments',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('sequence_id', sa.Integer(), nullable=False),
    sa.Column('lead_id', sa.Integer(), nullable=False),
    sa.Column('state', sa.String(length=12), nullable=False),
    sa.Column('active_flag', sa.Boolean(), nullable=True),
    sa.Column('step_index', sa.Integer(), nullable=False),
    sa.Column('next_run_at', leadflow.db.UTCDateTime(), nullable=True),
    sa.Column('lease_until', leadflow.db.UTCDateTime(), nullable=True),
    sa.Column('exit_reason', sa.String(length=24), nullable=True),
    sa.Column('enrolled_by_id', sa.Integer(), nullable=True),
    sa.Column('enrolled_at', leadflow.db.UTCDateTime(), nullable=False),
    sa.Column('finished_at', leadflow.db.UTCDateTime(), nullable=True),
    sa.ForeignKeyConstraint(['enrolled_by_id'], ['users.id'], name=op.f('fk_enrollments_enrolled_by_id_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['lead_id'], ['leads.id'], name=op.f('fk_enrollments_lead_id_leads'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['sequence_id'], ['sequences.id'], name=op.f('fk_enrollments_sequence_id_sequences'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_enrollments')),
    sa.UniqueConstraint('sequence_id', 'lead_id', 'active_flag', name=op.f('uq_enrollments_active'))
    )
    with op.batch_alter_table('enrollments', schema=None) as batch_op:
        batch_op.create_index('ix_enrollments_due', ['state', 'next_run_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_enrollments_lead_id'), ['lead_id'], unique=False)

    op.create_table('sequence_messages',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('enrollment_id', sa.Integer(), nullable=False),
    sa.Column('lead_id', sa.Integer(), nullable=False),
    sa.Column('step_index', sa.Integer(), nullable=False),
    sa.Column('subject', sa.String(length=255), nullable=False),
    sa.Column('sent_at', leadflow.db.UTCDateTime(), nullable=False),
    sa.Column('opened_at', leadflow.db.UTCDateTime(), nullable=True),
    sa.Column('clicked_at', leadflow.db.UTCDateTime(), nullable=True),
    sa.ForeignKeyConstraint(['enrollment_id'], ['enrollments.id'], name=op.f('fk_sequence_messages_enrollment_id_enrollments'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['lead_id'], ['leads.id'], name=op.f('fk_sequence_messages_lead_id_leads'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_sequence_messages')),
    sa.UniqueConstraint('enrollment_id', 'step_index', name=op.f('uq_sequence_messages_step'))
    )
    with op.batch_alter_table('sequence_messages', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_sequence_messages_lead_id'), ['lead_id'], unique=False)

    with op.batch_alter_table('leads', schema=None) as batch_op:
        batch_op.add_column(sa.Column('unsubscribed_at', leadflow.db.UTCDateTime(), nullable=True))
    with op.batch_alter_table('outbox_messages', schema=None) as batch_op:
        batch_op.add_column(sa.Column('list_unsubscribe', sa.String(length=2000), nullable=True))


def downgrade():
    with op.batch_alter_table('outbox_messages', schema=None) as batch_op:
        batch_op.drop_column('list_unsubscribe')
    with op.batch_alter_table('leads', schema=None) as batch_op:
        batch_op.drop_column('unsubscribed_at')
    op.drop_table('sequence_messages')
    op.drop_table('enrollments')
    op.drop_table('sequence_steps')
    op.drop_table('sequences')
    op.drop_table('email_templates')
