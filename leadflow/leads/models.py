from __future__ import annotations

from datetime import date, datetime
from typing import TYPE_CHECKING

from sqlalchemy import (
    JSON, BigInteger, Boolean, Column, Date, Float, ForeignKey, Index, Integer, String, Table, Text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from leadflow.db import UTCDateTime, partial_index, utcnow
from leadflow.extensions import db

if TYPE_CHECKING:  # the relationship names it; the registry resolves it when mappers configure
    from leadflow.organizations.models import Organization

LIFECYCLES = ("subscriber", "lead", "mql", "sql", "opportunity", "customer", "disqualified")
LIFECYCLE_LABELS = {
    "subscriber": "Subscriber", "lead": "Lead", "mql": "MQL", "sql": "SQL",
    "opportunity": "Opportunity", "customer": "Customer", "disqualified": "Disqualified",
}
TEMPERATURES = ("cold", "warm", "hot")
SOURCES = (
    "website", "web form", "referral", "event", "cold outreach", "partner",
    "advertising", "social", "import", "api", "other",
)

lead_tags = Table(
    "lead_tags",
    db.Model.metadata,
    Column("lead_id", ForeignKey("leads.id", ondelete="CASCADE"), primary_key=True),
    Column("tag_id", ForeignKey("tags.id", ondelete="CASCADE"), primary_key=True, index=True),
)


# What the list search reads: each lead's search text in a narrow table (scanning it takes
# about half the time of scanning the wide lead rows). Database triggers keep it equal to
# leads.search_text on every insert, update and delete, whatever writes the lead (the ORM,
# a bulk import, a migration); nothing in the application writes it.
lead_search = Table(
    "lead_search",
    db.Model.metadata,
    Column("lead_id", Integer, primary_key=True, autoincrement=False),
    Column("text", Text, nullable=False),
)

# The trigram index over lead_search.text that the search reads for words of three characters
# or more (migration 0a7c3e5f9b21): on SQLite the FTS5 table ``lead_search_fts`` (content:
# lead_search; triggers on lead_search keep it in step; FTS5 adds shadow tables named after
# it), on PostgreSQL the GIN index ``ix_lead_search_trgm``. Neither is a model, so autogenerate
# and the models / migrations test leave them out (``compared_with_models``).
LEAD_SEARCH_FTS = "lead_search_fts"
LEAD_SEARCH_TRGM_INDEX = "ix_lead_search_trgm"
# PostgreSQL only: live leads by (created_at, id), a partial index (WHERE deleted_at IS NULL).
# Its planner does not read ``ix_leads_live_created`` (deleted_at, created_at) in order under
# ``deleted_at IS NULL`` (an IS NULL does not fix a column for ordering), so the first page of
# the lead list sorted the whole table: 30 ms at 100,000 leads instead of 0.1. SQLite reads
# that index in order (its indexes end with the rowid); no model, like the search index.
LIVE_ORDER_INDEX = "ix_leads_live_order"
# Live leads by temperature, then the longest quiet first (never touched first): the home
# page's hot leads, read in its order. NULLs come first in SQLite's ascending order and in
# PostgreSQL's only with NULLS FIRST, which SQLite's CREATE INDEX does not take: made by its
# migration for each database, no model.
HOT_QUIET_INDEX = "ix_leads_hot_quiet"
# The same for one owner (owner, temperature, quietness): a person's hot leads in the page's
# order, whoever the person; both end with the stage and lifecycle, so the page's capped count
# of hot leads in an open stage reads the index alone.
OWNER_HOT_QUIET_INDEX = "ix_leads_owner_hot_quiet"


def compared_with_models(name: str | None, type_: str, parent_names: dict) -> bool:
    """Alembic's ``include_name``: whether autogenerate compares this schema object with the
    models (False for the search index objects above)."""
    if type_ == "table" and name and name.startswith(LEAD_SEARCH_FTS):
        return False
    return not (type_ == "index" and name in (LEAD_SEARCH_TRGM_INDEX, LIVE_ORDER_INDEX, HOT_QUIET_INDEX,
                                                 OWNER_HOT_QUIET_INDEX))


class Tag(db.Model):
    __tablename__ = "tags"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(40))
    name_key: Mapped[str] = mapped_column(String(40), unique=True)


