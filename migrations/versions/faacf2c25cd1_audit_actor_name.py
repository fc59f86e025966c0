"""audit entries always say who acted

Adds audit_entries.actor_name: who acted, as text (a user's name, or a named system actor
such as "Import #12 (Ada Lovelace)" or "Workflow rule “Hot lead”"), kept when the user is
deleted. Existing rows get their user's name, or "LeadFlow automation" when they had no
user. A CHECK constraint then refuses any entry with neither actor_id nor actor_name.

Revision ID: faacf2c25cd1
Revises: a520fdc4dfc6
Create Date: 2026-12-02 18:00:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'faacf2c25cd1'
down_revision = 'a520fdc4dfc6'
branch_labels = None
depends_on = None

CHECK = "actor_id IS NOT NULL OR actor_name IS NOT NULL"


def _merge_links(bind):
    """On SQLite, adding the constraint rebuilds audit_entries, and dropping the old table
    fires lead_merges' ON DELETE SET NULL: keep the links and put them back afterwards."""
    if bind.dialect.name != "sqlite":
        return []
    return bind.execute(sa.text(
        "SELECT id, audit_entry_id FROM lead_merges WHERE audit_entry_id IS NOT NULL")).all()


def _restore_merge_links(bind, links):
    for merge_id, entry_id in links:
        bind.execute(sa.text("UPDATE lead_merges SET audit_entry_id = :entry WHERE id = :id"),
                     {"entry": entry_id, "id": merge_id})


def upgrade():
    bind = op.get_bind()
    with op.batch_alter_table('audit_entries', schema=None) as batch_op:
        batch_op.add_column(sa.Column('actor_name', sa.String(length=120), nullable=True))
    op.execute("UPDATE audit_entries SET actor_name = "
               "(SELECT users.name FROM users WHERE users.id = audit_entries.actor_id) "
               "WHERE actor_id IS NOT NULL")
    op.execute("UPDATE audit_entries SET actor_name = 'LeadFlow automation' WHERE actor_name IS NULL")
    links = _merge_links(bind)
    with op.batch_alter_table('audit_entries', schema=None) as batch_op:
        batch_op.create_check_constraint(op.f('ck_audit_entries_has_actor'), CHECK)
    _restore_merge_links(bind, links)


def downgrade():
    bind = op.get_bind()
    links = _merge_links(bind)
    with op.batch_alter_table('audit_entries', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_audit_entries_has_actor'), type_='check')
        batch_op.drop_column('actor_name')
    _restore_merge_links(bind, links)
