"""Fit ``ferclean/face_space.npz``, the FER2013 face model that scan's not-a-face check scores against.

Fitted on the FER2013 training faces' pixels only (no labels, no FER+ votes):

- the eigenface space: the 16 top principal components of the standardised 16x16 thumbnails;
- the gradient model: mean, 16 top principal axes with their variances and the mean
  variance of the other axes, of the 8-orientation 3x3-cell gradient histograms;
- the two scales: the 99th percentile over the training faces of the eigenface residual
  and of the gradient distance, so that ``face_distance`` (the larger of the two, each
  over its scale) is 1 at that percentile for either.

It then prints percentiles of ``face_distance`` on the validation and test faces, which is
how ``MAX_FACE_DISTANCE`` in ``ferclean/quality.py`` was set (the validation faces' 99.3rd
percentile); no non-face image is used. Re-run after changing the signals or the model:

    PYTHONPATH=$PWD python bench/build_face_space.py ../shared/data/fer2013
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from ferclean.images import open_gray
from ferclean.quality import (
    FACE_SPACE_FILE,
    MAX_FACE_DISTANCE,
    FaceModel,
    face_residuals,
    face_thumbnails,
    fit_face_space,
    gradient_distances,
    orientation_histograms,
    work_copy,
)

COMPONENTS = 16
GRADIENT_COMPONENTS = 16
SCALE_PERCENTILE = 99.0


def load(root: Path, split: str) -> np.ndarray:
    """The (n, 48, 48) stack of every face of one split."""
    paths = sorted((root / split).rglob("*.png"))
    if not paths:
        sys.exit(f"No .png images under {root / split}.")
    return np.stack([work_copy(np.asarray(open_gray(p))) for p in paths])


def fit(train: np.ndarray) -> FaceModel:
    thumbs, _ = face_thumbnails(train)
    mean, components = fit_face_space(thumbs, COMPONENTS)
    histograms = orientation_histograms(train)
    gradient_mean = histograms.mean(axis=0)
    variances, axes = np.linalg.eigh(np.cov(histograms - gradient_mean, rowvar=False))
    order = np.argsort(variances)[::-1]
    variances, axes = variances[order], axes[:, order]
    model = FaceModel(
        mean=mean,
        components=components,
        gradient_mean=gradient_mean,
        gradient_components=axes[:, :GRADIENT_COMPONENTS].T,
        gradient_variances=variances[:GRADIENT_COMPONENTS],
        gradient_rest=float(variances[GRADIENT_COMPONENTS:].mean()),
        residual_scale=1.0,
        gradient_scale=1.0,
    )
    residual = face_residuals(thumbs, mean, components)
    gradient = gradient_distances(histograms, model)
    return FaceModel(
        **{**model.__dict__,
           "residual_scale": float(np.percentile(residual, SCALE_PERCENTILE)),
           "gradient_scale": float(np.percentile(gradient, SCALE_PERCENTILE))}
    )


def face_distance(stack: np.ndarray, model: FaceModel) -> np.ndarray:
    residual = face_residuals(face_thumbnails(stack)[0], model.mean, model.components)
    gradient = gradient_distances(orientation_histograms(stack), model)
    return np.maximum(residual / model.residual_scale, gradient / model.gradient_scale)


def main(root: str) -> None:
    base = Path(root)
    train = load(base, "train")
    model = fit(train)
    np.savez_compressed(FACE_SPACE_FILE, **{k: np.asarray(v, dtype=np.float64) for k, v in model.__dict__.items()})
    print(f"Fitted on {len(train):,} training faces -> {FACE_SPACE_FILE} ({FACE_SPACE_FILE.stat().st_size:,} bytes)")
    print(f"  scales (99th percentile on training faces): residual {model.residual_scale:.4f}, gradient {model.gradient_scale:.2f}")
    for split, stack in (("train", train), ("validation", load(base, "validation")), ("test", load(base, "test"))):
        distance = face_distance(stack, model)
        quantiles = np.percentile(distance, [50, 99, 99.3, 99.5, 99.9])
        print(f"  face_distance {split:10s} p50 {quantiles[0]:.3f}  p99 {quantiles[1]:.3f}  p99.3 {quantiles[2]:.3f}"
              f"  p99.5 {quantiles[3]:.3f}  p99.9 {quantiles[4]:.3f}  above {MAX_FACE_DISTANCE:g}: {np.mean(distance > MAX_FACE_DISTANCE):.2%}")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "../shared/data/fer2013")
