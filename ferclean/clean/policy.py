"""The automatic curation policy: which flagged labels ``ferclean clean`` changes, on DataFrames.

Chosen on FER2013's training votes (bench/curation_value.py, bench/mislabel_bench.py): relabelling
a flagged training image to the probe's suggestion when the probe is fairly sure fixes far more
labels than it breaks, and training on the result beats the raw labels on every seed; dropping the
unsure ones does not pay (fewer faces, rare classes thinned). A rare class loses a large share of
its few faces to a relabel at the common threshold, so leaving it asks for more certainty.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from ferclean.dedupe import POLICIES
from ferclean.labels import SOFT_LABEL, format_soft_labels
from ferclean.manifest import append_note
from ferclean.mislabel.decisions import probe_only_review

#: Reason prefix of every row the policy changes (kept in ``note``).
REASON_PREFIX = "clean:"
#: ``relabel_min`` per probe, chosen on FER2013's training votes (bench/clean_bench.py): the
#: threshold whose relabels fix the most labels net of those they break. The fast probe (training
#: dynamics): at 0.4 586 fixed / 301 broken (net +285), at 0.3 +220, at 0.5 +214, at 0.6 +136.
#: The cnn probe's suggestions are right 95 % of the time among the errors it ranks first, and
#: 0.4 paid in training (bench/curation_value.py).
RELABEL_MIN: dict[str, float] = {"fast": 0.4, "cnn": 0.4, "ensemble": 0.4}
#: The dedupe policies ``clean`` may apply (``report`` would leave the leaks in).
CLEAN_DEDUPE = tuple(p for p in POLICIES if p != "report")


@dataclass(frozen=True)
class Policy:
    """What ``clean`` drops and relabels.

    ``relabel_min``: suggestion probability to relabel a flagged image (None: the probe's own,
    :data:`RELABEL_MIN`, set by :meth:`for_probe`); ``rare_share``: a class holding less than this share of the relabelled splits' images
    is rare; ``rare_relabel_min``: the probability needed to take an image *out of* a rare class
    (never less than ``relabel_min``); ``splits``: the splits whose labels change (evaluation
    splits keep their flags for a person: relabelling them with the probe would grade the model
    against the probe); ``drop_unsure``: drop flagged images not relabelled instead of keeping
    them with their label; ``dedupe``: the dedupe policy, ``leaks`` (each exact copy once, no face
    in two splits, a face's re-crops within a split kept: they leak nothing, and dropping them
    thins the classes FER2013 repeats most, surprise and disgust, by a third) or ``keep-one``;
    ``soft_labels``: give the policy's splits the probe's class distribution in a ``soft_label``
    column (:func:`add_soft_labels`), which ``ferclean train`` blends with the label; off by
    default: with the cnn probe as teacher it cost a point of accuracy (bench/curation_value.py).
    """

    relabel_min: float | None = None
    rare_share: float = 0.05
    rare_relabel_min: float = 0.7
    splits: tuple[str, ...] = ("train",)
    drop_unsure: bool = False
    dedupe: str = "leaks"
    soft_labels: bool = False

    def __post_init__(self) -> None:
        if self.dedupe not in CLEAN_DEDUPE:
            raise ValueError(f"dedupe must be one of {CLEAN_DEDUPE}, got {self.dedupe!r}")
        for name in ("relabel_min", "rare_share", "rare_relabel_min"):
            value = getattr(self, name)
            if value is not None and not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be between 0 and 1, got {value}")

    def for_probe(self, probe: str) -> Policy:
        """This policy with ``relabel_min`` set to ``probe``'s threshold where it was left open."""
        if probe not in RELABEL_MIN:
            raise ValueError(f"probe must be one of {tuple(RELABEL_MIN)}, got {probe!r}")
        return self if self.relabel_min is not None else replace(self, relabel_min=RELABEL_MIN[probe])


def rare_classes(frame: pd.DataFrame, policy: Policy) -> set[str]:
    """Classes holding less than ``policy.rare_share`` of the kept images of the policy's splits."""
    pool = frame[(frame["status"] != "drop") & frame["split"].isin(policy.splits)]
    shares = pool["label"].value_counts(normalize=True)
    return set(shares.index[shares < policy.rare_share])


def apply_policy(frame: pd.DataFrame, policy: Policy) -> pd.DataFrame:
    """A copy of ``frame`` with the policy applied to the rows the probe alone flagged.

    Rows another step sent to review (a dedupe label conflict, an invalid image) stay for a person;
    ``ferclean.clean.status_changes`` lists what changed.
    """
    if policy.relabel_min is None:
        raise ValueError("policy.relabel_min is not set: use Policy.for_probe(probe) or give a threshold")
    for column in ("suggested_label", "suggested_confidence"):
        if column not in frame.columns:
            raise ValueError(f"frame has no {column} column: run the mislabel review first")
    frame = frame.copy()
    confidence = pd.to_numeric(frame["suggested_confidence"], errors="coerce").fillna(0.0)
    flagged = (probe_only_review(frame) & frame["split"].isin(policy.splits)
               & (frame["suggested_label"] != "") & (frame["suggested_label"] != frame["label"]))
    rare_min = max(policy.rare_relabel_min, policy.relabel_min)
    needed = frame["label"].isin(rare_classes(frame, policy)).map({True: rare_min, False: policy.relabel_min})
    relabel = flagged & (confidence >= needed)
    drop = flagged & ~relabel & policy.drop_unsure
    p = confidence.map(lambda v: f"{v:.2f}")
    frame.loc[relabel, "status"] = "relabel"
    frame.loc[relabel, "new_label"] = frame.loc[relabel, "suggested_label"]
    frame.loc[relabel, "note"] = append_note(
        frame.loc[relabel, "note"], f"{REASON_PREFIX} relabel, probe p=" + p[relabel] + " >= " + needed[relabel].map("{:g}".format))
    frame.loc[drop, "status"] = "drop"
    frame.loc[drop, "note"] = append_note(frame.loc[drop, "note"], f"{REASON_PREFIX} drop, probe unsure (p=" + p[drop] + ")")
    return frame


def add_soft_labels(frame: pd.DataFrame, paths: list[str], probs: np.ndarray, classes: list[str],
                    policy: Policy) -> pd.DataFrame:
    """A copy of ``frame`` whose kept rows of the policy's splits carry the probe's class
    distribution in ``soft_label``; other rows get an empty value.

    On FER2013's training votes the blend 0.3 label + 0.7 probe is closer to the annotators' vote
    distribution than the label alone (cross-entropy 1.14 against 1.84 with the cnn probe,
    bench/clean_bench.py), the way FER+ trains on
    vote distributions rather than majority labels; evaluation splits keep hard labels. Closer
    targets did not train a better model with the cnn probe as teacher (its argmax agrees with the
    votes barely more often than the labels do), hence opt-in.
    """
    if len(paths) != len(probs):
        raise ValueError(f"paths ({len(paths)}) and probs ({len(probs)}) differ in length")
    frame = frame.copy()
    text = pd.Series(format_soft_labels(probs, classes), index=pd.Index(paths), dtype=object)
    text = text[~text.index.duplicated()]
    wanted = frame["split"].isin(policy.splits) & (frame["status"] != "drop")
    frame[SOFT_LABEL] = frame["path"].map(text).where(wanted, "").fillna("")
    return frame
