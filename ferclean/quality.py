"""Is this image a usable face? Cheap per-image quality signals and the reasons they raise.

Scan decodes every image once (in worker processes); :func:`quality_signals` runs on that
decoded 8-bit grey array and costs well under a millisecond, so blank frames, text
placeholders, icons, noise and other non-faces are caught at scan time without a model.
Flagged rows are not dropped: scan marks them ``status=review`` with an ``invalid: ...``
note (or drops them with ``--invalid drop``).

Thresholds are module constants. Each was set from two measurements (``bench/quality_bench.py``):
its distribution over all 35,710 FER2013 faces in ``shared/data/fer2013`` (which has the
FER+ non-faces removed, so a flag there is a false positive) and its values on generated
non-face fixtures (blank and noise frames, rendered text, Pillow icons, scikit-image
samples). Each threshold sits near or beyond the 99.9th percentile of the faces, except
the not-a-face one (99.3rd), so that all reasons together flag under 1 % of real faces
(0.7 %) while catching nearly 90 % of the fixtures.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

from ferclean.manifest import mark

#: Shorter side, in pixels, under which an image is too small to show an expression.
#: FER2013 is 48 px; 32 px is the smallest face size common expression models accept.
MIN_SIDE = 32

#: Longest over shortest side above which an image is a banner, strip or page, not a face
#: crop. Face crops are close to square (FER2013 and AffectNet: exactly 1); 2 leaves room
#: for loosely cropped portrait photos and catches text strips (scikit-image ``text``: 2.6).
MAX_ASPECT = 2.0

#: Grey levels between the 1st and 99th percentile under which an image is a near-uniform
#: frame. FER2013 faces: minimum 34, 0.1st percentile 75; blank frames with sensor or JPEG
#: noise: under 12; flat crops of walls, sky or a clock face: 7-30.
MIN_SPREAD = 40

#: Shannon entropy (bits) of the grey histogram under which an image holds too little
#: information to be a face photograph: flat icons and two-tone text score 1-3 bits, flat
#: photo crops 3-4.6. FER2013 faces: 0.1st percentile 5.2 (0.04 % are under 4.6).
MIN_ENTROPY = 4.6

#: A frame is too dark when 95 % of its pixels are darker than this, too bright when 95 %
#: are brighter than ``MAX_BRIGHT``. FER2013 faces: 95th-percentile grey 0.1st percentile
#: 74 (one face at 27), 5th-percentile grey maximum 186.
MAX_DARK = 35
MAX_BRIGHT = 225

#: Share of pixels in the four most common grey levels above which an image is a flat
#: graphic (icons, logos, rendered text on a plain background). A photograph spreads over
#: many levels: FER2013 faces 0.1st-99.9th percentile 0.03-0.50 (0.02 % above 0.6, faces
#: with flat padding); Pillow icons, text and checkerboards 0.6-1.0.
MAX_DOMINANT = 0.6

#: Share of the pixel variance left after averaging 3x3 blocks, under which an image is
#: noise or a fine texture with no face-sized structure. Uniform and Gaussian noise: 0.1
#: (1/9); grass, gravel and brick: 0.1-0.5. FER2013 faces: minimum 0.41, 0.1st percentile
#: 0.55 (0.1 % under 0.55).
MIN_SMOOTHNESS = 0.55

#: Share of the image's (standardised 16x16) variance that the 16-component FER2013 face
#: space does not explain, above which the image is not a face. Eigenfaces explain a face
#: well and fine textures (brick, grass, gravel, coins, print) badly. FER2013 faces: 99th
#: percentile 0.60, 99.9th 0.72 (0.62 % above 0.62, the largest share of all reasons);
#: textures 0.6-1.0. 0.60 would reach 90 % of the fixtures at 0.98 % of FER2013 flagged,
#: too close to the 1 % budget. Smooth non-face photographs (a camera, a clock) are
#: explained about as well as faces and are not caught: OpenCV's Haar face cascades, the
#: alternative measured, find no face in 18 % of real FER2013 faces (see the README).
MAX_FACE_RESIDUAL = 0.62

#: Side of the copy the content signals are computed on: FER2013's size, so thresholds
#: mean the same for any input size.
WORK_SIDE = 48

#: Side of the thumbnail projected onto the face space.
FACE_SIDE = 16

FACE_SPACE_FILE = Path(__file__).with_name("face_space.npz")

#: Every reason, in report order, with what it means.
REASONS: dict[str, str] = {
    "too_small": f"shorter side under {MIN_SIDE} px",
    "extreme_aspect": f"sides differ more than {MAX_ASPECT:g}x",
    "near_uniform": f"under {MIN_SPREAD} grey levels between the 1st and 99th percentile",
    "low_information": f"grey histogram entropy under {MIN_ENTROPY:g} bits",
    "too_dark": f"95 % of pixels darker than {MAX_DARK}",
    "too_bright": f"95 % of pixels brighter than {MAX_BRIGHT}",
    "text_or_graphic": f"over {MAX_DOMINANT:.0%} of pixels in 4 grey levels (flat graphic or text)",
    "noise": f"under {MIN_SMOOTHNESS:.0%} of the variance survives 3x3 averaging (noise, fine texture)",
    "not_a_face": f"over {MAX_FACE_RESIDUAL:.0%} of the image unexplained by the face space",
}

#: Prefix of the ``note`` scan writes on flagged rows.
NOTE_PREFIX = "invalid: "


def _resized(gray: np.ndarray, side: int) -> np.ndarray:
    if gray.shape == (side, side):
        return gray
    return np.asarray(Image.fromarray(gray).resize((side, side), Image.Resampling.BOX))


@lru_cache(maxsize=1)
def face_space() -> tuple[np.ndarray, np.ndarray]:
    """Mean and orthonormal components (rows) of the FER2013 eigenface space, loaded once per process."""
    with np.load(FACE_SPACE_FILE) as saved:
        return saved["mean"].astype(np.float64), saved["components"].astype(np.float64)


#: Sums WORK_SIDE pixels into FACE_SIDE blocks along one axis: ``B @ image @ B.T`` is the
#: thumbnail, two small matrix products (faster than a reshape and a reduction).
_BLOCKS = np.kron(np.eye(FACE_SIDE), np.ones((1, WORK_SIDE // FACE_SIDE)))


def face_thumbnail(gray: np.ndarray) -> np.ndarray:
    """The image as a standardised FACE_SIDE x FACE_SIDE vector (zero mean, unit variance; zeros if flat)."""
    work = _resized(gray, WORK_SIDE).astype(np.float64)
    thumb = (_BLOCKS @ work @ _BLOCKS.T).ravel()
    thumb -= thumb.mean()
    energy = thumb @ thumb
    return thumb * np.sqrt(thumb.size / energy) if energy > 1e-9 else thumb


def fit_face_space(thumbnails: np.ndarray, components: int = 16) -> tuple[np.ndarray, np.ndarray]:
    """Mean and top principal components of face thumbnails (rows from :func:`face_thumbnail`)."""
    mean = thumbnails.mean(axis=0)
    _, _, vt = np.linalg.svd(thumbnails - mean, full_matrices=False)
    return mean, vt[:components]


@lru_cache(maxsize=1)
def _face_projection() -> tuple[np.ndarray, np.ndarray, float]:
    """The face space folded into one matrix for a raw (unstandardised) thumbnail ``t``.

    Rows: the components after centring (C P), the centred mean (P mu) and ones, so one
    matrix-vector product gives everything :func:`face_residual` needs; with C mu and mu.mu.
    """
    mean, components = face_space()
    centring = np.eye(mean.size) - 1.0 / mean.size
    rows = np.vstack([components @ centring, centring @ mean, np.ones(mean.size)])
    return rows, components @ mean, float(mean @ mean)


def _thumbnail_terms(pixels: np.ndarray) -> tuple[float, float]:
    """Centred energy of the raw 16x16 block-sum thumbnail of 48x48 float ``pixels``, and its face residual.

    The residual is the same number as projecting :func:`face_thumbnail` onto the space,
    computed with one matrix-vector product (scan runs it on every image).
    """
    thumb = (_BLOCKS @ pixels @ _BLOCKS.T).ravel()
    rows, components_mean, mean_energy = _face_projection()
    projected = rows @ thumb
    n = thumb.size
    centred_energy = float(thumb @ thumb - projected[-1] ** 2 / n)
    if centred_energy <= 1e-9:
        return 0.0, 1.0
    scale = np.sqrt(n / centred_energy)
    coefficients = scale * projected[:-2] - components_mean
    return centred_energy, float(n - 2 * scale * projected[-2] + mean_energy - coefficients @ coefficients) / n


def face_residual(gray: np.ndarray) -> float:
    """Share of the standardised thumbnail's energy outside the face space (0 = a perfect face)."""
    return _thumbnail_terms(_resized(gray, WORK_SIDE).astype(np.float64))[1]


