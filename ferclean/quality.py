"""Is this image a usable face? Quality signals, computed on a whole batch of images at once.

Scan decodes every image once (in worker processes); :func:`quality_table` runs on the stack
of those decoded images (each as a 48x48 working copy). Cheap checks first, a few numpy
operations per batch: blank, too dark or bright frames, text and flat graphics, noise, too
small or extreme aspect. What they leave undecided goes to a small face / non-face
classifier (:class:`FaceClassifier`, one hidden layer, numpy only) that recognises faces by
where their edges run and where they are dark and light, so icons, signs, lettering, patterns
and photos of objects are caught even when they are as contrasted and photographic as a face.
Images it is unsure of get a second opinion from MTCNN's face verifier
(:mod:`ferclean.face_net`), trained on windows of real photographs, which rejects the crops of
object and animal photos the small classifier takes for faces.
Flagged rows are not dropped: scan marks them ``status=review`` with an ``invalid: ...`` note
(or drops them with ``--invalid drop``).

Thresholds are module constants, each chosen on its distribution over the FER2013 faces
in ``shared/data/fer2013`` (FER+ non-faces removed there, so a flag is a false positive):
near or beyond the 99.9th percentile, except not-a-face (the 99.4th of the validation
split) and no-face-found (0.3 % of the validation faces), so that all reasons together flag
under 1 % of real faces. ``bench/quality_bench.py``
prints the percentiles (``--signals``) and scores realistic junk and other non-faces, which
no threshold or model was fitted or chosen on.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image
from threadpoolctl import ThreadpoolController

from ferclean.face_net import face_logit
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

#: Log-odds of not-a-face (:class:`FaceClassifier`) above which the image is not a face.
#: Set at the 99.4th percentile of the score over the FER2013 validation faces (the classifier
#: is trained on the training split; ``bench/build_face_classifier.py`` prints the percentiles),
#: so that with the cheap checks under 1 % of real faces are flagged. No non-face image was
#: used to choose it.
MAX_NOT_FACE = 2.70

#: Images whose not-a-face log-odds lie between this and MAX_NOT_FACE are the ones the
#: classifier is unsure of, and get the face verifier's second opinion: 7 % of FER2013's faces
#: (its 93rd percentile), so the verifier's ~0.15 ms per image costs scan ~10 us per image.
FACE_CHECK_FROM = -4.0

#: Face log-odds of MTCNN's R-Net (:func:`ferclean.face_net.face_logit`) under which an image
#: the classifier is unsure of holds no face (p(face) under 1.8 %). Set on the FER2013
#: validation faces: 0.3 % of them fall under it (``bench/quality_bench.py --signals``); no
#: non-face image was used to choose it.
MIN_FACE_LOGIT = -4.0

#: Side of the copy the content signals are computed on: FER2013's size, so thresholds
#: mean the same for any input size.
WORK_SIDE = 48

#: Side of the standardised thumbnail the classifier reads.
FACE_SIDE = 16

#: Side of the copy the gradients are taken on, and orientations (0-180 deg).
GRADIENT_SIDE = 24
ORIENTATIONS = 8

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
    "not_a_face": "the face classifier does not see a face (run only where the checks above pass)",
    "no_face_found": "MTCNN's face verifier finds no face (run only where the classifier is unsure)",
}

#: Prefix of the ``note`` scan writes on flagged rows.
NOTE_PREFIX = "invalid: "


def work_copy(gray: np.ndarray) -> np.ndarray:
    """The WORK_SIDE x WORK_SIDE copy (box-filtered) of an H x W uint8 image that every content signal reads."""
    if gray.shape == (WORK_SIDE, WORK_SIDE):
        return gray
    return np.asarray(Image.fromarray(gray).resize((WORK_SIDE, WORK_SIDE), Image.Resampling.BOX))


def _block_sums(work: np.ndarray, block: int) -> np.ndarray:
    """Sums of ``block`` x ``block`` pixel blocks of a (n, 48, 48) uint8 stack, as int16
    (strided slices added: many times faster than a reshape and a reduction over two axes)."""
    wide = work.astype(np.int16)
    rows = sum(wide[:, k::block] for k in range(block))
    return sum(rows[:, :, k::block] for k in range(block))


def face_thumbnails(work: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Standardised FACE_SIDE x FACE_SIDE thumbnails (rows; zero mean, unit mean square, zeros
    if flat) of a (n, 48, 48) stack, and each raw thumbnail's centred energy (block sums)."""
    thumbs = _block_sums(work, WORK_SIDE // FACE_SIDE).reshape(len(work), FACE_SIDE * FACE_SIDE).astype(np.float64)
    thumbs -= thumbs.mean(axis=1, keepdims=True)
    energy = np.einsum("ij,ij->i", thumbs, thumbs)
    flat = energy <= 1e-9
    thumbs *= np.sqrt(thumbs.shape[1] / np.where(flat, 1.0, energy))[:, None]
    thumbs[flat] = 0.0
    return thumbs, energy


#: Tangents of the orientation bin edges (unsigned, 0-180 deg) below 90 deg: a gradient's bin
#: is found by comparing |gy / gx| with these, without an arctangent.
_BIN_TANGENTS = np.tan(np.pi / ORIENTATIONS * np.arange(1, ORIENTATIONS // 2)).astype(np.float32)


def orientation_bins(gx: np.ndarray, gy: np.ndarray) -> np.ndarray:
    """Unsigned orientation bin (0 .. ORIENTATIONS-1, 180 / ORIENTATIONS deg each) of float32 gradients.

    gy / gx is the same for a gradient and its opposite: the bin within 0-90 deg comes from
    its size, mirrored into 90-180 deg where it is negative; vertical gradients (gx = 0) are
    90 deg. Three comparisons instead of an arctangent and a division of the angle.
    """
    slope = np.divide(gy, gx, out=np.full_like(gy, np.inf), where=gx != 0)
    steep = np.abs(slope)
    quarter = sum((steep > tangent).view(np.int8) for tangent in _BIN_TANGENTS)
    return np.where(slope < 0, ORIENTATIONS - 1 - quarter, quarter)


#: Cells per side of the classifier's gradient-orientation histogram (on the 24x24 copy: 6x6 px each).
CLASSIFIER_CELLS = 4

FACE_CLASSIFIER_FILE = Path(__file__).with_name("face_classifier.npz")


@dataclass(frozen=True)
class FaceClassifier:
    """A one-hidden-layer perceptron that tells faces from non-faces (``bench/build_face_classifier.py``;
    the features' standardisation is folded into the hidden layer's weights and bias)."""

    hidden_weights: np.ndarray  # (features, hidden)
    hidden_bias: np.ndarray
    output_weights: np.ndarray  # (hidden,)
    output_bias: np.ndarray  # ()

    def not_face_logit(self, features: np.ndarray) -> np.ndarray:
        """Log-odds that each row of ``features`` is not a face."""
        return np.maximum(features @ self.hidden_weights + self.hidden_bias, 0.0) @ self.output_weights + self.output_bias


@lru_cache(maxsize=1)
def face_classifier() -> FaceClassifier:
    """The trained :class:`FaceClassifier`, loaded once per process."""
    with np.load(FACE_CLASSIFIER_FILE) as saved:
        return FaceClassifier(**{f.name: saved[f.name].astype(np.float32) for f in fields(FaceClassifier)})


def cell_orientations(work: np.ndarray, cells: int = CLASSIFIER_CELLS) -> np.ndarray:
    """Per-cell gradient-orientation histograms (n, cells * cells * ORIENTATIONS) of a (n, 48, 48) stack.

    Central differences on the 24x24 copy (edges replicated), each gradient's magnitude in its
    orientation bin of its cell; square-rooted and normalised per cell (as HOG does), so local
    contrast and lighting do not count, only the shape of the edges in each part of the frame.
    """
    n = len(work)
    small = np.pad(_block_sums(work, WORK_SIDE // GRADIENT_SIDE).astype(np.float32), ((0, 0), (1, 1), (1, 1)), mode="edge")
    gx = small[:, 1:-1, 2:] - small[:, 1:-1, :-2]
    gy = small[:, 2:, 1:-1] - small[:, :-2, 1:-1]
    magnitude = np.sqrt(gx * gx + gy * gy)
    cell_of = np.arange(GRADIENT_SIDE) * cells // GRADIENT_SIDE
    bins = cells * cells * ORIENTATIONS
    offset = (cell_of[:, None] * cells + cell_of[None, :]) * ORIENTATIONS + (np.arange(n) * bins)[:, None, None]
    index = (orientation_bins(gx, gy) + offset).ravel()
    histograms = np.sqrt(np.bincount(index, weights=magnitude.ravel(), minlength=n * bins)).reshape(n, cells * cells, ORIENTATIONS)
    norms = np.sqrt(np.einsum("ijk,ijk->ij", histograms, histograms))
    histograms /= (norms + 0.1 * norms.mean(axis=1, keepdims=True) + 1e-3)[:, :, None]
    return histograms.reshape(n, bins).astype(np.float32)


#: The cheap signals the classifier also reads, each over a scale that brings it near 0..1.
_FEATURE_SIGNALS = {"spread": 255.0, "entropy": 8.0, "dominant": 1.0, "smoothness": 1.0, "p5": 255.0, "p95": 255.0}


def face_features(work: np.ndarray, thumbs: np.ndarray, signals: Mapping[str, np.ndarray]) -> np.ndarray:
    """The classifier's input per image: :func:`cell_orientations` (where edges run), the standardised
    16x16 thumbnail (where it is dark and light) and a few cheap signals (how photographic it is)."""
    scalars = np.stack([np.minimum(np.asarray(signals[k]), 2.0) / scale for k, scale in _FEATURE_SIGNALS.items()], axis=1)
    return np.concatenate([cell_orientations(work), thumbs.astype(np.float32), scalars.astype(np.float32)], axis=1)


#: Grey level and its square, per level: the histogram times this is the first two moments.
_LEVEL_MOMENTS = np.stack([np.arange(256.0), np.arange(256.0) ** 2], axis=1)
_PERCENTILES = np.array([0.01, 0.05, 0.95, 0.99]) * WORK_SIDE * WORK_SIDE
#: c * log2(c) for every possible grey-level count: entropy without a log per image.
_C_LOG_C = np.concatenate([[0.0], (c := np.arange(1, WORK_SIDE * WORK_SIDE + 1)) * np.log2(c)])
#: Pixels per thumbnail block: a block sum's variance is this squared times a block mean's.
_BLOCK_PIXELS = (WORK_SIDE // FACE_SIDE) ** 2


@lru_cache(maxsize=1)
def _blas() -> ThreadpoolController:
    """The process's BLAS thread pools, found once: finding them costs ~10 ms, limiting them µs."""
    return ThreadpoolController()


def quality_table(work: np.ndarray, width: np.ndarray, height: np.ndarray) -> dict[str, np.ndarray]:
    """Every quality signal of a batch: ``work`` is the (n, 48, 48) uint8 stack of
    :func:`work_copy` images, ``width`` and ``height`` their original sizes.

    Written for speed (scan runs it on every image, and it must not slow scan by more than
    a fifth): whole-stack numpy, read off one grey histogram, one 16x16 thumbnail and one
    orientation histogram per image. ``smoothness`` is the share of the pixel variance that
    survives averaging 3x3 blocks: about 1/9 for noise, near 1 for a photograph.
    """
    with _blas().limit(limits=1, user_api="blas"):  # tiny products: extra threads only cost
        return _quality_table(np.ascontiguousarray(work, dtype=np.uint8), width, height)


def _quality_table(work: np.ndarray, width: np.ndarray, height: np.ndarray) -> dict[str, np.ndarray]:
    signals, thumbs = _content_signals(work, width, height)
    not_face = np.full(len(work), np.nan)
    face = np.full(len(work), np.nan)
    undecided = np.flatnonzero(~_cheap_failures(signals).any(axis=1))  # the classifier runs on these only
    if len(undecided):
        features = face_features(work[undecided], thumbs[undecided], {k: v[undecided] for k, v in signals.items()})
        not_face[undecided] = face_classifier().not_face_logit(features)
    unsure = np.flatnonzero((not_face > FACE_CHECK_FROM) & (not_face <= MAX_NOT_FACE))  # NaN compares False
    if len(unsure):
        face[unsure] = face_logit(work[unsure])
    return {**signals, "not_face": not_face, "face": face}


def _content_signals(work: np.ndarray, width: np.ndarray, height: np.ndarray) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """The cheap signals of a (n, 48, 48) stack, and its standardised thumbnails (the classifier reads both)."""
    n, size = len(work), WORK_SIDE * WORK_SIDE
    flat = work.reshape(n, size)
    counts = np.bincount((flat + (np.arange(n) * 256)[:, None].astype(np.int32)).ravel(), minlength=n * 256).reshape(n, 256)
    cumulative = np.cumsum(counts, axis=1)
    p1, p5, p95, p99 = (np.count_nonzero(cumulative < target, axis=1) for target in _PERCENTILES)
    moments = counts @ _LEVEL_MOMENTS / size
    variance = moments[:, 1] - moments[:, 0] ** 2
    thumbs, energy = face_thumbnails(work)
    block_variance = energy / (FACE_SIDE * FACE_SIDE) / (_BLOCK_PIXELS * _BLOCK_PIXELS)
    signals = {
        "width": np.asarray(width, dtype=np.float64),
        "height": np.asarray(height, dtype=np.float64),
        "spread": (p99 - p1).astype(np.float64),
        "entropy": np.log2(size) - _C_LOG_C[counts].sum(axis=1) / size,
        "p95": p95.astype(np.float64),
        "p5": p5.astype(np.float64),
        "dominant": np.partition(counts, 252, axis=1)[:, 252:].sum(axis=1) / size,
        "smoothness": np.where(variance > 1e-9, block_variance / np.where(variance > 1e-9, variance, 1.0), 1.0),
    }
    return signals, thumbs


def stack_features(work: np.ndarray) -> np.ndarray:
    """:func:`face_features` of every image of a (n, 48, 48) uint8 stack, whatever the cheap checks say
    (``bench/build_face_classifier.py`` trains on them)."""
    side = np.full(len(work), WORK_SIDE)
    with _blas().limit(limits=1, user_api="blas"):
        signals, thumbs = _content_signals(np.ascontiguousarray(work, dtype=np.uint8), side, side)
    return face_features(work, thumbs, signals)


def quality_signals(gray: np.ndarray) -> dict[str, float]:
    """Every quality signal of one decoded 8-bit grey image (H x W uint8): :func:`quality_table` of one."""
    height, width = gray.shape
    return {key: float(values[0]) for key, values in quality_table(work_copy(gray)[None], [width], [height]).items()}


def _cheap_failures(signals: Mapping[str, np.ndarray]) -> np.ndarray:
    """(n, len(REASONS) - 2) booleans: the reasons before not_a_face that each image fails."""
    width, height = np.asarray(signals["width"], dtype=np.float64), np.asarray(signals["height"], dtype=np.float64)
    side, long_side = np.minimum(width, height), np.maximum(width, height)
    failed = {
        "too_small": side < MIN_SIDE,
        "extreme_aspect": (side > 0) & (long_side > MAX_ASPECT * side),
        "near_uniform": np.asarray(signals["spread"]) < MIN_SPREAD,
        "low_information": np.asarray(signals["entropy"]) < MIN_ENTROPY,
        "too_dark": np.asarray(signals["p95"]) < MAX_DARK,
        "too_bright": np.asarray(signals["p5"]) > MAX_BRIGHT,
        "text_or_graphic": np.asarray(signals["dominant"]) > MAX_DOMINANT,
        "noise": np.asarray(signals["smoothness"]) < MIN_SMOOTHNESS,
    }
    return np.stack([np.atleast_1d(failed[reason]) for reason in list(REASONS)[:-2]], axis=1)


def failed_checks(signals: Mapping[str, np.ndarray]) -> np.ndarray:
    """(n, len(REASONS)) booleans: which reasons each image of a :func:`quality_table` fails
    (not_a_face only where the cheap checks passed, no_face_found only where the classifier was
    unsure: their scores are NaN elsewhere)."""
    not_face = np.atleast_1d(np.asarray(signals["not_face"], dtype=np.float64))
    face = np.atleast_1d(np.asarray(signals["face"], dtype=np.float64))
    models = np.stack([np.nan_to_num(not_face, nan=-np.inf) > MAX_NOT_FACE, np.nan_to_num(face, nan=np.inf) < MIN_FACE_LOGIT], axis=1)
    return np.concatenate([_cheap_failures(signals), models], axis=1)


def quality_notes(signals: Mapping[str, np.ndarray]) -> list[str]:
    """Each image's failed reasons as a comma list (REASONS order), empty for a usable face."""
    failed = failed_checks(signals)
    names = list(REASONS)
    notes = [""] * len(failed)
    for row in np.flatnonzero(failed.any(axis=1)):
        notes[row] = ", ".join(names[k] for k in np.flatnonzero(failed[row]))
    return notes


def quality_reasons(signals: Mapping[str, float]) -> list[str]:
    """The reasons (keys of REASONS, in that order) that one image's ``signals`` fail; empty for a usable face."""
    failed = failed_checks({key: np.atleast_1d(value) for key, value in signals.items()})[0]
    return [reason for reason, bad in zip(REASONS, failed) if bad]


def image_notes(images: Sequence[np.ndarray]) -> list[str]:
    """:func:`quality_notes` of decoded H x W uint8 images of any sizes, as one batch."""
    if not len(images):
        return []
    work = np.stack([work_copy(image) for image in images])
    heights, widths = zip(*(image.shape for image in images))
    return quality_notes(quality_table(work, widths, heights))

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
