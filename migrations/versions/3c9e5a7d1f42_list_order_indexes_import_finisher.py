"""list order indexes; who finished an import; one stored import file per name

- PostgreSQL: ``ix_leads_live_order``, live leads by (created_at, id), a partial index: its
  planner sorted the whole table for the first page of the lead list (30 ms at 100,000 leads,
  0.1 ms with it), since ``deleted_at IS NULL`` does not let it read ``ix_leads_live_created``
  in order. SQLite reads that one in order already (its indexes end with the rowid);
- ``ix_leads_owner_created`` and ``ix_leads_stage_created`` end with the lead id, so one owner's
  or one stage's leads are read in the list's order (created_at, id) on PostgreSQL too;
- ``import_jobs.finished_by``: the worker that finished an import (another node's, when the
  one that started it died);
- ``uq_stored_files_import_name``: one stored file per import upload name (uploads an older
  version left on a node's disk are moved into the database, maybe by two processes at once).

Revision ID: 3c9e5a7d1f42
Revises: b41d7e2c9a58
Create Date: 2026-12-03 20:30:00

"""
import sqlalchemy as sa
from alembic import op


# revision identifiers, used by Alembic.
revision = '3c9e5a7d1f42'
down_revision = 'b41d7e2c9a58'
branch_labels = None
depends_on = None

IMPORT_WHERE = "purpose = 'import'"
ORDER_INDEXES = (("ix_leads_owner_created", "owner_id"), ("ix_leads_stage_created", "stage_id"))


def _postgres() -> bool:
    return op.get_bind().dialect.name == "postgresql"


def upgrade():
    with op.batch_alter_table('leads', schema=None) as batch_op:
        for name, first in ORDER_INDEXES:
            batch_op.drop_index(name)
            batch_op.create_index(name, [first, 'created_at', 'id'], unique=False)
    if _postgres():
        op.execute("CREATE INDEX ix_leads_live_order ON leads (created_at, id) WHERE deleted_at IS NULL")
    with op.batch_alter_table('import_jobs', schema=None) as batch_op:
        batch_op.add_column(sa.Column('finished_by', sa.String(length=64), nullable=True))
    with op.batch_alter_table('stored_files', schema=None) as batch_op:
        batch_op.create_index('uq_stored_files_import_name', ['filename'], unique=True,
                              sqlite_where=sa.text(IMPORT_WHERE), postgresql_where=sa.text(IMPORT_WHERE))


def downgrade():
    with op.batch_alter_table('stored_files', schema=None) as batch_op:
        batch_op.drop_index('uq_stored_files_import_name', sqlite_where=sa.text(IMPORT_WHERE),
                            postgresql_where=sa.text(IMPORT_WHERE))
    with op.batch_alter_table('import_jobs', schema=None) as batch_op:
        batch_op.drop_column('finished_by')
    if _postgres():
        op.execute("DROP INDEX IF EXISTS ix_leads_live_order")
    with op.batch_alter_table('leads', schema=None) as batch_op:
        for name, first in ORDER_INDEXES:
            batch_op.drop_index(name)
            batch_op.create_index(name, [first, 'created_at'], unique=False)
