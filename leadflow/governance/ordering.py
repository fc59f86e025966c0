"""Moving one item of an ordered admin list (stages, pipelines, routing and scoring rules)
one place up or down, with an audit entry for each position that changed."""

from __future__ import annotations

from leadflow.errors import ValidationFailed
from leadflow.extensions import db
from leadflow.governance.audit import record_changes

DIRECTIONS = ("up", "down")


def move_in_order(actor, entity_type: str, items: list, item, direction: str) -> bool:
    """Move ``item`` one place up or down in ``items`` (already in display order) and renumber
    them all from 0. Returns False when it is already at that end."""
    if direction not in DIRECTIONS:
        raise ValidationFailed({"direction": ["Choose up or down."]})
    items = list(items)
    index = items.index(item)
    other = index - 1 if direction == "up" else index + 1
    if other < 0 or other >= len(items):
        return False
    items[index], items[other] = items[other], items[index]
    for position, each in enumerate(items):
        if each.position != position:
            record_changes(actor, entity_type, each.id, {"position": each.position}, {"position": position},
                           action="reorder")
            each.position = position
    db.session.flush()
    return True
