"""What can be wrong with an import row, as stable codes.

Every problem has a code ``"<field>:<kind>"`` (``phone:invalid``, ``owner:unknown``,
``contact:missing``) next to its message. Messages quote the cell, so no two are alike;
the codes are what the job page and the preview group by ("46 rows: phone could not be
read"). A noted row keeps its codes, space-separated, in ``ImportRow.kinds``.

A problem with one cell of an optional field (anything but the name and the contacts)
is a *warning*: the cell is left out and the row is imported. A row fails only when it
has no usable name, or no valid email and no valid phone (``fatal``).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from typing import NamedTuple

from leadflow.imports.mapping import TARGETS


class Problem(NamedTuple):
    code: str  # "<field>:<kind>"
    message: str  # the full reason, as the failure message says it
    cell: str = ""  # the cell's text (for a warning's message)
    fatal: bool = False  # the row fails (no name, no contact, or a row that cannot be read)


# What the field is called in a sentence ("phone “…” could not be read").
FIELD_NAMES = {
    **{target: label.split(" (")[0].lower() for target, label in TARGETS.items()},
    "value": "deal value", "organization": "organization", "owner": "owner", "stage": "pipeline stage",
    "tags": "tags", "custom": "custom field",
}
# How each kind of cell problem reads after the field's name.
KIND_PHRASES = {
    "invalid": "could not be read",
    "unknown": "is not one we know",
    "too_long": "is too long",
}
FIELD_KIND_PHRASES = {
    "owner:unknown": "is not an active user",
    "stage:unknown": "is not a stage of any pipeline",
    "country:unknown": "is not a country we know",
    "lifecycle:unknown": "is not a lifecycle stage",
    "currency:unknown": "is not a currency we support",
}
# Whole-row problems and duplicates: the summary's words for them.
ROW_LABELS = {
    "name:missing": "no name",
    "contact:missing": "no valid email or phone",
    "row:unreadable": "the row could not be read",
    "row:width": "the row has more or fewer cells than the header",
    "row:cell_too_long": "a cell is longer than 10,000 characters",
    "duplicate:file": "same email or phone as an earlier row of the file",
    "duplicate:lead": "same email or phone as an existing lead",
    "duplicate:email_taken": "the email already belongs to another lead",
    "lead:unchanged": "the lead already had these values",
    "lead:deleted": "the matching lead was deleted during the import",
    "lead:refused": "the lead could not be updated",
}
# Fields whose left-out cells keep their reason in the warning: an amount or a date that does
# not fit the file's decimal separator or the column's date format says which one it has.
EXPLAINED_FIELDS = frozenset(("value", "expected_close_date", "created_at"))
# The kind of problem a handler's FieldError is, by field (any other field: "invalid").
FIELD_KINDS = {
    "country": "unknown", "lifecycle": "unknown", "currency": "unknown", "owner": "unknown", "stage": "unknown",
    "organization": "too_long",
}


def cell_code(target: str) -> str:
    """The code of a bad cell of ``target`` (its handler raised FieldError)."""
    return f"{target}:{FIELD_KINDS.get(target, 'invalid')}"


def _phrase(code: str) -> str:
    return FIELD_KIND_PHRASES.get(code) or KIND_PHRASES.get(code.partition(":")[2], "could not be used")


def label(code: str) -> str:
    """What the summary says for rows with this problem: "phone could not be read"."""
    if code in ROW_LABELS:
        return ROW_LABELS[code]
    field = code.partition(":")[0]
    return f"{FIELD_NAMES.get(field, field.replace('_', ' '))} {_phrase(code)}"


def warning_text(problem: Problem) -> str:
    """One left-out cell, as the row's message says it: phone ‘0044 20’ could not be read and was left out."""
    field = problem.code.partition(":")[0]
    cell = " ".join(problem.cell.split())
    cell = cell if len(cell) <= 40 else cell[:39] + "…"
    text = f"{FIELD_NAMES.get(field, field.replace('_', ' '))} ‘{cell}’ {_phrase(problem.code)} and was left out"
    if field in EXPLAINED_FIELDS:  # the reason says which format the column has
        text += f" ({problem.message.partition(': ')[2].rstrip('.')})"
    return text


def warnings_message(problems: Iterable[Problem]) -> str:
    """A warned row's message: "Imported; phone ‘…’ could not be read and was left out."""
    return "Imported; " + "; ".join(warning_text(p) for p in problems) + "."


def failure_message(problems: list[Problem]) -> str:
    """A failed row's message: every bad cell, then why the row cannot be a lead."""
    return " ".join([p.message for p in problems if not p.fatal] + [p.message for p in problems if p.fatal])


def join_codes(problems: Iterable[Problem]) -> str:
    return " ".join(dict.fromkeys(p.code for p in problems))[:200]


def group_reasons(rows: Iterable[tuple[str, str | None, str | None, int]], limit: int) -> list[tuple[str, str, int]]:
    """(outcome, label, rows) for the ``limit`` most frequent kinds of problem of each
    outcome, most first, from (outcome, kinds, message, rows) groups. A row with several
    kinds counts under each; rows noted without codes are grouped by their message."""
    counts: Counter[tuple[str, str]] = Counter()
    for outcome, kinds, message, count in rows:
        if kinds:
            for code in kinds.split():
                counts[outcome, label(code)] += count
        elif message:
            counts[outcome, message] += count
    ranked = sorted(counts.items(), key=lambda item: -item[1])  # ties: as first seen (why a row fails first)
    kept: Counter[str] = Counter()
    out = []
    for (outcome, text), count in ranked:
        kept[outcome] += 1
        if kept[outcome] <= limit:
            out.append((outcome, text, count))
    return out
