"""Accuracy and speed of ``ferclean train`` on FER2013: the issue's 70 % and 5 s/epoch targets.

Run by hand: ``.venv/bin/python bench/train_bench.py [--epochs 60] [--limit N] [--arch bpp]``.
It scans FER2013 (original splits, 7 classes), then measures, in one process:
- input pipeline only: steps/s of the cached, shuffled, batched train split with no model
  (first pass decodes and fills the cache; second pass is what every later epoch costs);
- model only: steps/s of the train step on one batch held in memory (no input cost);
- the full run (``start_run``, exactly what ``ferclean train`` does): epochs, best epoch,
  wall time, median steps/s, and the test-split accuracy and macro-F1.
The pipeline is not the bottleneck when its cached steps/s is well above the model's.
``--limit N`` keeps a class-stratified N train images (and N/8 val and test) for a short CPU run.
On a GPU the run uses mixed precision and XLA, as ``ferclean train`` does.
"""

from __future__ import annotations

import argparse
import json
import math
import tempfile
import time
from pathlib import Path

import pandas as pd
from rich.table import Table

from ferclean.cli.console import console
from ferclean.manifest import Manifest, write_manifest
from ferclean.scan import scan_dataset

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "fer2013"


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


def pipeline_steps_per_s(train: pd.DataFrame, classes: list[str], image_size: int, batch_size: int) -> tuple[float, float]:
    """(first pass, cached pass) steps/s of the train pipeline alone."""
    from ferclean_train.data import frame_dataset

    ds = frame_dataset(train, classes, image_size, batch_size, shuffle=True, seed=0)
    rates = []
    for _ in range(2):
        start, steps = time.perf_counter(), 0
        for _batch in ds:
            steps += 1
        rates.append(steps / (time.perf_counter() - start))
    return rates[0], rates[1]


def model_steps_per_s(config, classes: list[str], steps: int) -> float:  # noqa: ANN001 - TrainConfig
    """Train-step rate on one in-memory batch repeated: the model's cost with free input."""
    import keras
    import numpy as np
    import tensorflow as tf

    from ferclean_train.models import build_model, compile_model
    from ferclean_train.fit import network_kwargs, setup_device

    setup_device(config)
    model = build_model(config.arch, len(classes), config.image_size, **network_kwargs(config))
    compile_model(model, config.arch, jit_compile=bool(config.xla), **config.compile_kwargs())
    rng = np.random.default_rng(0)
    x = rng.random((config.batch_size, config.image_size, config.image_size, 1), dtype=np.float32)
    y = keras.utils.to_categorical(rng.integers(0, len(classes), config.batch_size), len(classes))
    batch = tf.data.Dataset.from_tensors((x, y))
    model.fit(batch.repeat(2), epochs=1, shuffle=False, verbose=0)  # trace and compile outside the timing
    start = time.perf_counter()
    model.fit(batch.repeat(steps), epochs=1, shuffle=False, verbose=0)
    return steps / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="FER2013 folder (<split>/<class>/*.png).")
    parser.add_argument("--arch", default="bpp")
    parser.add_argument("--epochs", type=int, default=60)
    parser.add_argument("--limit", type=int, default=None, help="Train images to keep (val/test: limit/8).")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--image-size", type=int, default=48)
    parser.add_argument("--model-steps", type=int, default=50, help="Steps timed for the model-only rate.")
    parser.add_argument("--runs-dir", type=Path, default=None, help="Where the run folder goes [default: a temp folder].")
    parser.add_argument("--jobs", type=int, default=None)
    args = parser.parse_args()

    from ferclean_train import data
    from ferclean_train.config import TrainConfig
    from ferclean_train.runs import new_run_dir
    from ferclean_train.fit import gpu_names, start_run

    gpus = gpu_names()
    start = time.perf_counter()
    manifest, _ = scan_dataset(args.data, [], "phash", args.jobs)
    scan_s = time.perf_counter() - start
    manifest = limit_rows(manifest, args.limit)
    config = TrainConfig(arch=args.arch, epochs=args.epochs, batch_size=args.batch_size, image_size=args.image_size).resolved(
        gpu=bool(gpus)
    )
    rows = data.labelled_rows(manifest)
    classes = data.manifest_classes(rows)
    train, _, _ = data.train_val(rows, config.val_fraction, config.seed)
    steps = math.ceil(len(train) / config.batch_size)

    first_rate, cached_rate = pipeline_steps_per_s(train, classes, config.image_size, config.batch_size)
    model_rate = model_steps_per_s(config, classes, args.model_steps)

    runs_dir = args.runs_dir or Path(tempfile.mkdtemp(prefix="train_bench-"))
    run_dir = new_run_dir(runs_dir, f"bench-{args.arch}")
    source = run_dir.parent / f"{run_dir.name}-source.csv"
    write_manifest(manifest, source)
    start = time.perf_counter()
    details = start_run(manifest, source, config, run_dir, "bench/train_bench.py")
    total_s = time.perf_counter() - start
    t, test = details["training"], details["test"]

    figures = {
        "device": gpus[0] if gpus else "CPU",
        "mixed_precision": config.mixed_precision,
        "xla": config.xla,
        "arch": args.arch,
        "images train/val/test": "/".join(str(n) for n in details["manifest"]["images"].values()),
        "scan_s": round(scan_s, 1),
        "steps_per_epoch": steps,
        "pipeline_first_pass_steps_per_s": round(first_rate, 1),
        "pipeline_cached_steps_per_s": round(cached_rate, 1),
        "model_only_steps_per_s": round(model_rate, 2),
        "pipeline_over_model": round(cached_rate / model_rate, 1),
        "epochs_run": t["epochs_run"],
        "best_epoch": t["best_epoch"],
        "mean_epoch_s": t["mean_epoch_s"],
        "train_steps_per_s": t["train_steps_per_s"],
        "training_wall_s": t["wall_time_s"],
        "run_wall_s (train+eval+files)": round(total_s, 1),
        "test_accuracy": round(test["accuracy"], 4),
        "test_macro_f1": round(test["macro_f1"], 4),
        "run_dir": str(run_dir),
    }
    table = Table(title=f"ferclean train on FER2013 ({args.arch}, {args.epochs} epochs max)")
    table.add_column("figure")
    table.add_column("value", justify="right")
    for key, value in figures.items():
        table.add_row(key, str(value))
    console.print(table)
    console.print(f"Target: test accuracy >= 70 % (got {test['accuracy']:.1%}); GPU epoch < 5 s (got {t['mean_epoch_s']:.1f} s).")
    (run_dir / "bench.json").write_text(json.dumps(figures, indent=2) + "\n")


if __name__ == "__main__":
    main()
