"""Terminal output: the shared rich console, and progress bars fed by the core's callbacks."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from ferclean.parallel import Progress as ProgressCallback

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
def progress() -> Iterator[ProgressCallback]:
    """An ``on_progress(stage, done, total)`` callback that draws one bar per stage."""
    with progress_bar() as bar:
        tasks: dict[str, int] = {}

        def update(stage: str, done: int, total: int) -> None:
            if stage not in tasks:
                tasks[stage] = bar.add_task(stage, total=total)
            bar.update(tasks[stage], completed=done, total=total)

        yield update
