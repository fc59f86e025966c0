"""reference versions: a user's availability for routing bumps the users version too

A round-robin capture form chooses its owner from the team members kept for the process
(``leadflow/routing/services.py`` ``kept_people``), with what routing's availability test
reads: active, out of office until, the workload cap. The users trigger counted only the
columns the menus show (name, email, role, active, team_id); it now counts
``out_of_office_until`` and ``max_open_leads`` too, so marking someone away (from any process,
raw SQL included) is seen by the next submission. A sign-in's time still bumps nothing.

Revision ID: c5a8e2f4d716
Revises: b6e1d4a8c2f7
Create Date: 2026-12-05 13:00:00

"""
from alembic import op

revision = 'c5a8e2f4d716'
down_revision = 'b6e1d4a8c2f7'
branch_labels = None
depends_on = None

BEFORE = "name, email, role, active, team_id"
AFTER = f"{BEFORE}, out_of_office_until, max_open_leads"


def _count_updates_of(columns: str) -> None:
    """The users trigger (made by 9d3f6a2c8e14) made again, counting UPDATEs of ``columns``."""
    if op.get_bind().dialect.name == "postgresql":
        # bump_reference_version() was made with the reference_versions table.
        op.execute("DROP TRIGGER reference_version_users ON users")
        op.execute("CREATE TRIGGER reference_version_users AFTER INSERT OR DELETE OR TRUNCATE OR "
                   f"UPDATE OF {columns} ON users FOR EACH STATEMENT "
                   "EXECUTE FUNCTION bump_reference_version('users')")
    else:
        op.execute("DROP TRIGGER reference_version_users_update")
        op.execute(f"CREATE TRIGGER reference_version_users_update AFTER UPDATE OF {columns} ON users "
                   "BEGIN UPDATE reference_versions SET version = version + 1 WHERE kind = 'users'; END")
    # What a process kept before now may miss an availability change no trigger counted.
    op.execute("UPDATE reference_versions SET version = version + 1 WHERE kind = 'users'")


def upgrade():
    _count_updates_of(AFTER)


def downgrade():
    _count_updates_of(BEFORE)
