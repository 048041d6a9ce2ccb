"""From a manifest to ``tf.data`` pipelines: which rows train, with which label, as what tensor.

The pure part (``labelled_rows``, ``split_frame``, ``class_weights``...) works on DataFrames and
arrays; the rest is TensorFlow. Images are decoded, turned grey and resized once, held as
uint8 (a quarter of float32's memory) and converted to [0, 1] floats per batch, so after the
first pass the pipeline only shuffles and batches memory. Training decodes its splits up
front into arrays (``decode_images``) so that timing a few steps for ``--max-minutes`` does not
pay for decoding, and every batch op (mixup included) is a graph op: no Python per batch.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pandas as pd
import tensorflow as tf

from ferclean.errors import FercleanError
from ferclean.folds import assign_folds
from ferclean.images import UnreadableImage, open_gray
from ferclean.labels import SOFT_LABEL, class_order, parse_soft_labels
from ferclean.manifest import Manifest, effective_labels, group_keys, kept


def labelled_rows(manifest: Manifest) -> pd.DataFrame:
    """Kept rows as ``abspath, split, label, group, soft_label`` with the effective (relabelled)
    label; ``soft_label`` is empty where the manifest has none (see :func:`train_targets`)."""
    frame = manifest.frame
    keep = kept(frame)
    soft = frame[SOFT_LABEL].fillna("").astype(str) if SOFT_LABEL in frame.columns else pd.Series("", index=frame.index)
    rows = pd.DataFrame(
        {
            "path": frame.loc[keep, "path"],
            "abspath": [str(Path(manifest.root) / p) for p in frame.loc[keep, "path"]],
            "split": frame.loc[keep, "split"],
            "label": effective_labels(frame)[keep],
            "group": group_keys(frame)[keep],
            SOFT_LABEL: soft[keep],
        }
    ).reset_index(drop=True)
    unlabelled = rows["label"] == ""
    if unlabelled.any():
        raise FercleanError(
            f"{int(unlabelled.sum())} kept row(s) have no label, e.g. {rows.loc[unlabelled, 'path'].iloc[0]};"
            " label them or mark them status=drop."
        )
    return rows


def manifest_classes(rows: pd.DataFrame) -> list[str]:
    """The class list in ferclean's canonical order (FER order, then extra classes)."""
    return class_order(rows["label"])


def check_files_exist(rows: pd.DataFrame) -> None:
    """Fail before training, not mid-epoch, when the manifest points at missing images."""
    missing = [p for p in rows["abspath"] if not Path(p).is_file()]
    if missing:
        raise FercleanError(
            f"{len(missing)} image file(s) listed in the manifest are missing, e.g. {missing[0]};"
            " re-scan the dataset or fix the manifest's root."
        )


def split_frame(rows: pd.DataFrame, split: str) -> pd.DataFrame:
    return rows[rows["split"] == split].reset_index(drop=True)


def require_split(rows: pd.DataFrame, split: str, what: str) -> pd.DataFrame:
    """The rows of ``split``, or a clear error naming the fix."""
    part = split_frame(rows, split)
    if part.empty:
        present = sorted(s or "(none)" for s in rows["split"].unique())
        raise FercleanError(
            f"The manifest has no kept {split!r} rows to {what} (splits present: {', '.join(present) or 'none'});"
            " assign splits with `ferclean stratify` first."
        )
    return part


def require_all_classes(train: pd.DataFrame, classes: Sequence[str]) -> None:
    """Every class the model predicts needs training images, or its output is never learnt."""
    missing = [c for c in classes if not (train["label"] == c).any()]
    if missing:
        raise FercleanError(
            f"Class(es) {', '.join(missing)} have no training images; add some, or drop those rows"
            " so the class leaves the class list."
        )


