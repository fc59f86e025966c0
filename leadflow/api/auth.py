"""Bearer-token authentication for the API views, and the key its rate limit counts by."""

from __future__ import annotations

from functools import wraps

from flask import g, request
from flask_limiter.util import get_remote_address

from leadflow.api.http import json_error
from leadflow.api.services import AuthError, authenticate, split_token, touch_token


def token_required(scope: str):
    """The view runs with ``g.api_token`` and ``g.api_user`` set, or answers 401/403 in JSON."""

    def decorator(view):
        @wraps(view)
        def wrapped(*args, **kwargs):
            try:
                token = authenticate(request.headers.get("Authorization"), scope)
            except AuthError as exc:
                response = json_error(exc.status, str(exc))
                if exc.status == 401:
                    response.headers["WWW-Authenticate"] = 'Bearer realm="LeadFlow API"'
                return response
            touch_token(token)
            g.api_token, g.api_user = token, token.user
            return view(*args, **kwargs)

        wrapped.api_scope = scope
        return wrapped

    return decorator


def rate_limit_key() -> str:
    """Each token has its own budget; requests without a usable token share their address's."""
    _, _, plain = request.headers.get("Authorization", "").partition(" ")
    prefix = split_token(plain.strip())
    return f"api-token:{prefix}" if prefix else f"api-ip:{get_remote_address()}"
