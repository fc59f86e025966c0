"""api tokens and merges

Revision ID: a5e9cbf6f705
Revises: f4d8bae5e604
Create Date: 2026-11-23 12:00:00

"""
from alembic import op
import sqlalchemy as sa

import leadflow.db


# revision identifiers, used by Alembic.
revision = 'a5e9cbf6f705'
down_revision = 'f4d8bae5e604'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('api_tokens',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=80), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('scopes', sa.String(length=40), nullable=False),
    sa.Column('prefix', sa.String(length=16), nullable=False),
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('created_by_id', sa.Integer(), nullable=True),
    sa.Column('created_at', leadflow.db.UTCDateTime(), nullable=False),
    sa.Column('last_used_at', leadflow.db.UTCDateTime(), nullable=True),
    sa.Column('revoked_at', leadflow.db.UTCDateTime(), nullable=True),
    sa.ForeignKeyConstraint(['created_by_id'], ['users.id'], name=op.f('fk_api_tokens_created_by_id_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_api_tokens_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_api_tokens')),
    sa.UniqueConstraint('prefix', name=op.f('uq_api_tokens_prefix'))
    )
    with op.batch_alter_table('api_tokens', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_api_tokens_user_id'), ['user_id'], unique=False)

    op.create_table('idempotency_keys',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('token_id', sa.Integer(), nullable=False),
    sa.Column('key', sa.String(length=200), nullable=False),
    sa.Column('request_hash', sa.String(length=64), nullable=False),
    sa.Column('response_status', sa.Integer(), nullable=False),
    sa.Column('response_body', sa.JSON(), nullable=False),
    sa.Column('created_at', leadflow.db.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['token_id'], ['api_tokens.id'], name=op.f('fk_idempotency_keys_token_id_api_tokens'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_idempotency_keys')),
    sa.UniqueConstraint('token_id', 'key', name='uq_idempotency_keys_token_id_key')
    )
    with op.batch_alter_table('idempotency_keys', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_idempotency_keys_created_at'), ['created_at'], unique=False)

    op.create_table('lead_merges',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('survivor_id', sa.Integer(), nullable=True),
    sa.Column('absorbed_id', sa.Integer(), nullable=True),
    sa.Column('survivor_before', sa.JSON(), nullable=False),
    sa.Column('moved', sa.JSON(), nullable=False),
    sa.Column('audit_entry_id', sa.Integer(), nullable=True),
    sa.Column('actor_id', sa.Integer(), nullable=True),
    sa.Column('merged_at', leadflow.db.UTCDateTime(), nullable=False),
    sa.Column('undone_at', leadflow.db.UTCDateTime(), nullable=True),
    sa.Column('undone_by_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['absorbed_id'], ['leads.id'], name=op.f('fk_lead_merges_absorbed_id_leads'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['actor_id'], ['users.id'], name=op.f('fk_lead_merges_actor_id_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['audit_entry_id'], ['audit_entries.id'], name=op.f('fk_lead_merges_audit_entry_id_audit_entries'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['survivor_id'], ['leads.id'], name=op.f('fk_lead_merges_survivor_id_leads'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['undone_by_id'], ['users.id'], name=op.f('fk_lead_merges_undone_by_id_users'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_lead_merges'))
    )
    with op.batch_alter_table('lead_merges', schema=None) as batch_op:
        batch_op.create_index('ix_lead_merges_absorbed_undone', ['absorbed_id', 'undone_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_lead_merges_audit_entry_id'), ['audit_entry_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_lead_merges_survivor_id'), ['survivor_id'], unique=False)

    op.create_table('duplicate_dismissals',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('lead_low_id', sa.Integer(), nullable=False),
    sa.Column('lead_high_id', sa.Integer(), nullable=False),
    sa.Column('actor_id', sa.Integer(), nullable=True),
    sa.Column('created_at', leadflow.db.UTCDateTime(), nullable=False),
    sa.CheckConstraint('lead_low_id < lead_high_id', name=op.f('ck_duplicate_dismissals_ordered_pair')),
    sa.ForeignKeyConstraint(['actor_id'], ['users.id'], name=op.f('fk_duplicate_dismissals_actor_id_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['lead_high_id'], ['leads.id'], name=op.f('fk_duplicate_dismissals_lead_high_id_leads'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['lead_low_id'], ['leads.id'], name=op.f('fk_duplicate_dismissals_lead_low_id_leads'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_duplicate_dismissals')),
    sa.UniqueConstraint('lead_low_id', 'lead_high_id', name='uq_duplicate_dismissals_pair')
    )
    with op.batch_alter_table('duplicate_dismissals', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_duplicate_dismissals_lead_high_id'), ['lead_high_id'], unique=False)


def downgrade():
    op.drop_table('duplicate_dismissals')
    op.drop_table('lead_merges')
    op.drop_table('idempotency_keys')
    op.drop_table('api_tokens')
