from __future__ import annotations

import pytest

from leadflow.accounts.models import Team
from leadflow.accounts.system import SYSTEM
from leadflow.extensions import db
from leadflow.routing import services


@pytest.fixture
def make_team(app, make_user):
    """``make_team("EU", 3)`` -> (team, [users ordered by id])."""

    def _make(name: str = "Inbound", size: int = 2, **user_fields):
        team = Team(name=name)
        db.session.add(team)
        db.session.flush()
        users = [make_user("rep", team_id=team.id, **user_fields) for _ in range(size)]
        return team, users

    return _make


@pytest.fixture
def make_rule(app):
    def _make(name: str = "Rule", **data):
        data.setdefault("target_kind", "team" if "target_team_id" in data else "user")
        return services.create_rule(SYSTEM, {"name": name, **data})

    return _make
