"""Does the target dataset agree with an AffectNet face's label?

AffectNet's labels are noisy (the FFHQ faces of the YOLO release especially), so before a
face is added its label is checked by the mislabel fast probe (HOG -> whitened PCA ->
perceptron, ``ferclean.mislabel``) trained once on the target's own kept images: a face
is turned away only when the probe *strongly* doubts its label, i.e. gives the label
little probability and another class a lot. The probe is ~60 % right on FER-like faces,
so a mild doubt says little; the thresholds below were chosen by measurement
(``bench/label_check_bench.py``, figures in the README).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.exceptions import ConvergenceWarning
from sklearn.pipeline import Pipeline

from ferclean.manifest import Manifest, effective_labels, kept
from ferclean.mislabel.features import IMAGE_SIZE, hog, load_images, load_one, mirror
from ferclean.mislabel.probe import fast_model
from ferclean.parallel import Backend, Progress, no_progress

#: Reject when the probe gives the face's own label less than this probability ...
MAX_GIVEN = 0.05
#: ... and some other class at least this much.
MIN_OTHER = 0.60


@dataclass(frozen=True)
class LabelProbe:
    """A fast probe trained on the target's kept images, with its class names."""

    model: Pipeline
    classes: tuple[str, ...]

    def probabilities(self, images: np.ndarray) -> np.ndarray:
        """``(n, k)`` probabilities (columns in ``classes`` order), averaged over each face and its mirror."""
        if not len(images):
            return np.zeros((0, len(self.classes)))
        part = (self.model.predict_proba(hog(images)) + self.model.predict_proba(hog(mirror(images)))) / 2
        full = np.zeros((len(images), len(self.classes)))
        full[:, self.model.classes_] = part
        return full


def train_label_probe(images: np.ndarray, labels: Sequence[str], classes: Sequence[str], seed: int) -> LabelProbe:
    """Fit the fast probe on ``images`` (``(n, 48, 48)`` uint8) and their mirrors."""
    index = {c: i for i, c in enumerate(classes)}
    y = np.array([index[label] for label in labels], dtype=np.int64)
    x = np.concatenate([hog(images), hog(mirror(images))])
    with warnings.catch_warnings():
        # Capped iterations are the regularisation here (early stopping), not a fault.
        warnings.simplefilter("ignore", ConvergenceWarning)
        model = fast_model(x.shape[1], len(x), seed).fit(x, np.concatenate([y, y]))
    return LabelProbe(model, tuple(classes))


def label_doubts(
    probs: np.ndarray, labels: Sequence[str], classes: Sequence[str], max_given: float = MAX_GIVEN, min_other: float = MIN_OTHER
) -> pd.DataFrame:
    """Per face: the probability of its label (``p_label``), the probe's best other class and
    its probability (``probe_label``, ``p_probe``), and ``doubted``: p_label < max_given and
    p_probe >= min_other."""
    index = {c: i for i, c in enumerate(classes)}
    given = np.array([index[label] for label in labels], dtype=np.int64)
    rows = np.arange(len(given))
    p_label = probs[rows, given] if len(given) else np.zeros(0)
    others = probs.copy()
    others[rows, given] = -1.0
    best = others.argmax(axis=1) if len(given) else np.zeros(0, dtype=np.int64)
    p_probe = others[rows, best] if len(given) else np.zeros(0)
    return pd.DataFrame(
        {
            "p_label": p_label,
            "probe_label": [classes[i] for i in best],
            "p_probe": p_probe,
            "doubted": (p_label < max_given) & (p_probe >= min_other),
        }
    )


def doubt_vetter(
    probe: LabelProbe, max_given: float = MAX_GIVEN, min_other: float = MIN_OTHER
) -> Callable[[pd.DataFrame], pd.DataFrame]:
    """A ``merge.Vetter``: reads each converted face (``dest``) and flags the labels ``probe`` doubts."""

    def vet(rows: pd.DataFrame) -> pd.DataFrame:
        faces = [load_one(d) for d in rows["dest"]]
        images = np.stack([f if f is not None else np.zeros((IMAGE_SIZE, IMAGE_SIZE), np.uint8) for f in faces])
        return label_doubts(probe.probabilities(images), rows["label"].tolist(), probe.classes, max_given, min_other)

    return vet


def label_vetter(
    manifest: Manifest,
    classes: Sequence[str],
    seed: int,
    jobs: int | None = None,
    on_progress: Progress | None = None,
    backend: Backend | None = None,
) -> Callable[[pd.DataFrame], pd.DataFrame]:
    """Train the probe once on ``manifest``'s kept, readable images (loaded on ``backend``) and
    vet faces with it."""
    on_progress = on_progress or no_progress
    frame = manifest.frame
    keep = kept(frame).to_numpy()
    images, ok = load_images([manifest.root / p for p in frame.loc[keep, "path"]], jobs, on_progress, backend)
    labels = effective_labels(frame)[keep].to_numpy()
    on_progress("Training the label probe", 0, 1)
    probe = train_label_probe(images[ok], labels[ok], classes, seed)
    on_progress("Training the label probe", 1, 1)
    return doubt_vetter(probe)
