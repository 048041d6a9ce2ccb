"""Fault injection: kill -9 and SIGINT at random (seeded) moments, full disks, refused
permissions, two runs on one output, and a symlink out of an output tree.

Each step runs as a user runs it (``python -m ferclean`` in a subprocess) on a small generated
dataset. After every fault the outputs must be absent or byte-identical to an uninterrupted
run's (never half written), a rerun (or ``--resume``) must give exactly that run's files with no
lock or temporary file left, and the inputs' checksums must not change. ``FAULTS`` counts the
faults that hit a running process; the run's summary prints the total (conftest.py), which
docs/reliability.md quotes.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import random
import resource
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from ferclean.cli import main
from ferclean.outputs import _start_time

FERCLEAN = [sys.executable, "-m", "ferclean"]
CLASSES = ("happy", "sad", "surprise", "neutral")

#: command -> (its arguments, the outputs it writes); each reads the one before.
STEPS: dict[str, tuple[list[str], list[str]]] = {
    "scan": (["scan", "ds", "-o", "m.csv", "--jobs", "1"], ["m.csv", "m.json", "m_scan"]),
    "dedupe": (["dedupe", "m.csv", "-o", "d.csv", "--jobs", "1"], ["d.csv", "d.json", "d_dedupe"]),
    "mislabel-review": (
        ["mislabel-review", "d.csv", "-o", "r.csv", "--jobs", "1"], ["r.csv", "r.json", "r_review"],
    ),
}
#: Faults injected per step: (seed, count); the seeds fix when each lands.
PLAN = {"scan": (1, 4), "dedupe": (2, 4), "mislabel-review": (3, 2)}
#: Faults that hit a running process, per test (summed in the report below).
FAULTS: dict[str, int] = {}


def _ferclean(args: list[str], cwd: Path, **kwargs: object) -> subprocess.CompletedProcess:
    return subprocess.run([*FERCLEAN, *args], cwd=cwd, capture_output=True, text=True, timeout=120, **kwargs)


def _files(root: Path, names: list[str]) -> dict[str, str]:
    """sha256 of every file (hidden ones, locks and temporaries included) of the named outputs,
    plus any lock or ferclean temporary file in ``root`` itself."""
    found: dict[str, str] = {}
    paths = [p for n in names for p in ([root / n] if (root / n).is_file() else sorted((root / n).rglob("*")))]
    paths += [p for p in root.iterdir() if p.name.endswith(".lock") or ".ferclean-" in p.name]
    for path in paths:
        if path.is_file():
            found[str(path.relative_to(root))] = hashlib.sha256(path.read_bytes()).hexdigest()
    return found


def _remove(root: Path, names: list[str]) -> None:
    for name in names:
        path = root / name
        if path.is_dir():
            for child in sorted(path.rglob("*"), key=lambda p: len(p.parts), reverse=True):
                child.rmdir() if child.is_dir() and not child.is_symlink() else child.unlink()
            path.rmdir()
        elif path.exists():
            path.unlink()
    for leftover in root.iterdir():
        if leftover.name.endswith(".lock") or ".ferclean-" in leftover.name:
            leftover.unlink()


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """The dataset, every step's uninterrupted outputs (digests) and wall time, and the inputs' digests."""
    from conftest import synthetic_face

    root = tmp_path_factory.mktemp("faults")
    seed = 0
    for split, count in (("train", 12), ("val", 3), ("test", 3)):
        for label in CLASSES:
            for i in range(count):
                path = root / "ds" / split / label / f"{label}_{split}_{i:04d}.png"
                path.parent.mkdir(parents=True, exist_ok=True)
                synthetic_face(seed).save(path)
                seed += 1
    (root / "ds" / "test" / "happy" / "copy.png").write_bytes((root / "ds" / "train" / "happy" / "happy_train_0000.png").read_bytes())
    reference, seconds = {}, {}
    for step, (args, outputs) in STEPS.items():
        started = time.perf_counter()
        done = _ferclean(args, root)
        assert done.returncode == 0, done.stderr
        seconds[step] = time.perf_counter() - started
        reference[step] = _files(root, outputs)
    return {"root": root, "reference": reference, "seconds": seconds, "dataset": _files(root, ["ds"])}


def _inputs_of(step: str) -> list[str]:
    """The earlier steps' outputs, which ``step`` reads: they must never change."""
    names = list(STEPS)
    return [o for s in names[: names.index(step)] for o in STEPS[s][1]]


