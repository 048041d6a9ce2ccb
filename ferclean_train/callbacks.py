"""Keras callbacks: per-epoch progress reports, the history file, and resumable stopping.

Keras' own EarlyStopping and ReduceLROnPlateau forget their state in ``on_train_begin``; the
``Resumable*`` subclasses put back the best value and patience counters recorded in
``history.csv`` so that ``--resume`` stops and decays when an uninterrupted run would.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import keras
import numpy as np
import pandas as pd

from ferclean.outputs import atomic_path, holding_signals, write_csv
from ferclean.parallel import Progress, no_progress


class EpochProgress(keras.callbacks.Callback):
    """Reports batches of the current epoch and epochs done to ``on_progress``, and a summary
    line per epoch to ``on_epoch`` (the CLI draws and prints them).

    It also adds ``epoch_time_s``, ``steps_per_s``, ``images_per_s`` (training images over the
    training part of the epoch, validation excluded) and the current ``learning_rate`` to the
    logs so the history records them.
    """

    def __init__(
        self,
        epochs: int,
        steps: int,
        initial_epoch: int = 0,
        on_progress: Progress | None = None,
        on_epoch: Callable[[str], None] | None = None,
        images: int | None = None,
    ) -> None:
        super().__init__()
        self.epochs, self.steps, self.initial_epoch, self.images = epochs, steps, initial_epoch, images
        self.report = on_progress or no_progress
        self.on_epoch = on_epoch
        self._batches = 0
        self._started = self._trained = 0.0

    def on_train_begin(self, logs: dict | None = None) -> None:
        self.report("epochs", self.initial_epoch, self.epochs)

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self._batches = 0
        self.report("batches", 0, self.steps)
        self._started = time.perf_counter()

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        self._trained = time.perf_counter()
        self._batches += 1
        self.report("batches", self._batches, self.steps)

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        logs = logs if logs is not None else {}
        seconds = time.perf_counter() - self._started
        logs["epoch_time_s"] = seconds
        logs["steps_per_s"] = self.steps / seconds if seconds else float("nan")
        training = self._trained - self._started
        logs["images_per_s"] = (self.images or 0) / training if training > 0 else float("nan")
        if "learning_rate" not in logs:  # ReduceLROnPlateau logs it; a schedule does not
            logs["learning_rate"] = float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate))
        if self.on_epoch is not None:
            self.on_epoch(epoch_line(epoch, self.epochs, logs))
        self.report("epochs", epoch + 1, self.epochs)


def epoch_line(epoch: int, epochs: int, logs: dict[str, Any]) -> str:
    """``epoch 3/50 loss 1.234 acc 45.6% val_loss ... lr 5.0e-04 12.3s 36.0 steps/s 2304 img/s``."""
    parts = [f"epoch {epoch + 1:>3}/{epochs}"]
    for key, label in (("loss", "loss"), ("accuracy", "acc"), ("val_loss", "val_loss"), ("val_accuracy", "val_acc")):
        if key in logs:
            value = float(logs[key])
            parts.append(f"{label} {value:.1%}" if "acc" in key else f"{label} {value:.3f}")
    if "learning_rate" in logs:
        parts.append(f"lr {float(logs['learning_rate']):.1e}")
    parts.append(f"{logs['epoch_time_s']:.1f}s {logs['steps_per_s']:.1f} steps/s")
    if "images_per_s" in logs:
        parts.append(f"{logs['images_per_s']:.0f} img/s")
    return " ".join(parts)


class HistoryWriter(keras.callbacks.Callback):
    """Rewrites ``history.csv`` after every epoch, continuing the rows of a resumed run, and with it
    ``checkpoint`` (the full model, optimizer included): the pair is renamed into place together,
    interrupts held back, so a killed run leaves a history and a checkpoint of the same epoch."""

    def __init__(self, path: Path, previous: pd.DataFrame | None = None, checkpoint: Path | None = None) -> None:
        super().__init__()
        self.path, self.checkpoint = path, checkpoint
        self.rows: list[dict[str, Any]] = [] if previous is None else previous.to_dict("records")

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        self.rows.append({"epoch": epoch, **{k: float(v) for k, v in (logs or {}).items()}})
        if self.checkpoint is None:
            write_csv(self.path, self.frame())
            return
        with holding_signals(), atomic_path(self.path, immediate=True) as table:
            with atomic_path(self.checkpoint, immediate=True) as model:
                self.model.save(model)
            self.frame().to_csv(table, index=False)

    def frame(self) -> pd.DataFrame:
        return pd.DataFrame(self.rows)


class EpochSeeds(keras.callbacks.Callback):
    """Sets every random layer's seed state (dropout, augmentation) from ``seed`` and the epoch
    at the start of each epoch: a resumed run (whose saved model does not carry these states)
    then draws what the uninterrupted run would have drawn."""

    def __init__(self, seed: int) -> None:
        super().__init__()
        self.seed = seed

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        states = [v for v in self.model.non_trainable_variables if v.path.endswith("seed_generator_state")]
        for i, state in enumerate(states):
            state.assign(np.array([self.seed * 1_000_003 + i, epoch << 20], dtype=state.dtype))


def save_inference_model(model: keras.Model, path: Path) -> Path:
    """The model without optimizer state (a third of the size): all evaluate and predict need.

    ``clone_model`` would carry the optimizer over; rebuilding from the config does not.
    """
    slim = keras.Model.from_config(model.get_config())
    slim.set_weights(model.get_weights())
    with atomic_path(path, immediate=True) as temp:
        slim.save(temp)
    return path


def is_better(monitor: str, value: float, best: float | None) -> bool:
    return best is None or (value < best if monitor.endswith("loss") else value > best)


class BestModelSaver(keras.callbacks.Callback):
    """Writes the slim model whenever ``monitor`` improves, so an interrupted run keeps its best model."""

    def __init__(self, path: Path, monitor: str, best: float | None = None) -> None:
        super().__init__()
        self.path, self.monitor, self.best = path, monitor, best

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        value = (logs or {}).get(self.monitor)
        if value is not None and is_better(self.monitor, float(value), self.best):
            self.best = float(value)
            save_inference_model(self.model, self.path)


def monitor_state(history: pd.DataFrame, monitor: str) -> tuple[float, int, int]:
    """(best value, best epoch index, epochs since it) of ``monitor`` in a history; pure."""
    values = history[monitor].to_numpy(dtype=float)
    best_index = int(np.argmin(values) if monitor.endswith("loss") else np.argmax(values))
    return float(values[best_index]), int(history["epoch"].iloc[best_index]), len(values) - 1 - best_index


class ResumableEarlyStopping(keras.callbacks.EarlyStopping):
    def __init__(self, *args: Any, state: tuple[float, int, int] | None = None, best_weights: list | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._state, self._resumed_weights = state, best_weights

    def on_train_begin(self, logs: dict | None = None) -> None:
        super().on_train_begin(logs)
        if self._state is not None:
            self.best, self.best_epoch, self.wait = self._state
            self.best_weights = self._resumed_weights


class ResumableReduceLROnPlateau(keras.callbacks.ReduceLROnPlateau):
    def __init__(self, *args: Any, state: tuple[float, int, int] | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._state = state

    def on_train_begin(self, logs: dict | None = None) -> None:
        super().on_train_begin(logs)
        if self._state is not None:
            self.best = self._state[0]
            self.wait = self._state[2] % self.patience
