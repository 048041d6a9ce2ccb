"""Pixel verification of near-duplicate candidates, and groups that do not chain.

A perceptual hash cannot tell a re-encoded, re-lit, re-cropped or slightly shifted copy (a
few bits apart) from a different face with a similar layout (also a few bits apart). So
hash candidates at a wide radius are checked on the pixels. Each image is histogram-
equalised (so any monotone change of brightness, contrast or gamma disappears), reduced to
small high-passed thumbnails at ``ZOOMS`` (central crops, for copies cropped tighter), and
a pair scores the best normalised cross-correlation of one image's central crop against the
other's thumbnails over shifts of up to ``MAX_SHIFT`` thumbnail pixels, each image zoomed in
turn. Mirror candidates are compared against the mirrored image.

Groups are then built from verified pairs only, and a group must hold together as a whole:
where A~B and B~C verify but A and C are different faces, complete-linkage clustering of
the group's members (every two members of a final group score at least
``min_similarity - GROUP_SLACK``) cuts the chain, keeping the closest pairs together.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import nullcontext
from functools import lru_cache
from typing import Any, TypeVar

import numpy as np
import pandas as pd
from numpy.lib.stride_tricks import as_strided
from PIL import Image
from threadpoolctl import threadpool_limits

from ferclean.dedupe.clusters import components
from ferclean.image_batch import decode_one, map_chunks, small_copy, stack_chunks
from ferclean.images import area_weights
from ferclean.parallel import Backend, Progress, default_jobs, machine_busy

T, R = TypeVar("T"), TypeVar("R")

#: Side of the thumbnails compared (FER2013's 48 px faces are halved).
SIZE = 24
#: Images are box-filtered to this side before equalisation (a no-op for FER2013).
BASE = 2 * SIZE
#: Zoom factors of the thumbnails: the central 1/z of the image. FER2013's copies are often
#: cropped 5-15 % tighter, which no shift aligns.
ZOOMS = (1.0, 1.08, 1.16)
#: Largest shift tried, in thumbnail pixels each way (2 px here = 4 px of a 48 px face).
MAX_SHIFT = 2
#: Width of the Gaussian whose blur is subtracted: the score looks at edges and texture,
#: not at the face-shaped light and dark blobs that all aligned faces share.
HIGH_PASS_SIGMA = 1.5
#: Pairs whose unzoomed score is below this are not tried at the other zooms (a zoom
#: search on every candidate would cost five times as much): on the check set no
#: same-photo pair scores under 0.45 unzoomed.
ZOOM_FROM = 0.4
#: Default lowest verification score of a duplicate pair, chosen on the hand-marked check
#: set (bench/dedupe_marks.csv, 256 pairs; bench/dedupe_bench.py prints recall and precision).
DEFAULT_MIN_SIMILARITY = 0.68
#: Mirror candidates must score this much more: mirrored copies are rare in FER2013 (3 of
#: 48 marked mirror candidates), while a mirrored different face often scores 0.7-0.8.
MIRROR_MARGIN = 0.1
_BLOCK = 1024
_THUMB_BLOCK = 256
#: Largest component clustered by all-pairs scores; bigger ones are peeled into stars first.
_LINKAGE_MAX = 400
#: How far below min_similarity two members of one group may score (complete linkage cut):
#: copies that each verify against the original may differ more from each other (a tight
#: and a loose crop are further apart than ZOOMS reaches). On the check set 0.35 keeps 0.98
#: of same-photo pairs together against 0.92 at 0.15, at the same precision, and the largest
#: FER2013 group stays at 30.
GROUP_SLACK = 0.35
#: Largest float32 feature array verification holds whole (about 78,000 images); more are
#: high-passed block by block (:class:`LazyFeatures`).
HIGH_PASSED_BYTES = 512 * 2**20


def features(images: np.ndarray) -> np.ndarray:
    """(n, len(ZOOMS), SIZE, SIZE) float32 verification features of a (n, h, w) uint8 stack."""
    images = np.asarray(images, dtype=np.uint8)
    bases = np.stack([_base(Image.fromarray(im)) for im in images]) if len(images) else np.zeros((0, BASE, BASE), np.uint8)
    with threadpool_limits(limits=1, user_api="blas"):
        return high_pass(zoomed_thumbnails(bases))


def thumbnails(paths: list[str]) -> np.ndarray:
    """(n, len(ZOOMS), SIZE, SIZE) uint8 equalised thumbnails of ``paths``; zeros for unreadable files."""
    bases = np.zeros((len(paths), BASE, BASE), dtype=np.uint8)
    for k, path in enumerate(paths):
        gray, _ = decode_one(path)
        if gray is not None:
            bases[k] = _base(gray)
    return zoomed_thumbnails(bases)


def _base(gray: Image.Image) -> np.ndarray:
    return small_copy(gray, BASE)


def zoomed_thumbnails(bases: np.ndarray) -> np.ndarray:
    """Equalise each (BASE, BASE) uint8 image and area-resample its central 1/z crops to SIZE (uint8)."""
    # One BLAS thread: these products are small, and extra threads only spin against the other workers.
    with threadpool_limits(limits=1, user_api="blas"):
        return _zoomed(bases)


def _zoomed(bases: np.ndarray) -> np.ndarray:
    """:func:`zoomed_thumbnails` under the caller's thread limit (threadpoolctl is slow to enter)."""
    bases = np.asarray(bases, dtype=np.uint8)
    out = np.empty((len(bases), len(ZOOMS), SIZE, SIZE), dtype=np.uint8)
    # Blocks keep the int64 and float temporaries in cache (a whole stack's are ~100x bigger).
    for start in range(0, len(bases), _THUMB_BLOCK):
        block = bases[start : start + _THUMB_BLOCK]
        _zoom_into(out[start : start + len(block)], _equalise(block).reshape(len(block), BASE, BASE))
    return out