@pytest.mark.parametrize("step", list(STEPS))
def test_kill_and_interrupt_then_rerun(pipeline: dict, step: str) -> None:
    root, reference = pipeline["root"], pipeline["reference"][step]
    args, outputs = STEPS[step]
    upstream = {s: _files(root, STEPS[s][1]) for s in list(STEPS)[: list(STEPS).index(step)]}
    seed, count = PLAN[step]
    rng = random.Random(seed)
    hits = tries = 0
    while hits < count and tries < 3 * count:  # a fault that lands after the run ended is tried again
        tries += 1
        _remove(root, outputs)
        kind = signal.SIGINT if hits % 2 == 0 else signal.SIGKILL
        started = time.monotonic()
        process = subprocess.Popen([*FERCLEAN, *args], cwd=root, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        # Once its output's lock exists, ferclean is running with its handlers (before that Python
        # may still be starting and die with its own traceback, having written nothing); a quiet
        # machine scans this small set in a few hundredths of a second after that.
        _until(root / (outputs[0] + ".lock"), Path.exists, process, seconds=60, poll=0.002)
        time.sleep(rng.uniform(0, 0.8 * max(0.01, pipeline["seconds"][step] - (time.monotonic() - started))))
        hit = process.poll() is None
        if hit:
            process.send_signal(kind)
        _, stderr = process.communicate(timeout=120)
        left = _files(root, outputs)
        if hit:
            hits += 1
            if kind == signal.SIGINT and process.returncode == 0:  # landed as it exited: nothing to stop
                assert left == reference
            elif kind == signal.SIGINT:
                assert process.returncode == 130, stderr
                assert "Traceback" not in stderr
                assert stderr.strip().splitlines()[-1].startswith("Interrupted: ferclean")
                assert left in ({}, reference), "an interrupt must leave no output or the complete one"
            else:  # kill -9: no handler runs; each file is old or new, never half written
                for name, digest in left.items():
                    if not name.endswith(".lock") and ".ferclean-" not in name:
                        assert reference.get(name) == digest, f"{name} is half written"
        again = _ferclean(args, root)
        assert again.returncode == 0, again.stderr
        assert _files(root, outputs) == reference, "the rerun must give the uninterrupted run's files, nothing else"
        assert _files(root, ["ds"]) == pipeline["dataset"]
        for earlier, digests in upstream.items():
            assert _files(root, STEPS[earlier][1]) == digests, f"{earlier}'s outputs changed"
    FAULTS[f"kill/interrupt {step}"] = hits
    assert hits == count, "the faults should land while the command runs"


def test_an_interrupt_is_not_swallowed_by_a_library_that_catches_keyboardinterrupt() -> None:
    """scikit-learn's perceptrons catch KeyboardInterrupt, warn and return half-trained; the
    CLI's signal must stop the command instead of letting it finish with other results."""
    from sklearn.neural_network import MLPClassifier

    from ferclean.cli import Interrupted

    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(20_000, 64)), rng.integers(0, 5, 20_000)

    def fit_interrupted_by(error: type[BaseException]) -> None:
        def raise_error(signum: int, frame: object) -> None:
            raise error("SIGALRM")

        previous = signal.signal(signal.SIGALRM, raise_error)
        signal.setitimer(signal.ITIMER_REAL, 0.3)
        try:
            MLPClassifier((256,), max_iter=500, random_state=0).fit(x, y)  # many seconds uninterrupted
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, previous)

    with pytest.warns(UserWarning, match="Training interrupted by user"):
        fit_interrupted_by(KeyboardInterrupt)  # swallowed: why Interrupted is no KeyboardInterrupt
    with pytest.raises(Interrupted):
        fit_interrupted_by(Interrupted)


