"""Whose clock a time is read on: each user's own time zone.

A user's zone belongs to their account; every place that shows or schedules a time for a
person (pages, e-mails, reminders, digests, exports) asks here, so an unknown or missing
zone falls back to UTC the same way everywhere.
"""

from __future__ import annotations

from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

UTC_ZONE = ZoneInfo("UTC")


def user_zone(user) -> ZoneInfo:
    """The user's time zone; UTC when it is unset or unknown (or there is no user)."""
    try:
        return ZoneInfo(getattr(user, "timezone", None) or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return UTC_ZONE
