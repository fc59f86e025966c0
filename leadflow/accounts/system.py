"""The actor automation works as: routing, scoring, workflow rules and sequences.

It may do what an admin may do to a lead, is never a row in ``users`` (its ``id`` is
None, so audit entries and timeline rows show no person), and cannot sign in.
"""

from __future__ import annotations


class SystemActor:
    id = None
    role = "admin"
    name = "LeadFlow automation"
    email = ""
    initials = "LF"
    is_authenticated = True
    is_active = True
    is_anonymous = False
    is_admin = True
    can_write = True
    sees_everything = True
    is_system = True

    def get_id(self):  # Flask-Login must never keep this actor in a session
        raise RuntimeError("the automation actor cannot sign in")

    def __repr__(self) -> str:
        return "<SystemActor>"


SYSTEM = SystemActor()