# Which leads hold their email: the live ones that have one. ``leads.store`` names this
# predicate in its ``ON CONFLICT`` clause, so the two must stay the same text.
LIVE_EMAIL_WHERE = "deleted_at IS NULL AND email_key IS NOT NULL"
# Lead columns empty on nearly every lead, indexed only where they hold a value (see below).
SPARSE_COLUMNS = ("shared_email_key", "import_job_id")


class Lead(db.Model):
    __tablename__ = "leads"
    __table_args__ = (
        # Uniqueness: one live lead per normalised email, kept by the database (concurrent
        # requests cannot both create a lead for one new address). Trashed leads do not hold
        # their email. Phones are deliberately NOT unique: a switchboard or a household shares
        # one number between several people; the duplicates queue pairs leads by phone instead.
        # See docs/RELIABILITY.md, "Uniqueness".
        partial_index("uq_leads_live_email_key", "email_key", unique=True, where=LIVE_EMAIL_WHERE),
        # The list's order is (created_at, id): with the id in the index PostgreSQL reads a page
        # of one owner's or one stage's leads in order (SQLite's indexes end with the rowid, the
        # id, anyway). All live leads: ``LIVE_ORDER_INDEX`` on PostgreSQL.
        Index("ix_leads_live_created", "deleted_at", "created_at"),
        Index("ix_leads_owner_created", "owner_id", "created_at", "id"),
        Index("ix_leads_stage_created", "stage_id", "created_at", "id"),
        Index("ix_leads_board", "stage_id", "deleted_at", "board_rank", "id"),
        Index("ix_leads_name", "last_name", "first_name"),
        Index("ix_leads_value", "value_cents"),
        Index("ix_leads_score", "score"),
        Index("ix_leads_last_activity", "last_activity_at"),
        Index("ix_leads_close_date", "expected_close_date"),
        Index("ix_leads_org_live", "organization_id", "deleted_at"),
        # Owner-filtered board columns and counts read only this index.
        Index("ix_leads_owner_stage", "owner_id", "stage_id", "deleted_at", "board_rank", "id", "value_cents", "currency"),
        # The forecast strip sums open deals by close month from this index alone.
        Index("ix_leads_forecast", "stage_id", "deleted_at", "expected_close_date", "currency", "value_cents"),
        # The home page's live month reads only these: the month's won leads, the month's answered
        # arrivals (everyone's, or a person's or team's).
        Index("ix_leads_won_entered", "stage_id", "stage_entered_at", "owner_id", "deleted_at", "currency", "value_cents"),
        Index("ix_leads_live_created_response", "deleted_at", "created_at", "owner_id", "first_response_at"),
        Index("ix_leads_owner_created_response", "owner_id", "created_at", "deleted_at", "first_response_at"),
        # Columns empty on nearly every lead are indexed where they hold a value: a whole-column
        # index's statistics say one value matches a great many leads (every lead after a full
        # ANALYZE; a thousand after the app's sampled one), and SQLite then scanned the table
        # (after a full ANALYZE, 100,000 leads) for the lead page's
        # duplicate check (email_key = ? OR shared_email_key = ?: 40 ms at 100,000 leads
        # instead of 0.2). A comparison with a value implies IS NOT NULL, so both still use them.
        *(partial_index(f"ix_leads_{column}", column, where=f"{column} IS NOT NULL") for column in SPARSE_COLUMNS),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    first_name: Mapped[str] = mapped_column(String(80), default="")
    last_name: Mapped[str] = mapped_column(String(80), default="")
    email: Mapped[str | None] = mapped_column(String(254))
    email_key: Mapped[str | None] = mapped_column(String(254), index=True)  # normalised, lower-case
    # The key of a lead whose email was already on an older live lead when emails became unique
    # (migration 3e5a9c1d7b20): its email_key is empty, the older lead holds the key,
    # and the duplicates queue pairs the two on this until a person merges them. Cleared when
    # its email changes.
    shared_email_key: Mapped[str | None] = mapped_column(String(254))
    phone: Mapped[str | None] = mapped_column(String(20), index=True)  # E.164
    title: Mapped[str | None] = mapped_column(String(120))
    country: Mapped[str | None] = mapped_column(String(2))
    organization_id: Mapped[int | None] = mapped_column(ForeignKey("organizations.id", ondelete="SET NULL"))

    source: Mapped[str | None] = mapped_column(String(40), index=True)
    utm_source: Mapped[str | None] = mapped_column(String(120))
    utm_medium: Mapped[str | None] = mapped_column(String(120))
    utm_campaign: Mapped[str | None] = mapped_column(String(120))
    utm_term: Mapped[str | None] = mapped_column(String(120))
    utm_content: Mapped[str | None] = mapped_column(String(120))
    referrer: Mapped[str | None] = mapped_column(String(2000))
    landing_page: Mapped[str | None] = mapped_column(String(2000))

    owner_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    lifecycle: Mapped[str] = mapped_column(String(16), default="lead", index=True)
    disqualified_reason: Mapped[str | None] = mapped_column(String(200))
    temperature: Mapped[str] = mapped_column(String(8), default="cold", index=True)
    score: Mapped[int] = mapped_column(Integer, default=0)
    score_breakdown: Mapped[list | None] = mapped_column(JSON)

    pipeline_id: Mapped[int | None] = mapped_column(ForeignKey("pipelines.id", ondelete="SET NULL"))
    # active_history: the old values are needed to keep the board's stage totals exact.
    stage_id: Mapped[int | None] = mapped_column(ForeignKey("stages.id", ondelete="SET NULL"), active_history=True)
    value_cents: Mapped[int | None] = mapped_column(BigInteger, active_history=True)
    currency: Mapped[str] = mapped_column(String(3), default="USD")
    expected_close_date: Mapped[date | None] = mapped_column(Date)
    won_lost_reason: Mapped[str | None] = mapped_column(String(200))

    marketing_consent: Mapped[bool] = mapped_column(Boolean, default=False)
    consent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    consent_source: Mapped[str | None] = mapped_column(String(200))
    unsubscribed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # opted out of marketing e-mail
    custom_fields: Mapped[dict | None] = mapped_column(JSON)

    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    first_response_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_activity_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    stage_entered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime, active_history=True)
    deleted_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    # Lower-cased name, email, organization and phone digits: what the list search reads.
    search_text: Mapped[str] = mapped_column(Text, default="")
    # Order of the card within its board column: ascending; new leads get a rank that puts them on top.
    board_rank: Mapped[float] = mapped_column(Float, default=0.0)
    version: Mapped[int] = mapped_column(Integer, default=1)
    # The import that created the lead, so undoing it finds exactly those leads.
    import_job_id: Mapped[int | None] = mapped_column(ForeignKey("import_jobs.id", ondelete="SET NULL"))

    organization: Mapped[Organization | None] = relationship(back_populates="leads")
    owner = relationship("User", foreign_keys=[owner_id])
    stage = relationship("Stage")
    pipeline = relationship("Pipeline")
    tags: Mapped[list[Tag]] = relationship(secondary=lead_tags, order_by="Tag.name_key")

    __mapper_args__ = {"version_id_col": version}

    @property
    def name(self) -> str:
        return " ".join(p for p in (self.first_name, self.last_name) if p) or "(no name)"

    @property
    def value(self):
        from decimal import Decimal

        return None if self.value_cents is None else Decimal(self.value_cents) / 100


