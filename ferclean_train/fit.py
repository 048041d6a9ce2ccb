"""Training one run (or K fold runs) into its folder: device setup, fit, save, plot, test.

``start_run`` and ``resume_run`` are the entry points; both end in ``_fit_and_report``,
which writes every file of the run folder. Console output is limited to the per-epoch
progress; summaries are printed by the CLI from the returned dictionaries.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from pathlib import Path
from collections.abc import Callable
from typing import Any

import keras
import numpy as np
import pandas as pd
import tensorflow as tf

from ferclean.errors import FercleanError
from ferclean.manifest import Manifest, read_manifest, write_manifest
from ferclean.parallel import Progress
from ferclean_train import data
from ferclean_train.budget import BudgetGuard, BudgetPlan, plan_epochs, time_training
from ferclean_train.callbacks import (
    BestModelSaver,
    HistoryWriter,
    ResumableEarlyStopping,
    ResumableReduceLROnPlateau,
    EpochProgress,
    EpochSeeds,
    monitor_state,
    save_inference_model,
)
from ferclean_train.config import TrainConfig
from ferclean_train.evaluate import predict_split, write_evaluation
from ferclean_train.models import build_augmenter, build_model, compile_model
from ferclean.render.plots import plot_curves
from ferclean_train.runs import DETAILS, HISTORY, LAST, MODEL, file_sha256, library_versions, read_details, write_json

MANIFEST_COPY = "manifest.csv"
FOLDS = "folds.json"


def gpu_names() -> list[str]:
    return [d.name for d in tf.config.list_physical_devices("GPU")]


def setup_device(config: TrainConfig) -> None:
    """Seed everything; deterministic kernels on CPU (without XLA); mixed precision when asked.

    Determinism is left off on a GPU, where it would forbid the fast (non-deterministic)
    cuDNN kernels that the speed target relies on.
    """
    keras.utils.set_random_seed(config.seed)
    if not gpu_names() and not config.xla:  # Keras turns XLA off under op determinism
        tf.config.experimental.enable_op_determinism()
    keras.mixed_precision.set_global_policy("mixed_float16" if config.mixed_precision else "float32")


def _check_rows(rows: pd.DataFrame, classes: list[str], train: pd.DataFrame) -> pd.DataFrame:
    """The test rows, after the checks that must fail before any training starts."""
    test = data.require_split(rows, "test", "evaluate on")
    data.require_all_classes(train, classes)
    data.check_files_exist(rows)
    return test


def start_run(
    manifest: Manifest,
    source: Path,
    config: TrainConfig,
    run_dir: Path,
    command: str,
    fold: tuple[int, int] | None = None,
    on_progress: Progress | None = None,
    on_epoch: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Train a new run in the (empty, existing) ``run_dir``; returns the finished model details.

    ``fold`` = (index, k) trains on the index-th fold of train+val instead of the given splits.
    ``on_progress`` hears of epochs and batches, ``on_epoch`` gets a summary line per epoch.
    """
    started = time.perf_counter()  # a --max-minutes budget counts from here
    rows = data.labelled_rows(manifest)
    classes = data.manifest_classes(rows)
    train, val, carved = _train_val(rows, config, fold)
    test = _check_rows(rows, classes, train)
    copy = write_manifest(manifest, run_dir / MANIFEST_COPY)
    details = {
        "name": run_dir.name,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "command": command,
        "arch": config.arch,
        "image_size": config.image_size,
        "classes": classes,
        "seed": config.seed,
        "config": config.to_dict(),
        "manifest": {
            "source": str(source.resolve()),
            "sha256": file_sha256(source) if source.is_file() else file_sha256(copy),
            "copy": MANIFEST_COPY,
            "images": {"train": len(train), "val": len(val), "test": len(test)},
            "val_held_out_from_train": carved,
            "soft_label_rows": int(data.has_soft_label(train).sum()) if config.soft_label_weight() > 0 else 0,
        },
        "fold": None if fold is None else {"index": fold[0], "of": fold[1]},
        "device": {
            "gpus": gpu_names(),
            "mixed_precision": config.mixed_precision,
            "xla": config.xla,
            "augmentation_in": "input pipeline" if config.xla else "model",
        },
        "versions": library_versions(),
    }
    write_json(run_dir / DETAILS, details)
    setup_device(config)
    decoding = time.perf_counter()
    inputs = _inputs(config, train, val, classes)
    decode_image_s = (time.perf_counter() - decoding) / (len(train) + len(val))
    guard = None
    if config.max_minutes:
        plan = _plan_budget(config, classes, train, val, test, started, decode_image_s)
        config = replace(config, epochs=plan.epochs)
        details["config"] = config.to_dict()
        details["budget"] = plan.to_dict()
        guard = BudgetGuard(started + plan.budget_s, plan)
        keras.utils.set_random_seed(config.seed)  # the timed copy drew from the generators
    model = build_model(config.arch, len(classes), config.image_size, **network_kwargs(config))
    compile_model(
        model, config.arch, jit_compile=bool(config.xla), total_steps=config.epochs * inputs.steps,
        min_learning_rate=config.min_learning_rate, **config.compile_kwargs(),
    )
    return _fit_and_report(
        run_dir, details, config, model, inputs, test, classes, initial_epoch=0, guard=guard,
        reporters=(on_progress, on_epoch),
    )


