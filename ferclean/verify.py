"""Pixel verification of near-duplicate candidates, and groups that do not chain.

A perceptual hash cannot tell a re-encoded, re-lit or slightly shifted copy (a few bits
apart) from a different face with a similar layout (also a few bits apart). So hash
candidates at a wide radius are checked on the pixels: both images are reduced to a small
aligned thumbnail and scored by their best normalised cross-correlation over small shifts
(``MAX_SHIFT`` thumbnail pixels each way), which ignores brightness and contrast changes.
Mirror candidates are compared against the mirrored image.

Groups are then built from verified pairs only, and a group must hold together as a whole:
where A~B and B~C verify but A and C do not, complete-linkage clustering of the group's
members (every two members of a final group verify) cuts the chain, keeping the closest
pairs together.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
from PIL import Image
from scipy.cluster.hierarchy import fcluster, linkage
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from ferclean.phash_batch import decode_files_parallel

#: Side of the thumbnails compared (FER2013's 48 px faces are halved).
SIZE = 24
#: Largest shift tried, in thumbnail pixels each way (2 px here = 4 px of a 48 px face).
MAX_SHIFT = 2
#: Default lowest verification score (max normalised cross-correlation) of a duplicate pair.
DEFAULT_MIN_SIMILARITY = 0.9
_BLOCK = 512


def thumbnails(images: np.ndarray) -> np.ndarray:
    """(n, SIZE, SIZE) float32 thumbnails from (n, h, w) uint8 images, by PIL's box filter."""
    return np.stack(
        [np.asarray(Image.fromarray(im).resize((SIZE, SIZE), Image.Resampling.BOX), dtype=np.float32) for im in images]
    ).reshape(-1, SIZE, SIZE)


def load_thumbnails(paths: Sequence[str], jobs: int = 1, on_progress: Callable[[int], None] | None = None) -> np.ndarray:
    """Decode ``paths`` (in parallel) into verification thumbnails; unreadable files give zeros."""
    return thumbnails(decode_files_parallel(paths, jobs, on_progress).thumbs)


def _centre(thumbs: np.ndarray) -> np.ndarray:
    """The central crop of each thumbnail, zero-mean and unit-norm (flat constant crops stay zero)."""
    crop = thumbs[:, MAX_SHIFT : SIZE - MAX_SHIFT, MAX_SHIFT : SIZE - MAX_SHIFT].reshape(len(thumbs), -1)
    crop = crop - crop.mean(axis=1, keepdims=True)
    norm = np.linalg.norm(crop, axis=1, keepdims=True)
    return crop / np.where(norm > 1e-6, norm, np.inf)


def _best_correlation(fixed: np.ndarray, moving: np.ndarray) -> np.ndarray:
    """Max over shifts of the NCC between ``fixed``'s central crop and each same-size window of ``moving``."""
    side = SIZE - 2 * MAX_SHIFT
    a = _centre(fixed)  # (p, side*side)
    windows = np.lib.stride_tricks.sliding_window_view(moving, (side, side), axis=(1, 2))  # (p, s, s, side, side)
    shifts = (2 * MAX_SHIFT + 1) ** 2
    windows = windows.reshape(len(moving), shifts, side * side)
    dot = np.einsum("psk,pk->ps", windows, a)  # a is zero-mean, so no need to centre the windows
    total = windows.sum(axis=2)
    energy = np.einsum("psk,psk->ps", windows, windows) - total * total / (side * side)
    score = dot / np.sqrt(np.maximum(energy, 1e-6))
    return score.max(axis=1)


def pair_similarity(thumbs: np.ndarray, a: np.ndarray, b: np.ndarray, mirror: np.ndarray | None = None) -> np.ndarray:
    """Verification score of each pair (``thumbs[a]``, ``thumbs[b]``), ``b`` mirrored where ``mirror``.

    The best normalised cross-correlation over shifts, in [-1, 1]; 1 for copies that differ
    only in brightness, contrast or a shift of up to MAX_SHIFT thumbnail pixels.
    """
    a, b = np.asarray(a, dtype=np.int64), np.asarray(b, dtype=np.int64)
    mirror = np.zeros(len(a), dtype=bool) if mirror is None else np.asarray(mirror, dtype=bool)
    scores = np.empty(len(a), dtype=np.float32)
    for start in range(0, len(a), _BLOCK):
        sl = slice(start, start + _BLOCK)
        moving = thumbs[b[sl]]
        moving = np.where(mirror[sl, None, None], moving[:, :, ::-1], moving)
        scores[sl] = _best_correlation(thumbs[a[sl]], moving)
    return scores
