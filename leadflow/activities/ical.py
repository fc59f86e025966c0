"""A user's tasks as an iCalendar (RFC 5545) feed that calendar apps subscribe to.

The rules that matter to real clients: every line ends in CRLF; lines longer than 75
octets are folded (CRLF and one space), never inside a UTF-8 character; TEXT values
escape backslash, semicolon, comma and newlines; times are UTC ("Z").
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime, timedelta, timezone

from leadflow.activities.models import TASK_KIND_LABELS, Task

LINE_OCTETS = 75
EVENT_LENGTH = timedelta(minutes=30)


def escape_text(value: str | None) -> str:
    """A TEXT property value (RFC 5545 3.3.11)."""
    text = (value or "").replace("\r\n", "\n").replace("\r", "\n")
    return (text.replace("\\", "\\\\").replace(";", "\\;").replace(",", "\\,").replace("\n", "\\n"))


def fold_line(line: str) -> str:
    """One content line, folded at 75 octets (3.1), with its CRLF."""
    encoded = line.encode("utf-8")
    if len(encoded) <= LINE_OCTETS:
        return line + "\r\n"
    parts, current, size, limit = [], [], 0, LINE_OCTETS
    for char in line:
        width = len(char.encode("utf-8"))
        if size + width > limit:
            parts.append("".join(current))
            current, size, limit = [], 0, LINE_OCTETS - 1  # continuation lines start with a space
        current.append(char)
        size += width
    parts.append("".join(current))
    return "\r\n ".join(parts) + "\r\n"


def utc_stamp(at: datetime) -> str:
    return at.astimezone(timezone.utc).strftime("%Y%m%dT%H%M%SZ")


def task_event(task: Task, *, lead_url: str, domain: str, now: datetime) -> list[str]:
    label = TASK_KIND_LABELS.get(task.kind, task.kind.title())
    summary = f"{label}: {task.title} — {task.lead.name}"
    if task.done_at is not None:
        summary = "Done: " + summary
    description = "\n\n".join(p for p in (task.notes, f"Lead: {task.lead.name}\n{lead_url}") if p)
    return [
        "BEGIN:VEVENT",
        f"UID:task-{task.id}@{domain}",
        f"DTSTAMP:{utc_stamp(now)}",
        f"LAST-MODIFIED:{utc_stamp(task.updated_at or task.created_at)}",
        f"SEQUENCE:{max(0, (task.version or 1) - 1)}",
        f"DTSTART:{utc_stamp(task.due_at)}",
        f"DTEND:{utc_stamp(task.due_at + EVENT_LENGTH)}",
        f"SUMMARY:{escape_text(summary)}",
        f"DESCRIPTION:{escape_text(description)}",
        f"URL:{lead_url}",
        "STATUS:CONFIRMED",
        "TRANSP:TRANSPARENT",
        "END:VEVENT",
    ]


def build_calendar(tasks: Iterable[Task], *, name: str, lead_url: Callable[[int], str], domain: str,
                   now: datetime) -> str:
    lines = [
        "BEGIN:VCALENDAR",
        "VERSION:2.0",
        "PRODID:-//LeadFlow//Tasks//EN",
        "CALSCALE:GREGORIAN",
        "METHOD:PUBLISH",
        f"X-WR-CALNAME:{escape_text(name)}",
        "X-PUBLISHED-TTL:PT15M",
    ]
    for task in tasks:
        lines.extend(task_event(task, lead_url=lead_url(task.lead_id), domain=domain, now=now))
    lines.append("END:VCALENDAR")
    return "".join(fold_line(line) for line in lines)
