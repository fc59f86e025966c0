"""The ``flask --app wsgi leadflow …`` command group: scriptable, no prompts when options are given."""

from __future__ import annotations

import sys

import click
from flask.cli import AppGroup

from leadflow.extensions import db

leadflow_cli = AppGroup("leadflow", help="LeadFlow administration commands.")


def _fail(message: str, code: int = 1):
    click.echo(f"Error: {message}", err=True)
    sys.exit(code)


@leadflow_cli.command("create-user")
@click.option("--email", required=True, help="Sign-in email.")
@click.option("--password", required=True, help="At least 12 characters, not a common password.")
@click.option("--role", type=click.Choice(["admin", "manager", "rep", "viewer"]), default="rep", show_default=True)
@click.option("--team", default=None, help="Team name; created when new.")
@click.option("--name", default=None, help="Display name (defaults to the part of the email before @).")
def create_user_command(email, password, role, team, name):
    """Create a user."""
    from leadflow.accounts.services import create_user
    from leadflow.errors import ValidationFailed

    try:
        user = create_user(email=email, password=password, role=role, team=team, name=name)
    except ValidationFailed as exc:
        db.session.rollback()
        for field, messages in exc.errors.items():
            click.echo(f"Error: {field}: {' '.join(messages)}", err=True)
        sys.exit(2)
    db.session.commit()
    click.echo(f"Created {user.role} {user.email} (id {user.id}).")


@leadflow_cli.command("seed-demo")
@click.option("--leads", "lead_count", type=click.IntRange(0, 1_000_000), default=200, show_default=True)
@click.option("--if-empty", is_flag=True, help="Do nothing when the workspace already has users.")
def seed_demo_command(lead_count, if_empty):
    """Fill the workspace with a believable demo team, organizations and leads."""
    from leadflow.accounts.models import user_count
    from leadflow.demo import DEMO_LOGIN, seed_demo

    if if_empty and user_count() > 0:
        click.echo("Workspace already has users; demo not seeded.")
        return
    summary = seed_demo(lead_count=lead_count)
    db.session.commit()
    click.echo(summary)
    click.echo(f"Demo login: {DEMO_LOGIN[0]} / {DEMO_LOGIN[1]}")


@leadflow_cli.command("purge-trash")
@click.option("--days", type=click.IntRange(30, 3650), default=30, show_default=True,
              help="Delete for good what has been in the trash longer than this.")
def purge_trash_command(days):
    """Delete for good leads that have been in the trash for longer than --days."""
    from leadflow.leads.services import purge_trash

    count = purge_trash(days)
    db.session.commit()
    click.echo(f"Purged {count} lead(s) from the trash.")