@dataclass(frozen=True)
class _Inputs:
    train: tf.data.Dataset
    val: tf.data.Dataset
    steps: int
    images: int
    class_weights: dict[int, float] | None


def _inputs(
    config: TrainConfig, train: pd.DataFrame, val: pd.DataFrame, classes: list[str], first_epoch: int = 0
) -> _Inputs:
    """The train and validation pipelines over images decoded once into uint8 arrays; the training
    batches of each epoch depend on the seed and the epoch only (``first_epoch``: a resumed run's)."""
    train_labels = data.label_indices(train["label"], classes)
    with data.decode_errors_as_input_errors():
        train_images = data.decode_images(train["abspath"].tolist(), config.image_size)
        val_images = data.decode_images(val["abspath"].tolist(), config.image_size)
    targets = data.train_targets(train, classes, config.soft_label_weight())
    train_ds = data.array_dataset(
        train_images, targets, len(classes), config.batch_size, shuffle=True, seed=config.seed,
        augment=pipeline_augmenter(config), mixup=config.mixup, first_epoch=first_epoch,
    )
    val_ds = data.array_dataset(val_images, data.label_indices(val["label"], classes), len(classes), config.batch_size)
    weights = data.class_weights(train_labels, len(classes)) if config.class_weights else None
    return _Inputs(train_ds, val_ds, math.ceil(len(train) / config.batch_size), len(train), weights)


def _plan_budget(
    config: TrainConfig,
    classes: list[str],
    train: pd.DataFrame,
    val: pd.DataFrame,
    test: pd.DataFrame,
    started: float,
    decode_image_s: float,
) -> BudgetPlan:
    """Time a throw-away copy of the model on its own copy of the pipeline, then size the run."""
    timing = _inputs(config, train.head(config.batch_size * 8), val.head(config.batch_size * 4), classes)

    def make_model() -> keras.Model:
        model = build_model(config.arch, len(classes), config.image_size, **network_kwargs(config))
        return compile_model(
            model, config.arch, jit_compile=bool(config.xla), total_steps=1000,
            min_learning_rate=config.min_learning_rate, **config.compile_kwargs(),
        )

    times = time_training(make_model, timing.train, timing.val, config.batch_size, decode_image_s)
    return plan_epochs(
        config.max_minutes * 60, time.perf_counter() - started, times, math.ceil(len(train) / config.batch_size),
        len(val), len(test), bool(config.tta), config.epochs,
    )


