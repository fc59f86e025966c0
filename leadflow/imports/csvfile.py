"""Reading an uploaded CSV file: where it is kept, which encoding and delimiter it uses,
and its rows, streamed (a file is never held in memory whole).

An upload is kept in the database (``leadflow.files``, purpose ``"import"``, in chunks of
``READ_BLOCK`` bytes, named by its ``stored_name``), so any node can map, preview, run or
resume any import. The file under the instance folder is only this node's cache of it:
``stored_path`` writes it from the database's chunks when it is missing (a node that did not
take the upload), so the import reads a local file as fast as before.

No node keeps anything on its disk that another would need: ``tidy_local_uploads`` (a sweep
that runs as each scheduler starts, then hourly, on every node) moves an upload an older
version left only on this disk into the database when its import still needs it, and removes
local copies no import needs any more (its import finished, failed or was deleted, maybe on
another node) and half-written copies.
"""

from __future__ import annotations

import codecs
import csv
import os
import secrets
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path

from flask import current_app
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from leadflow.extensions import db
from leadflow.files import store
from leadflow.files.models import StoredFile
from leadflow.imports.models import ImportJob

ENCODINGS = {"utf-8": "UTF-8", "utf-8-sig": "UTF-8 with BOM", "cp1252": "Windows-1252 (Western European)",
             "latin-1": "ISO-8859-1 (Latin-1)"}
