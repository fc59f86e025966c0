"""Domain errors that services raise and views, the API and the CLI turn into messages."""

from __future__ import annotations


class DomainError(Exception):
    """Something the user asked for cannot be done; ``str(error)`` says why."""


class ValidationFailed(DomainError):
    """Input was refused. ``errors`` maps a field name to its messages."""

    def __init__(self, errors: dict[str, list[str]]):
        self.errors = errors
        super().__init__("; ".join(f"{k}: {' '.join(v)}" for k, v in errors.items()))


class PermissionDenied(DomainError):
    """The actor may not do this. ``lead_id`` names the lead when one lead was refused."""

    def __init__(self, message: str = "You may not do this.", *, lead_id: int | None = None):
        self.lead_id = lead_id
        super().__init__(message)


class NotFound(DomainError):
    pass


class VersionConflict(DomainError):
    """The record changed since the user loaded it."""

    def __init__(self, current):
        self.current = current
        super().__init__("This record was changed by someone else. Here is its current state.")


class EmailTaken(ValidationFailed):
    """Another live lead already has this email (the database keeps emails unique among live
    leads): open or merge that lead instead. ``lead_id`` names it."""

    def __init__(self, lead_id: int, message: str | None = None):
        self.lead_id = lead_id
        super().__init__({"email": [message or (
            f"Lead #{lead_id} already has this email. Open that lead, or merge the two, "
            "instead of adding a second lead with the same email.")]})


class WriteOutsideStore(RuntimeError):
    """A statement wrote a table the lead store owns (``leadflow.leads.store``) from outside it:
    a programming error, raised where the guard is on (tests), never caught as a handler's or
    a sweep's ordinary failure."""
