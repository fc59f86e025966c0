"""Bearer-token authentication for the API views, and the key its rate limit counts by."""

from __future__ import annotations

from functools import wraps

from flask import current_app, g, request
from flask_limiter.util import get_remote_address
from limits import parse

from leadflow.api.http import json_error
from leadflow.api.services import AuthError, authenticate, split_token, touch_token
from leadflow.extensions import limiter
from leadflow.web.ratelimits import seconds_until, wait_phrase


def token_required(scope: str):
    """The view runs with ``g.api_token`` and ``g.api_user`` set, or answers 401/403 in JSON."""

    def decorator(view):
        @wraps(view)
        def wrapped(*args, **kwargs):
            refused = _refused_after_failures()
            if refused is not None:
                return refused
            try:
                token = authenticate(request.headers.get("Authorization"), scope)
            except AuthError as exc:
                response = json_error(exc.status, str(exc))
                if exc.status == 401:
                    _count_failure()
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


# Failed authentications are counted per client address: the per-token limit above cannot
# stop guessing, since every made-up token prefix would start a budget of its own.

def _failure_limit():
    if not current_app.config.get("RATELIMIT_ENABLED"):
        return None, ()
    return parse(current_app.config["API_AUTH_FAILURE_RATE_LIMIT"]), ("api-auth-failures", get_remote_address())


def _count_failure() -> None:
    limit, key = _failure_limit()
    if limit is not None:
        limiter.limiter.hit(limit, *key)


def _refused_after_failures():
    """A 429 (with Retry-After) for an address whose recent tokens kept failing, else None.
    While it lasts, that address's requests are not authenticated at all."""
    limit, key = _failure_limit()
    if limit is None or limiter.limiter.test(limit, *key):
        return None
    wait = seconds_until(limiter.limiter.get_window_stats(limit, *key).reset_time)
    response = json_error(429, "Too many requests with an invalid API token from your address. "
                               f"Try again in {wait_phrase(wait)}.")
    response.headers["Retry-After"] = str(wait)
    return response
