"""Loading a trained run and classifying images with it, abstaining below a confidence floor."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from ferclean.errors import FercleanError
from ferclean.images import header_problem
from ferclean_train.data import load_image, to_float
from ferclean_train.runs import model_path, read_details

UNCERTAIN = "uncertain"


@dataclass
class TrainedRun:
    """A run's model with the facts needed to feed it: class order and input size."""

    model: keras.Model
    classes: list[str]
    image_size: int
    details: dict[str, Any]


def load_run(run_dir: Path) -> TrainedRun:
    """The run's model and details, or a clear error if the folder holds no trained model."""
    details = read_details(run_dir)
    path = model_path(run_dir)
    try:
        model = keras.saving.load_model(path, compile=False)
    except (OSError, ValueError) as exc:
        raise FercleanError(f"{path} could not be loaded as a Keras model: {str(exc).splitlines()[0]}") from exc
    return TrainedRun(model=model, classes=list(details["classes"]), image_size=int(details["image_size"]), details=details)


def decide(probs: np.ndarray, classes: Sequence[str], min_confidence: float) -> list[str]:
    """The arg-max class per row, or ``uncertain`` where its probability is below the floor; pure."""
    best = probs.argmax(axis=1)
    return [classes[i] if probs[row, i] >= min_confidence else UNCERTAIN for row, i in enumerate(best)]


def read_images(paths: Sequence[Path], image_size: int) -> tuple[np.ndarray, list[Path], list[tuple[Path, str]]]:
    """Model-ready images preprocessed exactly as in training, plus the files that failed and why."""
    images, good, bad = [], [], []
    for path in paths:
        if not Path(path).is_file():
            bad.append((path, "no such file"))
            continue
        problem = header_problem(path)  # a decompression bomb is refused before any pixel is decoded
        if problem:
            bad.append((path, problem))
            continue
        try:
            images.append(to_float(load_image(tf.constant(str(path)), image_size)).numpy())
            good.append(path)
        except (tf.errors.InvalidArgumentError, ValueError):
            bad.append((path, "not a readable image"))
    stacked = np.stack(images) if images else np.zeros((0, image_size, image_size, 1), np.float32)
    return stacked, good, bad


def predict_images(run: TrainedRun, paths: Sequence[Path], batch_size: int = 64) -> tuple[np.ndarray, list[Path], list[tuple[Path, str]]]:
    """Probabilities (rows follow the returned readable paths) and the unreadable files."""
    images, good, bad = read_images(paths, run.image_size)
    probs = run.model.predict(images, batch_size=batch_size, verbose=0) if len(good) else np.zeros((0, len(run.classes)))
    return np.asarray(probs, dtype=np.float64), good, bad
