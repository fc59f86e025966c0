"""Faults for a cleaning process, as module functions: the cleaning function travels to the
child by name (a child of the fork server inherits no patch made in the test), and each child
counts its own chunks."""

from __future__ import annotations

import os
import time

from leadflow.imports.planner import clean_records

_chunks = 0


def _on_second_chunk(fault, cleaner, records):
    global _chunks
    _chunks += 1
    if _chunks == 2:
        fault()
    return clean_records(cleaner, records)


def _raise() -> None:
    raise ValueError("cannot read")


def fail_second_chunk(cleaner, records):
    return _on_second_chunk(_raise, cleaner, records)


def die_on_second_chunk(cleaner, records):
    return _on_second_chunk(lambda: os._exit(3), cleaner, records)


def hang_on_second_chunk(cleaner, records):
    return _on_second_chunk(lambda: time.sleep(60), cleaner, records)


def no_death_signal() -> bool:
    """As where ``prctl`` is not available: only the child's own check of its parent is left."""
    return False