def _equalise(bases: np.ndarray) -> np.ndarray:
    """(n, BASE * BASE) float32 histogram equalisation with mid-ranks: a pixel's value becomes
    the share of pixels darker than it."""
    n = len(bases)
    flat = bases.reshape(n, -1)
    keys = (flat + (np.arange(n, dtype=np.int64) * 256)[:, None]).ravel()  # image * 256 + grey level
    counts = np.bincount(keys, minlength=256 * n).reshape(n, 256).astype(np.float32)
    mid = np.cumsum(counts, axis=1) - counts / 2
    return (mid * np.float32(255.0 / flat.shape[1])).ravel()[keys].reshape(flat.shape)


def _zoom_into(out: np.ndarray, equalised: np.ndarray) -> None:
    n = len(equalised)
    for k, resample in enumerate(_zoom_matrices()):
        # Two plain GEMMs over the whole stack: along rows, then (transposed) along columns.
        across = (equalised.reshape(n * BASE, BASE) @ resample.T).reshape(n, BASE, SIZE)
        both = (across.transpose(0, 2, 1).reshape(n * SIZE, BASE) @ resample.T).reshape(n, SIZE, SIZE)
        out[:, k] = np.rint(both.transpose(0, 2, 1)).clip(0, 255)


@lru_cache(maxsize=1)
def _zoom_matrices() -> list[np.ndarray]:
    """(SIZE, BASE) area-averaging matrices, one per zoom, for the central BASE/z pixels."""
    return [area_weights(BASE, SIZE, (BASE - BASE / zoom) / 2, BASE / zoom) for zoom in ZOOMS]


@lru_cache(maxsize=1)
def _blur_matrix() -> np.ndarray:
    """(SIZE, SIZE) Gaussian blur of width HIGH_PASS_SIGMA with mirrored edges (scipy.ndimage's 'reflect')."""
    radius = int(4 * HIGH_PASS_SIGMA + 0.5)
    taps = np.exp(-0.5 * (np.arange(-radius, radius + 1) / HIGH_PASS_SIGMA) ** 2)
    taps /= taps.sum()
    mat = np.zeros((SIZE, SIZE))
    for i in range(SIZE):
        for offset, weight in zip(range(-radius, radius + 1), taps):
            j = i + offset
            j = -j - 1 if j < 0 else 2 * SIZE - j - 1 if j >= SIZE else j
            mat[i, j] += weight
    return mat.astype(np.float32)


def high_pass(thumbs: np.ndarray) -> np.ndarray:
    """Thumbnails minus their Gaussian blur, as float32 (what the scores correlate)."""
    thumbs = np.asarray(thumbs, dtype=np.float32)
    blur = _blur_matrix()
    return thumbs - blur @ thumbs @ blur.T


