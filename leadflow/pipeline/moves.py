"""Moving a lead on the board: to another stage, another place in its column, or both."""

from __future__ import annotations

from dataclasses import dataclass

from leadflow.db import get_by_id, parse_id
from leadflow.errors import DomainError, NotFound, PermissionDenied, ValidationFailed, VersionConflict
from leadflow.extensions import db
from leadflow.leads import services as lead_services
from leadflow.leads import store
from leadflow.leads.models import Lead
from leadflow.leads.policy import can_edit_lead
from sqlalchemy import bindparam
from sqlalchemy.orm import joinedload

from leadflow.pipeline.models import Stage


class MoveNeedsDetails(DomainError):
    """Moving to a won or lost stage needs the user to confirm or explain first."""

    def __init__(self, kind: str):
        self.kind = kind
        super().__init__("Tell us why the deal was lost." if kind == "lost" else "Confirm the deal's value and close date.")


@dataclass
class MoveResult:
    lead: Lead
    from_stage_id: int | None
    to_stage_id: int
    changed_stage: bool
    columns: list[Stage]  # whose headers the move changed (left and entered), in the board's order


# Built once: making the statement anew is a good part of a move's query.
_LEAD_TO_MOVE = (
    db.select(Lead, Stage)
    .options(joinedload(Lead.owner), joinedload(Lead.organization), joinedload(Lead.stage).joinedload(Stage.pipeline))
    .outerjoin(Stage, Stage.id == bindparam("stage_id")).where(Lead.id == bindparam("lead_id")))


def lead_to_move(lead_id: int, stage_id: int) -> tuple[Lead | None, Stage | None]:
    """The lead a move is about, with everything the move and its answer read, and the stage
    ``stage_id`` it is moved to, in one query: its owner and organization (the card), its stage
    and pipeline. The session finds the stage there while the caller holds it (it keeps only
    what is referenced). The pipeline's other stages are not read (nothing in a move shows
    them), nor the lead's tags (only a won or lost stage's edit audits them; cards that show
    tags)."""
    row = db.session.execute(_LEAD_TO_MOVE, {"lead_id": lead_id, "stage_id": stage_id}).first()
    return (None, None) if row is None else (row[0], row[1])


def _neighbour_ranks(lead: Lead, stage_id: int, above_id, below_id) -> tuple[float | None, float | None]:
    """The ranks of the cards now above and below the dropped one, in one query; None where the
    column changed meanwhile (that card left it) or none was given."""
    wanted = {parse_id(raw) for raw in (above_id, below_id)} - {None, lead.id}
    ranks = dict(db.session.execute(db.select(Lead.id, Lead.board_rank).where(
        Lead.id.in_(wanted), Lead.stage_id == stage_id, Lead.deleted_at.is_(None))).all()) if wanted else {}
    return ranks.get(parse_id(above_id)), ranks.get(parse_id(below_id))


def _place(lead: Lead, stage_id: int, above_id, below_id) -> tuple[float | store.ColumnTop, float | None,
                                                                   float | None]:
    """The rank between ``lead``'s new neighbours (or the top of the column), and theirs."""
    above, below = _neighbour_ranks(lead, stage_id, above_id, below_id)
    if above is not None and below is not None:
        return (above + below) / 2, above, below
    if above is not None:
        return above + 1.0, above, below
    if below is not None:
        return below - 1.0, above, below
    return store.ColumnTop(stage_id), above, below


def _renumber_if_crowded(stage_id: int, above: float | None, below: float | None) -> None:
    """After many moves into one gap the float runs out of room: spread the column again."""
    if above is None or below is None or (below - above) > 1e-6:
        return
    ids = db.session.scalars(db.select(Lead.id).where(Lead.stage_id == stage_id, Lead.deleted_at.is_(None))
                             .order_by(Lead.board_rank, Lead.id)).all()
    store.set_board_ranks({lead_id: float(index) for index, lead_id in enumerate(ids)})


def move_lead(actor, lead: Lead, to_stage_id: int, *, expected_version: int | None = None,
              above_id=None, below_id=None, details: dict | None = None) -> MoveResult:
    """Put ``lead`` in stage ``to_stage_id`` between the cards ``above_id`` and ``below_id``.

    ``details`` carries what a won or lost stage asks for: ``lost_reason`` for a
    lost stage; ``value`` and ``expected_close_date`` (and ``confirm``) for a won one.
    """
    if lead.deleted_at is not None:
        raise NotFound("This lead is in the trash.")
    if not can_edit_lead(actor, lead):
        raise PermissionDenied("You can only move leads you own or unassigned leads.")
    if expected_version is not None and expected_version != lead.version:
        raise VersionConflict(lead)
    stage = get_by_id(Stage, to_stage_id)
    if stage is None or stage.pipeline.archived_at is not None:
        raise ValidationFailed({"stage_id": ["That stage does not exist."]})
    if lead.pipeline_id is not None and stage.pipeline_id != lead.pipeline_id and lead.stage_id is not None:
        raise ValidationFailed({"stage_id": ["That stage belongs to another pipeline."]})
    details = details or {}
    changes: dict = {}
    changing_stage = stage.id != lead.stage_id
    if changing_stage:
        changes["stage_id"] = stage.id
        if stage.kind == "lost":
            reason = " ".join(str(details.get("lost_reason") or "").split())
            if not reason:
                raise MoveNeedsDetails("lost")
            changes["won_lost_reason"] = reason
        elif stage.kind == "won":
            if not details.get("confirm"):
                raise MoveNeedsDetails("won")
            if details.get("value") not in (None, ""):
                changes["value"] = details["value"]
            if details.get("expected_close_date") not in (None, ""):
                changes["expected_close_date"] = details["expected_close_date"]
            changes["won_lost_reason"] = " ".join(str(details.get("won_reason") or "").split()) or None
    from_stage_id, from_stage = lead.stage_id, lead.stage
    rank, above, below = _place(lead, stage.id, above_id, below_id)
    if changes.keys() == {"stage_id"}:  # a plain move: the stage and the card's place in one versioned UPDATE
        store.update_lead(lead, {}, actor, stage=stage, rank=rank)
    elif changes:  # a won or lost stage's details are cleaned like any edit, and ride in the same UPDATE
        lead_services.update_lead(actor, lead, changes, rank=rank)
    else:  # a new place in the same column: a version of its own
        store.set_board_ranks({lead.id: rank}, bump_version=True)
    _renumber_if_crowded(stage.id, above, below)
    db.session.flush()
    columns = sorted({stage, from_stage} - {None}, key=lambda column: column.position)
    return MoveResult(lead, from_stage_id, stage.id, changing_stage, columns)
