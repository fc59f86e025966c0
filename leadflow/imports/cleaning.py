"""Reading and cleaning an import's rows, chunk by chunk, ahead of the writes.

Cleaning a row is pure Python; writing it is mostly SQLite, which runs outside Python's
lock. So the file is read and cleaned by a producer, at most ``QUEUE_CHUNKS`` chunks ahead
(the file is still streamed, never held whole in memory), while the importing thread looks
up duplicates and writes: the cleaning of the next chunks overlaps the writes of this one.

For a large file on a machine with ``PROCESS_MIN_CPUS`` CPUs or more the producer is a second
process (``CleaningProcess``): the cleaning then never competes with the importing thread
for Python's lock (in a thread it does, each time the importing thread comes back from
SQLite), at the price of sending the plans through a pipe. Otherwise it is a thread
(``CleaningThread``). Neither uses the database: the
cleaner is preloaded (``RowCleaner.preload``) first, and the job's settings are copied out
of the ORM object. The result is the same either way.

The process is never forked from the importing process, which has other threads (a web
server's, the scheduler's) whose locks a forked child could inherit held: it comes from
Python's fork server (``forkserver``), a single-threaded process started with exec once per
importing process, which has imported this module and forks a child for each import. The
cleaner, the file's settings and the cleaning function travel to the child pickled. Starting
the fork server costs about a second, once: ``prepare`` starts it while the rows are counted.

A cleaning child never outlives its parent: killed with ``kill -9`` (or crashing), the parent
can no longer stop it, and a child waiting for room on the queue would wait for ever, holding
its memory and the deleted upload. The fork server ends when the importing process does, and
on Linux the kernel kills the child with the fork server (``prctl(PR_SET_PDEATHSIG)``, set
first thing in the child); everywhere, the child checks while it waits that its parent is
still there (``multiprocessing.parent_process()``) and ends when it is not.
"""

from __future__ import annotations

import ctypes
import os
import pickle
import queue as queue_module
import signal
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from leadflow.imports import csvfile
from leadflow.imports.planner import RowPlan, clean_records, data_records
from leadflow.imports.rows import RowCleaner

# File size from which cleaning moves to a second process (about 15,000 rows of a typical
# CRM export; a child of the running fork server starts in a few milliseconds).
PROCESS_MIN_BYTES = 2 * 1024 * 1024
# Cleaned chunks waiting for the parent, at most (the file is streamed, not held in memory).
QUEUE_CHUNKS = 3
# CPUs needed for the second process: one for it, one for the importing thread. Measured
# on 2 CPUs at 100,000 rows: 12,600–13,500 rows/s with it, 11,600–12,300 with a thread.
PROCESS_MIN_CPUS = 2
# How long the parent waits for a chunk before it checks that the child is still alive.
POLL_SECONDS = 5
# A child that sends nothing for this long is stopped, and the import with it (a chunk
# takes well under a second to clean).
STALL_SECONDS = 300
# A producer waiting for room on the queue looks this often whether it should stop (a
# thread: its consumer closed it; a child: its parent is gone).
WAIT_SECONDS = 0.2
# prctl(2): the signal the kernel sends a process when the thread that forked it ends.
PR_SET_PDEATHSIG = 1
# How the cleaning process starts: forked by Python's single-threaded fork server, never by
# the importing process itself.
START_METHOD = "forkserver"


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


def _cleaned(cleaner: RowCleaner, spec: FileSpec, size: int, clean) -> Iterator[list[RowPlan]]:
    with csvfile.open_text(spec.path, spec.encoding) as handle:
        for chunk in chunks(data_records(spec, handle, skip=spec.skip), size):
            yield clean(cleaner, chunk)


def use_process(path: Path) -> bool:
    import multiprocessing  # only an import loads it: a web process that only shows pages does without

    return (path.stat().st_size >= PROCESS_MIN_BYTES and (os.cpu_count() or 1) >= PROCESS_MIN_CPUS
            and START_METHOD in multiprocessing.get_all_start_methods())


def _context():
    """The fork server's context; the server imports this module once, not every child."""
    import multiprocessing

    context = multiprocessing.get_context(START_METHOD)
    context.set_forkserver_preload([__name__])
    return context