DELIMITERS = {",": "Comma ( , )", ";": "Semicolon ( ; )", "\t": "Tab"}
SAMPLE_BYTES = 64 * 1024
READ_BLOCK = 1024 * 1024
# Bytes Windows-1252 leaves undefined: a file with them is Latin-1, not Windows-1252.
_CP1252_UNDEFINED = frozenset(b"\x81\x8d\x8f\x90\x9d")
# The first bytes of files people upload by mistake, and how to tell them what they chose.
_SIGNATURES = (
    ((b"PK\x03\x04", b"PK\x05\x06", b"PK\x07\x08"), "a ZIP archive (is it an Excel .xlsx? Save it as CSV first)"),
    ((b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1",), "an old Excel .xls or other Office file (save it as CSV first)"),
    ((b"%PDF-",), "a PDF document"),
    ((b"\x89PNG\r\n\x1a\n",), "a PNG image"),
    ((b"\xff\xd8\xff",), "a JPEG image"),
    ((b"GIF87a", b"GIF89a"), "a GIF image"),
    ((b"\x1f\x8b",), "a gzip-compressed file (unpack it first)"),
    ((b"\x7fELF",), "a program (an ELF executable)"),
    ((b"\xff\xfe", b"\xfe\xff"), "UTF-16 text (save it as \u201cCSV UTF-8\u201d first)"),
)
# Control bytes text files do not have (tab, line feed, form feed and carriage return aside).
_CONTROL_BYTES = frozenset(range(0x20)) - frozenset(b"\t\n\x0c\r") | {0x7F}
BINARY_CONTROL_SHARE = 0.05
PURPOSE = "import"


class FileTooLarge(ValueError):
    pass


def imports_folder() -> Path:
    folder = Path(current_app.instance_path) / "imports"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _stored_file_id(stored_name: str) -> int | None:
    return db.session.scalar(select(StoredFile.id).where(StoredFile.purpose == PURPOSE,
                                                         StoredFile.filename == stored_name,
                                                         StoredFile.complete.is_(True)))


def stored_path(stored_name: str) -> Path:
    """The upload as a local file: this node's copy, written from the database when missing."""
    path = imports_folder() / stored_name
    if not path.exists():
        file_id = _stored_file_id(stored_name)
        if file_id is not None:
            partial = path.with_name(f"{path.name}.{os.getpid()}.{secrets.token_hex(4)}.part")
            try:
                with open(partial, "wb") as out:
                    for chunk in store.chunks(file_id):
                        out.write(chunk)
                os.replace(partial, path)  # whole or not at all, whoever else writes it too
            finally:
                partial.unlink(missing_ok=True)
    return path


def save_upload(stream, max_bytes: int) -> tuple[str, int]:
    """Store an uploaded file block by block, in the database (in the caller's transaction)
    and in this node's cache; (stored name, size).

    Raises FileTooLarge (and keeps nothing) when it grows past ``max_bytes``.
    """
    name = f"{secrets.token_hex(16)}.csv"
    path = imports_folder() / name
    stored = store.create(PURPOSE, name, "text/csv", None)
    size = 0
    try:
        with open(path, "wb") as out:
            seq = 0
            while True:
                block = stream.read(READ_BLOCK)
                if not block:
                    break
                size += len(block)
                if size > max_bytes:
                    raise FileTooLarge(size)
                out.write(block)
                store.append(stored.id, seq, block)
                seq += 1
        store.finish(stored.id)
    except BaseException:
        path.unlink(missing_ok=True)
        store.delete_files([stored.id])
        raise
    return name, size


def binary_kind(path: Path) -> str | None:
    """What the file looks like when it is not text (None for text): a known kind from its
    first bytes, or "binary data" when its first block has a NUL byte or more than 5 % of
    control characters. Any of the text encodings we read passes."""
    with open(path, "rb") as handle:
        block = handle.read(SAMPLE_BYTES)
    if block.startswith(codecs.BOM_UTF8):
        block = block[len(codecs.BOM_UTF8):]
    else:
        for prefixes, kind in _SIGNATURES:
            if block.startswith(prefixes):
                return kind
    if b"\0" in block:
        return "binary data"
    controls = sum(1 for byte in block if byte in _CONTROL_BYTES)
    if block and controls / len(block) > BINARY_CONTROL_SHARE:
        return "binary data"
    return None


# A local file younger than this is left alone: an upload may be being written (its database
# copy is not committed yet), or a copy being written from the database.
LOCAL_COPY_GRACE_SECONDS = 600
# The statuses of an import that still reads its file (an undo does not).
NEEDS_FILE = ("draft", "queued", "running")


def tidy_local_uploads(now: datetime | None = None) -> int:
    """This node's imports folder: an upload only there (saved by an older version) whose
    import still needs it is moved into the database; a copy no import needs any more, or
    a half-written one, is removed. Idempotent, and safe in several processes at once (the
    database keeps one file per name). Returns how many files it moved or removed."""
    now = now or datetime.now(timezone.utc)
    handled = 0
    for path in sorted(imports_folder().iterdir()):
        if not path.is_file() or now.timestamp() - path.stat().st_mtime < LOCAL_COPY_GRACE_SECONDS:
            continue
        if path.name.endswith(".csv"):
            needed = db.session.scalar(select(ImportJob.id).where(ImportJob.stored_name == path.name,
                                                                  ImportJob.status.in_(NEEDS_FILE)).limit(1))
            if needed is not None:
                if _stored_file_id(path.name) is None:
                    handled += _move_into_database(path)
                continue  # this node's copy of a file an import reads: kept while it does
        elif not path.name.endswith(".part"):
            continue  # not ours
        path.unlink(missing_ok=True)
        handled += 1
    return handled


def _move_into_database(path: Path) -> int:
    """Store a local upload in the database under its name, and commit; 0 when another
    process did it first."""
    try:
        stored = store.create(PURPOSE, path.name, "text/csv", None)
        with open(path, "rb") as handle:
            for seq, block in enumerate(iter(lambda: handle.read(READ_BLOCK), b"")):
                store.append(stored.id, seq, block)
        store.finish(stored.id)
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        return 0
    return 1


def remove_stored(stored_name: str) -> None:
    """Forget the upload: this node's copy, and the database's (in the caller's transaction)."""
    (imports_folder() / stored_name).unlink(missing_ok=True)
    store.delete_files(db.session.scalars(select(StoredFile.id).where(StoredFile.purpose == PURPOSE,
                                                                      StoredFile.filename == stored_name)))


def detect_encoding(path: Path) -> str:
    """utf-8-sig when the file starts with a byte-order mark; utf-8 when every byte decodes
    as UTF-8; otherwise Windows-1252, or Latin-1 when it has bytes Windows-1252 lacks."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    undefined_1252 = False
    valid_utf8 = True
    with open(path, "rb") as handle:
        first = True
        while True:
            block = handle.read(READ_BLOCK)
            if first and block.startswith(codecs.BOM_UTF8):
                return "utf-8-sig"
            first = False
            if not block:
                break
            if valid_utf8:
                try:
                    decoder.decode(block)
                except UnicodeDecodeError:
                    valid_utf8 = False
            if not valid_utf8 and not undefined_1252:
                undefined_1252 = any(b in _CP1252_UNDEFINED for b in block)
            if not valid_utf8 and undefined_1252:
                break
    if valid_utf8:
        try:
            decoder.decode(b"", final=True)
            return "utf-8"
        except UnicodeDecodeError:
            pass
    return "latin-1" if undefined_1252 else "cp1252"


def read_sample(path: Path, encoding: str, size: int = SAMPLE_BYTES) -> str:
    with open(path, "rb") as handle:
        raw = handle.read(size)
    text = raw.decode(encoding, errors="ignore")  # a multi-byte character may be cut at the end
    if size and len(raw) == size and "\n" in text:
        text = text[: text.rfind("\n") + 1]  # whole lines only
    return text


def detect_delimiter(sample: str) -> str:
    """The delimiter csv.Sniffer finds among , ; and tab, checked against the first lines:
    the right one splits every line into the same number of cells."""
    lines = [line for line in sample.splitlines()[:20] if line.strip()]
    if not lines:
        return ","
    try:
        sniffed = csv.Sniffer().sniff(sample, delimiters=",;\t").delimiter
    except csv.Error:
        sniffed = None

    def consistency(delimiter: str) -> tuple[bool, int]:
        counts = [len(row) for row in csv.reader(lines, delimiter=delimiter)]
        return len(set(counts)) == 1 and counts[0] > 1, counts[0]

    scores = {d: consistency(d) for d in DELIMITERS}
    if sniffed in scores and scores[sniffed][0]:
        return sniffed
    return max(DELIMITERS, key=lambda d: scores[d])


def open_text(path: Path, encoding: str):
    return open(path, encoding=encoding, newline="", errors="strict")


def iter_rows(handle, delimiter: str) -> Iterator[list[str] | csv.Error]:
    """Every record of the file; a record the csv module cannot read (a cell over its size
    limit, say) is yielded as the error, and reading goes on with the next one."""
    reader = csv.reader(handle, delimiter=delimiter)
    while True:
        try:
            yield next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            yield exc


def header_and_width(path: Path, encoding: str, delimiter: str, has_header: bool) -> list[str]:
    """Column names: the header row, or "Column 1", "Column 2", … sized by the first row."""
    with open_text(path, encoding) as handle:
        for record in iter_rows(handle, delimiter):
            if isinstance(record, csv.Error) or not record:
                continue
            if has_header:
                return [(" ".join(name.replace("\ufeff", "").split()) or f"Column {i + 1}")[:120]
                        for i, name in enumerate(record)]
            return [f"Column {i + 1}" for i in range(len(record))]
    return []


def count_records(path: Path, encoding: str, delimiter: str, has_header: bool) -> int:
    """How many data rows the file has (blank lines not counted)."""
    total = 0
    with open_text(path, encoding) as handle:
        reader = csv.reader(handle, delimiter=delimiter)
        while True:  # as iter_rows, without a generator per record (this reads the whole file)
            try:
                for record in reader:
                    if record:
                        total += 1
                break
            except csv.Error:
                total += 1  # an unreadable record is still a row (it fails with its reason)
    return max(0, total - (1 if has_header else 0))

