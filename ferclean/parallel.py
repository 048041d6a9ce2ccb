"""A parallel map for the core, and the progress-callback type every long step takes.

The core never draws: it calls ``on_progress(stage, done, total)`` and the CLI turns those
calls into rich progress bars (``ferclean.cli.console.progress``).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")

#: ``on_progress(stage, done, total)``: ``done`` of ``total`` steps of ``stage`` are finished.
Progress = Callable[[str, int, int], None]


def no_progress(stage: str, done: int, total: int) -> None:
    """The default callback: report nothing."""


def default_jobs() -> int:
    """Worker processes to use when the user gives no ``jobs``: every core this process may use."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def parallel_map(
    fn: Callable[[T], R],
    items: Sequence[T],
    stage: str,
    jobs: int | None = None,
    on_progress: Progress | None = None,
) -> list[R]:
    """``[fn(x) for x in items]`` over ``jobs`` processes, in order, reporting each item done.

    ``fn`` must be a module-level function. Small inputs run in-process: starting workers
    costs more than it saves.
    """
    report = on_progress or no_progress
    jobs = jobs or default_jobs()
    results: list[R] = []
    report(stage, 0, len(items))
    if jobs <= 1 or len(items) < 200:
        for item in items:
            results.append(fn(item))
            report(stage, len(results), len(items))
        return results
    chunksize = max(16, min(512, len(items) // (jobs * 8) or 1))
    with ProcessPoolExecutor(max_workers=jobs) as pool:
        for result in pool.map(fn, items, chunksize=chunksize):
            results.append(result)
            report(stage, len(results), len(items))
    return results
