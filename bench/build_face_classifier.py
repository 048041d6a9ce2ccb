"""Train ``ferclean/face_classifier.npz``, the face / non-face perceptron behind scan's not_a_face check.

Faces: the FER2013 training split's pixels (no labels, no FER+ votes), each once as it is
(every other one mirrored) and once jittered as another crop of the same face would be (a
shift, a zoom, a tilt, contrast and gamma) and captured like a scraped picture (JPEG, blur,
noise: ``bench/junk.py``'s :func:`capture`, so compression is not what tells them apart).
Non-faces: as many :func:`bench.junk.training_negatives` (random icons, lettering in the
training fonts, patterns, shading and crops of the training pictures; never the bench's
classes, fonts, words or pictures, and other seeds).

Features are :func:`ferclean.quality.stack_features`; the model is scikit-learn's
``MLPClassifier`` (one hidden layer of HIDDEN ReLUs), exported as plain arrays so that scan
needs numpy only. Deterministic from SEED. It prints the not-a-face log-odds percentiles on the
validation and test faces: ``MAX_NOT_FACE`` in ferclean/quality.py is the validation faces'
99.4th percentile. Re-run after changing the features:

    PYTHONPATH=$PWD python bench/build_face_classifier.py ../shared/data/fer2013
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image
from sklearn.neural_network import MLPClassifier

from bench.junk import capture, training_negatives
from ferclean.images import open_gray
from ferclean.quality import FACE_CLASSIFIER_FILE, FaceClassifier, stack_features, work_copy

SEED = 0
HIDDEN = 64
#: The share of validation faces the threshold leaves above it.
FLAG_PERCENTILE = 99.4


def load(root: Path, split: str) -> np.ndarray:
    """The (n, 48, 48) stack of every face of one split."""
    paths = sorted((root / split).rglob("*.png"))
    if not paths:
        sys.exit(f"No .png images under {root / split}.")
    return np.stack([work_copy(np.asarray(open_gray(p))) for p in paths])


def jitter(face: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Another crop of the same face: mirrored or not, shifted, zoomed, tilted, re-exposed, then captured."""
    padded = np.pad(face, 16, mode="edge")  # 80x80, the face in the middle 48
    image = Image.fromarray(padded).resize((160, 160), Image.Resampling.BICUBIC)
    if rng.random() < 0.5:
        image = image.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    image = image.rotate(float(rng.uniform(-12, 12)), resample=Image.Resampling.BICUBIC)
    side = 96 * rng.uniform(0.88, 1.15)
    cx, cy = 80 + rng.uniform(-6, 6, 2)
    image = image.crop((int(cx - side / 2), int(cy - side / 2), int(cx + side / 2), int(cy + side / 2)))
    array = np.asarray(image, dtype=np.float64) / 255
    array = array ** rng.uniform(0.7, 1.4)
    array = 0.5 + (array - 0.5) * rng.uniform(0.7, 1.2) + rng.uniform(-0.1, 0.1)
    return capture(Image.fromarray((np.clip(array, 0, 1) * 255).astype(np.uint8)), rng, zoom=0.92)


def fit(train: np.ndarray) -> tuple[FaceClassifier, dict[str, float]]:
    rng = np.random.default_rng(SEED)
    started = time.perf_counter()
    originals = np.where(np.arange(len(train))[:, None, None] % 2 == 1, train[:, :, ::-1], train)
    faces = np.concatenate([originals, np.stack([jitter(face, rng) for face in train])])
    negatives = training_negatives(len(faces), seed=1000)
    print(f"  {len(faces):,} faces and {len(negatives):,} non-faces made in {time.perf_counter() - started:.0f} s")
    features = stack_features(np.concatenate([faces, negatives]))
    target = np.r_[np.zeros(len(faces)), np.ones(len(negatives))]
    mean, scale = features.mean(axis=0), np.maximum(features.std(axis=0), 1e-3)
    model = MLPClassifier(hidden_layer_sizes=(HIDDEN,), alpha=1e-4, batch_size=256, max_iter=60, early_stopping=True,
                          n_iter_no_change=6, random_state=SEED)
    started = time.perf_counter()
    model.fit((features - mean) / scale, target)
    print(f"  trained {model.n_iter_} epochs in {time.perf_counter() - started:.0f} s, held-out accuracy {model.best_validation_score_:.4f}")
    classifier = FaceClassifier(  # ((x - mean) / scale) @ W + b == x @ (W / scale) + (b - (mean / scale) @ W)
        hidden_weights=(model.coefs_[0] / scale[:, None]).astype(np.float32),
        hidden_bias=(model.intercepts_[0] - (mean / scale) @ model.coefs_[0]).astype(np.float32),
        output_weights=model.coefs_[1][:, 0].astype(np.float32),
        output_bias=np.float32(model.intercepts_[1][0]),
    )
    scores = classifier.not_face_logit(features)
    return classifier, {"faces": float(np.mean(scores[: len(faces)] > 0)), "non-faces": float(np.mean(scores[len(faces) :] > 0))}


def main(root: str) -> None:
    base = Path(root)
    train = load(base, "train")
    classifier, fitted = fit(train)
    np.savez_compressed(FACE_CLASSIFIER_FILE, **{k: np.asarray(v) for k, v in classifier.__dict__.items()})
    print(f"Trained on {len(train):,} training faces -> {FACE_CLASSIFIER_FILE} ({FACE_CLASSIFIER_FILE.stat().st_size:,} bytes)")
    print(f"  on its training data, log-odds > 0: faces {fitted['faces']:.2%}, non-faces {fitted['non-faces']:.2%}")
    for split in ("train", "validation", "test"):
        scores = classifier.not_face_logit(stack_features(train if split == "train" else load(base, split)))
        quantiles = np.percentile(scores, [50, 99, 99.5, FLAG_PERCENTILE, 99.9])
        print(f"  not-face log-odds {split:10s} p50 {quantiles[0]:6.2f}  p99 {quantiles[1]:6.2f}  p99.5 {quantiles[2]:6.2f}"
              f"  p{FLAG_PERCENTILE:g} {quantiles[3]:6.2f}  p99.9 {quantiles[4]:6.2f}")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "../shared/data/fer2013")
