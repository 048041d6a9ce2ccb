"""Scoring a trained model on one split: metrics from predictions, and the files that report them."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import keras
import numpy as np
import pandas as pd
from sklearn.metrics import accuracy_score, classification_report, confusion_matrix, f1_score, precision_recall_fscore_support

from ferclean.errors import FercleanError
from ferclean.manifest import Manifest
from ferclean.outputs import write_csv, write_text
from ferclean.render.plots import plot_confusion
from ferclean.votes import match_votes
from ferclean_train.data import (
    check_files_exist, decode_errors_as_input_errors, frame_dataset, label_indices, labelled_rows, require_split,
)
from ferclean_train.predict import TrainedRun, predict_probs
from ferclean_train.runs import write_json

METRICS = "metrics.json"
REPORT = "classification_report.txt"
CONFUSION_CSV = "confusion_matrix.csv"
CONFUSION_PNG = "confusion_matrix.png"
PREDICTIONS = "predictions.csv"


def score(y_true: np.ndarray, y_pred: np.ndarray, classes: Sequence[str]) -> dict[str, Any]:
    """Accuracy, macro/weighted F1 and per-class precision/recall/F1/support; pure."""
    labels = list(range(len(classes)))
    precision, recall, f1, support = precision_recall_fscore_support(
        y_true, y_pred, labels=labels, zero_division=0
    )
    return {
        "images": int(len(y_true)),
        "accuracy": float(accuracy_score(y_true, y_pred)),
        "macro_f1": float(f1_score(y_true, y_pred, labels=labels, average="macro", zero_division=0)),
        "weighted_f1": float(f1_score(y_true, y_pred, labels=labels, average="weighted", zero_division=0)),
        "per_class": {
            c: {"precision": float(p), "recall": float(r), "f1": float(f), "support": int(s)}
            for c, p, r, f, s in zip(classes, precision, recall, f1, support)
        },
        "confusion_matrix": confusion_matrix(y_true, y_pred, labels=labels).tolist(),
    }


def predict_split(
    model: keras.Model, part: pd.DataFrame, classes: Sequence[str], image_size: int, batch_size: int, tta: bool = False
) -> np.ndarray:
    """Class probabilities for every row of ``part``, in row order (``tta``: see ``predict_probs``)."""
    ds = frame_dataset(part, classes, image_size, batch_size).map(lambda x, y: x)
    return predict_probs(model, ds, tta)


def write_evaluation(
    out_dir: Path, part: pd.DataFrame, probs: np.ndarray, classes: Sequence[str], extra: dict[str, Any]
) -> dict[str, Any]:
    """Write metrics.json, classification_report.txt, confusion_matrix.csv/.png and predictions.csv."""
    y_true = label_indices(part["label"], classes)
    y_pred = probs.argmax(axis=1)
    metrics = {**extra, "classes": list(classes), **score(y_true, y_pred, classes)}
    write_json(out_dir / METRICS, metrics)
    report = classification_report(
        y_true, y_pred, labels=list(range(len(classes))), target_names=list(classes), digits=4, zero_division=0
    )
    write_text(out_dir / REPORT, report)
    matrix = np.array(metrics["confusion_matrix"])
    frame = pd.DataFrame(matrix, index=pd.Index(classes, name="true"), columns=list(classes))
    write_csv(out_dir / CONFUSION_CSV, frame, index=True)
    split = extra.get("split", "")
    title = f"{split} split: accuracy {metrics['accuracy']:.1%}, macro-F1 {metrics['macro_f1']:.3f}"
    plot_confusion(matrix, classes, out_dir / CONFUSION_PNG, title=title)
    predictions = pd.DataFrame(
        {
            "path": part["path"],
            "label": part["label"],
            "predicted": [classes[i] for i in y_pred],
            "confidence": probs.max(axis=1).round(6),
            **{f"p_{c}": probs[:, i].round(6) for i, c in enumerate(classes)},
        }
    )
    write_csv(out_dir / PREDICTIONS, predictions)
    return metrics


def truth_rows(part: pd.DataFrame, votes: pd.DataFrame, source: str) -> tuple[pd.DataFrame, dict[str, Any]]:
    """``part`` relabelled by the votes' majority; rows without votes or a majority are left out and counted."""
    match = match_votes(part["path"], votes)
    scored = part.assign(label=match.labels.to_numpy())[match.labels.to_numpy() != ""].reset_index(drop=True)
    counts = {
        "file": source,
        "rows": match.rows,
        "without_votes": match.without_votes,
        "without_majority": match.without_majority,
        "scored": len(scored),
    }
    if scored.empty:
        raise FercleanError(
            f"None of the {match.rows:,} rows has a vote majority in {source}"
            f" ({match.without_votes:,} without votes); check that its paths match the manifest's."
        )
    return scored, counts


def evaluate_run(
    run: TrainedRun,
    manifest: Manifest,
    split: str,
    out_dir: Path,
    batch_size: int = 256,
    votes: pd.DataFrame | None = None,
    votes_source: str = "",
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Score ``run`` on the kept ``split`` rows of ``manifest``, by their labels or by ``votes``' majority."""
    rows = labelled_rows(manifest)
    part = require_split(rows, split, "evaluate on")
    extra = {"split": split, **(extra or {})}
    if votes is not None:
        part, extra["truth"] = truth_rows(part, votes, votes_source)
    check_files_exist(part)
    label_indices(part["label"], run.classes)
    with decode_errors_as_input_errors():
        probs = predict_split(run.model, part, run.classes, run.image_size, batch_size, tta=run.tta)
    return write_evaluation(out_dir, part, probs, run.classes, extra)