class LazyFeatures:
    """The :func:`features` of many images, indexed like them (``feats[rows, zoom]``) but held
    as their uint8 equalised thumbnails: high-passed once up front where the float32 features
    take at most ``HIGH_PASSED_BYTES``, else for each block of pairs as it is scored (a
    quarter of the memory, 1.7 KB an image instead of 6.9 KB, so that the candidates of a
    million images fit in a few GB). The values are the same either way."""

    def __init__(self, thumbs: np.ndarray) -> None:
        self.thumbs = thumbs
        self.high_passed: np.ndarray | None = None
        if thumbs.size * 4 <= HIGH_PASSED_BYTES:
            self.high_passed = np.empty(thumbs.shape, dtype=np.float32)
            with threadpool_limits(limits=1, user_api="blas"):
                _on_threads(self._high_pass_block, range(0, len(thumbs), _THUMB_BLOCK))

    def _high_pass_block(self, start: int) -> None:
        self.high_passed[start : start + _THUMB_BLOCK] = high_pass(self.thumbs[start : start + _THUMB_BLOCK])

    @property
    def shape(self) -> tuple[int, ...]:
        return self.thumbs.shape

    def __len__(self) -> int:
        return len(self.thumbs)

    def __getitem__(self, key: Any) -> np.ndarray:
        return self.high_passed[key] if self.high_passed is not None else high_pass(self.thumbs[key])


#: Verification features: float32 arrays (:func:`features`) or :class:`LazyFeatures`.
Features = np.ndarray | LazyFeatures


def load_features(
    paths: Sequence[str], jobs: int = 1, on_progress: Progress | None = None, backend: Backend | None = None
) -> LazyFeatures:
    """Decode ``paths`` (in parallel, or on ``backend``) into verification features; unreadable files give zeros."""
    if not paths:
        return LazyFeatures(np.zeros((0, len(ZOOMS), SIZE, SIZE), dtype=np.uint8))
    return LazyFeatures(stack_chunks(map_chunks(thumbnails, paths, jobs, on_progress, "Verifying candidates", backend), len(paths)))


def features_of_pixels(pixels: np.ndarray, rows: np.ndarray) -> LazyFeatures:
    """:func:`load_features` of ``pixels[rows]``, images already decoded into (n, BASE, BASE)
    uint8 copies (scan's ``keep_pixels=BASE``), so a folder is decoded once for hashing and
    verification. Worked in blocks (whole-stack temporaries cost more in page faults than
    the arithmetic), on :func:`_threads` threads: numpy releases the GIL in the indexing and
    the products, and each block writes its own rows, so the thumbnails are the same."""
    if np.ndim(pixels) != 3 or np.shape(pixels)[1:] != (BASE, BASE):
        raise ValueError(f"pixels must have shape (n, {BASE}, {BASE}), got {np.shape(pixels)}")
    rows = np.asarray(rows, dtype=np.int64)
    out = np.empty((len(rows), len(ZOOMS), SIZE, SIZE), dtype=np.uint8)

    def fill(start: int) -> None:
        block = pixels[rows[start : start + _THUMB_BLOCK]]
        out[start : start + len(block)] = _zoomed(block)

    with threadpool_limits(limits=1, user_api="blas"):
        _on_threads(fill, range(0, len(rows), _THUMB_BLOCK))
    return LazyFeatures(out)


