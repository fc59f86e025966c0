"""Public capture forms: what a form asks for and what happens to what it receives."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Boolean, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from leadflow.db import UTCDateTime, utcnow
from leadflow.extensions import db

OWNER_RULES = ("none", "user", "round_robin")
OWNER_RULE_LABELS = {
    "none": "Leave unassigned",
    "user": "Assign to one person",
    "round_robin": "Rotate among a team’s active members",
}


class CaptureForm(db.Model):
    """A public form at ``/f/<slug>``.

    ``fields`` is an ordered list of ``{"key", "label", "required", "type", "custom",
    "options"}``: standard lead fields (``custom`` false) and custom fields whose values
    are kept in ``Lead.custom_fields``. ``rotation_counter`` is the round-robin state,
    advanced by one atomic UPDATE per submission so concurrent submissions never pick
    from the same turn.
    """

    __tablename__ = "capture_forms"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(120))
    slug: Mapped[str] = mapped_column(String(60), unique=True)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    fields: Mapped[list] = mapped_column(JSON, default=list)
    consent_text: Mapped[str | None] = mapped_column(Text)
    button_label: Mapped[str] = mapped_column(String(60), default="Send")
    thank_you_message: Mapped[str | None] = mapped_column(Text)
    redirect_url: Mapped[str | None] = mapped_column(String(2000))
    default_source: Mapped[str | None] = mapped_column(String(40))
    stage_id: Mapped[int | None] = mapped_column(ForeignKey("stages.id", ondelete="SET NULL"))
    owner_rule: Mapped[str] = mapped_column(String(16), default="none")
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    team_id: Mapped[int | None] = mapped_column(ForeignKey("teams.id", ondelete="SET NULL"))
    rotation_counter: Mapped[int] = mapped_column(Integer, default=0)
    submission_count: Mapped[int] = mapped_column(Integer, default=0)
    last_submission_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    stage = relationship("Stage")
    owner = relationship("User", foreign_keys=[owner_id])
    team = relationship("Team")

    @property
    def custom_fields(self) -> list[dict]:
        return [f for f in self.fields or [] if f.get("custom")]

    def __repr__(self) -> str:
        return f"<CaptureForm {self.slug}>"


class CaptureTokenUse(db.Model):
    """A form token a submission was accepted with: each token is good for one submission.

    The row goes in by ``INSERT … ON CONFLICT DO NOTHING`` on the primary key, in the
    submission's transaction, so of two concurrent replays only one can pass. Rows older
    than ``CAPTURE_TOKEN_MAX_AGE`` are pruned by the ``capture-tokens`` sweep: their tokens
    have expired and are refused by their signature already.
    """

    __tablename__ = "capture_token_uses"

    token_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    form_id: Mapped[int] = mapped_column(ForeignKey("capture_forms.id", ondelete="CASCADE"))
    used_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
