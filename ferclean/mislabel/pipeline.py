"""The mislabel review as one call: probe (or reuse saved probabilities), score,
annotate the manifest, and optionally write the report folder."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from ferclean.errors import FercleanError
from ferclean.folds import assign_folds
from ferclean.labels import class_order
from ferclean.manifest import Manifest, effective_labels, group_keys, kept
from ferclean.mislabel.annotate import annotate
from ferclean.mislabel.features import load_images
from ferclean.mislabel.checkpoint import Checkpoint, fingerprint
from ferclean.mislabel.probe import (COMPACT_FOLDS, PROBES, CnnBuilder, average_members, dynamics_probs,
                                     member_probs, members, needs_cnn, whiten_files)
from ferclean.mislabel.report import review_table, write_report
from ferclean.mislabel.saved_probs import SavedProbs, align, load_probs
from ferclean.mislabel.scoring import score
from ferclean.parallel import Backend, Progress

__all__ = ["PROBES", "ReviewResult", "review"]


@dataclass
class ReviewResult:
    """A review's outcome.

    ``manifest``: the input with score columns and flagged rows at ``status=review``;
    ``review``: the flagged rows, most doubtful first; ``paths``/``labels``/``probs``: path,
    given label index and probe probabilities of each probed row; ``saved``: the probabilities
    with their paths (what ``probs.npy`` holds); ``estimated_errors``: how many given
    labels confident learning estimates wrong, the size of the flagged set (fewer only if fewer
    images are predicted as another class); ``skipped``: unreadable paths.
    """

    manifest: Manifest
    review: pd.DataFrame
    paths: list[str]
    labels: np.ndarray
    probs: np.ndarray
    classes: list[str]
    saved: SavedProbs
    reused: bool
    estimated_errors: int
    skipped: list[str] = field(default_factory=list)
    images: dict[str, np.ndarray] = field(default_factory=dict, repr=False)

    @property
    def accuracy(self) -> float:
        """Share of probed images whose probe prediction is the given label."""
        return float((self.probs.argmax(axis=1) == self.labels).mean())


def review(
    manifest: Manifest,
    probe: str = "fast",
    folds: int | None = None,
    seed: int = 0,
    epochs: int | None = None,
    probs: str | Path | None = None,
    build_cnn: Mapping[str, CnnBuilder] | None = None,
    report_dir: str | Path | None = None,
    page_limit: int = 2000,
    jobs: int | None = None,
    on_progress: Progress | None = None,
    backend: Backend | None = None,
    resume: bool = False,
    fit_splits: Sequence[str] | None = None,
) -> ReviewResult:
    """Flag kept images whose label a probe finds unlikely.

    ``probs`` reuses the ``probs.npy`` of an earlier run instead of training. ``probe="cnn"`` or
    ``"ensemble"`` needs ``build_cnn`` (e.g. ``ferclean_train.models.PROBE_CNNS``), whose CNN
    trains ``epochs`` (None: its default); the ensemble's compact CNN trains on ``folds``
    (default ``COMPACT_FOLDS``; duplicate groups stay in one fold). With ``report_dir`` the
    report folder is written too (``report.write_report``), and the CNN's state is checkpointed
    there (after each epoch, or each fold of the compact CNN): ``resume`` continues that of an
    interrupted run of the same images, labels and options (ferclean.mislabel.checkpoint).
    ``fit_splits`` (None: all) are the splits whose labels the probe learns from; the images of
    the others are judged by models that never saw their labels, so a test label cannot reach
    whatever is built from the probe's probabilities (``ferclean clean``'s relabels and soft labels).
    """
    with_cnn = needs_cnn(probe)
    if folds is not None and "compact" not in members(probe):
        raise FercleanError(f"folds applies to the ensemble's compact CNN; probe={probe!r} trains on every image.")
    n_folds = (folds or COMPACT_FOLDS) if "compact" in members(probe) else None
    frame = manifest.frame
    rows = np.flatnonzero(kept(frame).to_numpy())
    if len(rows) == 0:
        raise FercleanError("The manifest has no kept images to review.")
    paths = frame["path"].iloc[rows].tolist()
    label_names = effective_labels(frame).iloc[rows].tolist()
    skipped: list[str] = []
    images: dict[str, np.ndarray] = {}
    checkpoint: Checkpoint | None = None
    if probs is not None:
        saved = load_probs(Path(probs))
        probe_probs = align(saved, paths, label_names)
        class_names = saved.classes
    else:
        files = [str(manifest.root / p) for p in paths]
        if with_cnn:
            stack, ok = load_images(files, jobs, on_progress, backend)
        else:  # the fast probe alone never holds the image stack: a million images would not fit
            ok, views = whiten_files(files, seed, jobs, on_progress, backend)
        if not ok.all():
            skipped = [paths[i] for i in np.flatnonzero(~ok)]
            rows = rows[ok]
            paths = [p for p, good in zip(paths, ok) if good]
            label_names = [n for n, good in zip(label_names, ok) if good]
        class_names = class_order(label_names)
        if not class_names:
            raise FercleanError(
                f"None of the {len(ok):,} kept image(s) could be read, e.g. {manifest.root / skipped[0]};"
                " check the manifest's paths and the root in its companion .json."
            )
        if len(class_names) < 2:
            raise FercleanError(f"Only one class ({class_names[0]}) among the kept images; a probe needs two or more.")
        labels = np.array([class_names.index(n) for n in label_names], dtype=np.int64)
        fit = None if fit_splits is None else frame["split"].iloc[rows].isin(list(fit_splits)).to_numpy()
        if with_cnn:
            stack = stack[ok]
            fold_of = None
            if n_folds is not None:
                fold_of = assign_folds(paths, labels, group_keys(frame).iloc[rows].tolist(), n_folds, seed)
            if report_dir is not None:
                options = {"probe": probe, "seed": seed, "epochs": epochs, "classes": class_names,
                           "folds": None if fold_of is None else fold_of.tolist(),
                           "fit": None if fit is None else fit.tolist()}
                checkpoint = Checkpoint(Path(report_dir), fingerprint(stack, labels, options), resume)
            probe_probs = average_members(member_probs(stack, labels, len(class_names), probe, seed, epochs,
                                                       build_cnn, fold_of, on_progress, backend, checkpoint, fit))
            images = dict(zip(paths, stack))
        else:
            probe_probs = dynamics_probs(views, labels, len(class_names), seed, on_progress, fit, jobs)
        saved = SavedProbs(probs=probe_probs, paths=paths, classes=class_names,
                           meta={"probe": probe, "seed": seed, "epochs": epochs, "folds": n_folds,
                                 "fit_splits": None if fit_splits is None else list(fit_splits)})
    labels = np.array([class_names.index(n) for n in label_names], dtype=np.int64)
    scores = score(labels, probe_probs)
    annotated = annotate(frame, rows, class_names, scores)
    result = ReviewResult(
        manifest=manifest.with_frame(annotated),
        review=review_table(annotated, annotated.index[rows[scores.flagged]]),
        paths=paths,
        labels=labels,
        probs=probe_probs,
        classes=class_names,
        saved=saved,
        reused=probs is not None,
        estimated_errors=scores.estimated_errors,
        skipped=skipped,
        images=images,
    )
    if report_dir is not None:
        write_report(result, Path(report_dir), page_limit)
    if checkpoint is not None:
        checkpoint.clear()
    return result