def resume_run(
    run_dir: Path,
    epochs: int | None = None,
    on_progress: Progress | None = None,
    on_epoch: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Continue a run from ``last.keras`` and its history, up to ``epochs`` (default: its config's)."""
    details = read_details(run_dir)
    config = TrainConfig.from_dict(details["config"])
    if epochs is not None:
        config = replace(config, epochs=epochs)
    last, history_path = run_dir / LAST, run_dir / HISTORY
    if not last.is_file() or not history_path.is_file():
        raise FercleanError(f"{run_dir} has no finished epoch to resume from ({LAST} and {HISTORY}); start a new run.")
    history = pd.read_csv(history_path)
    if len(history) >= config.epochs:
        raise FercleanError(f"{run_dir} already ran {len(history)} epoch(s); pass a larger --epochs to continue it.")
    manifest = read_manifest(run_dir / details["manifest"]["copy"])
    rows = data.labelled_rows(manifest)
    classes = details["classes"]
    fold = details.get("fold")
    train, val, _ = _train_val(rows, config, None if fold is None else (fold["index"], fold["of"]))
    test = _check_rows(rows, classes, train)
    setup_device(config)
    model = keras.saving.load_model(last, compile=True)
    best_weights = keras.saving.load_model(run_dir / MODEL, compile=False).get_weights() if (run_dir / MODEL).is_file() else None
    details["config"] = config.to_dict()
    inputs = _inputs(config, train, val, classes, first_epoch=len(history))
    return _fit_and_report(
        run_dir, details, config, model, inputs, test, classes, initial_epoch=len(history), history=history, best_weights=best_weights,
        reporters=(on_progress, on_epoch),
    )


def network_kwargs(config: TrainConfig) -> dict[str, Any]:
    """``build_model`` arguments; under XLA the augmentation moves out of the model (see ``pipeline_augmenter``)."""
    return {**config.model_kwargs(), **({"augment": False} if config.xla else {})}


def pipeline_augmenter(config: TrainConfig) -> keras.Sequential | None:
    """The augmentation block the input pipeline applies: only for XLA runs."""
    return build_augmenter(config.arch, **config.model_kwargs()) if config.xla else None


def _train_val(rows: pd.DataFrame, config: TrainConfig, fold: tuple[int, int] | None) -> tuple[pd.DataFrame, pd.DataFrame, bool]:
    if fold is None:
        return data.train_val(rows, config.val_fraction, config.seed)
    index, k = fold
    fit, held = data.fold_splits(rows, k, config.seed)[index - 1]
    return fit, held, False


def _callbacks(
    config: TrainConfig,
    run_dir: Path,
    inputs: _Inputs,
    initial_epoch: int,
    history: pd.DataFrame | None,
    best_weights: list | None,
    reporters: tuple[Progress | None, Callable[[str], None] | None],
) -> tuple[list[keras.callbacks.Callback], HistoryWriter]:
    """A cosine schedule runs to its end (no plateau decay, no early stop); the best epoch's
    weights are restored either way."""
    state = monitor_state(history, config.monitor) if history is not None and len(history) else None
    writer = HistoryWriter(run_dir / HISTORY, history, checkpoint=run_dir / LAST)
    scheduled = config.schedule == "cosine"
    callbacks = [] if scheduled else [
        ResumableReduceLROnPlateau(
            monitor=config.monitor, factor=config.reduce_lr_factor, patience=config.reduce_lr_patience,
            min_lr=config.min_learning_rate, state=state,
        ),
    ]
    callbacks += [
        EpochSeeds(config.seed),
        ResumableEarlyStopping(
            monitor=config.monitor, patience=config.epochs if scheduled else config.early_stopping_patience,
            restore_best_weights=True, state=state, best_weights=best_weights,
        ),
        EpochProgress(config.epochs, inputs.steps, initial_epoch, *reporters, images=inputs.images),
        BestModelSaver(run_dir / MODEL, config.monitor, best=None if state is None else state[0]),
        writer,  # last: its history and checkpoint mark the epoch done
    ]
    return callbacks, writer


def _fit_and_report(
    run_dir: Path,
    details: dict[str, Any],
    config: TrainConfig,
    model: keras.Model,
    inputs: _Inputs,
    test: pd.DataFrame,
    classes: list[str],
    initial_epoch: int,
    history: pd.DataFrame | None = None,
    best_weights: list | None = None,
    guard: BudgetGuard | None = None,
    reporters: tuple[Progress | None, Callable[[str], None] | None] = (None, None),
) -> dict[str, Any]:
    """Fit, then write model.keras, history.csv, curves.png, the test evaluation and the details.

    ``guard`` (``--max-minutes``) stops before an epoch that would overrun the budget.
    """
    callbacks, writer = _callbacks(config, run_dir, inputs, initial_epoch, history, best_weights, reporters)
    started = time.perf_counter()
    with data.decode_errors_as_input_errors():
        model.fit(
            inputs.train, validation_data=inputs.val, epochs=config.epochs, initial_epoch=initial_epoch,
            class_weight=inputs.class_weights, callbacks=callbacks + ([guard] if guard else []), shuffle=False, verbose=0,
        )
    wall = time.perf_counter() - started
    save_inference_model(model, run_dir / MODEL)
    frame = writer.frame()
    best_value, best_epoch, _ = monitor_state(frame, config.monitor)
    plot_curves(frame, best_epoch + 1, run_dir / "curves.png")
    with data.decode_errors_as_input_errors():
        probs = predict_split(model, test, classes, config.image_size, config.batch_size, tta=bool(config.tta))
    metrics = write_evaluation(run_dir, test, probs, classes, {"split": "test", "manifest": details["manifest"]["source"]})
    previous = details.get("training", {})
    details["training"] = {
        "epochs_run": len(frame),
        "best_epoch": best_epoch + 1,
        f"best_{config.monitor}": best_value,
        "stopped_early": len(frame) < config.epochs,
        "wall_time_s": round(previous.get("wall_time_s", 0.0) + wall, 2),
        "mean_epoch_s": round(float(frame["epoch_time_s"].mean()), 3),
        "train_steps_per_s": round(float(frame["steps_per_s"].median()), 2),
        "train_images_per_s": round(float(frame["images_per_s"].median()), 1) if "images_per_s" in frame else None,
        "class_weights": inputs.class_weights,
        "resumed_at_epochs": [*previous.get("resumed_at_epochs", []), *([initial_epoch] if initial_epoch else [])],
    }
    if "budget" in details:
        details["budget"]["epochs_run"] = len(frame)
        details["budget"]["seconds_per_epoch"] = details["training"]["mean_epoch_s"]
        if guard is not None:
            details["budget"]["stopped_by_guard"] = guard.stopped
            details["budget"]["finished_s_before_deadline"] = round(guard.deadline - time.perf_counter(), 1)
    details["test"] = {"accuracy": metrics["accuracy"], "macro_f1": metrics["macro_f1"], "images": metrics["images"]}
    write_json(run_dir / DETAILS, details)
    return details


def run_folds(
    manifest: Manifest,
    source: Path,
    config: TrainConfig,
    run_dir: Path,
    k: int,
    command: str,
    on_progress: Progress | None = None,
    on_epoch: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """K runs in ``run_dir/fold-<i>`` on stratified, duplicate-aware folds of train+val; mean +/- std."""
    if k < 2:
        raise FercleanError(f"k (folds) must be at least 2, got {k}.")
    data.fold_splits(data.labelled_rows(manifest), k, config.seed)  # fail early on too-small classes
    results = []
    for index in range(1, k + 1):
        fold_dir = run_dir / f"fold-{index}"
        fold_dir.mkdir()
        results.append(start_run(manifest, source, config, fold_dir, command, (index, k), on_progress, on_epoch))
    return write_fold_summary(run_dir, results, config)


def write_fold_summary(run_dir: Path, results: list[dict[str, Any]], config: TrainConfig) -> dict[str, Any]:
    accuracy = np.array([r["test"]["accuracy"] for r in results])
    macro_f1 = np.array([r["test"]["macro_f1"] for r in results])
    best_val = np.array([r["training"][f"best_{config.monitor}"] for r in results])
    summary = {
        "folds": len(results),
        "config": config.to_dict(),
        "test_accuracy": {"mean": float(accuracy.mean()), "std": float(accuracy.std(ddof=1)), "per_fold": accuracy.tolist()},
        "test_macro_f1": {"mean": float(macro_f1.mean()), "std": float(macro_f1.std(ddof=1)), "per_fold": macro_f1.tolist()},
        f"best_{config.monitor}": {"mean": float(best_val.mean()), "std": float(best_val.std(ddof=1)), "per_fold": best_val.tolist()},
        "runs": [r["name"] for r in results],
    }
    write_json(run_dir / FOLDS, summary)
    return summary
