"""Terminal output: the shared rich console, progress bars and a parallel map that drives one."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from typing import TypeVar

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

T = TypeVar("T")
R = TypeVar("R")

console = Console()
err_console = Console(stderr=True)


def progress_bar() -> Progress:
    """A progress bar on stderr so that piped stdout stays clean."""
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=err_console,
        transient=False,
    )


@contextmanager
def progress() -> Iterator[Callable[[str, int, int], None]]:
    """An ``on_progress(stage, done, total)`` callback that draws one bar per stage."""
    with progress_bar() as bar:
        tasks: dict[str, int] = {}

        def update(stage: str, done: int, total: int) -> None:
            if stage not in tasks:
                tasks[stage] = bar.add_task(stage, total=total)
            bar.update(tasks[stage], completed=done, total=total)

        yield update


def default_jobs() -> int:
    """Worker processes to use when the user gives no ``--jobs``: every core this process may use."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def parallel_map(fn: Callable[[T], R], items: Sequence[T], description: str, jobs: int | None = None) -> list[R]:
    """``[fn(x) for x in items]`` over ``jobs`` processes, in order, with a progress bar.

    ``fn`` must be a module-level function. Small inputs run in-process: starting workers
    costs more than it saves.
    """
    jobs = jobs or default_jobs()
    results: list[R] = []
    with progress_bar() as bar:
        task = bar.add_task(description, total=len(items))
        if jobs <= 1 or len(items) < 200:
            for item in items:
                results.append(fn(item))
                bar.advance(task)
            return results
        chunksize = max(16, min(512, len(items) // (jobs * 8) or 1))
        with ProcessPoolExecutor(max_workers=jobs) as pool:
            for result in pool.map(fn, items, chunksize=chunksize):
                results.append(result)
                bar.advance(task)
    return results
