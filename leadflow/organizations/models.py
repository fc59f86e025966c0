"""The organization model: the companies leads work at (table ``organizations``)."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import Integer, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from leadflow.db import UTCDateTime, partial_index, utcnow
from leadflow.extensions import db

if TYPE_CHECKING:
    from leadflow.leads.models import Lead

SIZE_BANDS = ("1-10", "11-50", "51-200", "201-1000", "1000+")


# Which organizations the unique index on names covers: the live ones.
LIVE_ORGANIZATION = "deleted_at IS NULL"


class Organization(db.Model):
    __tablename__ = "organizations"
    __table_args__ = (
        # One live organization per name (trashed ones may share it); ``find_or_create_organization``
        # and the import rely on it when several requests add the same new name at once.
        partial_index("uq_organizations_live_name_key", "name_key", unique=True, where=LIVE_ORGANIZATION),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    name_key: Mapped[str] = mapped_column(String(200), index=True)  # lower-cased for lookups
    domain: Mapped[str | None] = mapped_column(String(253), index=True)
    industry: Mapped[str | None] = mapped_column(String(80))
    size_band: Mapped[str | None] = mapped_column(String(16))
    territory: Mapped[str | None] = mapped_column(String(80))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    version: Mapped[int] = mapped_column(Integer, default=1)

    leads: Mapped[list[Lead]] = relationship(back_populates="organization")

    __mapper_args__ = {"version_id_col": version}
