"""The two shapes every settings screen repeats, written once.

- A row action (toggle, delete, move, add a step): run one service call, commit and
  flash the outcome, or roll back and flash why the service refused; then redirect.
- An editor's save: run the service call; refused input shows the editor again (422),
  otherwise commit, flash and go to the saved record.

Either way ``PermissionDenied`` from the service is a 403, and nothing is half-saved.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import abort, flash

from leadflow.errors import DomainError, PermissionDenied, ValidationFailed
from leadflow.extensions import db
from leadflow.web.htmx import redirect_to


def error_message(error: DomainError) -> str:
    """What to tell the user about a refusal: the field messages, or the error's own text."""
    if isinstance(error, ValidationFailed):
        return " ".join(message for messages in error.errors.values() for message in messages)
    return str(error)


def commit_or_flash(action: Callable[[], Any], success: str, category: str = "success") -> bool:
    """Run ``action``; commit and flash ``success``, or roll back and flash why not.

    An action that returns ``False`` changed nothing (a move past the end of a list):
    nothing is committed or flashed. Returns whether the change was committed.
    """
    try:
        result = action()
    except PermissionDenied:
        db.session.rollback()
        abort(403)
    except DomainError as error:
        db.session.rollback()
        flash(error_message(error), "error")
        return False
    if result is False:
        db.session.rollback()
        return False
    db.session.commit()
    flash(success, category)
    return True


def act_and_redirect(action: Callable[[], Any], success: str, url: str, category: str = "success"):
    """A row action: :func:`commit_or_flash`, then back to ``url`` (the list the button was on)."""
    commit_or_flash(action, success, category)
    return redirect_to(url)


def save_and_redirect(action: Callable[[], Any], rerender: Callable[[dict], Any], success: str,
                      url_for_saved: Callable[[Any], str]):
    """An editor's save. ``action`` returns the saved record; refused input gives
    ``rerender(errors)`` (the editor again, 422). ``success`` is formatted with
    ``saved=`` the record, e.g. ``"Rule “{saved.name}” saved."``."""
    try:
        saved = action()
    except ValidationFailed as error:
        db.session.rollback()
        return rerender(error.errors)
    except PermissionDenied:
        db.session.rollback()
        abort(403)
    db.session.commit()
    flash(success.format(saved=saved), "success")
    return redirect_to(url_for_saved(saved))
