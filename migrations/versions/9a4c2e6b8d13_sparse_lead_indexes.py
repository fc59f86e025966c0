"""leads: the shared email key and the import job indexed only where they hold a value

Both columns are empty on nearly every lead. With their whole-column indexes, SQLite's
statistics said one value matches a great many leads (every lead after a full ANALYZE, an
operator's or the sqlite3 shell's; a thousand after the app's sampled one after an import),
and after a full ANALYZE SQLite scanned the table for the lead page's duplicate check
(``email_key = ? OR shared_email_key = ?``): 11-40 ms a lead page at 100,000 leads instead of
0.2. Indexed where not NULL, the statistics count only the leads that hold a value; a
comparison with a value implies IS NOT NULL, so every query that used them still does.

Revision ID: 9a4c2e6b8d13
Revises: 8d3b6f1a2c57
Create Date: 2026-12-05 04:20:00

"""
import sqlalchemy as sa
from alembic import op

from leadflow.db import refresh_statistics
from leadflow.leads.models import SPARSE_COLUMNS

revision = '9a4c2e6b8d13'
down_revision = '8d3b6f1a2c57'
branch_labels = None
depends_on = None


def upgrade():
    for column in SPARSE_COLUMNS:
        op.drop_index(f'ix_leads_{column}', table_name='leads')
        where = sa.text(f"{column} IS NOT NULL")
        op.create_index(f'ix_leads_{column}', 'leads', [column], unique=False,
                        sqlite_where=where, postgresql_where=where)
    refresh_statistics(op.get_bind(), ["leads"])


def downgrade():
    for column in SPARSE_COLUMNS:
        op.drop_index(f'ix_leads_{column}', table_name='leads')
        op.create_index(f'ix_leads_{column}', 'leads', [column], unique=False)
    refresh_statistics(op.get_bind(), ["leads"])
