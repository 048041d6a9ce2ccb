"""Images as arrays, and the hand-made features the fast probe learns from.

HOG (gradient orientations per cell) carries most of what a linear model can see of an
expression: mouth and brow edges. HOG at a coarser scale, local binary pattern histograms
(texture: wrinkles, teeth) and downsampled pixels (the face's overall shape and shading) add
what fine HOG misses. A mirrored copy of every image gives the probe twice the data for free,
since expressions are left-right symmetric.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image

from ferclean.images import UnreadableImage, open_gray
from ferclean.parallel import Backend, Progress, parallel_map

#: Side of the square grey images every probe sees.
IMAGE_SIZE = 48
#: Length of the fine HOG vector, the first columns of ``fast_features``: 7x7 blocks of 2x2 cells of 9 bins.
HOG_DIMS = (IMAGE_SIZE // 6 - 1) ** 2 * 4 * 9


def load_one(path: str) -> np.ndarray | None:
    """One image as a ``(48, 48)`` uint8 array, or None if it cannot be decoded (a JPEG at
    least twice that side decoded at a reduced scale: :func:`ferclean.images.open_gray`)."""
    try:
        gray = open_gray(path, least_side=2 * IMAGE_SIZE)
    except UnreadableImage:
        return None
    if gray.size != (IMAGE_SIZE, IMAGE_SIZE):
        gray = gray.resize((IMAGE_SIZE, IMAGE_SIZE), Image.Resampling.BILINEAR)
    return np.asarray(gray, dtype=np.uint8)


def load_images(
    paths: Sequence[str | Path],
    jobs: int | None = None,
    on_progress: Progress | None = None,
    backend: Backend | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """``(images, ok)``: an ``(n, 48, 48)`` uint8 stack (zeros where unreadable) and a mask of
    the rows that decoded."""
    arrays = parallel_map(load_one, [str(p) for p in paths], "Loading images", jobs, on_progress, backend)
    ok = np.array([a is not None for a in arrays], dtype=bool)
    images = np.zeros((len(arrays), IMAGE_SIZE, IMAGE_SIZE), dtype=np.uint8)
    for i, array in enumerate(arrays):
        if array is not None:
            images[i] = array
    return images, ok


def cell_histograms(images: np.ndarray, cell: int = 6, bins: int = 9) -> np.ndarray:
    """``(n, rows, cols, bins)`` gradient-orientation histograms per ``cell`` x ``cell`` cell.

    Unsigned orientations, each pixel's gradient magnitude split linearly between its two
    nearest bins; one weighted bincount per stack instead of a pass per bin.
    """
    x = images.astype(np.float32) / 255.0
    n, h, w = x.shape
    gx = np.zeros_like(x)
    gy = np.zeros_like(x)
    gx[:, :, 1:-1] = x[:, :, 2:] - x[:, :, :-2]
    gy[:, 1:-1, :] = x[:, 2:, :] - x[:, :-2, :]
    ch, cw = h // cell, w // cell
    gx, gy = gx[:, : ch * cell, : cw * cell], gy[:, : ch * cell, : cw * cell]
    magnitude = np.hypot(gx, gy)
    position = (np.arctan2(gy, gx) % np.pi) / (np.pi / bins) - 0.5
    lower = np.floor(position)
    upper_weight = position - lower
    lower_bin = lower.astype(np.int64) % bins
    cell_of = (np.arange(ch * cell)[:, None] // cell) * cw + np.arange(cw * cell)[None, :] // cell
    base = (np.arange(n)[:, None, None] * (ch * cw) + cell_of) * bins
    size = n * ch * cw * bins
    counts = np.bincount((base + lower_bin).ravel(), (magnitude * (1 - upper_weight)).ravel(), minlength=size)
    counts += np.bincount((base + (lower_bin + 1) % bins).ravel(), (magnitude * upper_weight).ravel(), minlength=size)
    return counts.astype(np.float32).reshape(n, ch, cw, bins)


def mirror_cells(cells: np.ndarray) -> np.ndarray:
    """The cell histograms of the mirrored images: columns reversed and every orientation
    reflected (bin b -> bins-1-b), exact for centred bins, so mirrors cost no second pass."""
    return cells[:, :, ::-1, ::-1]


def pool_cells(cells: np.ndarray, factor: int) -> np.ndarray:
    """Histograms of ``factor`` x ``factor`` larger cells, summed from the small ones."""
    n, ch, cw, bins = cells.shape
    rows, cols = ch // factor, cw // factor
    trimmed = cells[:, : rows * factor, : cols * factor]
    return trimmed.reshape(n, rows, factor, cols, factor, bins).sum(axis=(2, 4))


def blocks(cells: np.ndarray) -> np.ndarray:
    """HOG descriptor from cell histograms: 2x2-cell blocks normalised with L2-Hys (Dalal & Triggs)."""
    n, ch, cw, bins = cells.shape
    grouped = np.concatenate(
        [cells[:, :-1, :-1], cells[:, 1:, :-1], cells[:, :-1, 1:], cells[:, 1:, 1:]], axis=-1
    ).reshape(n, (ch - 1) * (cw - 1), 4 * bins)
    grouped /= np.sqrt((grouped**2).sum(axis=-1, keepdims=True) + 1e-6)
    np.minimum(grouped, 0.2, out=grouped)
    grouped /= np.sqrt((grouped**2).sum(axis=-1, keepdims=True) + 1e-6)
    return grouped.reshape(n, -1)


def hog(images: np.ndarray, cell: int = 6, bins: int = 9) -> np.ndarray:
    """Histograms of oriented gradients for a stack of equal-sized grey images: ``cell`` x
    ``cell`` pixel cells, unsigned orientations in ``bins`` bins, L2-Hys blocks."""
    return blocks(cell_histograms(images, cell, bins))


def lbp_histograms(images: np.ndarray, grid: int = 4) -> np.ndarray:
    """``(n, grid, grid, 10)`` histograms of rotation-invariant uniform local binary patterns
    (8 neighbours, 10 codes) over a centred ``grid`` x ``grid`` layout.

    The codes are invariant under reflection and the layout is centred, so a mirrored image's
    histograms are these with the columns reversed.
    """
    x = images.astype(np.int16)
    centre = x[:, 1:-1, 1:-1]
    n, h, w = centre.shape
    ring = [(-1, -1), (-1, 0), (-1, 1), (0, 1), (1, 1), (1, 0), (1, -1), (0, -1)]
    bits = np.stack([x[:, 1 + dy : 1 + dy + h, 1 + dx : 1 + dx + w] >= centre for dy, dx in ring], axis=-1)
    uniform = (bits != np.roll(bits, 1, axis=-1)).sum(axis=-1) <= 2
    codes = np.where(uniform, bits.sum(axis=-1), 9)
    cell_h, cell_w = h // grid, w // grid
    top, left = (h - grid * cell_h) // 2, (w - grid * cell_w) // 2
    codes = codes[:, top : top + grid * cell_h, left : left + grid * cell_w]
    cell_of = (np.arange(grid * cell_h)[:, None] // cell_h) * grid + np.arange(grid * cell_w)[None, :] // cell_w
    index = (np.arange(n)[:, None, None] * grid * grid + cell_of) * 10 + codes
    counts = np.bincount(index.ravel(), minlength=n * grid * grid * 10).astype(np.float32)
    return counts.reshape(n, grid, grid, 10) / (cell_h * cell_w)


def pixels(images: np.ndarray, size: int = 24) -> np.ndarray:
    """Pixels averaged down to ``size`` x ``size``, each image standardised to zero mean and unit
    spread (lighting-invariant)."""
    n, h, w = images.shape
    x = images.astype(np.float32).reshape(n, size, h // size, size, w // size).mean(axis=(2, 4))
    x -= x.mean(axis=(1, 2), keepdims=True)
    x /= x.std(axis=(1, 2), keepdims=True) + 1e-3
    return x


def fast_features(images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The fast probe's features for the images and for their mirrors: HOG with 6-pixel cells
    (the first ``HOG_DIMS`` columns) and 12-pixel cells, LBP histograms (square roots, so that a few frequent codes do not dominate) and 24x24
    pixels. Gradients and patterns are computed once; the mirrors' come from reflecting them."""
    cells, lbp, small = cell_histograms(images), np.sqrt(lbp_histograms(images)), pixels(images)
    n = len(images)

    def vector(cells: np.ndarray, lbp: np.ndarray, small: np.ndarray) -> np.ndarray:
        return np.concatenate([blocks(cells), blocks(pool_cells(cells, 2)), lbp.reshape(n, -1), small.reshape(n, -1)], axis=1)

    return vector(cells, lbp, small), vector(mirror_cells(cells), lbp[:, :, ::-1], small[:, :, ::-1])


def mirror(images: np.ndarray) -> np.ndarray:
    """Left-right mirrored copies."""
    return images[:, :, ::-1]
