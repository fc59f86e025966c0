"""A file kept in the database in chunks: written by a job a chunk at a time, read back by any
node (no local disk). Exports and import uploads use it."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from leadflow.db import UTCDateTime, partial_index, utcnow
from leadflow.extensions import db

IMPORT_WHERE = "purpose = 'import'"


class StoredFile(db.Model):
    """``purpose`` says what the file is for ("export"); ``size`` counts the bytes of its
    chunks; ``complete`` is set once its last chunk is in."""

    __tablename__ = "stored_files"
    __table_args__ = (
        Index("ix_stored_files_purpose_created", "purpose", "created_at"),
        # An import upload is found by its stored name: one file per name, even when two
        # processes move the same upload left on disk by an older version into the database.
        partial_index("uq_stored_files_import_name", "filename", unique=True, where=IMPORT_WHERE),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    purpose: Mapped[str] = mapped_column(String(16))
    filename: Mapped[str] = mapped_column(String(200))
    content_type: Mapped[str] = mapped_column(String(100), default="application/octet-stream")
    size: Mapped[int] = mapped_column(Integer, default=0)
    chunk_count: Mapped[int] = mapped_column(Integer, default=0)
    complete: Mapped[bool] = mapped_column(default=False)
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class StoredFileChunk(db.Model):
    """The ``seq``-th chunk (from 0) of a stored file."""

    __tablename__ = "stored_file_chunks"

    file_id: Mapped[int] = mapped_column(ForeignKey("stored_files.id", ondelete="CASCADE"), primary_key=True)
    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    data: Mapped[bytes] = mapped_column(LargeBinary)
