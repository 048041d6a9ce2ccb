"""Pixel verification of near-duplicate candidates, and groups that do not chain.

A perceptual hash cannot tell a re-encoded, re-lit or slightly shifted copy (a few bits
apart) from a different face with a similar layout (also a few bits apart). So hash
candidates at a wide radius are checked on the pixels: both images are reduced to a small
aligned thumbnail and scored by their best normalised cross-correlation over small shifts
(``MAX_SHIFT`` thumbnail pixels each way), which ignores brightness and contrast changes.
Mirror candidates are compared against the mirrored image.

Groups are then built from verified pairs only, and a group must hold together as a whole:
where A~B and B~C verify but A and C are different faces, complete-linkage clustering of
the group's members (every two members of a final group score at least
``min_similarity - GROUP_SLACK``) cuts the chain, keeping the closest pairs together.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence

import numpy as np
import pandas as pd
from PIL import Image
from scipy.cluster.hierarchy import fcluster, linkage
from scipy.ndimage import gaussian_filter
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from ferclean.image_batch import decode_one, map_chunks
from ferclean.parallel import Backend, Progress

#: Side of the thumbnails compared (FER2013's 48 px faces are halved).
SIZE = 24
#: Largest shift tried, in thumbnail pixels each way (2 px here = 4 px of a 48 px face).
MAX_SHIFT = 2
#: Width of the Gaussian whose blur is subtracted: the score looks at edges and texture,
#: not at the face-shaped light and dark blobs that all aligned faces share.
HIGH_PASS_SIGMA = 1.5
#: Default lowest verification score of a duplicate pair, chosen on the hand-marked check
#: set (bench/dedupe_marks.csv, bench/dedupe_bench.py): same-photo recall 0.83 at pair
#: precision 0.95 (0.60: 0.86 / 0.94; 0.68: 0.78 / 0.96).
DEFAULT_MIN_SIMILARITY = 0.64
_BLOCK = 512
#: Largest component clustered by all-pairs scores; bigger ones are peeled into stars first.
_LINKAGE_MAX = 400
#: How far below min_similarity two members of one group may score (complete linkage cut):
#: copies that each verify against the original may differ more from each other (a crop
#: and a watermarked copy). On the check set 0.15 finds 0.83 of same-photo pairs against
#: 0.74 at 0, at the same precision; 0.2 lets groups grow to 30.
GROUP_SLACK = 0.15


def features(images: np.ndarray) -> np.ndarray:
    """(n, SIZE, SIZE) float32 high-passed thumbnails from a (n, h, w) uint8 stack
    (box-filtered to SIZE x SIZE first where it is another size)."""
    images = np.asarray(images, dtype=np.uint8)
    if images.shape[1:] != (SIZE, SIZE):
        images = np.stack([_box(Image.fromarray(im)) for im in images]) if len(images) else images.reshape(0, SIZE, SIZE)
    thumbs = images.astype(np.float32)
    return (thumbs - gaussian_filter(thumbs, (0, HIGH_PASS_SIGMA, HIGH_PASS_SIGMA))).astype(np.float32)


def thumbnails(paths: list[str]) -> np.ndarray:
    """(n, SIZE, SIZE) uint8 box-filtered greyscale thumbnails; zeros for unreadable files."""
    out = np.zeros((len(paths), SIZE, SIZE), dtype=np.uint8)
    for k, path in enumerate(paths):
        gray, _ = decode_one(path)
        if gray is not None:
            out[k] = _box(gray)
    return out


def _box(gray: Image.Image) -> np.ndarray:
    return np.asarray(gray.resize((SIZE, SIZE), Image.Resampling.BOX))


def load_features(
    paths: Sequence[str], jobs: int = 1, on_progress: Progress | None = None, backend: Backend | None = None
) -> np.ndarray:
    """Decode ``paths`` (in parallel, or on ``backend``) into verification features; unreadable files give zeros."""
    parts = map_chunks(thumbnails, paths, jobs, on_progress, "Verifying candidates", backend)
    return features(np.concatenate(parts) if parts else np.zeros((0, SIZE, SIZE), dtype=np.uint8))


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

    The best normalised cross-correlation of the :func:`features` over shifts, in [-1, 1]:
    1 for copies that differ only in brightness, contrast or a shift of up to MAX_SHIFT
    thumbnail pixels; flat images (no texture) score 0.
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


def best_similarity(thumbs: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Score of each pair as it is or with ``b`` mirrored, whichever is higher."""
    flips = np.ones(len(a), dtype=bool)
    return np.maximum(pair_similarity(thumbs, a, b), pair_similarity(thumbs, a, b, flips))