def test_second_run_on_the_same_output_is_refused(pipeline: dict) -> None:
    """A live run holds its outputs: the second is refused with one line; a dead run's lock is taken over."""
    root = pipeline["root"]
    args, outputs = STEPS["mislabel-review"]
    _remove(root, outputs)
    first = subprocess.Popen([*FERCLEAN, *args], cwd=root, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 30
    while not (root / "r.csv.lock").exists() and first.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    # Paused while it holds the lock, so that it is still live whatever the machine's speed.
    first.send_signal(signal.SIGSTOP)
    try:
        second = _ferclean(["scan", "ds", "-o", "r.csv", "--jobs", "1"], root)
    finally:
        first.send_signal(signal.SIGCONT)
    assert first.wait(timeout=120) == 0
    assert second.returncode == 1 and "Traceback" not in second.stderr
    assert "r.csv is being written by another ferclean run" in " ".join(second.stderr.split())
    assert _files(root, outputs) == pipeline["reference"]["mislabel-review"]  # the first run's, untouched, lock gone
    FAULTS["concurrent run"] = 1

    # A lock left by a killed run (its pid is gone) is taken over, with its temporary files.
    args, outputs = STEPS["scan"]
    dead = subprocess.Popen(["true"])
    dead.wait()
    (root / "m.csv.lock").write_text(json.dumps({"pid": dead.pid, "host": socket.gethostname(), "started": "1"}))
    (root / f".m.ferclean-{dead.pid}-abc.csv").write_text("half")
    again = _ferclean(args, root)
    assert again.returncode == 0, again.stderr
    assert "Took over the lock" in " ".join(again.stdout.split())
    assert _files(root, outputs) == pipeline["reference"]["scan"]
    FAULTS["stale lock"] = 1


def test_lock_of_a_live_process_holds(tmp_path: Path, make_dataset) -> None:
    make_dataset(tmp_path / "ds", {"train": {"happy": 2, "sad": 2}})
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        holder = {"pid": sleeper.pid, "host": socket.gethostname(), "started": _start_time(sleeper.pid)}
        (tmp_path / "m.csv.lock").write_text(json.dumps(holder))
        result = CliRunner().invoke(main, ["scan", str(tmp_path / "ds"), "-o", str(tmp_path / "m.csv"), "--jobs", "1"])
        assert result.exit_code == 1 and f"pid {sleeper.pid}" in result.output
        assert not (tmp_path / "m.csv").exists() and (tmp_path / "m.csv.lock").exists()
    finally:
        sleeper.kill()
        sleeper.wait()


def test_full_disk_leaves_earlier_outputs(pipeline: dict) -> None:
    """RLIMIT_FSIZE: the first large write fails; one Error line names the file, nothing changes."""
    root = pipeline["root"]
    before = {s: _files(root, STEPS[s][1]) for s in STEPS}

    def small_files() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (4096, 4096))

    for step in ("scan", "dedupe"):
        done = _ferclean(STEPS[step][0], root, preexec_fn=small_files)
        assert done.returncode == 1, done.stderr
        lines = done.stderr.strip().splitlines()
        assert lines[-1].startswith("Error: Cannot write ") and "File too large" in lines[-1], done.stderr
        assert "Traceback" not in done.stderr
        assert {s: _files(root, STEPS[s][1]) for s in STEPS} == before
        assert _files(root, ["ds"]) == pipeline["dataset"]
    FAULTS["full disk"] = 2