def prepare(path: Path) -> None:
    """Start the fork server now if ``path`` will be cleaned in a process, so that its start
    (importing this module in a new interpreter) overlaps what the caller does next."""
    if use_process(path):
        from multiprocessing import forkserver

        _context()
        forkserver.ensure_running()


def cleaned_chunks(cleaner: RowCleaner, spec: FileSpec, size: int) -> CleaningThread | CleaningProcess:
    """The plans of the file's rows after ``spec.skip``, ``size`` rows at a time, in file
    order. The producer starts at once (the caller may count the rows meanwhile); close it
    when done with it."""
    if use_process(spec.path):
        return CleaningProcess(cleaner, spec, size)
    return CleaningThread(cleaner, spec, size)


def _produce(out, cleaner: RowCleaner, spec: FileSpec, size: int, clean, stop: threading.Event | None = None,
             in_child: bool = False) -> None:
    """In the producer: clean every chunk onto ``out`` with ``clean`` (``clean_records``),
    then ("end", None), or ("error", exc). A thread producer ends early when ``stop`` is set;
    a child when its parent is gone."""
    try:
        for plans in _cleaned(cleaner, spec, size, clean):
            if not _send(out, ("plans", plans), stop, in_child):
                return
        _send(out, ("end", None), stop, in_child)
    except Exception as exc:  # handed to the consumer, which stops the job with its message
        if in_child:
            try:
                pickle.dumps(exc)
            except Exception:
                exc = RuntimeError(type(exc).__name__)
        _send(out, ("error", exc), stop, in_child)


def _send(out, item, stop: threading.Event | None, in_child: bool = False) -> bool:
    """Put ``item`` on ``out``; False when ``stop`` (a thread producer's) was set meanwhile,
    so that a producer whose consumer has gone does not wait for room for ever. A child whose
    parent is gone ends there and then."""
    while not (stop is not None and stop.is_set()):
        if in_child:
            _end_if_orphaned()
        try:
            out.put(item, timeout=WAIT_SECONDS)
            return True
        except queue_module.Full:
            continue
    return False


def _end_if_orphaned() -> None:
    import multiprocessing

    parent = multiprocessing.parent_process()  # the importing process, not the fork server
    if parent is not None and not parent.is_alive():
        # At once, without the usual exit: that would wait to flush the queue to a pipe no one reads.
        os._exit(1)


def die_with_parent() -> bool:
    """Ask Linux to kill this process when its parent dies; False where that is not available."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def _produce_in_child(out, cleaner: RowCleaner, spec: FileSpec, size: int, clean, ask_to_die) -> None:
    ask_to_die()
    _end_if_orphaned()  # the parent may have died before the line above
    _produce(out, cleaner, spec, size, clean, in_child=True)


class _Producer:
    """Iterate for the plans a producer puts on ``self.out``."""

    out: queue_module.Queue

    def __iter__(self) -> Iterator[list[RowPlan]]:
        while True:
            kind, payload = self._next()
            if kind == "end":
                return
            if kind == "error":
                raise payload
            yield payload

    def _next(self) -> tuple[str, object]:
        raise NotImplementedError


class CleaningThread(_Producer):
    """A thread that cleans the file chunk by chunk, ahead of the importing thread."""

    def __init__(self, cleaner: RowCleaner, spec: FileSpec, size: int):
        self.out = queue_module.Queue(maxsize=QUEUE_CHUNKS)
        self.stop = threading.Event()
        self.thread = threading.Thread(target=_produce, name="import-cleaner", daemon=True,
                                       args=(self.out, cleaner, spec, size, clean_records, self.stop))
        self.thread.start()

    def _next(self) -> tuple[str, object]:
        return self.out.get()  # the thread always ends with "end" or "error", unless stopped

    def close(self) -> None:
        self.stop.set()
        self.thread.join()


class CleaningProcess(_Producer):
    """A child of the fork server that cleans the file chunk by chunk; iterate for the plans."""

    def __init__(self, cleaner: RowCleaner, spec: FileSpec, size: int):
        context = _context()
        self.out = context.Queue(maxsize=QUEUE_CHUNKS)
        # ``clean_records`` and ``die_with_parent`` as this module has them now travel by name
        # (a test may swap them).
        self.child = context.Process(target=_produce_in_child,
                                     args=(self.out, cleaner, spec, size, clean_records, die_with_parent),
                                     name="import-cleaner", daemon=True)
        self.child.start()

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