def train_val(rows: pd.DataFrame, val_fraction: float, seed: int) -> tuple[pd.DataFrame, pd.DataFrame, bool]:
    """The train and validation rows; without a val split, about ``val_fraction`` of train is held
    out, stratified by class and keeping duplicate groups on one side.

    The third value says whether the slice was carved (so the caller can say so).
    """
    train = require_split(rows, "train", "train on")
    val = split_frame(rows, "val")
    if not val.empty:
        return train, val, False
    n_splits = max(2, round(1 / val_fraction))
    if train["group"].nunique() < n_splits:
        raise FercleanError(f"Too few training images ({len(train)}) to hold out a validation slice; add a val split.")
    fit, held = _fold_pairs(train, n_splits, seed)[0]
    return fit, held, True


def fold_splits(rows: pd.DataFrame, k: int, seed: int) -> list[tuple[pd.DataFrame, pd.DataFrame]]:
    """``k`` (train, val) pairs over train+val rows: stratified by class, duplicates kept together.

    Rows are sorted by path first so the folds do not depend on manifest row order.
    """
    pool = rows[rows["split"].isin(["train", "val"])]
    if pool.empty:
        raise FercleanError("The manifest has no kept train or val rows to make folds from.")
    smallest = int(pool["label"].value_counts().min())
    if smallest < k:
        raise FercleanError(f"folds={k} needs at least {k} train+val images per class; the smallest class has {smallest}.")
    return _fold_pairs(pool, k, seed)


def _fold_pairs(rows: pd.DataFrame, k: int, seed: int) -> list[tuple[pd.DataFrame, pd.DataFrame]]:
    """(rest, fold) row pairs for each of ``k`` folds from :func:`ferclean.folds.assign_folds`,
    both in path order."""
    rows = rows.sort_values("abspath", kind="stable").reset_index(drop=True)
    fold_of = assign_folds(rows["abspath"].tolist(), rows["label"].to_numpy(), rows["group"].tolist(), k, seed)
    return [
        (rows[fold_of != f].reset_index(drop=True), rows[fold_of == f].reset_index(drop=True)) for f in range(k)
    ]


def label_indices(labels: pd.Series, classes: Sequence[str]) -> np.ndarray:
    index = {c: i for i, c in enumerate(classes)}
    unknown = sorted(set(labels) - set(index))
    if unknown:
        raise FercleanError(f"Label(s) {', '.join(unknown)} are not in the model's classes ({', '.join(classes)}).")
    return labels.map(index).to_numpy(dtype=np.int32)


def has_soft_label(rows: pd.DataFrame) -> pd.Series:
    """Which rows carry a non-empty ``soft_label`` (none where the column is missing)."""
    if SOFT_LABEL not in rows.columns:
        return pd.Series(False, index=rows.index)
    return rows[SOFT_LABEL].astype(str).str.strip().ne("")


def train_targets(rows: pd.DataFrame, classes: Sequence[str], soft_weight: float) -> np.ndarray:
    """Training targets: class indices, or where rows carry a ``soft_label`` and ``soft_weight`` > 0,
    ``(1 - soft_weight) * one-hot(label) + soft_weight * soft_label`` distributions (rows without
    one keep their one-hot label).

    A blend, not the soft label alone: the label is the annotator's word and the probe's
    distribution says how doubtful it is; on FER2013's training votes 0.3/0.7 is closest to the
    vote distributions (bench/clean_bench.py).
    """
    labels = label_indices(rows["label"], classes)
    if soft_weight <= 0 or not has_soft_label(rows).any():
        return labels
    soft = parse_soft_labels(rows[SOFT_LABEL], classes)
    onehot = np.eye(len(classes))[labels]
    missing = np.isnan(soft).any(axis=1)
    soft[missing] = onehot[missing]
    return ((1.0 - soft_weight) * onehot + soft_weight * soft).astype(np.float32)


def class_weights(labels: np.ndarray, num_classes: int) -> dict[int, float]:
    """Balanced weights ``n / (k * n_c)``: each class contributes equally to the loss."""
    counts = np.bincount(labels, minlength=num_classes).astype(float)
    total = counts.sum()
    return {i: float(total / (num_classes * c)) if c else 0.0 for i, c in enumerate(counts)}


