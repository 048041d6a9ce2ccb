"""A second opinion on "is this a face?": MTCNN's refinement network (R-Net), in numpy.

MTCNN (Zhang et al., 2016) finds faces in three stages; its second, R-Net, tells a 24x24
window that holds a face from one that does not. It learnt that from windows of real
photographs (WIDER FACE), so its non-faces are crops of objects, animals and scenes: the
kind of junk scan's own small classifier saw too few of. Its weights come from the ``mtcnn``
wheel (MIT licence, ``face_net.LICENSE``), copied by ``bench/build_face_net.py`` into
``face_net.npz`` (375 KB, shipped in ferclean's own wheel: nothing is downloaded, and scan
imports neither TensorFlow nor mtcnn). The forward pass here gives the package's Keras
model's probabilities to 1e-5 (tests/test_face_net.py).
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np

#: Side of the window R-Net reads: a 48x48 working copy is halved by 2x2 means.
SIDE = 24
#: Images per forward pass: a block's activations stay in the cache (256 at a time cost twice as much).
_BLOCK = 48
WEIGHTS_FILE = Path(__file__).with_name("face_net.npz")


@lru_cache(maxsize=1)
def _weights() -> dict[str, np.ndarray]:
    """R-Net's face / non-face path: three convolutions with their biases and PReLU slopes, the
    dense layer with its bias and slopes, the face head; loaded once per process."""
    with np.load(WEIGHTS_FILE) as saved:
        return {name: saved[name] for name in saved.files}


def face_logit(work: np.ndarray) -> np.ndarray:
    """Log-odds that each image of a (n, 48, 48) uint8 stack is a face, by R-Net on its 24x24 halving."""
    work = np.asarray(work)
    if work.ndim != 3 or work.shape[1:] != (2 * SIDE, 2 * SIDE):
        raise ValueError(f"work must have shape (n, {2 * SIDE}, {2 * SIDE}), got {work.shape}")
    out = np.empty(len(work), dtype=np.float32)
    for start in range(0, len(work), _BLOCK):
        block = work[start : start + _BLOCK].astype(np.float32)
        halved = block[:, 0::2, 0::2] + block[:, 1::2, 0::2] + block[:, 0::2, 1::2] + block[:, 1::2, 1::2]
        out[start : start + _BLOCK] = _rnet((halved - 4 * 127.5) / (4 * 128.0))  # the 2x2 means, scaled to [-1, 1]
    return out


def _rnet(x: np.ndarray) -> np.ndarray:
    """R-Net's face log-odds of (n, 24, 24) grey windows scaled to [-1, 1] (the grey level in all three
    colour channels, so the first convolution's weights are summed over them)."""
    w = _weights()
    x = _max_pool3(_prelu(_conv(x[..., None], w["conv1"].sum(axis=2, keepdims=True), w["conv1_bias"]), w["prelu1"]), pad=True)
    x = _max_pool3(_prelu(_conv(x, w["conv2"], w["conv2_bias"]), w["prelu2"]), pad=False)
    x = _prelu(_conv(x, w["conv3"], w["conv3_bias"]), w["prelu3"])
    x = x.transpose(0, 2, 1, 3).reshape(len(x), -1)  # the Caffe original flattened column-major
    x = _prelu(x @ w["dense"] + w["dense_bias"], w["prelu4"])
    scores = x @ w["face"] + w["face_bias"]
    return scores[:, 1] - scores[:, 0]


def _conv(x: np.ndarray, kernel: np.ndarray, bias: np.ndarray) -> np.ndarray:
    """'Valid' convolution of (n, h, w, c) by a (k, k, c, out) kernel, as one matrix product."""
    k = kernel.shape[0]
    n, h, w, _ = x.shape
    rows, cols = h - k + 1, w - k + 1
    patches = np.concatenate([x[:, i : i + rows, j : j + cols] for i in range(k) for j in range(k)], axis=3)
    out = patches.reshape(n * rows * cols, -1) @ kernel.reshape(-1, kernel.shape[-1])
    out += bias
    return out.reshape(n, rows, cols, -1)


def _prelu(x: np.ndarray, slope: np.ndarray) -> np.ndarray:
    """x where positive, slope * x where negative (per channel), in place."""
    negative = np.minimum(x, 0.0)
    negative *= slope.reshape(-1) - 1.0
    x += negative
    return x


def _max_pool3(x: np.ndarray, pad: bool) -> np.ndarray:
    """3x3 max pooling with stride 2 over (n, h, w, c), rows then columns; ``pad`` is Keras's
    'same' (a -inf border at the end where the windows overhang), else 'valid'."""
    for axis in (1, 2):
        size = x.shape[axis]
        out = -(-size // 2) if pad else (size - 3) // 2 + 1
        overhang = max(2 * (out - 1) + 3 - size, 0)
        if overhang:
            before = [0, 0, 0, 0]
            before[axis] = overhang // 2
            widths = [(b, overhang - b if k == axis else 0) for k, b in enumerate(before)]
            x = np.pad(x, widths, constant_values=-np.inf)
        step = lambda offset: tuple(slice(offset, offset + 2 * out - 1, 2) if k == axis else slice(None) for k in range(4))  # noqa: E731
        x = np.maximum(np.maximum(x[step(0)], x[step(1)]), x[step(2)])
    return x
