"""outbox attempts and scheduler heartbeats

Each attempt at an outbox row is recorded ("sending", with an
attempt id and when it started) before the SMTP server is spoken to, a row names the
scheduler that claimed it (``claimed_by``), and ``scheduler_heartbeats`` says which
schedulers are alive, so a dead one's claims are taken over at once. ``server_unreachable``
marks messages that wait because the server could not be reached (a probe wakes them).

Rows left "sending" by the old code name no scheduler: once their lease has run out, the next
sweep sends them again with the same Message-ID (``settle_interrupted``).

Revision ID: c5d1e2f3a4b6
Revises: c3e91a7d5b20
Create Date: 2026-12-03 02:40:00

"""
from alembic import op
import sqlalchemy as sa

import leadflow.db


# revision identifiers, used by Alembic.
revision = 'c5d1e2f3a4b6'
down_revision = 'c3e91a7d5b20'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('scheduler_heartbeats',
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('started_at', leadflow.db.UTCDateTime(), nullable=False),
    sa.Column('beat_at', leadflow.db.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_scheduler_heartbeats'))
    )
    with op.batch_alter_table('scheduler_heartbeats', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_scheduler_heartbeats_beat_at'), ['beat_at'], unique=False)

    with op.batch_alter_table('outbox_messages', schema=None) as batch_op:
        batch_op.add_column(sa.Column('claimed_by', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('attempt_id', sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column('attempt_started_at', leadflow.db.UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column('server_unreachable', sa.Boolean(), nullable=False,
                                      server_default=sa.false()))
    with op.batch_alter_table('outbox_messages', schema=None) as batch_op:
        batch_op.alter_column('server_unreachable', server_default=None)


def downgrade():
    # "unknown" rows stay as they are: the old code leaves a state it does not know alone,
    # which is right for a message that may have gone out.
    with op.batch_alter_table('outbox_messages', schema=None) as batch_op:
        batch_op.drop_column('server_unreachable')
        batch_op.drop_column('attempt_started_at')
        batch_op.drop_column('attempt_id')
        batch_op.drop_column('claimed_by')

    with op.batch_alter_table('scheduler_heartbeats', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_scheduler_heartbeats_beat_at'))

    op.drop_table('scheduler_heartbeats')
