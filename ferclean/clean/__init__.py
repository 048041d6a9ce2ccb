"""``ferclean clean``: the whole curation as one call, scan -> dedupe -> mislabel review ->
automatic policy -> optional leak-free re-split.

Each stage is the step package's own function with the options a user decides left open; the
step commands keep every other option.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from ferclean.clean.policy import CLEAN_DEDUPE, REASON_PREFIX, RELABEL_MIN, Policy, add_soft_labels, apply_policy, rare_classes
from ferclean.dedupe import DedupeResult, find_duplicates
from ferclean.manifest import Manifest, effective_labels, kept
from ferclean.mislabel.pipeline import ReviewResult, review
from ferclean.mislabel.probe import CnnBuilder
from ferclean.parallel import Backend, Progress
from ferclean.stratify import Stratified, stratify

#: The step behind a note entry, by its opening words (every step writes its reason this way).
NOTE_STEPS: dict[str, str] = {
    "duplicate of": "duplicate",
    "label conflict": "duplicates disagree on the label",
    REASON_PREFIX: "label policy",
    "mislabel-review:": "doubtful label",
    "invalid:": "invalid image",
    "unreadable": "unreadable file",
    "too small": "too small",
}

__all__ = ["CLEAN_DEDUPE", "CleanResult", "Policy", "REASON_PREFIX", "RELABEL_MIN", "add_soft_labels", "apply_policy", "clean", "change_reason", "class_changes",
           "rare_classes", "status_changes"]


@dataclass
class CleanResult:
    """The cleaned manifest and what each stage found.

    ``changes`` lists every row whose status the run changed (path, split, label, status before
    and after, new_label, note); ``split`` is the re-split's details, None with the splits kept.
    """

    manifest: Manifest
    before: pd.DataFrame
    dedupe: DedupeResult
    review: ReviewResult
    changes: pd.DataFrame
    split: Stratified | None = None


def clean(
    manifest: Manifest,
    probe: str = "fast",
    policy: Policy = Policy(),
    ratios: dict[str, float] | None = None,
    seed: int = 0,
    probs: str | Path | None = None,
    build_cnn: Mapping[str, CnnBuilder] | None = None,
    pixels: np.ndarray | None = None,
    review_dir: Path | None = None,
    jobs: int | None = None,
    on_progress: Progress | None = None,
    backend: Backend | None = None,
    resume: bool = False,
) -> CleanResult:
    """Dedupe by ``policy.dedupe`` (a test copy kept before a training one; label conflicts to
    review), re-split in ``ratios`` when given (duplicate groups whole, seeded by ``seed``), review
    labels with ``probe`` (or reuse ``probs``) and apply ``policy``.

    ``pixels`` are scan's small copies (``scan_dataset(keep_pixels=BASE)``), which spare dedupe a
    second decoding; ``review_dir`` receives the mislabel report folder, and the cnn probe's
    checkpoint after each epoch, which ``resume`` continues from.
    """
    policy = policy.for_probe(probe)
    deduped = find_duplicates(manifest, policy=policy.dedupe, on_conflict="review", jobs=jobs,
                              on_progress=on_progress, backend=backend, pixels=pixels)
    # Re-split before the review: the probe learns from the final training split only, so no
    # evaluation label reaches the relabels and soft labels it makes (the evaluation images are
    # judged all the same), and the policy changes exactly the images that will train.
    split = stratify(deduped.manifest, ratios, seed) if ratios is not None else None
    reviewed = review(split.manifest if split else deduped.manifest, probe, seed=seed, probs=probs, build_cnn=build_cnn,
                      report_dir=review_dir, jobs=jobs, on_progress=on_progress, backend=backend, resume=resume,
                      fit_splits=policy.splits)
    frame = apply_policy(reviewed.manifest.frame, policy)
    if policy.soft_labels:
        frame = add_soft_labels(frame, reviewed.paths, reviewed.probs, reviewed.classes, policy)
    result = reviewed.manifest.with_frame(frame, clean={"probe": probe, "seed": seed, **asdict(policy)})
    return CleanResult(manifest=result, before=manifest.frame, dedupe=deduped, review=reviewed,
                       changes=status_changes(manifest.frame, result.frame), split=split)


def status_changes(before: pd.DataFrame, after: pd.DataFrame) -> pd.DataFrame:
    """Rows (matched by path) whose status or trained label differs between two frames."""
    old = before.set_index("path")
    new = after.set_index("path")
    old = old.reindex(new.index)
    moved = (old["status"] != new["status"]) | (effective_labels(old) != effective_labels(new))
    table = pd.DataFrame({
        "split": new["split"], "label": new["label"], "status_before": old["status"],
        "status": new["status"], "new_label": new["new_label"], "reason": new["note"].map(change_reason),
        "note": new["note"],
    })
    return table[moved.to_numpy()].reset_index()


def change_reason(note: str) -> str:
    """The step that last wrote to a note (:data:`NOTE_STEPS`), or ``other``."""
    for entry in reversed(str(note).split("; ")):
        for opening, step in NOTE_STEPS.items():
            if entry.startswith(opening):
                return step
    return "other"


def class_changes(before: pd.DataFrame, after: pd.DataFrame) -> pd.DataFrame:
    """Per class: kept images before and after, dropped, relabelled out of and into the class."""
    labels_before = effective_labels(before)[kept(before)]
    labels_after = effective_labels(after)[kept(after)]
    relabelled = after[(after["status"] == "relabel") & (after["new_label"] != "") & (after["new_label"] != after["label"])]
    was_kept = before.set_index("path")["status"].reindex(after["path"]).ne("drop").to_numpy()
    dropped = after[~kept(after).to_numpy() & was_kept]
    classes = sorted(set(labels_before) | set(labels_after))
    table = pd.DataFrame(index=pd.Index(classes, name="class"))
    table["before"] = labels_before.value_counts()
    table["dropped"] = dropped["label"].value_counts()
    table["relabelled out"] = relabelled["label"].value_counts()
    table["relabelled in"] = relabelled["new_label"].value_counts()
    table["after"] = labels_after.value_counts()
    return table.fillna(0).astype(int)