# A column's cards in board order: by rank, written with the stage and the trash column in front
# so that the order is the board index's own (``ix_leads_board``: stage_id, deleted_at,
# board_rank, id). Within one column of live leads they change nothing, but PostgreSQL does not
# count ``deleted_at IS NULL`` as fixing that column, and without them sorted every lead of the
# stage (a sequential scan, 100-250 ms per column at 100,000 leads) instead of reading the first
# 26 from the index.
BOARD_ORDER = (Lead.stage_id, Lead.deleted_at, Lead.board_rank, Lead.id)

class LifecycleChange(db.Model):
    """One change of a lead's lifecycle (``from_lifecycle`` None when the lead was created),
    written by the lead store wherever a lifecycle is set; the funnel reads how far each
    lead ever got from these. Leads older than the table have one row for their lifecycle at
    the time it was added, dated when the lead was created."""

    __tablename__ = "lifecycle_changes"
    __table_args__ = (
        # The funnel reads (lead, lifecycle) for a cohort of leads from the index alone.
        Index("ix_lifecycle_changes_lead_to", "lead_id", "to_lifecycle"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    lead_id: Mapped[int] = mapped_column(ForeignKey("leads.id", ondelete="CASCADE"))
    from_lifecycle: Mapped[str | None] = mapped_column(String(16))
    to_lifecycle: Mapped[str] = mapped_column(String(16))
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