def window_spreads(feats: Features) -> np.ndarray:
    """(n, k, shifts, shifts) root of the centred energy of every shifted window of ``feats``
    (n, k, SIZE, SIZE): the NCC denominator, from box sums written as two GEMMs each, in
    blocks of images (whole-stack temporaries cost more in page faults than the arithmetic)."""
    side, shifts = SIZE - 2 * MAX_SHIFT, 2 * MAX_SHIFT + 1
    box = ((np.arange(SIZE)[None, :] - np.arange(shifts)[:, None]) % SIZE < side).astype(np.float32).T  # (SIZE, shifts)
    spread = np.empty((*feats.shape[:-2], shifts, shifts), dtype=np.float32)

    def window_sums(x: np.ndarray) -> np.ndarray:
        m = len(x)
        across = (x.reshape(m * SIZE, SIZE) @ box).reshape(m, SIZE, shifts)
        return (across.transpose(0, 2, 1).reshape(m * shifts, SIZE) @ box).reshape(m, shifts, shifts).transpose(0, 2, 1)

    images = max(1, _THUMB_BLOCK // max(1, int(np.prod(feats.shape[1:-2]))))
    for start in range(0, len(feats), images):
        block = np.asarray(feats[start : start + images], dtype=np.float32)
        values = block.reshape(-1, SIZE, SIZE)
        total, energy = window_sums(values), window_sums(values * values)
        spread[start : start + len(block)] = np.sqrt(np.maximum(energy - total * total / (side * side), 1e-2)).reshape(
            *block.shape[:-2], shifts, shifts)
    return spread


def _best_correlation(fixed: np.ndarray, moving: np.ndarray, spread: np.ndarray) -> np.ndarray:
    """(p, k) best NCC over shifts of each ``fixed`` (p, SIZE, SIZE) central crop against each
    of the k ``moving`` (p, k, SIZE, SIZE) thumbnails, whose :func:`window_spreads` is ``spread``.

    Each shifted window is a contiguous run of the flattened moving image once the fixed
    crop is padded to whole rows (its padding is zero, so the wrap into the next row adds
    nothing); the crop is zero-mean, so the windows need no centring. All the windows are
    one strided view, so a single einsum reads each moving image while it is in cache
    (25 separate passes over the block cost twice as much).
    """
    p, k = moving.shape[:2]
    side, shifts = SIZE - 2 * MAX_SHIFT, 2 * MAX_SHIFT + 1
    crop = fixed[:, MAX_SHIFT : SIZE - MAX_SHIFT, MAX_SHIFT : SIZE - MAX_SHIFT]
    crop = crop - crop.mean(axis=(1, 2), keepdims=True)
    norm = np.sqrt((crop * crop).sum(axis=(1, 2), keepdims=True))
    padded = np.zeros((p, side, SIZE), dtype=np.float32)
    padded[:, :, :side] = crop / np.where(norm > 1e-2, norm, np.inf)  # flat: rounding noise only
    # The last row's padding is never needed, so the longest window ends at the last pixel.
    padded = padded.reshape(p, side * SIZE)[:, : side * SIZE - (SIZE - side)]
    flat = np.ascontiguousarray(moving, dtype=np.float32).reshape(p, k, SIZE * SIZE)
    pair_stride, zoom_stride, pixel = flat.strides
    windows = as_strided(
        flat,
        shape=(p, k, shifts, shifts, padded.shape[1]),
        strides=(pair_stride, zoom_stride, SIZE * pixel, pixel, pixel),
        writeable=False,
    )
    dot = np.einsum("pkyxj,pj->pkyx", windows, padded)
    return (dot / spread).reshape(p, k, -1).max(axis=2)


def pair_similarity(
    feats: Features,
    a: np.ndarray,
    b: np.ndarray,
    mirror: np.ndarray | None = None,
    zoom_from: float = ZOOM_FROM,
    spreads: np.ndarray | None = None,
) -> np.ndarray:
    """Verification score of each pair (``feats[a]``, ``feats[b]``), ``b`` mirrored where ``mirror``.

    The best normalised cross-correlation of the :func:`features` over shifts and zooms, in
    [-1, 1]: 1 for copies that differ only by a monotone tone change, a shift of up to
    MAX_SHIFT thumbnail pixels or a crop matching one of ZOOMS; flat images score 0. Pairs
    scoring under ``zoom_from`` unzoomed keep that score (no zoom search). ``spreads`` is
    :func:`window_spreads` of all of ``feats``, for callers that score several batches.
    """
    a, b = np.asarray(a, dtype=np.int64), np.asarray(b, dtype=np.int64)
    mirror = np.zeros(len(a), dtype=bool) if mirror is None else np.asarray(mirror, dtype=bool)
    if spreads is None:
        used, inverse = np.unique(np.concatenate([a, b]), return_inverse=True)
        spreads = window_spreads(feats[used])  # once per image, not per pair
        a_spread, b_spread = inverse[: len(a)], inverse[len(a) :]
    else:
        a_spread, b_spread = a, b

    def block(sl: slice) -> np.ndarray:
        flip = mirror[sl]
        first, second = feats[a[sl], 0], feats[b[sl], 0]
        second[flip] = second[flip, :, ::-1]
        # A mirrored image's window at x-shift dx is the mirror of the window at 2 * MAX_SHIFT - dx.
        second_spread = spreads[b_spread[sl], :1]
        second_spread[flip] = second_spread[flip, :, :, ::-1]
        score = _best_correlation(first, second[:, None], second_spread)[:, 0]
        zoom = np.flatnonzero(score >= zoom_from)
        if len(zoom) and len(ZOOMS) > 1:
            za, zb, zflip = a[sl][zoom], b[sl][zoom], flip[zoom]
            first_zoomed, second_zoomed = feats[za, 1:], feats[zb, 1:]
            second_zoomed[zflip] = second_zoomed[zflip][..., ::-1]
            zoomed_spread = spreads[b_spread[sl][zoom], 1:]
            zoomed_spread[zflip] = zoomed_spread[zflip][..., ::-1]
            zoomed = np.maximum(
                _best_correlation(first[zoom], second_zoomed, zoomed_spread).max(axis=1),
                _best_correlation(second[zoom], first_zoomed, spreads[a_spread[sl][zoom], 1:]).max(axis=1),
            )
            score[zoom] = np.maximum(score[zoom], zoomed)
        return score

    parts = _on_threads(block, [slice(start, start + _BLOCK) for start in range(0, len(a), _BLOCK)])
    return np.concatenate(parts) if parts else np.zeros(0, dtype=np.float32)


def _on_threads(fn: Callable[[T], R], items: Sequence[T]) -> list[R]:
    """``[fn(x) for x in items]`` on :func:`_threads` threads (one item: in this thread). numpy
    releases the GIL in its indexing and products, so blocks of features share the cores
    without being copied to processes."""
    with ThreadPoolExecutor(max_workers=_threads()) if len(items) > 1 else nullcontext() as pool:
        return list(pool.map(fn, items) if pool else map(fn, items))


def _threads() -> int:
    """Scoring threads: both cores of the 2-core machine the targets are set on, fewer where fewer
    are ours, and one where other work already keeps the cores busy (:func:`ferclean.parallel.machine_busy`):
    there the threads mostly wait for each other's GIL hand-offs while descheduled (FER2013's
    scoring at load 11 on 2 cores: 6 s of wall on one thread, 26 s on two; the scores are the same)."""
    cores = default_jobs()
    return 1 if machine_busy(cores) else max(1, min(2, cores))


def best_similarity(
    feats: Features, a: np.ndarray, b: np.ndarray, zoom_from: float = ZOOM_FROM, spreads: np.ndarray | None = None
) -> np.ndarray:
    """Score of each pair as it is or with ``b`` mirrored, whichever is higher."""
    flips = np.ones(len(a), dtype=bool)
    direct = pair_similarity(feats, a, b, zoom_from=zoom_from, spreads=spreads)
    return np.maximum(direct, pair_similarity(feats, a, b, flips, zoom_from, spreads))


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
    component = components(n, a, b)
    members = np.zeros(n, dtype=bool)
    members[a] = members[b] = True
    sizes = np.bincount(component[members], minlength=component.max() + 1)
    labels[members] = component[members]
    # Members of each component of three or more, peeled where too big for all-pairs scores.
    big = np.flatnonzero(members & (sizes[component] >= 3))
    order = big[np.argsort(component[big], kind="stable")]
    starts = np.flatnonzero(np.diff(component[order], prepend=-1))
    parts = [part for comp in np.split(order, starts[1:]) if len(comp) for part in _peel(comp, a, b, score, min_similarity)]
    labels[np.concatenate([p for p in parts if len(p) < 2] or [np.zeros(0, np.int64)])] = -1
    parts = [p for p in parts if len(p) >= 2]
    # Every within-part pair scored in one call (condensed order, which triu_indices matches).
    pairs = [np.triu_indices(len(items), k=1) for items in parts]
    firsts = np.concatenate([items[i] for items, (i, _) in zip(parts, pairs)] or [np.zeros(0, np.int64)])
    seconds = np.concatenate([items[j] for items, (_, j) in zip(parts, pairs)] or [np.zeros(0, np.int64)])
    distances = 1.0 - np.clip(score(firsts, seconds), -1.0, 1.0) if len(firsts) else np.zeros(0)
    offsets = np.cumsum([0] + [len(i) for i, _ in pairs])
    next_label = n
    for k, items in enumerate(parts):
        cut = complete_linkage_cut(distances[offsets[k] : offsets[k + 1]], len(items), 1.0 - (min_similarity - GROUP_SLACK))
        counts = np.bincount(cut)
        labels[items] = np.where(counts[cut] >= 2, next_label + cut, -1)
        next_label += len(counts)
    return labels


def complete_linkage_cut(distances: np.ndarray, n: int, cut: float) -> np.ndarray:
    """Flat cluster (0, 1, ...) of each of ``n`` items under complete linkage of the condensed
    ``distances``, cut at ``cut``: the partition of scipy's ``fcluster(linkage(distances,
    "complete"), cut, "distance")``, merge for merge (its nearest-neighbour chain, ties broken
    the same way), without importing scipy.cluster (0.2 s of a FER2013 dedupe).

    Complete linkage is monotone, so the flat clusters are the merges of height at most ``cut``.
    """
    dist = np.full((n, n), np.inf)  # inf on the diagonal and, once merged away, for a cluster's row and column
    upper = np.triu_indices(n, k=1)
    dist[upper] = dist[upper[::-1]] = np.asarray(distances, dtype=np.float64)
    flat, active = np.arange(n), np.ones(n, dtype=bool)
    chain: list[int] = []
    for _ in range(n - 1):
        if not chain:
            chain.append(int(np.argmax(active)))
        while True:  # follow nearest neighbours until two are each other's (the previous one wins ties)
            x = chain[-1]
            y, nearest = (chain[-2], dist[x, chain[-2]]) if len(chain) > 1 else (-1, np.inf)
            closest = int(np.argmin(dist[x]))
            if dist[x, closest] < nearest:
                y, nearest = closest, dist[x, closest]
            if len(chain) > 1 and y == chain[-2]:
                break
            chain.append(y)
        del chain[-2:]
        x, y = min(x, y), max(x, y)  # the merged cluster lives on in the larger index, as in scipy
        if nearest <= cut:
            flat[flat == flat[x]] = flat[y]
        dist[y] = dist[:, y] = np.maximum(dist[x], dist[y])
        dist[x] = dist[:, x] = np.inf
        active[x] = False
    return np.unique(flat, return_inverse=True)[1].ravel()


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
    frame: pd.DataFrame, candidates: pd.DataFrame, feats: Features, rows: np.ndarray, min_similarity: float
) -> tuple[pd.DataFrame, np.ndarray]:
    """Score hash candidates on their pixels and group the verified ones without chaining.

    ``candidates`` are :func:`ferclean.dedupe.find_duplicate_pairs` rows (positions ``a``,
    ``b`` into ``frame``); ``feats[k]`` are the :func:`features` of frame position
    ``rows[k]`` (sorted). Returns the candidates with ``similarity`` and ``verified``
    columns (exact copies score 1; mirror candidates need MIRROR_MARGIN more), and a group
    label per frame row (-1 for none).
    """
    if not 0.0 <= min_similarity <= 1.0:
        raise ValueError("min_similarity must be between 0 and 1")
    digests = frame["sha256"].to_numpy()
    where = lambda positions: np.searchsorted(rows, positions)  # noqa: E731 - frame position -> feature row

    def score(i: np.ndarray, j: np.ndarray) -> np.ndarray:
        same = digests[i] == digests[j]
        return np.where(same, 1.0, best_similarity(feats, where(i), where(j), zoom_from, spreads))

    a, b = candidates["a"].to_numpy(), candidates["b"].to_numpy()
    zoom_from = min(ZOOM_FROM, min_similarity)
    # One BLAS thread (set once: threadpoolctl is slow to enter): the products are small.
    with threadpool_limits(limits=1, user_api="blas"):
        spreads = window_spreads(feats)  # once for the candidates and the chain splitting
        similarity = pair_similarity(feats, where(a), where(b), candidates["kind"].eq("mirror").to_numpy(), zoom_from, spreads)
    similarity = np.where(candidates["kind"].eq("exact").to_numpy(), 1.0, similarity).round(4)
    verified = similarity >= min_similarity + np.where(candidates["kind"].eq("mirror").to_numpy(), MIRROR_MARGIN, 0.0)
    scored = candidates.assign(similarity=similarity, verified=verified)
    with threadpool_limits(limits=1, user_api="blas"):
        labels = split_chains(len(frame), a[verified], b[verified], score, min_similarity)
    return scored, labels
