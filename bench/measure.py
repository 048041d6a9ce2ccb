"""Run one ``ferclean`` command as a user would, in a fresh process, and measure it (for the benches)."""

from __future__ import annotations

import os
import resource
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import psutil


@dataclass(frozen=True)
class Run:
    """Wall and CPU seconds (the whole process tree's), peak resident bytes of the tree (0 unless
    sampled; proportional set sizes, so that pages a forked worker shares with its parent count
    once), and what the command printed (its progress bars' last state on stderr)."""

    wall: float
    cpu: float
    peak: int
    stdout: str
    stderr: str


def _resident(process: psutil.Process) -> int:
    """A process's proportional set size (Linux), else its resident set size."""
    try:
        return process.memory_full_info().pss
    except (AttributeError, psutil.AccessDenied):
        return process.memory_info().rss


def run_ferclean(*args: str | Path, sample_memory: bool = False, columns: int | None = None) -> Run:
    """``python -m ferclean ARGS``; stops the bench with the command's output if it fails.

    ``sample_memory`` reads the memory of the process and its children every 0.1 s (their
    proportional set sizes where the system gives them: resident sizes would count each page a
    forked worker shares with its parent twice);
    ``columns`` sets the terminal width the command's tables are printed for (for benches that
    read them).
    """
    env = {**os.environ, "COLUMNS": str(columns)} if columns else None
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    # Files, not pipes: a child that fills a pipe nobody reads while memory is sampled would block.
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        process = psutil.Popen([sys.executable, "-m", "ferclean", *map(str, args)], stdout=out, stderr=err, text=True,
                                env=env)
        peak = 0
        while sample_memory and process.poll() is None:
            try:
                tree = [process, *process.children(recursive=True)]
                peak = max(peak, sum(_resident(p) for p in tree if p.is_running()))
            except psutil.Error:
                pass  # a child ended between the listing and the reading
            time.sleep(0.1)
        process.wait()
        wall = time.perf_counter() - start
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read(), err.read()
    if process.returncode != 0:
        sys.exit(f"ferclean {args[0]} failed:\n{stdout[-3000:]}\n{stderr[-3000:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return Run(wall, cpu, peak, stdout, stderr)
