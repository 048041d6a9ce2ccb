"""Hyper-parameter names and per-architecture defaults, free of TensorFlow imports.

Kept apart from ``models`` so the command line can list choices and resolve a config
without paying for importing Keras.
"""

from __future__ import annotations

from typing import Any

ARCHS: tuple[str, ...] = ("bpp", "five-block", "baseline")

#: Architectural hyper-parameters per arch; ``build_model`` accepts exactly these keys.
MODEL_DEFAULTS: dict[str, dict[str, Any]] = {
    "bpp": {
        "filters": (64, 128, 256),
        "dropouts": (0.25, 0.30, 0.40),
        "dense_units": 512,
        "dense_dropout": 0.50,
        "l2": 1e-4,
        "augment": True,
        "flip": True,
        "rotation": 0.05,
        "zoom": 0.05,
        "contrast": 0.05,
    },
    "five-block": {
        "filters": (16, 32, 64, 128, 256),
        "dropouts": (0.3, 0.3, 0.3, 0.3, 0.3),
        "dense_units": 16,
        "dense_dropout": 0.0,
        "l2": 1e-4,
        "augment": False,
        "flip": True,
        "rotation": 0.05,
        "zoom": 0.05,
        "contrast": 0.05,
    },
    "baseline": {
        "filters": (32, 64, 128),
        "dropouts": (0.0, 0.0, 0.0),
        "dense_units": 256,
        "dense_dropout": 0.50,
        "l2": 0.0,
        "augment": False,
        "flip": True,
        "rotation": 0.05,
        "zoom": 0.05,
        "contrast": 0.05,
    },
}

#: Optimiser and loss defaults per arch; ``compile_model`` accepts exactly these keys.
COMPILE_DEFAULTS: dict[str, dict[str, Any]] = {
    "bpp": {"learning_rate": 5e-4, "loss": "focal", "focal_gamma": 2.0, "focal_alpha": 0.25, "label_smoothing": 0.1},
    "five-block": {
        "learning_rate": 1e-3,
        "loss": "crossentropy",
        "focal_gamma": 2.0,
        "focal_alpha": 0.25,
        "label_smoothing": 0.0,
    },
    "baseline": {
        "learning_rate": 1e-3,
        "loss": "crossentropy",
        "focal_gamma": 2.0,
        "focal_alpha": 0.25,
        "label_smoothing": 0.0,
    },
}

LOSSES: tuple[str, ...] = ("focal", "crossentropy")


def _check_arch(arch: str) -> None:
    if arch not in ARCHS:
        raise ValueError(f"Unknown architecture {arch!r}; choose one of {', '.join(ARCHS)}.")


def _merged(defaults: dict[str, Any], given: dict[str, Any], what: str) -> dict[str, Any]:
    """Defaults overridden by ``given``; None means 'use the default'; unknown keys are an error."""
    unknown = sorted(set(given) - set(defaults))
    if unknown:
        raise ValueError(f"Unknown {what} hyper-parameter(s) {', '.join(unknown)}; known: {', '.join(defaults)}.")
    return {**defaults, **{k: v for k, v in given.items() if v is not None}}


def model_hparams(arch: str, **hparams: Any) -> dict[str, Any]:
    """The full set of architectural hyper-parameters ``build_model`` will use."""
    _check_arch(arch)
    merged = _merged(MODEL_DEFAULTS[arch], hparams, "model")
    n_blocks = len(merged["filters"])
    dropouts = merged["dropouts"]
    if isinstance(dropouts, (int, float)):
        dropouts = (dropouts,)
    if len(dropouts) == 1:
        dropouts = tuple(dropouts) * n_blocks
    if len(dropouts) != n_blocks:
        raise ValueError(
            f"{len(dropouts)} dropout rate(s) for {n_blocks} block(s); give dropouts with one per block, or a single value."
        )
    merged["filters"] = tuple(int(f) for f in merged["filters"])
    merged["dropouts"] = tuple(float(d) for d in dropouts)
    return merged


def compile_hparams(arch: str, **hparams: Any) -> dict[str, Any]:
    """The full set of optimiser/loss hyper-parameters ``compile_model`` will use."""
    _check_arch(arch)
    merged = _merged(COMPILE_DEFAULTS[arch], hparams, "compile")
    if merged["loss"] not in LOSSES:
        raise ValueError(f"Unknown loss {merged['loss']!r}; choose one of {', '.join(LOSSES)}.")
    return merged


def check_image_size(image_size: int, blocks: int) -> None:
    """Each block halves the side: refuse an input too small to survive ``blocks`` poolings."""
    if image_size < 2**blocks:
        raise ValueError(f"image_size {image_size} is too small for {blocks} pooling blocks.")
