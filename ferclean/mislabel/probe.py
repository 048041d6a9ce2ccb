"""Class probabilities for confident learning, each image judged by models that did not learn it
from its own label alone.

``fast`` follows two one-hidden-layer perceptrons (scikit-learn) on PCA-whitened hand-made
features (HOG, and HOG at two scales with LBP histograms and small pixels) through their training
on every image, and averages what they say of each image over the epochs: training dynamics, as in
the area under the margin (Pleiss et al., 2020). ``cnn`` follows one small CNN the same way
(:func:`cnn_probs`). ``ensemble`` weighs the fast probe with ``compact``, the trainer's compact
recipe trained per fold and judging each image both held out and in training
(:func:`compact_probs`): the best at finding real errors, five times the cnn probe's cost. The
CNNs are built by the caller's ``build_cnn`` (the CLI passes ``ferclean_train.models.PROBE_CNNS``)
so that this package does not depend on the trainer. All learn from each image and its mirror.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from sklearn.decomposition import PCA
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import Pipeline, make_pipeline
from threadpoolctl import threadpool_limits

from ferclean.errors import FercleanError
from ferclean.image_batch import map_chunks, stack_chunks
from ferclean.images import area_weights
from ferclean.mislabel.checkpoint import Checkpoint
from ferclean.mislabel.features import HOG_DIMS, IMAGE_SIZE, fast_features, load_one
from ferclean.parallel import Backend, Progress, forked_map, iter_batches, no_progress, parallel_map

PROBES: tuple[str, ...] = ("fast", "cnn", "ensemble")
#: The single probes each probe trains: ``compact`` is the per-fold CNN (:func:`compact_probs`),
#: the ensemble's partner of the fast probe, not offered alone on the command line.
MEMBERS: dict[str, tuple[str, ...]] = {"fast": ("fast",), "cnn": ("cnn",), "compact": ("compact",),
                                       "ensemble": ("fast", "compact")}

#: ``build_cnn(num_classes, image_size, total_steps)``: a compiled Keras model taking
#: ``(size, size, 1)`` floats in [0, 1]; ``total_steps`` sizes its learning-rate schedule.
CnnBuilder = Callable[[int, int, int], Any]

#: Weights of the ensemble's members: the compact CNN's probabilities hold two estimates (held
#: out and in training), the fast probe's one, and each estimate counts once. On FER2013's real
#: errors this ranks better than the compact CNN alone, and an equal mean worse
#: (bench/mislabel_bench.py). A single probe is its own average.
MEMBER_WEIGHTS: dict[str, float] = {"fast": 1.0, "cnn": 1.0, "compact": 2.0}
#: The CNN probe: the side its images are reduced to, its epochs and batch, and the first epoch
#: whose in-training predictions count (:func:`cnn_probs`). At 32 px an epoch over FER2013 costs
#: under half what 48 px does; 12 epochs fit in 8 minutes of two cores.
CNN_SIZE, CNN_EPOCHS, CNN_BATCH, CNN_FIRST_EPOCH = 32, 12, 128, 3
#: The ensemble's compact CNN: its folds unless told otherwise (two cost one training over the
#: whole set, each model learning from half), its epochs, and the shares of them after which
#: its models predict (:func:`snapshot_epochs`).
COMPACT_FOLDS, COMPACT_EPOCHS, SNAPSHOT_SHARES = 2, 20, (0.5, 0.7, 0.9, 1.0)
#: Dimensions the feature vectors are reduced to before the classifiers.
PCA_COMPONENTS = 256
#: The PCA is fitted on at most this many images and their mirrors (a seeded sample): enough to
#: pin 256 directions, a fraction of the cost of fitting on every image.
PCA_FIT_IMAGES = 4_000
#: Images per chunk of the fast probe's features, and per call of its perceptrons' training: a
#: chunk's features are reduced to its whitened views at once, and only those are kept (in
#: float16, 2 KiB per image), so a million images fit in a few GB.
FEATURE_CHUNK, TRAIN_CHUNK = 2048, 8192
#: Training sets at least this big hold out 10 % to stop early; smaller ones train to convergence.
EARLY_STOPPING_MIN = 1000
#: The fast probe's perceptrons: epochs over every image and mirror, the epochs (1-based) after
#: which they predict, and their L2 penalty. Chosen on FER2013's training votes
#: (bench/mislabel_bench.py): precision@1000 0.571 over 3 seeds, against 0.545 for the out-of-fold
#: perceptrons this replaced.
FAST_EPOCHS, FAST_SNAPSHOTS, FAST_ALPHA = 10, tuple(range(3, 11)), 0.5
#: Images per whitened component of the fast probe: it judges the images it trains on, so its
#: capacity stays in proportion to them. At 10 per component, perceptrons memorised a
#: 2,000-image FER2013 sample (training accuracy 0.998, no label flagged); at 100 they fit its
#: errors late (0.45) and rank them better than the out-of-fold probe did, while all of FER2013
#: keeps its 256 components.
FAST_IMAGES_PER_COMPONENT = 100


def fast_model(n_features: int, n_samples: int, seed: int) -> Pipeline:
    """Whitened PCA -> perceptron, as one pipeline (the AffectNet label check's probe)."""
    # Whitening puts every kept component on an equal footing, so keep only as many as the
    # data can estimate (about ten images per component).
    components = max(2, min(PCA_COMPONENTS, n_features, n_samples // 10))
    return make_pipeline(PCA(components, whiten=True, random_state=seed), perceptron(n_samples, seed))


def perceptron(n_samples: int, seed: int) -> MLPClassifier:
    """One hidden layer with strong L2: probabilities smooth enough for thresholds."""
    early = n_samples >= EARLY_STOPPING_MIN
    return MLPClassifier((256,), alpha=1.0, early_stopping=early, max_iter=40 if early else 200, random_state=seed)


@dataclass(frozen=True)
class Whitener:
    """The fast probe's views (feature columns) and the whitened PCA of each, fitted on a sample
    of images and mirrors (it never sees a label). Called on images, it returns their
    ``(n, views, 2, components)`` projections, the mirrors' second, in float16; sent to worker
    processes or a cluster with each chunk. The projections run on one BLAS thread wherever they
    run: a threaded product rounds differently, which the float16 views keep, so a million
    images' review differed between local processes (two BLAS threads) and Dask workers (one)."""

    columns: tuple[slice, ...]
    pcas: tuple[PCA, ...]

    def __call__(self, images: np.ndarray) -> np.ndarray:
        out = np.empty((len(images), len(self.pcas), 2, self.pcas[0].n_components_), dtype=np.float16)
        if len(images):
            with threadpool_limits(limits=1, user_api="blas"):
                self._project(images, out)
        return out

    def _project(self, images: np.ndarray, out: np.ndarray) -> None:
        """Fill ``out`` with the views of ``images`` and of their mirrors."""
        features, mirrored = fast_features(images)
        for view, (columns, pca) in enumerate(zip(self.columns, self.pcas)):
            out[:, view, 0] = pca.transform(features[:, columns])
            out[:, view, 1] = pca.transform(mirrored[:, columns])

    def of_files(self, paths: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """``(ok, projections)`` of a chunk of image files: which decoded, and their projections."""
        arrays = [load_one(path) for path in paths]
        ok = np.array([a is not None for a in arrays], dtype=bool)
        decoded = [a for a in arrays if a is not None]
        return ok, self(np.stack(decoded) if decoded else np.zeros((0, IMAGE_SIZE, IMAGE_SIZE), np.uint8))


def fit_whitener(sample: np.ndarray, n_images: int, seed: int) -> Whitener:
    """The fast probe's two views (fine HOG; every feature) with a whitened PCA each, fitted on
    ``sample`` (images) and its mirrors, with ``FAST_IMAGES_PER_COMPONENT`` of the ``n_images``
    per component (at most ``PCA_COMPONENTS``). Projections are float32 until stored: the
    perceptrons then train in single precision, about twice as fast on a CPU, with the same
    ranking (bench/mislabel_bench.py)."""
    features, mirrored = fast_features(sample)
    both = np.concatenate([features, mirrored])
    components = max(2, min(PCA_COMPONENTS, HOG_DIMS, len(both), n_images // FAST_IMAGES_PER_COMPONENT))
    columns = (slice(0, HOG_DIMS), slice(None))
    pcas = tuple(PCA(components, whiten=True, iterated_power=2, random_state=seed).fit(both[:, c]) for c in columns)
    return Whitener(columns, pcas)


def sample_rows(n: int, seed: int) -> np.ndarray:
    """The seeded rows (sorted) the fast probe's PCA is fitted on."""
    return np.sort(np.random.default_rng(seed).permutation(n)[:PCA_FIT_IMAGES])


def whiten_images(images: np.ndarray, seed: int, on_progress: Progress | None = None,
                  backend: Backend | None = None) -> np.ndarray:
    """The fast probe's whitened views of an image stack (:class:`Whitener`), chunk by chunk on
    ``backend``."""
    whitener = fit_whitener(images[sample_rows(len(images), seed)], len(images), seed)
    chunks = [images[i : i + FEATURE_CHUNK] for i in range(0, len(images), FEATURE_CHUNK)]
    return stack_chunks(iter_batches(whitener, chunks, "Features (HOG, LBP, pixels; chunks)", None, on_progress, backend),
                        len(images))


def whiten_files(paths: Sequence[str], seed: int, jobs: int | None = None, on_progress: Progress | None = None,
                 backend: Backend | None = None) -> tuple[np.ndarray, np.ndarray]:
    """``(ok, views)``: which files decoded, and the fast probe's whitened views of those, each
    chunk decoded and described by a worker (``jobs`` processes or ``backend``) that hands back
    only its views, so the image stack is never held whole."""
    sample = [a for a in parallel_map(load_one, [paths[i] for i in sample_rows(len(paths), seed)],
                                      "Decoding the PCA sample", jobs, on_progress, backend) if a is not None]
    if not sample:
        return np.zeros(len(paths), dtype=bool), np.zeros((0, 2, 2, 2), dtype=np.float16)
    whitener = fit_whitener(np.stack(sample), len(paths), seed)
    ok: list[np.ndarray] = []

    def views() -> Iterator[np.ndarray]:
        for decoded, part in map_chunks(whitener.of_files, paths, jobs, on_progress, "Decoding and features (chunks)",
                                        backend, chunk=FEATURE_CHUNK):
            ok.append(decoded)
            yield part

    stacked = stack_chunks(views(), len(paths))
    return np.concatenate(ok), stacked


def fast_batch_size(n_images: int) -> int:
    """Batches of 200 images and mirrors, smaller on a small set so that an epoch holds ten."""
    return max(1, min(200, math.ceil(2 * n_images / 10)))


def fast_probs(
    images: np.ndarray,
    labels: np.ndarray,
    k: int,
    seed: int,
    on_progress: Progress | None = None,
    backend: Backend | None = None,
    fit: np.ndarray | None = None,
) -> np.ndarray:
    """:func:`dynamics_probs` of an image stack's whitened views (features computed on
    ``backend``)."""
    return dynamics_probs(whiten_images(images, seed, on_progress, backend), labels, k, seed, on_progress, fit)


def dynamics_probs(views: np.ndarray, labels: np.ndarray, k: int, seed: int,
                   on_progress: Progress | None = None, fit: np.ndarray | None = None,
                   jobs: int | None = None) -> np.ndarray:
    """Probabilities from training dynamics: one perceptron per view of ``views`` (fine HOG, and
    every hand-made feature: HOG at two scales, LBP, pixels; :class:`Whitener`), each trained on
    all images and mirrors; what they say of each image (with its mirror) is averaged over the
    epochs ``FAST_SNAPSHOTS`` and over the views.

    A wrong label is fitted late, if at all, while the right labels around it are learned early,
    so its averaged probability stays low. On FER2013's real errors this ranks better than
    out-of-fold perceptrons at a fifth of their training cost (bench/mislabel_bench.py), and
    either view alone ranks worse than the pair. ``fit`` (a boolean mask, None: all) limits
    training to those rows; the others are only predicted. The views' perceptrons train side by
    side in ``jobs`` forked processes (None: every core) that share ``views``, each on one BLAS
    thread: their products are too small for threads to pay, and under load threads wait on
    each other. The result does not depend on ``jobs``.
    """
    report = on_progress or no_progress
    n_views = views.shape[1]
    stage, steps = f"Fast probe ({n_views} views x {FAST_EPOCHS} epochs)", n_views * FAST_EPOCHS
    report(stage, 0, steps)
    shared = (views, labels, k, seed, fit_indices(fit, len(views)))
    per_view = forked_map(_view_probs, shared, range(n_views), jobs, lambda done: report(stage, done, steps))
    return np.sum(per_view, axis=0) / (2 * n_views * len(FAST_SNAPSHOTS))


def _view_probs(shared: tuple[np.ndarray, np.ndarray, int, int, np.ndarray], view: int,
                tick: Callable[[], None]) -> np.ndarray:
    """One view's perceptron through ``FAST_EPOCHS`` (:func:`dynamics_probs`), ticking once an
    epoch: the sum of its snapshot predictions of every image and mirror. Each epoch visits
    ``TRAIN_CHUNK`` images at a time, a seeded random draw of them, so only one chunk is ever
    converted to float32."""
    views, labels, k, seed, fit_rows = shared
    n, classes = len(views), np.arange(k)
    batch_size = fast_batch_size(len(fit_rows))
    probs = np.zeros((n, k))
    model = MLPClassifier((256,), alpha=FAST_ALPHA, batch_size=batch_size, random_state=seed)
    rng = np.random.default_rng(seed)
    with threadpool_limits(limits=1, user_api="blas"):
        for epoch in range(1, FAST_EPOCHS + 1):
            order = rng.permutation(fit_rows)  # rows come sorted by split and class: chunks must mix them
            for start in range(0, len(order), TRAIN_CHUNK):
                chunk = np.sort(order[start : start + TRAIN_CHUNK])
                both = views[chunk, view].astype(np.float32)
                y = labels[chunk]
                model.set_params(batch_size=min(batch_size, 2 * len(y)))
                model.partial_fit(np.concatenate([both[:, 0], both[:, 1]]), np.concatenate([y, y]), classes=classes)
            if epoch in FAST_SNAPSHOTS:
                for start in range(0, n, TRAIN_CHUNK):
                    chunk = slice(start, start + TRAIN_CHUNK)
                    both = views[chunk, view].astype(np.float32)
                    probs[chunk] += model.predict_proba(both[:, 0]) + model.predict_proba(both[:, 1])
            tick()
    return probs


def area_resize(images: np.ndarray, size: int) -> np.ndarray:
    """``(n, size, size, 1)`` floats in [0, 1]: each output pixel the mean of the input area it
    covers (:func:`ferclean.images.area_weights`), as two small matrix products."""
    rows, cols = area_weights(images.shape[1], size), area_weights(images.shape[2], size)
    out = np.empty((len(images), size, size, 1), dtype=np.float32)
    for start in range(0, len(images), FEATURE_CHUNK):
        chunk = images[start : start + FEATURE_CHUNK].astype(np.float32) / 255.0
        out[start : start + FEATURE_CHUNK, ..., 0] = rows @ chunk @ cols.T
    return out


def cnn_probs(
    images: np.ndarray,
    labels: np.ndarray,
    k: int,
    seed: int,
    build_cnn: CnnBuilder,
    epochs: int = CNN_EPOCHS,
    on_progress: Progress | None = None,
    checkpoint: Checkpoint | None = None,
    fit: np.ndarray | None = None,
) -> np.ndarray:
    """Class probabilities from the training dynamics of one CNN made by ``build_cnn`` on every
    image at ``CNN_SIZE`` pixels: what it says of each image in the training steps that learn
    from it (augmented as the model's own layers do), averaged over the epochs from
    ``CNN_FIRST_EPOCH`` on (the first epochs say little but the class shares). Reading them off
    the training steps costs nothing beyond the training itself.

    A wrong label is learned late or never, while the right ones around it are fitted within
    a few epochs (area under the margin, Pleiss et al., 2020). On FER2013's real errors this
    ranks below :func:`compact_probs` (precision@1000 0.669 against 0.731) in a fifth of its
    time, and better than two folds of this CNN held out and in training (0.623) or than the
    compact recipe at 32 px (0.638) (bench/mislabel_bench.py).

    ``checkpoint`` keeps the run's state after each epoch and hands back that of an
    interrupted run, which then continues where it stopped and ends with the same
    probabilities. ``fit`` (a boolean mask, None: all) limits training to those rows; the
    others are predicted (with their mirror) after each counted epoch, by a model that never
    learned their labels."""
    import keras
    import tensorflow as tf

    report = on_progress or no_progress
    n = len(images)
    fit_rows = fit_indices(fit, n)
    unseen = np.setdiff1d(np.arange(n), fit_rows)
    x = area_resize(images, CNN_SIZE)
    x_unseen = x[unseen]
    onehot = np.eye(k, dtype=np.float32)[labels]
    keras.utils.set_random_seed(seed)
    model = build_cnn(k, CNN_SIZE, epochs * -(-len(fit_rows) // CNN_BATCH))
    model.optimizer.build(model.trainable_variables)
    state_variables = [*model.variables, *model.optimizer.variables]  # what a checkpoint holds

    @tf.function
    def train_step(x_batch: tf.Tensor, y_batch: tf.Tensor) -> tf.Tensor:
        with tf.GradientTape() as tape:
            predicted = model(x_batch, training=True)
            loss = model.compute_loss(y=y_batch, y_pred=predicted)
        model.optimizer.apply_gradients(zip(tape.gradient(loss, model.trainable_variables), model.trainable_variables))
        return predicted

    counted_from = min(CNN_FIRST_EPOCH, epochs)  # a short run counts its last epoch at least
    totals, first = np.zeros((n, k)), 1
    state = checkpoint.load() if checkpoint is not None else None
    if state is not None:
        for i, variable in enumerate(state_variables):
            variable.assign(state[f"variable_{i}"])
        totals, first = state["totals"], int(state["epoch"]) + 1
    stage = f"CNN probe ({epochs} epochs, {n:,} images at {CNN_SIZE} px)"
    report(stage, first - 1, epochs)
    for epoch in range(first, epochs + 1):
        order = np.random.default_rng([seed, epoch]).permutation(fit_rows)
        for start in range(0, len(order), CNN_BATCH):
            rows = order[start : start + CNN_BATCH]
            predicted = train_step(tf.constant(x[rows]), tf.constant(onehot[rows])).numpy()
            if epoch >= counted_from:
                totals[rows] += predicted
        if epoch >= counted_from and len(unseen):
            totals[unseen] += (model.predict(x_unseen, batch_size=256, verbose=0)
                               + model.predict(x_unseen[:, :, ::-1], batch_size=256, verbose=0)) / 2
        if checkpoint is not None:
            variables = {f"variable_{i}": v.numpy() for i, v in enumerate(state_variables)}
            checkpoint.save({**variables, "totals": totals, "epoch": np.array(epoch)})
        report(stage, epoch, epochs)
    keras.backend.clear_session()
    return totals / totals.sum(axis=1, keepdims=True)  # each prediction sums to 1: their mean


def snapshot_epochs(epochs: int) -> list[int]:
    """The epochs (1-based) after which the compact CNN predicts: half-way, 70 %, 90 % and the end."""
    return sorted({max(1, round(epochs * share)) for share in SNAPSHOT_SHARES})


def compact_probs(
    images: np.ndarray,
    labels: np.ndarray,
    folds: np.ndarray,
    k: int,
    seed: int,
    build_cnn: CnnBuilder,
    epochs: int = COMPACT_EPOCHS,
    batch_size: int = 64,
    on_progress: Progress | None = None,
    checkpoint: Checkpoint | None = None,
    fit: np.ndarray | None = None,
) -> np.ndarray:
    """Class probabilities from a CNN made by ``build_cnn`` at the images' own size, one model
    per fold: the mean of what the models that never saw an image say of it (with its mirror)
    and what the models training on it say, each averaged over the :func:`snapshot_epochs`.

    The held-out half is the out-of-fold estimate; the training half is training dynamics (see
    :func:`cnn_probs`). Averaging snapshots smooths a cosine schedule's epoch-to-epoch swings. On
    FER2013's real errors each half ranks better with the other, and the pair better than the
    one-model cnn probe, at five times its cost (bench/mislabel_bench.py).

    ``checkpoint`` keeps each finished fold's share and hands back those of an interrupted run.
    ``fit`` (a boolean mask, None: all) limits training to those rows; the others are judged by
    their fold's model alone."""
    import keras

    report = on_progress or no_progress
    fold_ids = np.unique(folds)
    stage = f"Compact CNN ({len(fold_ids)} folds x {epochs} epochs)"
    total = len(fold_ids) * epochs
    snapshots = snapshot_epochs(epochs)
    x = images[..., None].astype(np.float32) / 255.0
    onehot = np.eye(k, dtype=np.float32)[labels]
    fit_rows = fit_indices(fit, len(images))
    finished = (checkpoint.load() if checkpoint is not None else None) or {}
    held, trained, times_trained = np.zeros((len(images), k)), np.zeros((len(images), k)), np.zeros(len(images))
    done = 0
    report(stage, 0, total)
    for fold in fold_ids:
        # This fold's share (held out, in training, times trained), added to the totals when it ends.
        part = finished.get(f"fold_{fold}")
        if part is None:
            part = np.zeros((3, len(images), k))
            train = np.intersect1d(np.flatnonzero(folds != fold), fit_rows)
            test = np.flatnonzero(folds == fold)
            x_train, x_test = x[train], x[test]
            keras.utils.set_random_seed(seed * 1000 + int(fold))
            model = build_cnn(k, images.shape[1], epochs * -(-len(train) // batch_size))

            def snapshot(epoch: int, _logs: object = None, model: Any = model, train: np.ndarray = train,
                         x_train: np.ndarray = x_train, test: np.ndarray = test, x_test: np.ndarray = x_test,
                         part: np.ndarray = part) -> None:
                nonlocal done
                if epoch + 1 in snapshots:
                    part[0, test] += (model.predict(x_test, batch_size=256, verbose=0)
                                      + model.predict(x_test[:, :, ::-1], batch_size=256, verbose=0)) / (2 * len(snapshots))
                    part[1, train] += model.predict(x_train, batch_size=256, verbose=0)
                    part[2, train] += 1
                done += 1
                report(stage, done, total)

            callback = keras.callbacks.LambdaCallback(on_epoch_end=snapshot)
            model.fit(x_train, onehot[train], epochs=epochs, batch_size=batch_size, verbose=0, callbacks=[callback])
            keras.backend.clear_session()
            finished[f"fold_{fold}"] = part
            if checkpoint is not None:
                checkpoint.save(finished)
        else:
            done += epochs
            report(stage, done, total)
        held += part[0]
        trained += part[1]
        times_trained += part[2, :, 0]
    return np.where(times_trained[:, None] > 0, (held + trained / np.maximum(times_trained, 1)[:, None]) / 2, held)


def fit_indices(fit: np.ndarray | None, n: int) -> np.ndarray:
    """The rows a probe trains on: those of the boolean mask ``fit`` (None: all ``n``)."""
    if fit is None:
        return np.arange(n)
    fit = np.asarray(fit, dtype=bool)
    if fit.shape != (n,):
        raise ValueError(f"fit must be a boolean mask of the {n} rows, got shape {fit.shape}")
    if not fit.any():
        raise FercleanError("The probe has no images to learn from: none of the rows is in the splits it trains on.")
    return np.flatnonzero(fit)


def needs_cnn(probe: str) -> bool:
    """Whether ``probe`` trains a CNN (and so needs ``build_cnn``, keras and the image stack)."""
    return members(probe) != ("fast",)


def members(probe: str) -> tuple[str, ...]:
    """The single probes that ``probe`` trains: itself, or the ensemble's."""
    if probe not in MEMBERS:
        raise ValueError(f"probe must be one of {tuple(MEMBERS)}, got {probe!r}")
    return MEMBERS[probe]


def average_members(probs_by_probe: dict[str, np.ndarray]) -> np.ndarray:
    """The ``MEMBER_WEIGHTS``-weighted mean of single probes' probabilities (one probe: its own)."""
    return np.average(list(probs_by_probe.values()), axis=0, weights=[MEMBER_WEIGHTS[p] for p in probs_by_probe])


def member_probs(
    images: np.ndarray,
    labels: np.ndarray,
    k: int,
    probe: str,
    seed: int,
    epochs: int | None = None,
    build_cnn: Mapping[str, CnnBuilder] | None = None,
    folds: np.ndarray | None = None,
    on_progress: Progress | None = None,
    backend: Backend | None = None,
    checkpoint: Checkpoint | None = None,
    fit: np.ndarray | None = None,
) -> dict[str, np.ndarray]:
    """``(n, k)`` probabilities of each member of ``probe``, by name: ``fast`` (:func:`fast_probs`,
    its features computed on ``backend``), ``cnn`` (:func:`cnn_probs`) and ``compact``
    (:func:`compact_probs` on ``folds``); each CNN is made by its entry in ``build_cnn`` (e.g.
    ``ferclean_train.models.PROBE_CNNS``), trains ``epochs`` (None: ``CNN_EPOCHS``, ``COMPACT_EPOCHS``) and
    keeps its state in ``checkpoint``; ``fit`` (a boolean mask) limits what each learns from.
    :func:`average_members` combines them."""
    needs = [m for m in members(probe) if m != "fast"]
    missing = [m for m in needs if build_cnn is None or m not in build_cnn]
    if missing:
        raise FercleanError(f"probe={probe!r} needs build_cnn[{missing[0]!r}], e.g. ferclean_train.models.PROBE_CNNS.")
    if "compact" in needs and folds is None:
        raise FercleanError(f"probe={probe!r} needs folds: its compact CNN judges each image from the other folds.")
    by_member = {}
    for member in members(probe):
        if member == "fast":
            by_member[member] = fast_probs(images, labels, k, seed, on_progress, backend, fit)
        elif member == "cnn":
            by_member[member] = cnn_probs(images, labels, k, seed, build_cnn[member], epochs or CNN_EPOCHS,
                                          on_progress, checkpoint, fit)
        else:
            by_member[member] = compact_probs(images, labels, folds, k, seed, build_cnn[member],
                                              epochs or COMPACT_EPOCHS, on_progress=on_progress, checkpoint=checkpoint,
                                              fit=fit)
    return by_member
