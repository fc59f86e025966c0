from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Boolean, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from leadflow.db import UTCDateTime, utcnow
from leadflow.extensions import db

STAGE_KINDS = ("open", "won", "lost")


class Pipeline(db.Model):
    __tablename__ = "pipelines"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(120))
    position: Mapped[int] = mapped_column(Integer, default=0)
    is_default: Mapped[bool] = mapped_column(Boolean, default=False)
    archived_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    stages: Mapped[list[Stage]] = relationship(
        back_populates="pipeline", order_by="Stage.position", cascade="all, delete-orphan"
    )


class Stage(db.Model):
    __tablename__ = "stages"

    id: Mapped[int] = mapped_column(primary_key=True)
    pipeline_id: Mapped[int] = mapped_column(ForeignKey("pipelines.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(80))
    position: Mapped[int] = mapped_column(Integer, default=0)
    probability: Mapped[int] = mapped_column(Integer, default=0)  # win probability, percent
    kind: Mapped[str] = mapped_column(String(8), default="open")
    rotting_days: Mapped[int | None] = mapped_column(Integer)

    pipeline: Mapped[Pipeline] = relationship(back_populates="stages")


class StageChange(db.Model):
    """One move of a lead between stages: time in stage and conversion are queries over these."""

    __tablename__ = "stage_changes"
    # where a lead stood at an instant: its latest change before it, its first after it (pipeline.history);
    # with the stages too, the reports read a lead's moves in order from the index alone.
    __table_args__ = (Index("ix_stage_changes_lead_moves", "lead_id", "at", "id", "from_stage_id", "to_stage_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    lead_id: Mapped[int] = mapped_column(ForeignKey("leads.id", ondelete="CASCADE"), index=True)
    from_stage_id: Mapped[int | None] = mapped_column(ForeignKey("stages.id", ondelete="SET NULL"))
    to_stage_id: Mapped[int | None] = mapped_column(ForeignKey("stages.id", ondelete="SET NULL"), index=True)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class StageTotals(db.Model):
    """Live lead count and value per stage, kept in step with every lead change.

    The board header reads these instead of scanning every lead, so a board with
    100,000 leads opens as fast as one with 1,000. ``leadflow.pipeline.totals``
    maintains them on each flush and can recount them from scratch.

    ``value_cents`` adds every currency together, so it is never shown: money comes from
    ``StageCurrencyTotals``, and this row only tells whether those add up to the stage.
    """

    __tablename__ = "stage_totals"

    stage_id: Mapped[int] = mapped_column(ForeignKey("stages.id", ondelete="CASCADE"), primary_key=True)
    lead_count: Mapped[int] = mapped_column(Integer, default=0)
    value_cents: Mapped[int] = mapped_column(BigInteger, default=0)


class StageCurrencyTotals(db.Model):
    """Live leads and value per stage *and currency*, kept like ``StageTotals``.

    Amounts in different currencies are never added in the database: the board and the
    forecast convert each currency's sum to the workspace's base currency when they show it
    (``leadflow.governance.money.total_in_base``). ``value_count`` counts the leads that
    have a value (the ones a converted total includes).
    """

    __tablename__ = "stage_currency_totals"

    stage_id: Mapped[int] = mapped_column(ForeignKey("stages.id", ondelete="CASCADE"), primary_key=True)
    currency: Mapped[str] = mapped_column(String(3), primary_key=True)
    lead_count: Mapped[int] = mapped_column(Integer, default=0)
    value_count: Mapped[int] = mapped_column(Integer, default=0)
    value_cents: Mapped[int] = mapped_column(BigInteger, default=0)
