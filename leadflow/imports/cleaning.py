"""Reading and cleaning an import's rows, chunk by chunk, in a second process for large files.

Cleaning a row is pure Python (about half the CPU time of an import), so in a thread it
competes with the writer for Python's lock. For a large file a forked process reads the
file and cleans it, and hands the plans over through a queue that holds at most
``QUEUE_CHUNKS`` chunks: the file is still streamed, never held whole in memory. The
parent (which counts the rows for the progress bar meanwhile) only looks up duplicates
and plans the writes; its writer thread only writes.

The child uses no database: the cleaner is preloaded (``RowCleaner.preload``) before the
fork, and the job's settings are copied out of the ORM object. Small files, machines with
fewer than ``PROCESS_MIN_CPUS`` CPUs and platforms without ``fork`` clean in the calling
thread, with the same result.
"""

from __future__ import annotations

import multiprocessing
import os
import pickle
import queue as queue_module
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from leadflow.imports import csvfile
from leadflow.imports.planner import RowPlan, clean_records, data_records
from leadflow.imports.rows import RowCleaner

# File size from which cleaning moves to a second process (about 15,000 rows of a typical
# CRM export; forking costs a few milliseconds).
PROCESS_MIN_BYTES = 2 * 1024 * 1024
# Cleaned chunks waiting for the parent, at most (the file is streamed, not held in memory).
QUEUE_CHUNKS = 3
# CPUs needed for the second process. The importing process already keeps two busy (the
# planning thread, and SQLite in the writer thread): on a 2-CPU machine the cleaning process
# only competes with them, and measured slower (100,000 rows: 25 s against 14 s inline).
PROCESS_MIN_CPUS = 3
# How long the parent waits for a chunk before it checks that the child is still alive.
POLL_SECONDS = 5
# A child that sends nothing for this long is stopped, and the import with it (a chunk
# takes well under a second to clean; a process forked from a threaded server could, in
# theory, hang on a lock another thread held at the fork).
STALL_SECONDS = 300


@dataclass(frozen=True)
class FileSpec:
    """What reading the stored file needs (a plain copy: the child must not touch the ORM)."""

    path: Path
    encoding: str
    delimiter: str
    has_header: bool
    skip: int


def chunks(records: Iterator, size: int) -> Iterator[list]:
    chunk = []
    for item in records:
        chunk.append(item)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _cleaned(cleaner: RowCleaner, spec: FileSpec, size: int) -> Iterator[list[RowPlan]]:
    with csvfile.open_text(spec.path, spec.encoding) as handle:
        for chunk in chunks(data_records(spec, handle, skip=spec.skip), size):
            yield clean_records(cleaner, chunk)


def use_process(path: Path) -> bool:
    return (path.stat().st_size >= PROCESS_MIN_BYTES and (os.cpu_count() or 1) >= PROCESS_MIN_CPUS
            and "fork" in multiprocessing.get_all_start_methods())


def cleaned_chunks(cleaner: RowCleaner, spec: FileSpec, size: int) -> Iterator[list[RowPlan]]:
    """The plans of the file's rows after ``spec.skip``, ``size`` rows at a time, in file
    order. A second process, when used, starts at once (the caller may count the rows
    meanwhile); close the iterator when done with it."""
    if use_process(spec.path):
        return CleaningProcess(cleaner, spec, size)
    return _cleaned(cleaner, spec, size)


def _produce(out, cleaner: RowCleaner, spec: FileSpec, size: int) -> None:
    """In the child: clean every chunk onto ``out``, then ("end", None), or ("error", exc)."""
    try:
        for plans in _cleaned(cleaner, spec, size):
            out.put(("plans", plans))
        out.put(("end", None))
    except Exception as exc:  # handed to the parent, which stops the job with its message
        try:
            pickle.dumps(exc)
        except Exception:
            exc = RuntimeError(type(exc).__name__)
        out.put(("error", exc))


class CleaningProcess:
    """A forked child that cleans the file chunk by chunk; iterate for the plans."""

    def __init__(self, cleaner: RowCleaner, spec: FileSpec, size: int):
        context = multiprocessing.get_context("fork")
        self.out = context.Queue(maxsize=QUEUE_CHUNKS)
        self.child = context.Process(target=_produce, args=(self.out, cleaner, spec, size),
                                     name="import-cleaner", daemon=True)
        self.child.start()

    def __iter__(self) -> Iterator[list[RowPlan]]:
        while True:
            kind, payload = self._next()
            if kind == "end":
                return
            if kind == "error":
                raise payload
            yield payload

    def _next(self) -> tuple[str, object]:
        waited = 0.0
        while True:
            try:
                return self.out.get(timeout=POLL_SECONDS)
            except queue_module.Empty:
                waited += POLL_SECONDS
                if self.child.is_alive() and waited < STALL_SECONDS:
                    continue
                if self.child.is_alive():  # stuck (a chunk takes well under a second): give up
                    raise RuntimeError(f"The cleaning process sent nothing for {STALL_SECONDS} seconds.")
                try:  # it may have put its last message just before it ended
                    return self.out.get(timeout=1)
                except queue_module.Empty:
                    raise RuntimeError(
                        f"The cleaning process ended unexpectedly (exit code {self.child.exitcode}).") from None

    def close(self) -> None:
        if self.child.is_alive():
            self.child.terminate()
        self.child.join()
        self.out.close()
        self.out.join_thread()
