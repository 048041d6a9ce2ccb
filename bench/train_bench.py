"""Training that pays off on a CPU: ``compact`` against ``bpp`` in the same wall-clock budget.

Run by hand (one command; about 2 x ``--max-minutes`` plus the FER2013 scan):
    .venv/bin/python bench/train_bench.py                 # the issue's figures: 45 minutes each
    .venv/bin/python bench/train_bench.py --quick         # mechanics only: 2,000 images, 5 minutes each
    .venv/bin/python bench/train_bench.py --candidates    # seconds/epoch of candidate architectures
(``--manifest manifests/fer2013.csv`` reuses a ``ferclean scan`` of FER2013 instead of scanning;
``--runs-dir DIR --reuse`` keeps an arch already trained there by an earlier bench, so the two
45-minute trainings can run at different times and still be reported, and plotted, together.)

It scans FER2013 (original splits: train, validation -> val, test; 7 classes), then trains each
``--archs`` with ``start_run`` exactly as ``ferclean train --max-minutes N`` does, and prints per
arch the epochs the plan chose and ran, seconds per epoch, training images/s, the wall time
against the budget, and test accuracy and macro-F1; then the compact/bpp accuracy ratio and the
target (>= 67 %, goal 70 %). ``accuracy_vs_minutes.png`` plots validation accuracy against
wall-clock minutes for both runs (test accuracy as a star at the end).
``--candidates`` times the train step alone (one in-memory batch repeated, so no input cost) of
the compact variants that were considered and of bpp, and prints images/s, seconds per FER2013
epoch, CPU seconds per step and the load average: on a shared machine compare CPU seconds.
On a GPU the runs use mixed precision and XLA, as ``ferclean train`` does.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import pandas as pd
from rich.table import Table

from ferclean.cli.console import console
from ferclean.errors import FercleanError
from ferclean.manifest import Manifest, read_manifest, write_manifest
from ferclean.scan import scan_dataset

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "fer2013"
FER_TRAIN_IMAGES = 28709

#: compact variants measured before choosing the default (None: the shipped default)
CANDIDATES: dict[str, dict[str, Any]] = {
    "floor: stem 32,32, plain separable 64/128/256": {"stem_filters": (32, 32), "residual": False},
    "stem 32,32, residual separable 64/128/256": {"stem_filters": (32, 32)},
    "compact (default): stem 32, residual 64/128/256": {},
    "stem 32, residual 64/128/256/512": {"filters": (64, 128, 256, 512), "dropouts": (0.0,)},
    "stem 32, residual 96/192/384": {"filters": (96, 192, 384)},
    "mini-Xception-like: stem 8,8, residual 16/32/64/128": {"stem_filters": (8, 8), "filters": (16, 32, 64, 128), "dropouts": (0.0,)},
}


def limit_rows(manifest: Manifest, limit: int | None, seed: int = 0) -> Manifest:
    """At most ``limit`` train rows and ``limit / 8`` val and test rows, each split class-stratified."""
    if not limit:
        return manifest
    frame = manifest.frame
    parts = []
    for split, cap in (("train", limit), ("val", max(limit // 8, 1)), ("test", max(limit // 8, 1))):
        rows = frame[frame["split"] == split]
        share = min(1.0, cap / max(len(rows), 1))
        parts.append(rows.groupby("label", group_keys=False).sample(frac=share, random_state=seed))
    return manifest.with_frame(pd.concat(parts).sort_index().reset_index(drop=True))


def step_rate(config, num_classes: int, steps: int) -> dict[str, float]:  # noqa: ANN001 - TrainConfig
    """Images/s, seconds per FER2013 epoch and CPU seconds per step of the train step alone."""
    import keras
    import numpy as np
    import tensorflow as tf

    from ferclean_train.models import build_model, compile_model
    from ferclean_train.fit import network_kwargs, setup_device

    setup_device(config)
    model = build_model(config.arch, num_classes, config.image_size, **network_kwargs(config))
    compile_model(model, config.arch, jit_compile=bool(config.xla), total_steps=steps + 5, **config.compile_kwargs())
    rng = np.random.default_rng(0)
    x = rng.random((config.batch_size, config.image_size, config.image_size, 1), dtype=np.float32)
    y = keras.utils.to_categorical(rng.integers(0, num_classes, config.batch_size), num_classes)
    batch = tf.data.Dataset.from_tensors((x, y))
    model.fit(batch.repeat(5), epochs=1, shuffle=False, verbose=0)  # trace outside the timing
    wall, cpu = time.perf_counter(), time.process_time()
    model.fit(batch.repeat(steps), epochs=1, shuffle=False, verbose=0)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    images_per_s = steps * config.batch_size / wall
    return {
        "params": model.count_params(),
        "images_per_s": round(images_per_s, 1),
        "fer_epoch_s": round(FER_TRAIN_IMAGES / images_per_s, 1),
        "cpu_s_per_step": round(cpu / steps, 4),
        "load_1min": round(os.getloadavg()[0], 2),
    }


def candidates(args: argparse.Namespace) -> None:
    from ferclean_train.config import TrainConfig
    from ferclean_train.fit import gpu_names

    gpu = bool(gpu_names())
    table = Table(title=f"Train step alone, {args.image_size} px, batch {args.batch_size}, {args.steps} steps")
    for column in ("candidate", "params", "images/s", "s / FER epoch", "CPU s / step", "load"):
        table.add_column(column, justify="left" if column == "candidate" else "right")
    rows = [(name, TrainConfig(arch="compact", **hparams)) for name, hparams in CANDIDATES.items()]
    rows.append(("bpp", TrainConfig(arch="bpp")))
    figures = {}
    for name, config in rows:
        config = replace(config, batch_size=args.batch_size, image_size=args.image_size).resolved(gpu=gpu)
        figures[name] = step_rate(config, 7, args.steps)
        f = figures[name]
        table.add_row(name, f"{f['params']:,}", str(f["images_per_s"]), str(f["fer_epoch_s"]), str(f["cpu_s_per_step"]), str(f["load_1min"]))
        console.print(f"{name}: {f}")
    console.print(table)


def budget_run(manifest: Manifest, arch: str, args: argparse.Namespace, runs_dir: Path, gpu: bool) -> tuple[dict, pd.DataFrame, float]:
    """One ``start_run`` under ``--max-minutes``; its details, its accuracy-vs-minutes curve and its wall time."""
    from ferclean_train.config import TrainConfig
    from ferclean_train.runs import new_run_dir
    from ferclean_train.fit import start_run

    config = TrainConfig(arch=arch, max_minutes=args.max_minutes, epochs=args.epochs, batch_size=args.batch_size,
                         image_size=args.image_size).resolved(gpu=gpu)
    run_dir = new_run_dir(runs_dir, f"bench-{arch}")
    source = run_dir.parent / f"{run_dir.name}-source.csv"
    write_manifest(manifest, source)
    started = time.perf_counter()
    details = start_run(manifest, source, config, run_dir, f"bench/train_bench.py --max-minutes {args.max_minutes:g}")
    wall = time.perf_counter() - started
    return details, accuracy_curve(details, pd.read_csv(run_dir / "history.csv"), wall), wall


def reused_run(runs_dir: Path, arch: str) -> tuple[dict, pd.DataFrame, float] | None:
    """A finished ``bench-ARCH-1`` run of an earlier bench in ``runs_dir`` (``--reuse``), as budget_run returns it."""
    earlier = runs_dir / "bench.json"
    run_dir = runs_dir / f"bench-{arch}-1"
    if not earlier.is_file() or not (run_dir / "model-details.json").is_file():
        return None
    wall = json.loads(earlier.read_text()).get(arch, {}).get("wall_s")
    if wall is None:
        return None
    details = json.loads((run_dir / "model-details.json").read_text())
    return details, accuracy_curve(details, pd.read_csv(run_dir / "history.csv"), wall), wall


def accuracy_curve(details: dict, history: pd.DataFrame, wall: float) -> pd.DataFrame:
    """Validation accuracy against wall minutes since the run started, with its final test accuracy."""
    curve = pd.DataFrame({
        "minutes": (details["budget"]["spent_before_s"] + history["epoch_time_s"].cumsum()) / 60,
        "val_accuracy": history["val_accuracy"],
    })
    curve["test_accuracy"] = details["test"]["accuracy"]
    curve["finished_minutes"] = wall / 60
    return curve


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="FER2013 folder (<split>/<class>/*.png).")
    parser.add_argument("--manifest", type=Path, default=None, help="A `ferclean scan` manifest of --data, to skip the scan.")
    parser.add_argument("--max-minutes", type=float, default=None, help="Budget per arch [default: 45; --quick: 5].")
    parser.add_argument("--archs", default="compact,bpp", help="Comma-separated archs to train in the same budget.")
    parser.add_argument("--quick", action="store_true", help="Check the mechanics: 2,000 train images, 5 minutes each.")
    parser.add_argument("--limit", type=int, default=None, help="Train images to keep (val/test: limit/8).")
    parser.add_argument("--epochs", type=int, default=200, help="Cap on the epochs the budget may plan.")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--image-size", type=int, default=48)
    parser.add_argument("--candidates", action="store_true", help="Only time the train step of candidate architectures.")
    parser.add_argument("--steps", type=int, default=200, help="Steps timed per candidate.")
    parser.add_argument("--runs-dir", type=Path, default=None, help="Where the run folders go [default: a temp folder].")
    parser.add_argument("--jobs", type=int, default=None)
    parser.add_argument("--reuse", action="store_true",
                        help="Keep an arch's finished run from an earlier bench in --runs-dir instead of training it again.")
    args = parser.parse_args()
    if args.candidates:
        candidates(args)
        return
    if args.max_minutes is None:
        args.max_minutes = 5.0 if args.quick else 45.0
    if args.quick and args.limit is None:
        args.limit = 2000

    from ferclean.render.plots import plot_accuracy_vs_minutes
    from ferclean_train.fit import gpu_names

    gpus = gpu_names()
    start = time.perf_counter()
    manifest = read_manifest(args.manifest) if args.manifest else scan_dataset(args.data, [], "phash", args.jobs)[0]
    scan_s = time.perf_counter() - start
    manifest = limit_rows(manifest, args.limit)
    runs_dir = args.runs_dir or Path(tempfile.mkdtemp(prefix="train_bench-"))
    runs_dir.mkdir(parents=True, exist_ok=True)

    table = Table(title=f"FER2013, {args.max_minutes:g} minutes per arch on {gpus[0] if gpus else 'CPU'} (scan {scan_s:.0f} s)")
    for column in ("arch", "epochs planned/run", "s / epoch", "train images/s", "wall min", "test accuracy", "macro-F1"):
        table.add_column(column, justify="left" if column == "arch" else "right")
    curves, figures = {}, {}
    for arch in args.archs.split(","):
        try:
            done = reused_run(runs_dir, arch) if args.reuse else None
            details, curve, wall = done or budget_run(manifest, arch, args, runs_dir, bool(gpus))
        except FercleanError as exc:  # e.g. not one epoch fits the budget
            table.add_row(arch, "-", "-", "-", "-", "-", "-")
            console.print(f"[yellow]{arch}: {exc}")
            figures[arch] = {"error": str(exc)}
            continue
        b, t, test = details["budget"], details["training"], details["test"]
        curves[arch] = curve
        figures[arch] = {"budget": b, "training": t, "test": test, "wall_s": round(wall, 1), "images": details["manifest"]["images"]}
        table.add_row(arch, f"{b['epochs']}/{b['epochs_run']}", f"{b['seconds_per_epoch']:.1f}", f"{t['train_images_per_s']:.0f}",
                      f"{wall / 60:.1f}", f"{test['accuracy']:.2%}", f"{test['macro_f1']:.3f}")
    plot = plot_accuracy_vs_minutes(curves, runs_dir / "accuracy_vs_minutes.png", target=0.67)
    console.print(table)
    if all("test" in figures.get(arch, {}) for arch in ("compact", "bpp")):
        ratio = figures["compact"]["test"]["accuracy"] / figures["bpp"]["test"]["accuracy"]
        figures["compact_over_bpp_accuracy"] = round(ratio, 3)
        console.print(f"compact / bpp test accuracy in the same budget: {ratio:.2f}x")
    if "test" in figures.get("compact", {}):
        console.print(f"Target: compact >= 67 % (goal 70 %) in 45 minutes: got {figures['compact']['test']['accuracy']:.1%}"
                      f" in {args.max_minutes:g} minutes{' (--quick: mechanics only)' if args.quick else ''}.")
    (runs_dir / "bench.json").write_text(json.dumps({"args": {k: str(v) for k, v in vars(args).items()}, **figures}, indent=2) + "\n")
    console.print(f"Wrote {plot} and {runs_dir / 'bench.json'}")


if __name__ == "__main__":
    main()
