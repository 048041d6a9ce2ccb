"""The Dask backend: same results as the local one, and one-line errors when Dask cannot run.

The cluster is a 2-worker ``LocalCluster`` whose workers are threads of this process
(``processes=False``) listening on TCP, so the tests exercise ``--scheduler`` joining a
running cluster without paying for process start-up on a small machine.
"""

from __future__ import annotations

import os
import shutil
import socket
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from PIL import Image

distributed = pytest.importorskip("distributed")
import dask  # noqa: E402

from test_affectnet_merge import _merge, affectnet, target  # noqa: E402,F401 - fixtures reused

import ferclean.parallel as parallel  # noqa: E402
from ferclean.cli import main  # noqa: E402
from ferclean.dedupe import find_duplicates  # noqa: E402
from ferclean.errors import FercleanError  # noqa: E402
from ferclean.manifest import read_manifest  # noqa: E402
from ferclean.mislabel.features import load_images  # noqa: E402
from ferclean.mislabel.pipeline import review  # noqa: E402
from ferclean.parallel import DaskBackend, LocalBackend, parallel_map, partition_size  # noqa: E402
from ferclean.scan import scan_dataset  # noqa: E402


@pytest.fixture(scope="module")
def scheduler() -> str:
    """The TCP address of a running 2-worker cluster (threads of this process)."""
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=False, protocol="tcp", dashboard_address=":0"
    ) as cluster:
        yield cluster.scheduler_address