@pytest.mark.parametrize("code", [errno.ENOSPC, errno.EROFS, errno.EACCES])
def test_disk_errors_are_one_line(tmp_path: Path, make_dataset, monkeypatch: pytest.MonkeyPatch, code: int) -> None:
    """A refused rename (read-only file system, no space, permission) anywhere is one line naming the path."""
    dataset = make_dataset(tmp_path / "ds", {"train": {"happy": 2, "sad": 2}})

    def refuse(source: object, target: object) -> None:
        raise OSError(code, os.strerror(code), str(target))

    monkeypatch.setattr(os, "replace", refuse)
    result = CliRunner().invoke(main, ["scan", str(dataset), "-o", str(tmp_path / "m.csv"), "--jobs", "1"])
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert f"Error: Cannot write {tmp_path / 'm.csv'}: {os.strerror(code)}." in result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ds"]  # no temporary file, no lock, no empty folder


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_read_only_folder(tmp_path: Path, make_dataset) -> None:
    dataset = make_dataset(tmp_path / "ds", {"train": {"happy": 2, "sad": 2}})
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    try:
        result = CliRunner().invoke(main, ["scan", str(dataset), "-o", str(locked / "m.csv"), "--jobs", "1"])
        assert result.exit_code == 1 and "Permission denied" in result.output and "Traceback" not in result.output
        assert list(locked.iterdir()) == []
    finally:
        locked.chmod(0o755)


def test_export_refuses_a_symlink_out_of_its_tree(tmp_path: Path, make_dataset) -> None:
    """``export --force`` into a folder holding a symlink to another folder writes nothing through it."""
    dataset = make_dataset(tmp_path / "ds", {"train": {"happy": 2, "sad": 2}})
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "keep.txt").write_text("mine")
    out = tmp_path / "out"
    (out / "train").mkdir(parents=True)
    os.symlink(elsewhere, out / "train" / "happy")
    result = CliRunner().invoke(main, ["export", str(dataset), "--out", str(out), "--force", "--jobs", "1"])
    assert result.exit_code == 1 and "Traceback" not in result.output
    line = " ".join(result.output.split())
    assert f"symlink {out / 'train' / 'happy'} -> {elsewhere}" in line and "leads outside it" in line
    assert sorted(p.name for p in elsewhere.iterdir()) == ["keep.txt"]
    assert not (out / "train" / "sad").exists()  # refused before anything was written
    FAULTS["symlink out of --out"] = 1


def test_report_folder_symlinked_file_is_replaced_not_followed(tmp_path: Path, make_dataset) -> None:
    """A file symlink inside a report folder is replaced by the new file; its target is never written."""
    dataset = make_dataset(tmp_path / "ds", {"train": {"happy": 3, "sad": 3}})
    outside = tmp_path / "precious.csv"
    outside.write_text("do not touch\n")
    report = tmp_path / "rep"
    report.mkdir()
    os.symlink(outside, report / "reasons.csv")
    os.symlink(tmp_path / "nowhere", report / "sub")
    result = CliRunner().invoke(main, ["scan", str(dataset), "-o", str(tmp_path / "m.csv"), "--report-dir", str(report), "--jobs", "1"])
    assert result.exit_code == 0, result.output
    assert outside.read_text() == "do not touch\n"
    assert not (report / "reasons.csv").is_symlink() and "reason" in (report / "reasons.csv").read_text()


def test_hand_edited_manifest_warns_once(pipeline: dict, tmp_path: Path) -> None:
    """The JSON records the CSV's hash: an edited CSV is read, with one warning saying what changed."""
    root = pipeline["root"]
    for name in ("m.csv", "m.json"):
        (tmp_path / name).write_bytes((root / name).read_bytes())
    lines = (tmp_path / "m.csv").read_text().splitlines(keepends=True)
    (tmp_path / "m.csv").write_text("".join(lines[:-2]))
    meta = json.loads((tmp_path / "m.json").read_text())
    assert meta["csv"]["rows"] == len(lines) - 1 and len(meta["csv"]["sha256"]) == 64
    result = CliRunner().invoke(main, ["stratify", str(tmp_path / "m.csv"), "-o", str(tmp_path / "s.csv")])
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    assert text.count("was changed after ferclean wrote it") == 1 and "-2 row(s)" in text
    clean = CliRunner().invoke(main, ["stratify", str(tmp_path / "s.csv"), "-o", str(tmp_path / "t.csv")])
    assert "was changed" not in clean.output