#: Grey level and its square, per level: the histogram times this is the first two moments.
_LEVEL_MOMENTS = np.stack([np.arange(256.0), np.arange(256.0) ** 2], axis=1)
_PERCENTILES = np.array([0.01, 0.05, 0.95, 0.99]) * WORK_SIDE * WORK_SIDE
#: c * log2(c) for every possible grey-level count: entropy without a log per image.
_C_LOG_C = np.concatenate([[0.0], (c := np.arange(1, WORK_SIDE * WORK_SIDE + 1)) * np.log2(c)])
#: Pixels per thumbnail block: a block sum's variance is this squared times a block mean's.
_BLOCK_PIXELS = (WORK_SIDE // FACE_SIDE) ** 2


def quality_signals(gray: np.ndarray) -> dict[str, float]:
    """Every quality signal of one decoded 8-bit grey image (H x W uint8).

    Written for speed (scan runs it on every image, and it must not slow scan by more than
    a fifth): everything is read off one histogram and one 16x16 thumbnail of the 48x48
    working copy. ``smoothness`` is the share of the pixel variance that survives
    averaging 3x3 blocks: about 1/9 for noise, near 1 for a photograph.
    """
    height, width = gray.shape
    work = _resized(gray, WORK_SIDE)
    size = work.size
    counts = np.bincount(work.ravel(), minlength=256)
    p1, p5, p95, p99 = np.searchsorted(np.cumsum(counts), _PERCENTILES).tolist()
    mean, square = (counts @ _LEVEL_MOMENTS / size).tolist()
    variance = square - mean * mean
    centred_energy, residual = _thumbnail_terms(work.astype(np.float64))
    block_variance = centred_energy / (FACE_SIDE * FACE_SIDE) / (_BLOCK_PIXELS * _BLOCK_PIXELS)
    return {
        "width": float(width),
        "height": float(height),
        "spread": float(p99 - p1),
        "entropy": float(np.log2(size) - _C_LOG_C[counts].sum() / size),
        "p95": float(p95),
        "p5": float(p5),
        "dominant": float(np.partition(counts, -4)[-4:].sum() / size),
        "smoothness": float(block_variance / variance) if variance > 1e-9 else 1.0,
        "face_residual": residual,
    }


def quality_reasons(signals: Mapping[str, float]) -> list[str]:
    """The reasons (keys of REASONS, in that order) that ``signals`` fail; empty for a usable face."""
    side, long_side = min(signals["width"], signals["height"]), max(signals["width"], signals["height"])
    failed = {
        "too_small": side < MIN_SIDE,
        "extreme_aspect": side > 0 and long_side / side > MAX_ASPECT,
        "near_uniform": signals["spread"] < MIN_SPREAD,
        "low_information": signals["entropy"] < MIN_ENTROPY,
        "too_dark": signals["p95"] < MAX_DARK,
        "too_bright": signals["p5"] > MAX_BRIGHT,
        "text_or_graphic": signals["dominant"] > MAX_DOMINANT,
        "noise": signals["smoothness"] < MIN_SMOOTHNESS,
        "not_a_face": signals["face_residual"] > MAX_FACE_RESIDUAL,
    }
    return [reason for reason in REASONS if failed[reason]]


def flag_invalid(frame: pd.DataFrame, reasons: pd.Series, action: str = "review") -> pd.DataFrame:
    """Raise rows with quality reasons (a comma list per row, empty = fine) to ``action``.

    Goes through :func:`ferclean.manifest.mark`, the one status rule: a status is never
    lowered (an unreadable ``drop`` stays), and ``invalid: <reasons>`` is appended to
    ``note``, so later commands treat these rows as any other review (or dropped) row.
    """
    if action not in ("review", "drop"):
        raise ValueError(f"action must be 'review' or 'drop', not {action!r}")
    reasons = reasons.reindex(frame.index).fillna("")
    return mark(frame, reasons != "", action, NOTE_PREFIX + reasons)


_NOTE_PATTERN = rf"(?:^|; ){NOTE_PREFIX}([^;]*)"


def invalid_mask(frame: pd.DataFrame) -> pd.Series:
    """Rows scan flagged as invalid images (whatever notes later steps added)."""
    return invalid_reasons(frame).notna()


def invalid_reasons(frame: pd.DataFrame) -> pd.Series:
    """The comma-separated quality reasons of each flagged row (NaN elsewhere)."""
    return frame["note"].str.extract(_NOTE_PATTERN, expand=False)


def reason_counts(frame: pd.DataFrame) -> pd.DataFrame:
    """Flagged images per reason (an image may count under several), in REASONS order."""
    exploded = invalid_reasons(frame).dropna().str.split(", ").explode()
    counts = exploded.value_counts().reindex(list(REASONS), fill_value=0)
    return pd.DataFrame({"reason": counts.index, "images": counts.to_numpy(), "meaning": [REASONS[r] for r in counts.index]})
