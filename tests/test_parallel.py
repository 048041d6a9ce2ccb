"""The local parallel maps: a few heavy batches still use every core; a few long items share big
arrays with forked workers."""

from __future__ import annotations

import os
import threading
import time

import numpy as np
import psutil
import pytest

from ferclean import parallel
from ferclean.parallel import LocalBackend, forked_map, iter_batches


def _pid_and_sum(batch: list[int]) -> tuple[int, int]:
    return os.getpid(), sum(batch)


def test_iter_batches_runs_a_few_batches_in_worker_processes_in_order() -> None:
    batches = [[1, 2], [3], [4, 5, 6]]
    seen: list[tuple[int, int]] = []
    results = list(iter_batches(_pid_and_sum, batches, "sum", backend=LocalBackend(2), sizes=[2, 1, 3],
                                on_progress=lambda stage, done, total: seen.append((done, total))))
    assert [total for _, total in results] == [3, 3, 15]
    # LocalBackend.map would run fewer than 200 items in this process; batches must not.
    assert os.getpid() not in {pid for pid, _ in results}
    assert seen == [(0, 6), (2, 6), (3, 6), (6, 6)]


def test_iter_batches_one_job_or_one_batch_stays_in_process() -> None:
    assert list(iter_batches(_pid_and_sum, [[1], [2]], "sum", jobs=1)) == [(os.getpid(), 1), (os.getpid(), 2)]
    assert list(iter_batches(_pid_and_sum, [[1, 2]], "sum", backend=LocalBackend(2))) == [(os.getpid(), 3)]


def _row_sum(shared: tuple[np.ndarray, threading.Lock], row: int, tick) -> tuple[int, float]:
    array, _ = shared
    tick()
    tick()
    return os.getpid(), float(array[row].sum())


def test_forked_map_workers_inherit_the_shared_data_and_report_ticks() -> None:
    # A lock cannot be pickled: the workers can only have it by inheritance.
    shared = (np.arange(12.0).reshape(3, 4), threading.Lock())
    ticks: list[int] = []
    results = forked_map(_row_sum, shared, [2, 0, 1], jobs=2, on_tick=ticks.append)
    assert [total for _, total in results] == [38.0, 6.0, 22.0]
    assert os.getpid() not in {pid for pid, _ in results}
    assert ticks[-1] == 6 and ticks == sorted(ticks)
    ticks.clear()
    assert forked_map(_row_sum, shared, [1], jobs=1, on_tick=ticks.append) == [(os.getpid(), 22.0)]
    assert ticks == [1, 2]


def _fails_on_one(shared: None, item: int, tick) -> int:
    if item == 1:
        raise ValueError("item 1")
    time.sleep(item)
    return item


def test_forked_map_raises_a_worker_error_and_ends_the_busy_workers() -> None:
    start = time.perf_counter()
    with pytest.raises(ValueError, match="item 1"):
        forked_map(_fails_on_one, None, [60, 1, 2], jobs=2)
    # the worker on the 60-second item was ended, not waited for
    assert time.perf_counter() - start < 30
    _, alive = psutil.wait_procs(psutil.Process().children(), timeout=10)
    assert not alive


@pytest.mark.skipif(parallel._malloc_trim() is None, reason="glibc's malloc_trim only")
def test_release_freed_memory_gives_freed_heap_pages_back() -> None:
    # 100 KB blocks come from the C heap (below malloc's mmap threshold); the last one is kept,
    # so the heap cannot shrink by itself from the top.
    blocks = [np.ones(100_000, dtype=np.uint8) for _ in range(2_000)]
    last = blocks.pop()
    blocks.clear()
    before = psutil.Process().memory_info().rss
    parallel.release_freed_memory()
    assert before - psutil.Process().memory_info().rss > 100 * 2**20
    assert last.sum() == 100_000


@pytest.mark.parametrize(
    "load, own, runnable, busy",
    [
        (11.0, 0.1, 12, True),  # other jobs everywhere
        (11.0, 0.1, None, True),  # no runnable count (not Linux): the load average decides
        (2.6, 0.1, 1, False),  # a job that just ended: the average trails, nothing runs now
        (2.3, 1.9, 3, False),  # this command's own workers made the load
        (1.5, 0.0, 5, False),  # a moment's burst below a quiet average
    ],
)
def test_machine_busy_discounts_this_process_and_a_trailing_load_average(
    monkeypatch: pytest.MonkeyPatch, load: float, own: float, runnable: int | None, busy: bool
) -> None:
    monkeypatch.setattr(os, "getloadavg", lambda: (load, load, load))
    monkeypatch.setattr(parallel, "own_load", lambda: own)
    monkeypatch.setattr(parallel, "runnable_now", lambda: runnable)
    assert parallel.machine_busy(2) is busy


def test_own_load_is_this_process_cpu_rate_weighted_like_the_load_window(monkeypatch: pytest.MonkeyPatch) -> None:
    import math
    import resource

    for span in (6.0, 600.0):  # a command just started, one running for ten minutes
        monkeypatch.setattr(parallel, "_STARTED", time.monotonic() - span)
        usage = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = sum(u.ru_utime + u.ru_stime for u in usage)
        assert parallel.own_load() == pytest.approx(cpu / span * (1.0 - math.exp(-span / 60.0)), rel=0.01)
    count = parallel.runnable_now()
    assert count is None or count >= 1  # this test itself is running
