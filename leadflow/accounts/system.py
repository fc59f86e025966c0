"""The actors automation works as: routing, scoring, workflow rules, sequences, capture
forms, the scheduler, the demo seeder and command-line tools.

A system actor may do what an admin may do to a lead, is never a row in ``users`` (its
``id`` is None, so timeline rows show no person) and cannot sign in. Each has a name that
says which piece of automation acted (``system_actor("Workflow rule “Hot lead”")``): the
audit log stores it as the entry's ``actor_name``, so every change says who made it.
"""

from __future__ import annotations

DEFAULT_NAME = "LeadFlow automation"
NAME_MAX = 120  # the audit_entries.actor_name column


class SystemActor:
    id = None
    role = "admin"
    email = ""
    initials = "LF"
    is_authenticated = True
    is_active = True
    is_anonymous = False
    is_admin = True
    can_write = True
    sees_everything = True
    is_system = True

    def __init__(self, name: str = DEFAULT_NAME):
        name = " ".join(str(name or "").split()) or DEFAULT_NAME
        self.name = name if len(name) <= NAME_MAX else name[:NAME_MAX - 1] + "…"

    def get_id(self):  # Flask-Login must never keep this actor in a session
        raise RuntimeError("the automation actor cannot sign in")

    def __repr__(self) -> str:
        return f"<SystemActor {self.name!r}>"


def system_actor(name: str) -> SystemActor:
    """The automation actor under the name of what acted, e.g. ``"Import #12"``."""
    return SystemActor(name)


class DelegatedActor:
    """A user's request carried out by a process, such as an import they started: it has
    the user's id and powers, and a name that says both ("Import #12 (Ada Lovelace)")."""

    def __init__(self, user, what: str):
        self._user = user
        self.name = f"{what} ({user.name})"[:NAME_MAX]

    def __getattr__(self, attr):
        return getattr(self._user, attr)

    def __repr__(self) -> str:
        return f"<DelegatedActor {self.name!r}>"


def on_behalf_of(user, what: str) -> DelegatedActor:
    return DelegatedActor(user, what)


SYSTEM = SystemActor()