@pytest.fixture
def messy(tmp_path: Path, make_dataset) -> Path:
    """A dataset with an exact copy across splits, a mirrored copy, and an unreadable file."""
    root = make_dataset(tmp_path / "data", {"train": {"happy": 40, "sad": 40}, "test": {"happy": 10, "sad": 10}})
    source = root / "train" / "happy" / "happy_train_0003.png"
    shutil.copy(source, root / "test" / "happy" / "copy_of_train_3.png")
    Image.open(source).transpose(Image.Transpose.FLIP_LEFT_RIGHT).save(root / "train" / "sad" / "mirror.png")
    (root / "test" / "sad" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    return root


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_partitions_keep_order_and_report_every_item(scheduler: str) -> None:
    calls: list[tuple[str, int, int]] = []
    items = list(range(700))
    with DaskBackend(scheduler=scheduler) as backend:
        out = parallel_map(abs, [-i for i in items], "Negating", on_progress=lambda *c: calls.append(c), backend=backend)
    assert out == items
    done = [d for _, d, _ in calls]
    assert done[0] == 0 and done[-1] == 700 and done == sorted(done) and len(done) > 2
    assert {s for s, _, _ in calls} == {"Negating"} and {t for _, _, t in calls} == {700}


def test_partition_size_balances_threads_within_bounds() -> None:
    assert partition_size(1_000_000, 4) == 1024
    assert partition_size(100, 2) == 32
    assert partition_size(20_000, 8) == 313


def test_scan_and_dedupe_on_dask_match_the_local_backend(messy: Path, scheduler: str) -> None:
    local, _ = scan_dataset(messy, backend=LocalBackend(jobs=1))
    with DaskBackend(scheduler=scheduler) as backend:
        remote, _ = scan_dataset(messy, backend=backend)
        deduped = find_duplicates(remote.with_frame(remote.frame.assign(phash="")), policy="keep-one", backend=backend)
    pd.testing.assert_frame_equal(local.frame, remote.frame)
    assert (local.frame["status"] == "drop").sum() == 1  # the broken file is reported, not lost
    reference = find_duplicates(local, policy="keep-one")
    pd.testing.assert_frame_equal(reference.manifest.frame, deduped.manifest.frame)
    pd.testing.assert_frame_equal(reference.pairs, deduped.pairs)
    assert deduped.manifest.frame["group"].value_counts().max() == 3  # original, copy and mirror


def test_embedded_cluster_loads_probe_images_like_local(messy: Path) -> None:
    paths = sorted(messy.rglob("*.png"))
    with DaskBackend(workers=2, processes=False) as backend:
        images, ok = load_images(paths, backend=backend)
    expected, expected_ok = load_images(paths, jobs=1)
    np.testing.assert_array_equal(images, expected)
    np.testing.assert_array_equal(ok, expected_ok)
    assert (~ok).sum() == 1


def test_mislabel_review_on_dask_matches_local(messy: Path, scheduler: str) -> None:
    manifest, _ = scan_dataset(messy, jobs=1)
    local = review(manifest, jobs=1)
    with DaskBackend(scheduler=scheduler) as backend:
        remote = review(manifest, backend=backend)
    # Workers may split BLAS work differently from this process: equal to float rounding, same flags.
    np.testing.assert_allclose(local.probs, remote.probs, atol=1e-6)
    pd.testing.assert_frame_equal(local.manifest.frame, remote.manifest.frame)
    assert len(remote.probs) == (manifest.frame["status"] != "drop").sum()  # scan's review rows are probed too


def test_cli_scan_with_scheduler_writes_the_local_manifest(tmp_path: Path, messy: Path, scheduler: str) -> None:
    runner = CliRunner()
    local = runner.invoke(main, ["scan", str(messy), "-o", str(tmp_path / "local.csv"), "-j", "1"])
    dask = runner.invoke(main, ["scan", str(messy), "-o", str(tmp_path / "dask.csv"), "--backend", "dask", "--scheduler", scheduler])
    assert local.exit_code == 0 and dask.exit_code == 0, dask.output
    assert (tmp_path / "local.csv").read_bytes() == (tmp_path / "dask.csv").read_bytes()
    out = tmp_path / "dedupe.csv"
    deduped = runner.invoke(main, ["dedupe", str(messy), "-o", str(out), "--policy", "keep-one", "--backend", "dask", "--scheduler", scheduler])
    assert deduped.exit_code == 0, deduped.output
    assert read_manifest(out).frame["group"].value_counts().max() == 3


def test_merge_affectnet_converts_faces_on_dask_like_local(tmp_path: Path, target: Path, affectnet: Path, scheduler: str) -> None:  # noqa: F811
    local, local_out, local_manifest = _merge(tmp_path, affectnet, target, "local", "-j", "1", "--check-labels")
    dask, dask_out, dask_manifest = _merge(tmp_path, affectnet, target, "dask", "--check-labels", "--backend", "dask", "--scheduler", scheduler)
    assert local.exit_code == 0 and dask.exit_code == 0, dask.output
    columns = ["split", "label", "status", "source", "sha256", "phash"]
    pd.testing.assert_frame_equal(read_manifest(local_manifest).frame[columns], read_manifest(dask_manifest).frame[columns])
    faces = sorted(p.name for p in local_out.iterdir())
    assert faces and faces == sorted(p.name for p in dask_out.iterdir())
    assert all((local_out / f).read_bytes() == (dask_out / f).read_bytes() for f in faces)


def test_missing_extra_is_one_line_naming_it(tmp_path: Path, messy: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real = parallel.importlib.util.find_spec
    monkeypatch.setattr(parallel.importlib.util, "find_spec", lambda name, *a: None if name == "distributed" else real(name, *a))
    out = tmp_path / "m.csv"
    result = CliRunner().invoke(main, ["scan", str(messy), "-o", str(out), "--backend", "dask"])
    assert result.exit_code == 1
    assert result.output.strip().splitlines() == ["Error: backend 'dask' needs Dask's distributed scheduler; install it with: pip install 'ferclean[dask]'."]
    assert not out.exists()


def test_unreachable_scheduler_is_one_line_and_writes_nothing(tmp_path: Path, messy: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(parallel, "CONNECT_TIMEOUT", 1.0)
    address = f"tcp://127.0.0.1:{_free_port()}"
    out = tmp_path / "m.csv"
    result = CliRunner().invoke(main, ["scan", str(messy), "-o", str(out), "--backend", "dask", "--scheduler", address])
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    assert f"Could not reach the Dask scheduler at scheduler={address} within 1 s" in result.output.strip().splitlines()[-1]
    assert not out.exists() and not out.with_suffix(".json").exists()


@pytest.mark.parametrize(
    ("args", "flag"),
    [
        (["--workers", "2"], "--workers needs --backend dask"),
        (["--backend", "dask", "--workers", "2", "--scheduler", "tcp://x:1"], "--workers sizes"),
        (["--backend", "dask", "--jobs", "2"], "with --backend dask use --workers"),
    ],
)
def test_backend_options_are_checked(tmp_path: Path, messy: Path, args: list[str], flag: str) -> None:
    result = CliRunner().invoke(main, ["scan", str(messy), "-o", str(tmp_path / "m.csv"), *args])
    assert result.exit_code == 2 and flag in result.output


@pytest.mark.slow
def test_a_worker_that_dies_is_one_clear_error() -> None:
    """A worker process killed mid-task (here it exits) ends the run with a FercleanError."""
    with dask.config.set({"distributed.scheduler.allowed-failures": 0}):
        with DaskBackend(workers=1) as backend, pytest.raises(FercleanError, match="A Dask worker died.*'Dying'.*no manifest was written"):
            parallel_map(os._exit, [3] * 40, "Dying", backend=backend)
