from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy import JSON, CheckConstraint, ForeignKey, Index, Integer, Numeric, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from leadflow.db import UTCDateTime, utcnow
from leadflow.extensions import db


ACTOR_NAME_MAX = 120


# The currencies a value may be kept in (a lead's value, a rate, the base currency).
CURRENCIES = ("USD", "EUR", "GBP", "CAD", "AUD", "CHF", "JPY", "INR")


class AuditEntry(db.Model):
    """Who changed which field of which record from what to what, and when.

    ``actor_name`` always says who acted, as text: the user's name (kept when the user is
    deleted and ``actor_id`` becomes NULL) or a system actor's ("Import #12 (Ada Lovelace)",
    "Scoring"). The database refuses an entry with neither.
    """

    __tablename__ = "audit_entries"
    __table_args__ = (
        Index("ix_audit_entries_entity", "entity_type", "entity_id", "id"),
        CheckConstraint("actor_id IS NOT NULL OR actor_name IS NOT NULL", name="has_actor"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    actor_name: Mapped[str | None] = mapped_column(String(ACTOR_NAME_MAX))
    entity_type: Mapped[str] = mapped_column(String(32))
    entity_id: Mapped[int] = mapped_column(Integer)
    action: Mapped[str] = mapped_column(String(16))  # create | update | delete | restore
    field: Mapped[str | None] = mapped_column(String(64))
    old_value: Mapped[str | None] = mapped_column(Text)
    new_value: Mapped[str | None] = mapped_column(Text)

    actor = relationship("User", lazy="joined")


class Setting(db.Model):
    """Workspace settings, one row a key, editable by admins."""

    __tablename__ = "settings"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[object] = mapped_column(JSON)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class ExchangeRate(db.Model):
    """How much one unit of ``currency`` is worth in ``base_currency``, as an admin set it.

    Totals are shown in the workspace's base currency; a rate belongs to the base it was
    entered against, so changing the base never silently reuses rates meant for another one
    (switching back finds them again). ``rate`` is exact (NUMERIC): 1 EUR = 1.08 USD is
    ``currency="EUR", base_currency="USD", rate=Decimal("1.08")``.
    """

    __tablename__ = "exchange_rates"
    __table_args__ = (
        UniqueConstraint("base_currency", "currency", name="uq_exchange_rates_base_currency"),
        CheckConstraint("rate > 0", name="rate_positive"),
        CheckConstraint("currency <> base_currency", name="not_the_base"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    base_currency: Mapped[str] = mapped_column(String(3))
    currency: Mapped[str] = mapped_column(String(3))
    rate: Mapped[Decimal] = mapped_column(Numeric(18, 8))
    set_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    set_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))

    set_by = relationship("User", lazy="joined")
