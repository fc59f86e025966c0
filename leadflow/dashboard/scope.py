"""Whose work the home page shows: mine, my team's or everyone's (``?view=``).

Reps see their own only; managers and admins may switch to their team or to everyone. An
address asking for more than the viewer may see falls back to what they may, with a message.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import true

from leadflow.accounts.models import User
from leadflow.db import plan_for
from leadflow.extensions import db

VIEWS = {"me": "Mine", "team": "My team", "all": "Everyone"}
WIDE_ROLES = ("admin", "manager")


@dataclass(frozen=True)
class Scope:
    view: str  # me | team | all
    viewer_id: int
    team_id: int | None = None
    message: str | None = None  # why the asked-for view was not given

    def people(self, column):
        """A WHERE clause on a user-id column (an owner, an assignee) for the people in view.
        A person's id is written into the statement (``plan_for``): each person's lists and
        counts are planned for their own rows once, and that plan kept."""
        if self.view == "me":
            return column == plan_for(self.viewer_id)
        if self.view == "team":
            return column.in_(db.select(User.id).where(User.team_id == self.team_id))
        return true()

    @property
    def is_mine(self) -> bool:
        return self.view == "me"


def views_for(viewer) -> list[tuple[str, str]]:
    """The views ``viewer`` may switch between (none to switch for a rep)."""
    if viewer.role not in WIDE_ROLES:
        return []
    return [(key, label) for key, label in VIEWS.items() if key != "team" or viewer.team_id is not None]


def scope_for(viewer, asked: str | None) -> Scope:
    """The view ``viewer`` asked for when allowed, else their own with the reason."""
    asked = (asked or "me").strip()
    if asked == "me" or asked not in VIEWS:
        return Scope("me", viewer.id)
    if viewer.role not in WIDE_ROLES:
        return Scope("me", viewer.id, message="Only managers and admins can see a team's work: showing yours.")
    if asked == "team" and viewer.team_id is None:
        return Scope("me", viewer.id, message="You are in no team yet: showing your own work.")
    return Scope(asked, viewer.id, team_id=viewer.team_id if asked == "team" else None)
