"""Out-of-fold class probabilities: every image is predicted by a model that never saw it.

``fast`` is hand-made features (HOG at two scales, LBP histograms, small pixels), PCA-whitened,
into a one-hidden-layer perceptron averaged with a logistic regression (scikit-learn; figures in
bench/mislabel_bench.py); ``cnn`` trains ``ferclean_train``'s baseline
CNN per fold (for a GPU, or small sets on CPU).
Both train on each image and its mirror and average the two predictions at test time.
"""

from __future__ import annotations

import warnings

import numpy as np
from sklearn.decomposition import PCA
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.neural_network import MLPClassifier

from ferclean.console import progress_bar
from ferclean.mislabel.features import fast_features
from ferclean.parallel import Progress, no_progress

PROBES: tuple[str, ...] = ("fast", "cnn")

#: Dimensions the feature vectors are reduced to before the classifiers.
PCA_COMPONENTS = 256
#: The PCA is fitted on at most this many rows (a seeded sample): enough to pin 256 directions,
#: a fraction of the cost of fitting on every image and mirror.
PCA_FIT_ROWS = 8_000
#: L2 strength per training sample of the logistic regression (C = 1 / (this * samples)), so
#: that it regularises a few hundred images as much as FER2013's 57,000 (C = 0.01 there).
LOGISTIC_ALPHA = 1.75e-3
#: Training sets at least this big hold out 10 % to stop early; smaller ones train to convergence.
EARLY_STOPPING_MIN = 1000
#: Images per feature-extraction step (one progress report each).
FEATURE_CHUNK = 2048


def fast_models(n_samples: int, seed: int) -> tuple[MLPClassifier, LogisticRegression]:
    """A perceptron with strong L2 and a strongly regularised logistic regression: averaged,
    their probabilities are smooth enough for thresholds and rank real errors better than either."""
    early = n_samples >= EARLY_STOPPING_MIN
    return (
        MLPClassifier((256,), alpha=1.0, early_stopping=early, max_iter=40 if early else 200, random_state=seed),
        LogisticRegression(C=1.0 / (LOGISTIC_ALPHA * n_samples), max_iter=200),
    )


def _full_columns(model_classes: np.ndarray, part: np.ndarray, k: int) -> np.ndarray:
    """Spread a model's columns over all k classes (a class absent from a training fold gets 0)."""
    full = np.zeros((len(part), k))
    full[:, model_classes] = part
    return full


def _features(images: np.ndarray, report: Progress) -> tuple[np.ndarray, np.ndarray]:
    """``fast_features`` of the images and of their mirrors, reported chunk by chunk."""
    stage, n = "Features (HOG, LBP, pixels)", len(images)
    report(stage, 0, n)
    plain, mirrored = [], []
    for start in range(0, n, FEATURE_CHUNK):
        features, reflected = fast_features(images[start : start + FEATURE_CHUNK])
        plain.append(features)
        mirrored.append(reflected)
        report(stage, min(start + FEATURE_CHUNK, n), n)
    return np.concatenate(plain), np.concatenate(mirrored)


def fast_probs(
    images: np.ndarray, labels: np.ndarray, folds: np.ndarray, k: int, seed: int, on_progress: Progress | None = None
) -> np.ndarray:
    """Out-of-fold probabilities from hand-made features, whitened PCA, perceptron + logistic regression.

    The PCA is fitted once, on a seeded sample of all images and mirrors: it never sees a label,
    so a held-out image's prediction still comes only from the other folds' labels.
    """
    report = on_progress or no_progress
    features, mirrored = _features(images, report)
    report("PCA", 0, 1)
    # Whitening puts every kept component on an equal footing, so keep only as many as the
    # data can estimate (about ten images per component).
    components = max(2, min(PCA_COMPONENTS, features.shape[1], len(features) // 10))
    both = np.concatenate([features, mirrored])
    sample = np.random.default_rng(seed).permutation(len(both))[:PCA_FIT_ROWS]
    pca = PCA(components, whiten=True, iterated_power=2, random_state=seed).fit(both[np.sort(sample)])
    features, mirrored = pca.transform(features), pca.transform(mirrored)
    report("PCA", 1, 1)
    probs = np.zeros((len(images), k))
    fold_ids = np.unique(folds)
    stage, steps = "Fast probe (folds x models)", 2 * len(fold_ids)
    report(stage, 0, steps)
    for done, fold in enumerate(fold_ids):
        train, test = np.flatnonzero(folds != fold), np.flatnonzero(folds == fold)
        x = np.concatenate([features[train], mirrored[train]])
        y = np.concatenate([labels[train], labels[train]])
        for step, model in enumerate(fast_models(len(x), seed), 1):
            with warnings.catch_warnings():
                # Capped iterations are the regularisation here (early stopping), not a fault.
                warnings.simplefilter("ignore", ConvergenceWarning)
                model.fit(x, y)
            part = (model.predict_proba(features[test]) + model.predict_proba(mirrored[test])) / 4
            probs[test] += _full_columns(model.classes_, part, k)
            report(stage, 2 * done + step, steps)
    return probs


def cnn_probs(
    images: np.ndarray, labels: np.ndarray, folds: np.ndarray, k: int, seed: int, epochs: int = 20, batch_size: int = 128
) -> np.ndarray:
    """Out-of-fold probabilities from ``ferclean_train``'s baseline CNN, one model per fold."""
    import keras

    from ferclean_train.models import build_model, compile_model

    x = images[..., None].astype(np.float32) / 255.0
    x_mirror = x[:, :, ::-1]
    onehot = np.eye(k, dtype=np.float32)[labels]
    probs = np.zeros((len(images), k))
    fold_ids = np.unique(folds)
    with progress_bar() as bar:
        task = bar.add_task("CNN probe (epochs x folds)", total=len(fold_ids) * epochs)
        advance = keras.callbacks.LambdaCallback(on_epoch_end=lambda *_: bar.advance(task))
        for fold in fold_ids:
            train, test = np.flatnonzero(folds != fold), np.flatnonzero(folds == fold)
            keras.utils.set_random_seed(seed * 1000 + int(fold))
            model = compile_model(build_model("baseline", k, images.shape[1], augment=True), "baseline")
            model.fit(x[train], onehot[train], epochs=epochs, batch_size=batch_size, verbose=0, callbacks=[advance])
            part = (model.predict(x[test], verbose=0) + model.predict(x_mirror[test], verbose=0)) / 2
            probs[test] = part
            keras.backend.clear_session()
    return probs


def out_of_fold_probs(
    images: np.ndarray, labels: np.ndarray, folds: np.ndarray, k: int, probe: str, seed: int, epochs: int = 20,
    on_progress: Progress | None = None,
) -> np.ndarray:
    """``(n, k)`` probabilities, row i predicted by the model of the fold that left image i out."""
    if probe == "fast":
        return fast_probs(images, labels, folds, k, seed, on_progress)
    if probe == "cnn":
        return cnn_probs(images, labels, folds, k, seed, epochs)
    raise ValueError(f"unknown probe {probe!r}; choose from {PROBES}")