def _decode_gray(path: bytes | np.ndarray) -> np.ndarray:
    """ferclean's own decoder (16-bit scaling, alpha on white, EXIF, bomb refusal), as ``(h, w, 1)`` uint8."""
    name = path.item() if isinstance(path, np.ndarray) else path
    name = name.decode() if isinstance(name, bytes) else str(name)
    try:
        return np.asarray(open_gray(name), dtype=np.uint8)[..., None]
    except UnreadableImage as exc:
        # numpy_function turns a ValueError into tf.errors.InvalidArgumentError, which training reports in one line.
        raise ValueError(f"{name}: {exc}") from None


def load_image(path: tf.Tensor, image_size: int) -> tf.Tensor:
    """Decode any image file to a ``(size, size, 1)`` uint8 grey image.

    Decoding is ferclean.images.open_gray, the function every ferclean command uses, so the
    model trains on exactly the pixels that scan hashed and dedupe compared.
    """
    grey = tf.numpy_function(_decode_gray, [path], tf.uint8, stateful=False)
    grey.set_shape([None, None, 1])
    resized = tf.image.resize(grey, (image_size, image_size), method="bilinear", antialias=True)
    return tf.cast(tf.round(tf.clip_by_value(resized, 0.0, 255.0)), tf.uint8)


def to_float(images: tf.Tensor) -> tf.Tensor:
    """uint8 -> float32 in [0, 1], the model's input contract."""
    return tf.cast(images, tf.float32) / 255.0


