"""Importing a library with some of its modules left unrun: a package that imports every
module it has, also those LeadFlow never reads, holds their memory in every process. A module
left unrun is in ``sys.modules`` as a placeholder that runs it on its first attribute read
(``importlib.util.LazyLoader``), so it still works if anything reads it."""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import importlib.util
import sys
import types
from collections.abc import Iterable, Iterator
from contextlib import contextmanager


class _RunOnFirstRead(importlib.abc.MetaPathFinder):
    """Finds the modules ``names`` as usual, with a loader that runs a module on its first
    attribute read."""

    def __init__(self, names: Iterable[str]):
        self.names = frozenset(names)

    def find_spec(self, name, path, target=None):
        if name not in self.names:
            return None
        spec = importlib.machinery.PathFinder.find_spec(name, path, target)
        if spec is not None and spec.loader is not None:
            spec.loader = importlib.util.LazyLoader(spec.loader)
        return spec


@contextmanager
def left_unrun(names: Iterable[str]) -> Iterator[None]:
    """Inside, the modules ``names`` (full dotted names) are left unrun when imported."""
    finder = _RunOnFirstRead(names)
    sys.meta_path.insert(0, finder)
    try:
        yield
    finally:
        sys.meta_path.remove(finder)


def has_run(name: str) -> bool:
    """Whether the imported module ``name`` has run (a module left unrun has not been read yet)."""
    return type(sys.modules[name]) is types.ModuleType