def test_cnn_probe_resumes_after_its_last_epoch_to_the_same_probabilities(tmp_path: Path) -> None:
    """An interrupt after epoch 2 keeps that epoch's state; --resume trains epochs 3 and 4 only and
    gives the uninterrupted probabilities; a checkpoint of other inputs is refused."""
    pytest.importorskip("keras")
    from test_mislabel_probe import stripes, tiny_cnn

    from ferclean.errors import FercleanError
    from ferclean.mislabel.checkpoint import Checkpoint, fingerprint
    from ferclean.mislabel.probe import cnn_probs

    images, labels = stripes()
    whole = cnn_probs(images, labels, 2, 0, tiny_cnn, epochs=4)
    key = fingerprint(images, labels, {"epochs": 4})

    def interrupt_after_two(stage: str, done: int, total: int) -> None:
        if done == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        cnn_probs(images, labels, 2, 0, tiny_cnn, epochs=4, on_progress=interrupt_after_two,
                  checkpoint=Checkpoint(tmp_path, key, resume=False))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["probe-checkpoint.json", "probe-checkpoint.npz"]
    trained: list[int] = []
    resumed = cnn_probs(images, labels, 2, 0, tiny_cnn, epochs=4, on_progress=lambda s, done, t: trained.append(done),
                        checkpoint=Checkpoint(tmp_path, key, resume=True))
    assert trained == [2, 3, 4]  # starts after epoch 2
    np.testing.assert_allclose(resumed, whole, atol=1e-6)
    with pytest.raises(FercleanError, match="other images, labels or options"):
        Checkpoint(tmp_path, fingerprint(images, labels, {"epochs": 5}), resume=True)
    FAULTS["cnn probe interrupted after an epoch"] = 1


