"""The three CNNs ``--arch`` chooses from, and how each is compiled.

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
    check_image_size,
    compile_hparams,
    model_hparams,
)

__all__ = [
    "ARCHS",
    "COMPILE_DEFAULTS",
    "LOSSES",
    "MODEL_DEFAULTS",
    "build_augmenter",
    "build_model",
    "compile_hparams",
    "compile_model",
    "make_loss",
    "model_hparams",
    "probe_cnn",
]

def _augmentation(p: dict[str, Any]) -> list[layers.Layer]:
    """Soft, label-preserving augmentation; each layer is an identity at inference."""
    steps: list[layers.Layer] = []
    if p["flip"]:
        steps.append(layers.RandomFlip("horizontal", name="aug_flip"))
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
    block = _BLOCKS[arch]
    for i, (filters, dropout) in enumerate(zip(p["filters"], p["dropouts"]), start=1):
        x = block(x, i, filters, dropout, reg)
    if arch == "five-block":
        x = layers.GlobalAveragePooling2D(name="gap")(x)
        x = layers.Dense(p["dense_units"], activation="relu", kernel_regularizer=reg, name="bottleneck")(x)
    else:
        x = layers.Flatten(name="flatten")(x)
        x = layers.Dense(p["dense_units"], use_bias=arch != "bpp", kernel_regularizer=reg, name="dense")(x)
        if arch == "bpp":
            x = layers.BatchNormalization(name="dense_bn")(x)
        x = layers.Activation("relu", name="dense_relu")(x)
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


def compile_model(
    model: keras.Model,
    arch: str,
    learning_rate: float | None = None,
    loss: str | None = None,
    focal_gamma: float | None = None,
    focal_alpha: float | None = None,
    label_smoothing: float | None = None,
    jit_compile: bool | str = "auto",
    metrics: Sequence[str] = ("accuracy",),
) -> keras.Model:
    """Compile ``model`` with Adam and the arch's loss; None arguments take ``COMPILE_DEFAULTS[arch]``.

    Targets must be one-hot. Returns the same model for chaining.
    """
    p = compile_hparams(
        arch,
        learning_rate=learning_rate,
        loss=loss,
        focal_gamma=focal_gamma,
        focal_alpha=focal_alpha,
        label_smoothing=label_smoothing,
    )
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate=p["learning_rate"]),
        loss=make_loss(p["loss"], p["focal_gamma"], p["focal_alpha"], p["label_smoothing"]),
        metrics=list(metrics),
        jit_compile=jit_compile,
    )
    return model


def probe_cnn(num_classes: int, image_size: int = 48) -> keras.Model:
    """The compiled, augmented baseline CNN the mislabel probe trains per fold (its ``build_cnn``)."""
    return compile_model(build_model("baseline", num_classes, image_size, augment=True), "baseline")
