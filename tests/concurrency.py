"""Running the same work from many threads at once, each with its own app context and session
(so its own database connection and transaction), as concurrent requests would."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from flask import Flask

from leadflow.extensions import db

T = TypeVar("T")


def run_together(app: Flask, count: int, work: Callable[[int], T]) -> list[T]:
    """``work(i)`` for i in range(count), in ``count`` threads released at the same moment;
    returns the results in order (an exception in a thread is raised here).

    Commit what the test made first: the threads see only committed rows."""
    barrier = threading.Barrier(count)

    def run(i: int) -> T:
        with app.app_context():
            try:
                barrier.wait(timeout=30)
                return work(i)
            finally:
                db.session.remove()

    with ThreadPoolExecutor(max_workers=count) as pool:
        return list(pool.map(run, range(count)))
