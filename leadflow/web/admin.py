"""The two shapes every settings screen repeats, written once.

- A row action (toggle, delete, move, add a step): run one service call and flash the
  outcome, or roll back and flash why the service refused; then redirect.
- An editor's save: run the service call; refused input shows the editor again (422),
  otherwise flash and go to the saved record.

Neither commits: the request commits once, after the view (``leadflow.retry``). Either way
``PermissionDenied`` from the service is a 403, and nothing is half-saved.
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


def apply_or_flash(action: Callable[[], Any], success: str, category: str = "success") -> bool:
    """Run ``action`` and flash ``success``, or roll back and flash why not.

    An action that returns ``False`` changed nothing (a move past the end of a list): it is
    rolled back and nothing is flashed. Returns whether the change stands (the request's
    commit saves it).
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
    flash(success, category)
    return True


def act_and_redirect(action: Callable[[], Any], success: str, url: str, category: str = "success"):
    """A row action: :func:`apply_or_flash`, then back to ``url`` (the list the button was on)."""
    apply_or_flash(action, success, category)
    return redirect_to(url)


def move_and_redirect(move: Callable[[], bool], noun: str, direction: str, url: str):
    """A "Move up" / "Move down" button: ``move`` returns False when the item is already at
    that end, which is said in a flash too. ``noun`` starts the messages: "Rule “Dach”"."""
    outcome = {}

    def action():
        outcome["moved"] = move()
        return outcome["moved"]
    if not apply_or_flash(action, f"{noun} moved {direction}.") and outcome.get("moved") is False:
        flash(f"{noun} is already {'first' if direction == 'up' else 'last'}.", "info")
    return redirect_to(url)


def save_and_redirect(action: Callable[[], Any], rerender: Callable[[dict], Any],
                      success: str | Callable[[Any], str], url_for_saved: Callable[[Any], str],
                      unchanged: str | None = None):
    """An editor's save. ``action`` returns the saved record; refused input gives
    ``rerender(errors)`` (the editor again, 422). ``success`` is formatted with
    ``saved=`` the record, e.g. ``"Rule “{saved.name}” saved."``, or is a function of it
    (for a message that quotes what the user typed, which must not be read as a format).

    With ``unchanged``, an action that returns ``False`` changed nothing: it is rolled
    back and ``unchanged`` is flashed as information instead."""
    try:
        saved = action()
    except ValidationFailed as error:
        db.session.rollback()
        return rerender(error.errors)
    if unchanged is not None and saved is False:
        db.session.rollback()
        flash(unchanged, "info")
    else:
        flash(success(saved) if callable(success) else success.format(saved=saved), "success")
    return redirect_to(url_for_saved(saved))