def test_compact_cnn_folds_resume_to_the_same_probabilities(tmp_path: Path) -> None:
    """The ensemble's per-fold CNN: an interrupt after the first fold keeps it; --resume trains only
    the rest and gives the uninterrupted probabilities exactly."""
    pytest.importorskip("keras")
    from test_mislabel_probe import RecordingCnn, stripes

    from ferclean.mislabel.checkpoint import Checkpoint, fingerprint
    from ferclean.mislabel.probe import compact_probs

    images, labels = stripes()
    folds = (np.arange(60) // 7) % 3
    whole = compact_probs(images, labels, folds, 2, 0, RecordingCnn, epochs=4)
    key = fingerprint(images, labels, {"epochs": 4, "folds": folds.tolist()})
    built = []

    def interrupted(*args: object) -> RecordingCnn:
        if len(built) == 1:
            raise KeyboardInterrupt
        built.append(RecordingCnn(*args))
        return built[-1]

    with pytest.raises(KeyboardInterrupt):
        compact_probs(images, labels, folds, 2, 0, interrupted, epochs=4, checkpoint=Checkpoint(tmp_path, key, resume=False))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["probe-checkpoint.json", "probe-checkpoint.npz"]
    resumed_builds = []

    def counting(*args: object) -> RecordingCnn:
        resumed_builds.append(RecordingCnn(*args))
        return resumed_builds[-1]

    resumed = compact_probs(images, labels, folds, 2, 0, counting, epochs=4, checkpoint=Checkpoint(tmp_path, key, resume=True))
    np.testing.assert_array_equal(resumed, whole)
    assert len(resumed_builds) == 2  # folds 1 and 2 only
    FAULTS["compact cnn interrupted after a fold"] = 1


def _until(path: Path, ready: object, process: subprocess.Popen, seconds: float = 300, poll: float = 0.05) -> None:
    deadline = time.monotonic() + seconds
    while not ready(path) and process.poll() is None and time.monotonic() < deadline:
        time.sleep(poll)


@pytest.mark.slow
def test_train_killed_then_resumed_gives_the_same_model(pipeline: dict) -> None:
    """kill -9 after epoch 2 of 4, then --resume: the same history, model and test predictions
    (CPU, deterministic kernels: byte-identical predictions.csv)."""
    pytest.importorskip("tensorflow")
    import pandas as pd

    root = pipeline["root"]
    tiny = ["--arch", "bpp", "--filters", "4,8", "--dropouts", "0.1,0.1", "--dense-units", "8", "--batch-size", "16",
            "--epochs", "4", "--runs-dir", "runs", "--jobs", "1", "-m", "ds"]
    whole = _ferclean(["train", *tiny, "--name", "whole"], root)
    assert whole.returncode == 0, whole.stderr
    process = subprocess.Popen([*FERCLEAN, "train", *tiny, "--name", "cut"], cwd=root, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    history = root / "runs" / "cut-1" / "history.csv"
    _until(history, lambda p: p.is_file() and len(pd.read_csv(p)) >= 2, process)
    process.kill()
    process.wait()
    assert len(pd.read_csv(history)) in (2, 3)
    resumed = _ferclean(["train", "--resume", "runs/cut-1"], root)
    assert resumed.returncode == 0, resumed.stderr
    assert "Took over the lock" in " ".join(resumed.stdout.split())
    a, b = (pd.read_csv(root / "runs" / f"{n}-1" / "history.csv") for n in ("whole", "cut"))
    same = [c for c in a.columns if c not in ("epoch_time_s", "steps_per_s", "images_per_s")]
    pd.testing.assert_frame_equal(a[same], b[same])
    assert (root / "runs/whole-1/predictions.csv").read_bytes() == (root / "runs/cut-1/predictions.csv").read_bytes()
    assert not list((root / "runs").glob("*.lock")) and not list((root / "runs").rglob(".*ferclean-*"))
    FAULTS["train killed"] = 1


@pytest.mark.slow
def test_cnn_review_interrupted_then_resumed(pipeline: dict) -> None:
    """SIGINT once the CNN's first epoch is checkpointed: one line, exit 130, the report as before;
    --resume continues after the checkpointed epoch and writes the uninterrupted run's probabilities."""
    pytest.importorskip("tensorflow")
    root = pipeline["root"]
    # Enough epochs that the run is still training when the signal lands (one batch per epoch here).
    args = ["mislabel-review", "d.csv", "--probe", "cnn", "--epochs", "150", "--jobs", "1"]
    whole = _ferclean([*args, "-o", "c1.csv"], root)
    assert whole.returncode == 0, whole.stderr
    process = subprocess.Popen([*FERCLEAN, *args, "-o", "c2.csv"], cwd=root, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    _until(root / "c2_review", lambda p: (p / "probe-checkpoint.npz").is_file(), process)
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 130, stderr
    assert stderr.strip().splitlines()[-1].endswith("resume with the same command and --resume")
    assert not (root / "c2.csv").exists() and not (root / "c2_review" / "probs.npy").exists()
    resumed = _ferclean([*args, "-o", "c2.csv", "--resume"], root)
    assert resumed.returncode == 0, resumed.stderr
    first, second = (np.load(root / f"c{i}_review" / "probs.npy") for i in (1, 2))
    np.testing.assert_allclose(first, second, atol=1e-6)
    assert sorted(p.name for p in (root / "c2_review").iterdir()) == sorted(p.name for p in (root / "c1_review").iterdir())
    FAULTS["cnn review interrupted"] = 1