def make_dataset(
    paths: Sequence[str],
    labels: np.ndarray,
    num_classes: int,
    image_size: int,
    batch_size: int,
    shuffle: bool,
    seed: int,
    augment: Callable[..., tf.Tensor] | None = None,
) -> tf.data.Dataset:
    """``(images, one-hot labels)`` batches; shuffled each epoch with ``seed`` when ``shuffle``.

    ``augment`` (a Keras block, called with ``training=True``) runs on each batch after the cache.
    """
    ds = tf.data.Dataset.from_tensor_slices((list(paths), labels.astype(np.int32)))
    ds = ds.map(lambda p, y: (load_image(p, image_size), y), num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    return _batches(ds.cache(), len(paths), num_classes, batch_size, shuffle, seed, augment).prefetch(tf.data.AUTOTUNE)


def _batches(
    ds: tf.data.Dataset,
    size: int,
    num_classes: int,
    batch_size: int,
    shuffle: bool,
    seed: int,
    augment: Callable[..., tf.Tensor] | None,
) -> tf.data.Dataset:
    """Shuffle (each epoch, seeded), batch, scale to [0, 1], one-hot (class indices; distributions
    pass as they are) and augment uint8 pairs."""
    autotune = tf.data.AUTOTUNE
    if shuffle:
        ds = ds.shuffle(size, seed=seed, reshuffle_each_iteration=True)
    ds = ds.batch(batch_size)
    if ds.element_spec[1].shape.rank == 1:
        ds = ds.map(lambda x, y: (to_float(x), tf.one_hot(y, num_classes)), num_parallel_calls=autotune)
    else:
        ds = ds.map(lambda x, y: (to_float(x), y), num_parallel_calls=autotune)
    if augment is not None:
        ds = ds.map(lambda x, y: (augment(x, training=True), y), num_parallel_calls=autotune)
    return ds


def frame_dataset(
    part: pd.DataFrame,
    classes: Sequence[str],
    image_size: int,
    batch_size: int,
    shuffle: bool = False,
    seed: int = 0,
    augment: Callable[..., tf.Tensor] | None = None,
) -> tf.data.Dataset:
    """``make_dataset`` for a slice of ``labelled_rows``."""
    labels = label_indices(part["label"], classes)
    return make_dataset(part["abspath"].tolist(), labels, len(classes), image_size, batch_size, shuffle, seed, augment)


@contextmanager
def decode_errors_as_input_errors() -> Iterator[None]:
    """A file the manifest lists but TensorFlow cannot decode is the user's problem, not a crash."""
    try:
        yield
    except tf.errors.InvalidArgumentError as exc:
        lines = str(exc.message).strip().splitlines()
        # ferclean's decoder (load_image) names the file and the reason in a ValueError line.
        first = next((line.split("ValueError: ", 1)[1] for line in lines if "ValueError: " in line), lines[0])
        raise FercleanError(f"An image could not be read ({first}); re-scan the dataset so it is dropped.") from None


def decode_images(paths: Sequence[str], image_size: int, batch_size: int = 256) -> np.ndarray:
    """All images as one ``(n, size, size, 1)`` uint8 array, decoded in parallel, in path order."""
    ds = tf.data.Dataset.from_tensor_slices(tf.constant(list(paths), dtype=tf.string))
    ds = ds.map(lambda p: load_image(p, image_size), num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    batches = [b.numpy() for b in ds.batch(batch_size).prefetch(tf.data.AUTOTUNE)]
    return np.concatenate(batches) if batches else np.zeros((0, image_size, image_size, 1), np.uint8)


def mix_batch(images: tf.Tensor, onehot: tf.Tensor, alpha: float, seed: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
    """Mixup: each image and target blended with the batch's reverse by one Beta(alpha, alpha) weight.

    ``seed`` is a stateless ``(2,)`` int seed, so a seeded run mixes the same way every time.
    """
    a = tf.random.stateless_gamma([], seed=seed, alpha=alpha)
    b = tf.random.stateless_gamma([], seed=seed + 1, alpha=alpha)
    lam = a / (a + b)
    mixed = lam * images + (1.0 - lam) * tf.reverse(images, axis=[0])
    return mixed, lam * onehot + (1.0 - lam) * tf.reverse(onehot, axis=[0])


#: Iterators Keras 3's ``EpochIterator`` makes of a training dataset per epoch (of known length).
KERAS_PASSES_PER_EPOCH = 2


def array_dataset(
    images: np.ndarray,
    targets: np.ndarray,
    num_classes: int,
    batch_size: int,
    shuffle: bool = False,
    seed: int = 0,
    augment: Callable[..., tf.Tensor] | None = None,
    mixup: float = 0.0,
    first_epoch: int = 0,
) -> tf.data.Dataset:
    """``(images, one-hot labels)`` batches from uint8 arrays held in memory; ``targets`` are class
    indices ``(n,)`` or class distributions ``(n, num_classes)`` (:func:`train_targets`).

    Shuffled each epoch with ``seed`` when ``shuffle``; ``augment`` (a Keras block called with
    ``training=True``) and then mixup (``mixup`` > 0 is its Beta alpha) run on each batch.
    The order (and mixup's draws) of each pass is a function of the seed and the pass number, so
    the passes of ``first_epoch`` epochs are drawn and thrown away first: a resumed run sees the
    batches the uninterrupted one saw (tests/test_faults.py). Keras' epoch iterator starts two
    passes an epoch (one when an epoch ends, one when the next begins). An epoch-keyed order drawn
    by a Python generator instead trained at half the speed on two cores.
    """
    autotune = tf.data.AUTOTUNE
    targets = targets.astype(np.int32) if targets.ndim == 1 else targets.astype(np.float32)
    ds = tf.data.Dataset.from_tensor_slices((images, targets))
    ds = _batches(ds, len(images), num_classes, batch_size, shuffle, seed, augment)
    if mixup > 0:
        seeds = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True).batch(2)
        ds = tf.data.Dataset.zip(ds, seeds).map(lambda xy, s: mix_batch(xy[0], xy[1], mixup, s), num_parallel_calls=autotune)
    ds = ds.prefetch(autotune)
    for _ in range(KERAS_PASSES_PER_EPOCH * first_epoch if shuffle or mixup > 0 else 0):
        next(iter(ds))  # each new iterator draws the next pass's order and mixup seeds
    return ds