def split_chains(
    n: int, a: np.ndarray, b: np.ndarray, score: Callable[[np.ndarray, np.ndarray], np.ndarray], min_similarity: float
) -> np.ndarray:
    """Group label per item (-1 for none) from verified pairs (``a[k]``, ``b[k]``), without chaining.

    Connected components of the verified pairs are the first guess. A component of three
    or more is re-clustered by complete linkage on ``score`` between all its members, cut at
    ``min_similarity - GROUP_SLACK``: in a final group every two members score at least
    that, so A~B and B~C with A and C different faces gives the closest pair as a group and
    the third image on its own.
    Labels are arbitrary integers; number them with :func:`ferclean.dedupe.clusters.number_groups`.
    """
    a, b = np.asarray(a, dtype=np.int64), np.asarray(b, dtype=np.int64)
    labels = np.full(n, -1, dtype=np.int64)
    if not len(a):
        return labels
    graph = coo_matrix((np.ones(len(a)), (a, b)), shape=(n, n))
    _, component = connected_components(graph, directed=False)
    members = np.zeros(n, dtype=bool)
    members[a] = members[b] = True
    sizes = np.bincount(component[members], minlength=component.max() + 1)
    labels[members] = component[members]
    next_label = n
    for comp in np.flatnonzero(sizes >= 3):
        for items in _peel(np.flatnonzero(members & (component == comp)), a, b, score, min_similarity):
            if len(items) < 2:
                labels[items] = -1
                continue
            i, j = np.triu_indices(len(items), k=1)
            # Condensed distances in scipy's (i, j) order, which triu_indices matches.
            tree = linkage(1.0 - np.clip(score(items[i], items[j]), -1.0, 1.0), method="complete")
            cut = fcluster(tree, t=1.0 - (min_similarity - GROUP_SLACK), criterion="distance")
            counts = np.bincount(cut)
            labels[items] = np.where(counts[cut] >= 2, next_label + cut, -1)
            next_label += len(counts)
    return labels


def _peel(
    items: np.ndarray, a: np.ndarray, b: np.ndarray, score: Callable[[np.ndarray, np.ndarray], np.ndarray], min_similarity: float
) -> Iterator[np.ndarray]:
    """Cut a component too big for all-pairs scoring into stars around its best-connected member.

    Each star is that member and everything in the component that verifies against it;
    the rest is peeled again. Components up to ``_LINKAGE_MAX`` pass through whole.
    """
    while len(items) > _LINKAGE_MAX:
        inside = np.isin(a, items) & np.isin(b, items)
        degree = np.bincount(np.concatenate([a[inside], b[inside]]), minlength=items.max() + 1)[items]
        centre = items[np.argmax(degree)]
        close = score(np.full(len(items), centre), items) >= min_similarity
        close[items == centre] = True
        star = items[close]
        yield star[:_LINKAGE_MAX] if len(star) > _LINKAGE_MAX else star
        items = np.setdiff1d(items, star[:_LINKAGE_MAX])
    yield items


def verify_duplicates(
    frame: pd.DataFrame, candidates: pd.DataFrame, feats: np.ndarray, rows: np.ndarray, min_similarity: float
) -> tuple[pd.DataFrame, np.ndarray]:
    """Score hash candidates on their pixels and group the verified ones without chaining.

    ``candidates`` are :func:`ferclean.dedupe.find_duplicate_pairs` rows (positions ``a``,
    ``b`` into ``frame``); ``feats[k]`` are the :func:`features` of frame position
    ``rows[k]`` (sorted). Returns the candidates with ``similarity`` and ``verified``
    columns (exact copies score 1), and a group label per frame row (-1 for none).
    """
    if not 0.0 <= min_similarity <= 1.0:
        raise ValueError("min_similarity must be between 0 and 1")
    digests = frame["sha256"].to_numpy()
    where = lambda positions: np.searchsorted(rows, positions)  # noqa: E731 - frame position -> feature row

    def score(i: np.ndarray, j: np.ndarray) -> np.ndarray:
        same = digests[i] == digests[j]
        return np.where(same, 1.0, best_similarity(feats, where(i), where(j)))

    a, b = candidates["a"].to_numpy(), candidates["b"].to_numpy()
    similarity = pair_similarity(feats, where(a), where(b), candidates["kind"].eq("mirror").to_numpy())
    similarity = np.where(candidates["kind"].eq("exact").to_numpy(), 1.0, similarity).round(4)
    verified = similarity >= min_similarity
    scored = candidates.assign(similarity=similarity, verified=verified)
    labels = split_chains(len(frame), a[verified], b[verified], score, min_similarity)
    return scored, labels
