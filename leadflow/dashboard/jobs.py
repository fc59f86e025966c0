"""Keeping the closed months' figures before anyone asks: a sweep, so that the first viewer
of a new month does not pay the half second to a second of working them out.

Every few minutes it goes through the scopes the home page shows (each active user's own,
and for managers and admins their team's and everyone's), each in its viewer's time zone, and
keeps the closed months any of them lacks (``dashboard.kept``). Soon after a month starts in a
zone, that zone's scopes get their new closed month; the rest of the time each scope costs one
indexed read. Running in several processes at once, or twice, is safe: a month is added with
``INSERT … ON CONFLICT DO NOTHING``, so a second worker's figures for a month kept meanwhile
are dropped, and a month once kept is never worked out again.
"""

from __future__ import annotations

from datetime import datetime

from leadflow.accounts.models import User
from leadflow.accounts.zones import user_zone
from leadflow.dashboard.kept import keep_missing, scope_key, zone_name
from leadflow.dashboard.month import month_starts
from leadflow.dashboard.scope import WIDE_ROLES, Scope
from leadflow.extensions import db

EVERY_SECONDS = 600


def home_scopes(users) -> dict[tuple, tuple[Scope, object]]:
    """{(kind, id, zone): (scope, zone)}: each scope the home page can show ``users``, once
    per time zone it is seen in."""
    scopes: dict[tuple, tuple[Scope, object]] = {}
    for user in users:
        zone = user_zone(user)
        views = [Scope("me", user.id)]
        if user.role in WIDE_ROLES:
            views.append(Scope("all", user.id))
            if user.team_id is not None:
                views.append(Scope("team", user.id, team_id=user.team_id))
        for scope in views:
            scopes.setdefault((*scope_key(scope), zone_name(zone)), (scope, zone))
    return scopes


def keep_closed_months(now: datetime) -> int:
    """Work out and keep the closed months the home page's scopes lack; how many months were
    missing. Each scope's months are committed on their own (``kept.keep``)."""
    users = db.session.scalars(db.select(User).where(User.active.is_(True)).order_by(User.id)).all()
    missing = 0
    for scope, zone in home_scopes(users).values():
        missing += keep_missing(scope, zone, month_starts(zone, now), now)[2]
    db.session.commit()
    return missing


def register_sweeps(add) -> None:
    """This area's periodic work, for the scheduler (``leadflow.wiring.schedule``)."""
    add("home_closed_months", every_seconds=EVERY_SECONDS, func=keep_closed_months)
