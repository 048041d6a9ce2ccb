"""Hyper-parameter names and per-architecture defaults, free of TensorFlow imports.

Kept apart from ``models`` so the command line can list choices and resolve a config
without paying for importing Keras.
"""

from __future__ import annotations

from typing import Any

ARCHS: tuple[str, ...] = ("bpp", "five-block", "baseline", "compact")

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
    # the CPU default: a full-resolution stem, then per stage a 2x2 pool and a residual pair of
    # depthwise-separable convolutions, global average pooling; see bench/train_bench.py --candidates
    "compact": {
        "stem_filters": (32,),
        "filters": (64, 128, 256),
        "residual": True,
        "dropouts": (0.0,),  # one value: every stage
        "dense_dropout": 0.30,
        "l2": 0.0,
        "augment": True,
        "flip": True,
        "translation": 0.08,
        "rotation": 0.0,
        "zoom": 0.0,
        "contrast": 0.0,
    },
}

#: Optimiser and loss defaults per arch; ``compile_model`` accepts exactly these keys.
#: ``schedule`` "plateau" is Adam at a fixed rate halved by ReduceLROnPlateau, with early stopping;
#: "cosine" is AdamW with a linear warm-up over ``warmup_fraction`` of the steps to ``learning_rate``,
#: then a cosine decay to ``min_learning_rate`` at the last step, with no early stopping.
_PLATEAU = {"schedule": "plateau", "weight_decay": 0.0, "warmup_fraction": 0.0}
COMPILE_DEFAULTS: dict[str, dict[str, Any]] = {
    "bpp": {
        "learning_rate": 5e-4,
        "loss": "focal",
        "focal_gamma": 2.0,
        "focal_alpha": 0.25,
        "label_smoothing": 0.1,
        **_PLATEAU,
    },
    "five-block": {
        "learning_rate": 1e-3,
        "loss": "crossentropy",
        "focal_gamma": 2.0,
        "focal_alpha": 0.25,
        "label_smoothing": 0.0,
        **_PLATEAU,
    },
    "baseline": {
        "learning_rate": 1e-3,
        "loss": "crossentropy",
        "focal_gamma": 2.0,
        "focal_alpha": 0.25,
        "label_smoothing": 0.0,
        **_PLATEAU,
    },
    "compact": {
        "learning_rate": 3e-3,
        "loss": "crossentropy",
        "focal_gamma": 2.0,
        "focal_alpha": 0.25,
        "label_smoothing": 0.1,
        "schedule": "cosine",
        "weight_decay": 0.01,
        "warmup_fraction": 0.15,
    },
}

SCHEDULES: tuple[str, ...] = ("plateau", "cosine")

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
    if "stem_filters" in merged:
        merged["stem_filters"] = tuple(int(f) for f in merged["stem_filters"])
    merged["dropouts"] = tuple(float(d) for d in dropouts)
    return merged


def compile_hparams(arch: str, **hparams: Any) -> dict[str, Any]:
    """The full set of optimiser/loss hyper-parameters ``compile_model`` will use."""
    _check_arch(arch)
    merged = _merged(COMPILE_DEFAULTS[arch], hparams, "compile")
    if merged["loss"] not in LOSSES:
        raise ValueError(f"Unknown loss {merged['loss']!r}; choose one of {', '.join(LOSSES)}.")
    if merged["schedule"] not in SCHEDULES:
        raise ValueError(f"Unknown schedule {merged['schedule']!r}; choose one of {', '.join(SCHEDULES)}.")
    if not 0 <= merged["warmup_fraction"] < 1:
        raise ValueError(f"warmup_fraction must be in [0, 1), got {merged['warmup_fraction']}.")
    return merged


def check_image_size(image_size: int, blocks: int) -> None:
    """Each block halves the side: refuse an input too small to survive ``blocks`` poolings."""
    if image_size < 2**blocks:
        raise ValueError(f"image_size {image_size} is too small for {blocks} pooling blocks.")
