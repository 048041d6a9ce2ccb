"""The CNNs ``--arch`` chooses from, and how each is compiled.

``build_model`` returns an uncompiled Keras model taking ``(size, size, 1)`` floats in [0, 1];
every architectural knob is a keyword with a per-architecture default, so a run's config can
record and replay it. Augmentation lives inside the model (active only in training), which
keeps the input pipeline a pure decode-and-cache and makes saved models self-contained.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import keras
from keras import layers, regularizers

from ferclean_train.hparams import (
    ARCHS,
    COMPILE_DEFAULTS,
    LOSSES,
    MODEL_DEFAULTS,
    SCHEDULES,
    check_image_size,
    compile_hparams,
    model_hparams,
)

__all__ = [
    "ARCHS",
    "COMPILE_DEFAULTS",
    "LOSSES",
    "MODEL_DEFAULTS",
    "SCHEDULES",
    "build_augmenter",
    "build_model",
    "compile_hparams",
    "compile_model",
    "make_loss",
    "make_optimizer",
    "model_hparams",
    "PROBE_CNNS",
    "compact_probe_cnn",
    "probe_cnn",
]

def _augmentation(p: dict[str, Any]) -> list[layers.Layer]:
    """Soft, label-preserving augmentation; each layer is an identity at inference."""
    steps: list[layers.Layer] = []
    if p["flip"]:
        steps.append(layers.RandomFlip("horizontal", name="aug_flip"))
    if p.get("translation"):
        t = p["translation"]
        steps.append(layers.RandomTranslation(t, t, fill_mode="nearest", name="aug_translation"))
    if p["rotation"]:
        steps.append(layers.RandomRotation(p["rotation"], fill_mode="nearest", name="aug_rotation"))
    if p["zoom"]:
        steps.append(layers.RandomZoom(p["zoom"], fill_mode="nearest", name="aug_zoom"))
    if p["contrast"]:
        steps.append(layers.RandomContrast(p["contrast"], value_range=(0.0, 1.0), name="aug_contrast"))
    return steps


def _conv(filters: int, reg: regularizers.Regularizer | None, name: str) -> layers.Conv2D:
    return layers.Conv2D(filters, 3, padding="same", use_bias=False, kernel_regularizer=reg, name=name)


def _bpp_block(x: keras.KerasTensor, i: int, filters: int, dropout: float, reg) -> keras.KerasTensor:
    """Two conv-BN-ReLU, then pool and dropout."""
    for j in (1, 2):
        x = _conv(filters, reg, f"block{i}_conv{j}")(x)
        x = layers.BatchNormalization(name=f"block{i}_bn{j}")(x)
        x = layers.Activation("relu", name=f"block{i}_relu{j}")(x)
    x = layers.MaxPooling2D(2, name=f"block{i}_pool")(x)
    return layers.Dropout(dropout, name=f"block{i}_dropout")(x)


def _five_block(x: keras.KerasTensor, i: int, filters: int, dropout: float, reg) -> keras.KerasTensor:
    """conv-BN-conv-BN-ReLU-pool-dropout: one activation per block keeps it cheap."""
    x = _conv(filters, reg, f"block{i}_conv1")(x)
    x = layers.BatchNormalization(name=f"block{i}_bn1")(x)
    x = _conv(filters, reg, f"block{i}_conv2")(x)
    x = layers.BatchNormalization(name=f"block{i}_bn2")(x)
    x = layers.Activation("relu", name=f"block{i}_relu")(x)
    x = layers.MaxPooling2D(2, name=f"block{i}_pool")(x)
    return layers.Dropout(dropout, name=f"block{i}_dropout")(x)


def _baseline_block(x: keras.KerasTensor, i: int, filters: int, dropout: float, reg) -> keras.KerasTensor:
    """A single conv-ReLU and pool."""
    x = layers.Conv2D(filters, 3, padding="same", activation="relu", kernel_regularizer=reg, name=f"block{i}_conv")(x)
    x = layers.MaxPooling2D(2, name=f"block{i}_pool")(x)
    if dropout:
        x = layers.Dropout(dropout, name=f"block{i}_dropout")(x)
    return x


_BLOCKS = {"bpp": _bpp_block, "five-block": _five_block, "baseline": _baseline_block}


def _compact_body(x: keras.KerasTensor, p: dict[str, Any], reg) -> keras.KerasTensor:
    """Full-resolution conv stem, then per stage: 2x2 pool, two separable conv-BN (ReLU between),
    a 1x1 projection shortcut when ``residual``, ReLU, dropout; global average pooling.

    Depthwise-separable convolutions cost about a ninth of full ones at these widths, so the
    pixels where they matter (24x24 and below) get wide channels at a CPU's budget. Batch norm
    uses momentum 0.9: a short budgeted run on a small set takes only a few hundred steps, too
    few for Keras' 0.99 to forget its initial statistics, and inference then collapses to one class.
    """

    def norm(name: str) -> layers.BatchNormalization:
        return layers.BatchNormalization(momentum=0.9, name=name)

    for j, filters in enumerate(p["stem_filters"], start=1):
        x = _conv(filters, reg, f"stem_conv{j}")(x)
        x = norm(f"stem_bn{j}")(x)
        x = layers.Activation("relu", name=f"stem_relu{j}")(x)
    for i, (filters, dropout) in enumerate(zip(p["filters"], p["dropouts"]), start=1):
        x = layers.MaxPooling2D(2, name=f"stage{i}_pool")(x)
        shortcut = x
        for j in (1, 2):
            if j == 2:
                x = layers.Activation("relu", name=f"stage{i}_relu1")(x)
            x = layers.SeparableConv2D(
                filters, 3, padding="same", use_bias=False, pointwise_regularizer=reg, name=f"stage{i}_sep{j}"
            )(x)
            x = norm(f"stage{i}_bn{j}")(x)
        if p["residual"]:
            if shortcut.shape[-1] != filters:
                shortcut = layers.Conv2D(filters, 1, use_bias=False, kernel_regularizer=reg, name=f"stage{i}_proj")(shortcut)
                shortcut = norm(f"stage{i}_proj_bn")(shortcut)
            x = layers.Add(name=f"stage{i}_add")([x, shortcut])
        x = layers.Activation("relu", name=f"stage{i}_relu2")(x)
        if dropout:
            x = layers.Dropout(dropout, name=f"stage{i}_dropout")(x)
    return layers.GlobalAveragePooling2D(name="gap")(x)


def _head(x: keras.KerasTensor, arch: str, p: dict[str, Any], reg) -> keras.KerasTensor:
    """The dense layer before the classifier: GAP + bottleneck for five-block, flatten + dense otherwise."""
    if arch == "five-block":
        x = layers.GlobalAveragePooling2D(name="gap")(x)
        return layers.Dense(p["dense_units"], activation="relu", kernel_regularizer=reg, name="bottleneck")(x)
    x = layers.Flatten(name="flatten")(x)
    x = layers.Dense(p["dense_units"], use_bias=arch != "bpp", kernel_regularizer=reg, name="dense")(x)
    if arch == "bpp":
        x = layers.BatchNormalization(name="dense_bn")(x)
    return layers.Activation("relu", name="dense_relu")(x)


def build_model(arch: str, num_classes: int, image_size: int = 48, **hparams: Any) -> keras.Model:
    """An uncompiled classifier for ``(image_size, image_size, 1)`` inputs in [0, 1].

    ``hparams`` override the keys of ``MODEL_DEFAULTS[arch]`` (None keeps the default).
    The softmax output is float32 even under a mixed-precision policy, for a stable loss.
    """
    p = model_hparams(arch, **hparams)
    if num_classes < 2:
        raise ValueError(f"A classifier needs at least 2 classes, got {num_classes}.")
    check_image_size(image_size, len(p["filters"]))
    reg = regularizers.L2(p["l2"]) if p["l2"] else None
    inputs = keras.Input(shape=(image_size, image_size, 1), name="image")
    x = inputs
    if p["augment"]:
        for layer in _augmentation(p):
            x = layer(x)
    if arch == "compact":
        x = _compact_body(x, p, reg)
    else:
        for i, (filters, dropout) in enumerate(zip(p["filters"], p["dropouts"]), start=1):
            x = _BLOCKS[arch](x, i, filters, dropout, reg)
        x = _head(x, arch, p, reg)
    if p["dense_dropout"]:
        x = layers.Dropout(p["dense_dropout"], name="dense_dropout")(x)
    outputs = layers.Dense(num_classes, activation="softmax", dtype="float32", name="probabilities")(x)
    return keras.Model(inputs, outputs, name=arch.replace("-", "_"))


def build_augmenter(arch: str, **hparams: Any) -> keras.Sequential | None:
    """The arch's augmentation as a stand-alone block, or None when it has none.

    RandomRotation and RandomZoom cannot be XLA-compiled, so an XLA run builds its model with
    ``augment=False`` and applies this block in the input pipeline instead (call it with
    ``training=True``).
    """
    p = model_hparams(arch, **hparams)
    steps = _augmentation(p) if p["augment"] else []
    return keras.Sequential(steps, name="augmentation") if steps else None


def make_loss(loss: str, focal_gamma: float, focal_alpha: float, label_smoothing: float) -> keras.losses.Loss:
    """Focal loss down-weights easy examples (FER's many clear 'happy' faces); both take one-hot targets."""
    if loss == "focal":
        return keras.losses.CategoricalFocalCrossentropy(
            alpha=focal_alpha, gamma=focal_gamma, label_smoothing=label_smoothing
        )
    return keras.losses.CategoricalCrossentropy(label_smoothing=label_smoothing)


def make_optimizer(
    schedule: str, learning_rate: float, weight_decay: float, warmup_fraction: float, total_steps: int | None, min_learning_rate: float
) -> keras.optimizers.Optimizer:
    """Adam at a fixed rate ("plateau"), or AdamW on a warm-up + cosine schedule that reaches
    ``min_learning_rate`` exactly at step ``total_steps`` ("cosine").

    The schedule is part of the optimizer, so it is saved in ``last.keras`` and a resumed run
    continues it from its step count.
    """
    if schedule == "plateau":
        return keras.optimizers.Adam(learning_rate=learning_rate)
    if not total_steps or total_steps < 1:
        raise ValueError("A cosine schedule needs the run's total number of steps.")
    warmup = int(round(warmup_fraction * total_steps))
    lr = keras.optimizers.schedules.CosineDecay(
        initial_learning_rate=learning_rate / 100 if warmup else learning_rate,
        decay_steps=max(total_steps - warmup, 1),
        alpha=min(min_learning_rate / learning_rate, 1.0),
        warmup_target=learning_rate if warmup else None,
        warmup_steps=warmup,
    )
    return keras.optimizers.AdamW(learning_rate=lr, weight_decay=weight_decay)


def compile_model(
    model: keras.Model,
    arch: str,
    learning_rate: float | None = None,
    loss: str | None = None,
    focal_gamma: float | None = None,
    focal_alpha: float | None = None,
    label_smoothing: float | None = None,
    schedule: str | None = None,
    weight_decay: float | None = None,
    warmup_fraction: float | None = None,
    total_steps: int | None = None,
    min_learning_rate: float = 1e-6,
    jit_compile: bool | str = "auto",
    metrics: Sequence[str] = ("accuracy",),
) -> keras.Model:
    """Compile ``model`` with the arch's optimiser and loss; None arguments take ``COMPILE_DEFAULTS[arch]``.

    ``total_steps`` (epochs x steps per epoch) sizes a cosine schedule. Targets must be one-hot.
    Returns the same model for chaining.
    """
    p = compile_hparams(
        arch,
        learning_rate=learning_rate,
        loss=loss,
        focal_gamma=focal_gamma,
        focal_alpha=focal_alpha,
        label_smoothing=label_smoothing,
        schedule=schedule,
        weight_decay=weight_decay,
        warmup_fraction=warmup_fraction,
    )
    model.compile(
        optimizer=make_optimizer(
            p["schedule"], p["learning_rate"], p["weight_decay"], p["warmup_fraction"], total_steps, min_learning_rate
        ),
        loss=make_loss(p["loss"], p["focal_gamma"], p["focal_alpha"], p["label_smoothing"]),
        metrics=list(metrics),
        jit_compile=jit_compile,
    )
    return model


#: The mislabel probe's CNN: filters of its three stages, dropout before the softmax, and the
#: peak of its cosine learning rate (:func:`probe_cnn`).
PROBE_FILTERS, PROBE_DROPOUT, PROBE_LEARNING_RATE = (32, 64, 128), 0.2, 3e-3


def probe_cnn(num_classes: int, image_size: int, total_steps: int) -> keras.Model:
    """The mislabel probe's CNN (its ``build_cnn``): three stages of 3x3 conv-BN-ReLU (one, then
    two per stage) each ending in a 2x2 pool, global average pooling, dropout; mirrored at random
    in training; Adam on a cosine decay over ``total_steps``.

    The probe reads what the model says of each image while it trains for a dozen epochs, so
    what counts is how fast it learns the right labels. At 32 px this plain net learns
    FER2013 faster than the compact recipe (separable convolutions, shifts, label smoothing,
    warm-up) and ranks its real label errors better: precision@1000 0.656 against 0.638 on
    the training votes (bench/mislabel_bench.py). No XLA: on a CPU it makes small
    convolutions slower.
    """
    check_image_size(image_size, len(PROBE_FILTERS))
    inputs = keras.Input(shape=(image_size, image_size, 1), name="image")
    x = layers.RandomFlip("horizontal", name="aug_flip")(inputs)
    for i, filters in enumerate(PROBE_FILTERS, start=1):
        for j in range(1, 2 if i == 1 else 3):
            x = _conv(filters, None, f"block{i}_conv{j}")(x)
            x = layers.BatchNormalization(name=f"block{i}_bn{j}")(x)
            x = layers.Activation("relu", name=f"block{i}_relu{j}")(x)
        x = layers.MaxPooling2D(2, name=f"block{i}_pool")(x)
    x = layers.GlobalAveragePooling2D(name="pool")(x)
    x = layers.Dropout(PROBE_DROPOUT, name="dropout")(x)
    outputs = layers.Dense(num_classes, activation="softmax", dtype="float32", name="probabilities")(x)
    model = keras.Model(inputs, outputs, name="probe")
    schedule = keras.optimizers.schedules.CosineDecay(PROBE_LEARNING_RATE, max(1, total_steps))
    model.compile(optimizer=keras.optimizers.Adam(schedule), loss=keras.losses.CategoricalCrossentropy(),
                  jit_compile=False)
    return model


def compact_probe_cnn(num_classes: int, image_size: int, total_steps: int) -> keras.Model:
    """The ensemble probe's per-fold CNN: the compact CPU recipe, with its augmentation, label
    smoothing and a cosine schedule over ``total_steps``. No XLA: on a CPU it makes these small
    convolutions about ten times slower."""
    model = build_model("compact", num_classes, image_size)
    return compile_model(model, "compact", total_steps=total_steps, jit_compile=False)


#: The CNNs of the mislabel probes, by member name (``ferclean.mislabel.probe.member_probs``).
PROBE_CNNS = {"cnn": probe_cnn, "compact": compact_probe_cnn}
