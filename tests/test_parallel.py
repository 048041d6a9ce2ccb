"""The local parallel map for batches: a few heavy batches still use every core."""

from __future__ import annotations

import os

from ferclean.parallel import LocalBackend, map_batches


def _pid_and_sum(batch: list[int]) -> tuple[int, int]:
    return os.getpid(), sum(batch)


def test_map_batches_runs_a_few_batches_in_worker_processes_in_order() -> None:
    batches = [[1, 2], [3], [4, 5, 6]]
    seen: list[tuple[int, int]] = []
    results = map_batches(_pid_and_sum, batches, "sum", backend=LocalBackend(2), sizes=[2, 1, 3],
                          on_progress=lambda stage, done, total: seen.append((done, total)))
    assert [total for _, total in results] == [3, 3, 15]
    # LocalBackend.map would run fewer than 200 items in this process; batches must not.
    assert os.getpid() not in {pid for pid, _ in results}
    assert seen == [(0, 6), (2, 6), (3, 6), (6, 6)]


def test_map_batches_one_job_or_one_batch_stays_in_process() -> None:
    assert map_batches(_pid_and_sum, [[1], [2]], "sum", jobs=1) == [(os.getpid(), 1), (os.getpid(), 2)]
    assert map_batches(_pid_and_sum, [[1, 2]], "sum", backend=LocalBackend(2)) == [(os.getpid(), 3)]
