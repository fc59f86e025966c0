"""TEMPORARY: a workspace with an admin, a capture form and an API token, until the shared
helper of the load tests exists."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from tests.reliability.workers import run_in_app
from tests.servers import flask_cli, production_env

ADMIN = "reliability-admin@example.com"

SETUP = """
    from leadflow.accounts.system import system_actor
    from leadflow.accounts.models import User
    from leadflow.api.services import create_token
    from leadflow.capture import forms, services
    from leadflow.pipeline.services import ensure_default_pipeline
    ensure_default_pipeline()
    admin = db.session.scalar(db.select(User).where(User.email == sys.argv[1]))
    data = forms.blank_builder_input()
    data.update(name="Reliability", slug="reliability")
    for row in data["standard"]:
        row["include"] = row["key"] in ("first_name", "last_name", "email")
        row["required"] = row["key"] in ("first_name", "email")
    form = services.create_form(admin, data)
    _, plain = create_token(system_actor("Reliability run"), user=admin, name="Reliability", scopes="read,write")
    db.session.commit()
    print(form.slug, plain)
"""


@dataclass
class Workspace:
    env: dict
    slug: str
    api_token: str


def prepare_workspace(instance: Path, url: str, **settings) -> Workspace:
    env = production_env(instance, url, RATELIMIT_ENABLED="0", CAPTURE_MIN_FILL_SECONDS="0", **settings)
    flask_cli(["leadflow", "create-user", "--email", ADMIN, "--password", "a sturdy pass phrase for the run",
               "--role", "admin"], env)
    slug, token = run_in_app(env, SETUP, ADMIN).split()[-2:]
    return Workspace(env, slug, token)
