"""Perceptual hashes of many images at once: decoding in worker processes, DCT in numpy.

Bit-identical to ``imagehash.phash`` (and to the phash of the horizontal mirror that the
manifest keeps in ``phash_flip``): each image is reduced to 32x32 by PIL's Lanczos resize
exactly as imagehash does (small images of one size together, in numpy, by PIL's own
fixed-point arithmetic), then the stack goes through the low-frequency corner of the
DCT-II as two matrix products and is thresholded at each image's median. The few images
with a coefficient so close to their median that rounding could flip a bit are re-hashed
with imagehash's own ``scipy.fftpack`` route, so no bit ever differs.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import lru_cache, partial
from typing import TypeVar

import numpy as np
import pandas as pd
from PIL import Image
from threadpoolctl import threadpool_limits

from ferclean.images import UnreadableImage, open_gray, pixel_sha256, read_ahead, too_small
from ferclean.parallel import Backend, Progress, iter_batches
from ferclean.quality import WORK_SIDE, quality_notes, quality_table, work_copy

HASH_SIZE = 8
#: imagehash's phash works on a (hash_size * highfreq_factor)^2 thumbnail.
THUMB = 32
#: A coefficient within this (relative) distance of its median is re-checked the slow way.
_TIE_TOLERANCE = 1e-9
_CHUNK = 512

T = TypeVar("T")
_HASH_BLOCK = 2048
#: Fixed-point bits of PIL's 8-bit resampling (libImaging/Resample.c).
_PRECISION_BITS = 32 - 8 - 2
#: Largest image (pixels) whose thumbnail is computed in a numpy batch; bigger ones go through PIL.
_BATCH_RESIZE_MAX = 128 * 128
#: Mirroring negates the odd horizontal frequencies.
_MIRROR_SIGNS = np.tile((-1.0) ** np.arange(HASH_SIZE), HASH_SIZE)


@dataclass
class DecodedBatch:
    """What decoding a list of files gives: per file size, pixel digest, phash of the image and
    of its mirror (hashed where decoded, so only 16 bytes per image leave a worker), error."""

    width: np.ndarray
    height: np.ndarray
    sha256: list[str]
    phash: np.ndarray  # (n,) uint64, zero where unreadable
    phash_flip: np.ndarray  # phash of the mirrored images
    error: list[str]
    quality: list[str] = field(default_factory=list)  # scan's quality reasons, when asked for
    pixels: np.ndarray | None = None  # (n, side, side) uint8 grey copies (small_copy), when asked for


@lru_cache(maxsize=64)
def _resize_commutes_with_flip(width: int, height: int) -> bool:
    """Whether PIL's Lanczos resize from this size is mirror-symmetric (true for most sizes).

    Then the thumbnail of the mirror is the mirror of the thumbnail, bit for bit, and one
    resize per image is enough. Probed on random images because PIL's fixed-point
    coefficient tables are not guaranteed symmetric.
    """
    rng = np.random.default_rng(width * 100003 + height)
    for _ in range(3):
        image = Image.fromarray(rng.integers(0, 256, (height, width), dtype=np.uint8))
        direct = np.asarray(image.resize((THUMB, THUMB), Image.Resampling.LANCZOS))[:, ::-1]
        mirrored = np.asarray(image.transpose(Image.Transpose.FLIP_LEFT_RIGHT).resize((THUMB, THUMB), Image.Resampling.LANCZOS))
        if not np.array_equal(direct, mirrored):
            return False
    return True


def _sinc(x: float) -> float:
    return 1.0 if x == 0.0 else math.sin(x * math.pi) / (x * math.pi)


def _lanczos(x: float) -> float:
    """PIL's Lanczos kernel (support 3), in its operation order."""
    return _sinc(x) * _sinc(x / 3.0) if -3.0 <= x < 3.0 else 0.0


