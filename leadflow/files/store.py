"""Writing and reading files kept in the database (``leadflow.files.models``).

A writer appends chunks in its own transactions (``append``: the chunk's number is the
file's ``chunk_count``, so a chunk written again after a crash replaces nothing: the
primary key refuses it and the caller's transaction, with its progress, rolls back);
``finish`` marks the file complete. ``chunks`` reads it back a chunk at a time.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime

from sqlalchemy import delete, insert, select, update

from leadflow.extensions import db
from leadflow.files.models import StoredFile, StoredFileChunk


def create(purpose: str, filename: str, content_type: str, owner_id: int | None) -> StoredFile:
    stored = StoredFile(purpose=purpose, filename=filename[:200], content_type=content_type, owner_id=owner_id)
    db.session.add(stored)
    db.session.flush()
    return stored


def append(file_id: int, seq: int, data: bytes) -> None:
    """Add chunk ``seq`` of the file, in the caller's transaction."""
    db.session.execute(insert(StoredFileChunk).values(file_id=file_id, seq=seq, data=data))
    db.session.execute(update(StoredFile).where(StoredFile.id == file_id)
                       .values(size=StoredFile.size + len(data), chunk_count=seq + 1))


def finish(file_id: int) -> None:
    db.session.execute(update(StoredFile).where(StoredFile.id == file_id).values(complete=True))


def chunks(file_id: int) -> Iterator[bytes]:
    """The file's bytes, a chunk at a time (one query per chunk: never the whole file in memory)."""
    seq = 0
    while True:
        data = db.session.scalar(select(StoredFileChunk.data)
                                 .where(StoredFileChunk.file_id == file_id, StoredFileChunk.seq == seq))
        if data is None:
            return
        yield bytes(data)
        seq += 1


def delete_files(file_ids) -> None:
    """Remove files and their chunks, in the caller's transaction."""
    ids = list(file_ids)
    if ids:
        db.session.execute(delete(StoredFileChunk).where(StoredFileChunk.file_id.in_(ids)))
        db.session.execute(delete(StoredFile).where(StoredFile.id.in_(ids)))


def older_than(purpose: str, cutoff: datetime, keep=None) -> list[int]:
    """Ids of the files for ``purpose`` made before ``cutoff``, but those in ``keep`` (a SELECT of ids)."""
    query = select(StoredFile.id).where(StoredFile.purpose == purpose, StoredFile.created_at < cutoff)
    if keep is not None:
        query = query.where(StoredFile.id.not_in(keep))
    return list(db.session.scalars(query))
