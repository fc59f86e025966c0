"""How long a client over a rate limit must wait: the ``Retry-After`` of every 429, and the
same figure in words for the messages that say it."""

from __future__ import annotations

import math
import time

from leadflow.extensions import limiter

# For a 429 that no limit of this request explains (none should exist).
FALLBACK_RETRY_AFTER = 60


def breached_limits() -> list:
    """The limits this request went over (Flask-Limiter's ``RequestLimit`` objects)."""
    return [limit for limit in limiter.current_limits if limit.breached]


def reset_time(limit) -> float:
    """When ``limit`` (a ``RequestLimit``) lets this client through again."""
    return limit.window.reset_time


def seconds_until(reset_at: float) -> int:
    return max(1, math.ceil(reset_at - time.time()))


def retry_after_seconds() -> int:
    """Seconds until every limit this request went over lets it through again."""
    breached = breached_limits()
    if not breached:
        return FALLBACK_RETRY_AFTER
    return seconds_until(max(reset_time(limit) for limit in breached))


def wait_phrase(seconds: int) -> str:
    """``45 seconds``, ``1 minute``, ``47 minutes``: rounded up, never promising too early."""
    if seconds < 60:
        return f"{seconds} second{'' if seconds == 1 else 's'}"
    minutes = math.ceil(seconds / 60)
    return f"{minutes} minute{'' if minutes == 1 else 's'}"


def add_retry_after(response):
    """Every 429 says when to come back; one that set its own figure keeps it."""
    if response.status_code == 429 and "Retry-After" not in response.headers:
        response.headers["Retry-After"] = str(retry_after_seconds())
    return response