@lru_cache(maxsize=1024)
def _lanczos_weights(size: int) -> np.ndarray:
    """(THUMB, size) fixed-point weights (integers held in float64) of PIL's 8-bit Lanczos
    resampling of one axis from ``size`` pixels to THUMB: Resample.c's ``precompute_coeffs``
    and ``normalize_coeffs_8bpc``, operation for operation."""
    scale = size / THUMB
    filterscale = max(scale, 1.0)
    support = 3.0 * filterscale
    weights = np.zeros((THUMB, size))
    for out in range(THUMB):
        center = (out + 0.5) * scale
        first = max(int(center - support + 0.5), 0)
        last = min(int(center + support + 0.5), size)
        taps = [_lanczos((x - center + 0.5) * (1.0 / filterscale)) for x in range(first, last)]
        total = 0.0
        for tap in taps:
            total += tap
        for x, tap in zip(range(first, last), taps):
            value = tap / total if total != 0.0 else tap
            weights[out, x] = int(value * (1 << _PRECISION_BITS) + (0.5 if value >= 0 else -0.5))
    return weights


def _lanczos_pass(values: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """One PIL resampling pass along the last axis: rounded fixed-point sums, clipped to 8 bits.
    Exact in float64 (every sum is an integer below 2**31), whatever the summation order."""
    sums = values @ weights.T
    sums += 1 << (_PRECISION_BITS - 1)
    sums *= 1.0 / (1 << _PRECISION_BITS)  # exact: a power of two
    np.floor(sums, out=sums)
    return np.minimum(np.maximum(sums, 0.0, out=sums), 255.0, out=sums)


def _thumbnails(stack: np.ndarray, vertical_first: bool) -> np.ndarray:
    """(n, THUMB, THUMB) uint8 Lanczos thumbnails of a (n, height, width) uint8 stack, as PIL's
    ``resize((THUMB, THUMB), LANCZOS)`` gives them: one pass per axis whose side is not THUMB
    already, in the order PIL takes for that size (:func:`_pil_resize_order`)."""
    out = stack.astype(np.float64)
    for axis in (1, 2) if vertical_first else (2, 1):
        if stack.shape[axis] == THUMB:
            continue
        weights = _lanczos_weights(stack.shape[axis])
        out = _lanczos_pass(out, weights) if axis == 2 else _lanczos_pass(out.transpose(0, 2, 1), weights).transpose(0, 2, 1)
    return out.astype(np.uint8)


@lru_cache(maxsize=1024)
def _pil_resize_order(width: int, height: int) -> bool | None:
    """Whether PIL resamples this size vertically first (it picks the order by size), found by
    comparing :func:`_thumbnails` with PIL on random images; None where neither order gives
    PIL's pixels (another Pillow's resampling), and PIL resizes each image itself."""
    rng = np.random.default_rng(width * 100019 + height)
    images = rng.integers(0, 256, (4, height, width), dtype=np.uint8)
    images[1] = np.where(images[1] > 127, 255, 0)  # hard edges: the most ringing, the most clipping
    expected = np.stack([np.asarray(Image.fromarray(im).resize((THUMB, THUMB), Image.Resampling.LANCZOS)) for im in images])
    for vertical_first in (False, True):
        if np.array_equal(_thumbnails(images, vertical_first), expected):
            return vertical_first
    return None


def _batch_thumbnails(values: list[np.ndarray | None], thumbs: np.ndarray, flips: np.ndarray) -> None:
    """Fill ``thumbs`` and ``flips`` for the decoded images in ``values`` (None elsewhere), one
    numpy batch per image size instead of a PIL resize per image (FER2013: 10 of the 105 us an
    image costs)."""
    by_size: dict[tuple[int, ...], list[int]] = {}
    for k, pixels in enumerate(values):
        if pixels is not None:
            by_size.setdefault(pixels.shape, []).append(k)
    for (height, width), rows in by_size.items():
        stack, vertical_first = np.stack([values[k] for k in rows]), bool(_pil_resize_order(width, height))
        thumbs[rows] = _thumbnails(stack, vertical_first)
        if _resize_commutes_with_flip(width, height):
            flips[rows] = thumbs[rows][:, :, ::-1]
        else:
            flips[rows] = _thumbnails(stack[:, :, ::-1], vertical_first)


def decode_one(path: str) -> tuple[Image.Image | None, str]:
    """:func:`ferclean.images.open_gray` (the one decoding and error ladder), returning the
    error message instead of raising."""
    try:
        return open_gray(path), ""
    except UnreadableImage as exc:
        return None, str(exc)


def small_copy(gray: Image.Image, side: int) -> np.ndarray:
    """(side, side) uint8 pixels of ``gray``, box-filtered (the image itself when it is already that size)."""
    return np.asarray(gray if gray.size == (side, side) else gray.resize((side, side), Image.Resampling.BOX))


def decode_files(paths: Sequence[str], quality: bool = False, side: int | None = None) -> DecodedBatch:
    """Decode and phash ``paths`` in this process; unreadable files get an error instead of raising.

    With ``quality``, each readable image's :mod:`ferclean.quality` reasons (comma list,
    empty for a usable face) are checked on the pixels decoded here, as one batch. With
    ``side``, ``pixels`` keeps a :func:`small_copy` of each image (zeros where unreadable),
    so that a later step (dedupe's verification) need not decode the files again."""
    n = len(paths)
    width, height = np.zeros(n, dtype=np.int64), np.zeros(n, dtype=np.int64)
    thumbs = np.zeros((n, THUMB, THUMB), dtype=np.uint8)
    flips = np.zeros_like(thumbs)
    work = np.zeros((n if quality else 0, WORK_SIDE, WORK_SIDE), dtype=np.uint8)
    pixels = None if side is None else np.zeros((n, side, side), dtype=np.uint8)
    digests, errors = [""] * n, [""] * n
    batched: list[np.ndarray | None] = [None] * n  # small images, thumbnailed together below
    for k, path in enumerate(paths):
        gray, errors[k] = decode_one(path)
        if gray is None:
            continue
        values = np.asarray(gray)  # one copy out of PIL for the digest, the checks, the kept pixels, the thumbnail
        if pixels is not None:
            pixels[k] = values if values.shape == pixels.shape[1:] else small_copy(gray, pixels.shape[1])
        if quality:
            work[k] = work_copy(values)
        width[k], height[k] = gray.size
        digests[k] = pixel_sha256(values)
        if values.size <= _BATCH_RESIZE_MAX and _pil_resize_order(*gray.size) is not None:
            batched[k] = values
            continue
        thumbs[k] = np.asarray(gray.resize((THUMB, THUMB), Image.Resampling.LANCZOS))
        if _resize_commutes_with_flip(*gray.size):
            flips[k] = thumbs[k, :, ::-1]
        else:
            flips[k] = np.asarray(gray.transpose(Image.Transpose.FLIP_LEFT_RIGHT).resize((THUMB, THUMB), Image.Resampling.LANCZOS))
    readable = np.array([e == "" for e in errors], dtype=bool)
    direct, mirrored = np.zeros(n, dtype=np.uint64), np.zeros(n, dtype=np.uint64)
    with threadpool_limits(limits=1, user_api="blas"):  # small products; the other workers have the other cores
        _batch_thumbnails(batched, thumbs, flips)
        direct[readable], mirrored[readable] = phash_pair(thumbs[readable], flips[readable])
    reasons = [""] * n
    if quality:
        notes = quality_notes(quality_table(work[readable], width[readable], height[readable]))
        for k, note in zip(np.flatnonzero(readable), notes):
            reasons[k] = note
    return DecodedBatch(width, height, digests, direct, mirrored, errors, reasons, pixels)


def map_chunks(
    fn: Callable[[list[str]], T],
    paths: Sequence[str],
    jobs: int | None = 1,
    on_progress: Progress | None = None,
    stage: str = "",
    backend: Backend | None = None,
    chunk: int = _CHUNK,
) -> Iterator[T]:
    """``fn`` on consecutive chunks of ``chunk`` paths (:func:`ferclean.parallel.iter_batches`),
    yielded in order as each is ready, counting progress in paths (in chunks on a cluster).
    Each worker asks the OS to read its whole chunk ahead (:func:`ferclean.images.read_ahead`)
    before ``fn`` decodes it. ``fn`` must be module-level (or a bound method of a picklable
    object)."""
    chunks = [list(paths[i : i + chunk]) for i in range(0, len(paths), chunk)]
    return iter_batches(partial(_read_ahead_then, fn), chunks, stage, jobs, on_progress, backend,
                        sizes=[len(c) for c in chunks])


def _read_ahead_then(fn: Callable[[list[str]], T], paths: list[str]) -> T:
    read_ahead(paths)
    return fn(paths)


def stack_chunks(parts: Iterable[np.ndarray], rows: int) -> np.ndarray:
    """``np.concatenate(parts)`` of arrays that arrive one by one and hold ``rows`` rows at most
    together, each copied into place as it comes: a million images' thumbnails or views (1-2 GB)
    are never held twice, nor left in the freed chunks that the allocator keeps."""
    out: np.ndarray | None = None
    at = 0
    for part in parts:
        if out is None:
            out = np.empty((rows, *part.shape[1:]), dtype=part.dtype)
        if at + len(part) > rows:
            raise ValueError(f"parts hold more than rows={rows} rows")
        out[at : at + len(part)] = part
        at += len(part)
        del part  # not held while the next one is made
    if out is None:
        raise ValueError("parts must hold at least one array")
    return out[:at]


def decode_files_parallel(
    paths: Sequence[str],
    jobs: int = 1,
    on_progress: Progress | None = None,
    stage: str = "Reading images",
    backend: Backend | None = None,
    quality: bool = False,
    side: int | None = None,
) -> DecodedBatch:
    """:func:`decode_files` over ``jobs`` processes or ``backend`` (:func:`map_chunks`), joined in order."""
    parts = list(map_chunks(partial(decode_files, quality=quality, side=side), paths, jobs, on_progress, stage, backend))
    if not parts:
        empty = np.zeros(0, dtype=np.uint64)
        pixels = None if side is None else np.zeros((0, side, side), dtype=np.uint8)
        return DecodedBatch(np.zeros(0, np.int64), np.zeros(0, np.int64), [], empty, empty.copy(), [], [], pixels)
    return DecodedBatch(
        np.concatenate([p.width for p in parts]),
        np.concatenate([p.height for p in parts]),
        [d for p in parts for d in p.sha256],
        np.concatenate([p.phash for p in parts]),
        np.concatenate([p.phash_flip for p in parts]),
        [e for p in parts for e in p.error],
        [r for p in parts for r in p.quality],
        None if side is None else stack_chunks((_take_pixels(p) for p in parts), len(paths)),
    )


def _take_pixels(batch: DecodedBatch) -> np.ndarray:
    """A batch's pixels, which it no longer holds (:func:`stack_chunks` frees each once copied)."""
    pixels, batch.pixels = batch.pixels, None
    return pixels


@lru_cache(maxsize=1)
def _dct_rows() -> np.ndarray:
    """The first HASH_SIZE rows of scipy.fftpack's unnormalised DCT-II matrix of size THUMB."""
    k = np.arange(HASH_SIZE)[:, None]
    n = np.arange(THUMB)[None, :]
    return 2.0 * np.cos(np.pi * k * (2 * n + 1) / (2 * THUMB))


def _bits_to_uint64(bits: np.ndarray) -> np.ndarray:
    """(n, 64) booleans, first bit most significant (imagehash's hex order), to uint64."""
    return np.packbits(bits.reshape(len(bits), 64), axis=1).view(">u8").ravel().astype(np.uint64)


def _imagehash_bits(thumb: np.ndarray) -> np.ndarray:
    """imagehash.phash's own arithmetic on one 32x32 thumbnail (the tie fallback)."""
    import scipy.fftpack

    dct = scipy.fftpack.dct(scipy.fftpack.dct(thumb, axis=0), axis=1)
    low = dct[:HASH_SIZE, :HASH_SIZE]
    return (low > np.median(low)).ravel()


def phash_stack(thumbs: np.ndarray) -> np.ndarray:
    """uint64 phash of each 32x32 uint8 thumbnail in ``thumbs`` (n, 32, 32)."""
    return _hash_thumbs(thumbs, mirrored=False)[0]


def phash_pair(thumbs: np.ndarray, flip_thumbs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """phash of each thumbnail and of its mirror (``flip_thumbs``), from one DCT.

    Mirroring a row negates its odd DCT coefficients, so where ``flip_thumbs`` is the exact
    mirror of ``thumbs`` (almost always) its hash costs only a sign flip and a median.
    """
    direct, mirrored = _hash_thumbs(thumbs, mirrored=True)
    other = np.flatnonzero((np.asarray(flip_thumbs) != np.asarray(thumbs)[:, :, ::-1]).any(axis=(1, 2)))
    if len(other):
        mirrored[other] = phash_stack(np.asarray(flip_thumbs)[other])
    return direct, mirrored


def _hash_thumbs(thumbs: np.ndarray, mirrored: bool) -> tuple[np.ndarray, np.ndarray | None]:
    thumbs = np.asarray(thumbs)
    if thumbs.ndim != 3 or thumbs.shape[1:] != (THUMB, THUMB):
        raise ValueError(f"thumbs must have shape (n, {THUMB}, {THUMB}), got {thumbs.shape}")
    direct, flipped = [], []
    # Blocks keep the float64 copy in cache; one BLAS thread, since these products are
    # small and extra threads only fight the decoding workers.
    with threadpool_limits(limits=1, user_api="blas"):
        for i in range(0, len(thumbs), _HASH_BLOCK):
            block = thumbs[i : i + _HASH_BLOCK]
            low = _low_frequencies(block)
            direct.append(_threshold(low, block))
            if mirrored:
                flipped.append(_threshold(low * _MIRROR_SIGNS, block[:, :, ::-1]))
    empty = np.zeros(0, dtype=np.uint64)
    return (np.concatenate(direct) if direct else empty), ((np.concatenate(flipped) if flipped else empty) if mirrored else None)


def _low_frequencies(thumbs: np.ndarray) -> np.ndarray:
    """(n, 64) top-left 8x8 DCT-II coefficients, row-major, by two plain GEMMs over all rows at once."""
    n, rows = len(thumbs), _dct_rows()
    across = thumbs.reshape(n * THUMB, THUMB).astype(np.float64) @ rows.T  # (n*32, 8): along rows
    down = rows @ across.reshape(n, THUMB, HASH_SIZE).transpose(1, 0, 2).reshape(THUMB, n * HASH_SIZE)
    return down.reshape(HASH_SIZE, n, HASH_SIZE).transpose(1, 0, 2).reshape(n, -1)


def _threshold(low: np.ndarray, thumbs: np.ndarray) -> np.ndarray:
    """Bits above each image's median; near-ties are redone with imagehash's arithmetic."""
    median = np.median(low, axis=1, keepdims=True)
    bits = low > median
    scale = np.abs(low).max(axis=1, keepdims=True) + 1.0
    for i in np.flatnonzero((np.abs(low - median) <= _TIE_TOLERANCE * scale).any(axis=1)):
        bits[i] = _imagehash_bits(thumbs[i])
    return _bits_to_uint64(bits)


def to_hex(hashes: np.ndarray) -> list[str]:
    """16-digit hex strings, as ``str(imagehash.phash(...))`` writes them."""
    return [f"{int(h):016x}" for h in np.asarray(hashes, dtype=np.uint64)]


def describe_files(
    paths: Sequence[str],
    jobs: int = 1,
    on_progress: Progress | None = None,
    backend: Backend | None = None,
    quality: bool = False,
) -> pd.DataFrame:
    """Size, pixel digest, phash and mirrored phash per file (the manifest's columns), as
    :func:`ferclean.images.inspect_image` gives them: ``error`` for unreadable files (NA or
    empty values elsewhere), ``review`` for images too small to show a face and, with
    ``quality``, ``quality`` for scan's quality reasons."""
    return describe_batch(decode_files_parallel(paths, jobs, on_progress, backend=backend, quality=quality))


def describe_batch(batch: DecodedBatch) -> pd.DataFrame:
    """The :func:`describe_files` table of decoded files."""
    direct, mirrored = batch.phash, batch.phash_flip
    bad = np.array([e != "" for e in batch.error], dtype=bool)
    return pd.DataFrame(
        {
            "width": pd.Series(batch.width, dtype="Int64").mask(bad),
            "height": pd.Series(batch.height, dtype="Int64").mask(bad),
            "sha256": batch.sha256,
            "phash": np.where(bad, "", to_hex(direct)),
            "phash_flip": np.where(bad, "", to_hex(mirrored)),
            "error": batch.error,
            "review": [too_small(w, h) if not b else "" for w, h, b in zip(batch.width, batch.height, bad)],
            "quality": batch.quality,
        }
    )
