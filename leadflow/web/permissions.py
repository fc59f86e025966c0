"""Role checks for views. Record-level rules live with their area (``leads.policy``)."""

from __future__ import annotations

from functools import wraps

from flask import abort
from flask_login import current_user, login_required


def roles_required(*roles: str):
    def decorator(view):
        @wraps(view)
        @login_required
        def wrapped(*args, **kwargs):
            if current_user.role not in roles:
                abort(403)
            return view(*args, **kwargs)

        wrapped.allowed_roles = frozenset(roles)  # read by the per-role page tests
        return wrapped

    return decorator


admin_required = roles_required("admin")
writer_required = roles_required("admin", "manager", "rep")
