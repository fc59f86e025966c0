"""reference versions: a counter per kind of reference data, bumped by triggers on every write

Pages keep reference data (settings, exchange rates, users and teams for the menus, tags,
pipelines and stages, sequences) for the process and check it with one read of this table
(``leadflow/web/refcache.py``). The triggers bump a kind's version in the transaction of any
write to its tables, from any process and any code path. On ``users`` only the columns the
menus show count: a sign-in's time bumps nothing.

Revision ID: 9d3f6a2c8e14
Revises: 7d3f1a9c5e28
Create Date: 2026-12-04 00:00:00

"""
import secrets

import sqlalchemy as sa
from alembic import op

revision = '9d3f6a2c8e14'
down_revision = '7d3f1a9c5e28'
branch_labels = None
depends_on = None

# kind: its tables (as of this revision; a later kind or table needs a migration of its own)
KIND_TABLES = {
    "settings": ("settings",),
    "exchange_rates": ("exchange_rates",),
    "users": ("users",),
    "teams": ("teams",),
    "tags": ("tags",),
    "pipelines": ("pipelines", "stages"),
    "sequences": ("sequences",),
}
USER_COLUMNS = "name, email, role, active, team_id"


def _update_clause(table: str) -> str:
    return f"UPDATE OF {USER_COLUMNS}" if table == "users" else "UPDATE"


def upgrade():
    versions = op.create_table(
        'reference_versions',
        sa.Column('kind', sa.String(length=40), nullable=False),
        sa.Column('version', sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint('kind', name=op.f('pk_reference_versions')),
    )
    # A random start: a database made anew never repeats the versions of the one before it.
    op.bulk_insert(versions, [{"kind": kind, "version": secrets.randbelow(2**53)} for kind in KIND_TABLES])
    postgresql = op.get_bind().dialect.name == "postgresql"
    if postgresql:
        op.execute("""
            CREATE FUNCTION bump_reference_version() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                UPDATE reference_versions SET version = version + 1 WHERE kind = TG_ARGV[0];
                RETURN NULL;
            END $$""")
    for kind, tables in KIND_TABLES.items():
        for table in tables:
            if postgresql:
                op.execute(f"CREATE TRIGGER reference_version_{table} AFTER INSERT OR DELETE OR TRUNCATE OR "
                           f"{_update_clause(table)} ON {table} FOR EACH STATEMENT "
                           f"EXECUTE FUNCTION bump_reference_version('{kind}')")
                continue
            for event, suffix in (("INSERT", "insert"), ("DELETE", "delete"), (_update_clause(table), "update")):
                op.execute(f"CREATE TRIGGER reference_version_{table}_{suffix} AFTER {event} ON {table} "
                           f"BEGIN UPDATE reference_versions SET version = version + 1 WHERE kind = '{kind}'; END")


def downgrade():
    postgresql = op.get_bind().dialect.name == "postgresql"
    for tables in KIND_TABLES.values():
        for table in tables:
            if postgresql:
                op.execute(f"DROP TRIGGER reference_version_{table} ON {table}")
            else:
                for suffix in ("insert", "delete", "update"):
                    op.execute(f"DROP TRIGGER reference_version_{table}_{suffix}")
    if postgresql:
        op.execute("DROP FUNCTION bump_reference_version()")
    op.drop_table('reference_versions')
