"""Quotas per class, the reproducible, confidence-first ranking of candidates, the feasible
target and trimming to it."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ferclean.affectnet.balance import (
    FEASIBLE,
    TRIM_NOTE,
    feasible_target,
    quotas,
    rank_candidates,
    trim_plan,
    trim_surplus,
)
from ferclean.cli.options import parse_per_class, parse_target
from ferclean.errors import FercleanError
from ferclean.manifest import normalise_frame

BEFORE = pd.Series({"happy": 100, "neutral": 70, "sad": 40, "surprise": 120})


def test_target_max_raises_every_class_to_the_largest() -> None:
    assert quotas(BEFORE).to_dict() == {"happy": 20, "neutral": 50, "sad": 80, "surprise": 0}


def test_target_n_never_asks_for_a_negative_count() -> None:
    assert quotas(BEFORE, parse_target("90")).to_dict() == {"happy": 0, "neutral": 20, "sad": 50, "surprise": 0}


def test_per_class_sets_the_number_to_add_for_named_classes() -> None:
    per_class = parse_per_class("Sadness=5,surprise=17", BEFORE.index)
    assert per_class == {"sad": 5, "surprise": 17}
    assert quotas(BEFORE, None, per_class).to_dict() == {"happy": 20, "neutral": 50, "sad": 5, "surprise": 17}


def test_target_feasible_is_parsed() -> None:
    assert parse_target(" Feasible ") == FEASIBLE and parse_target("max") is None and parse_target("12") == 12


@pytest.mark.parametrize("text", ["lots", "-3"])
def test_bad_target_is_a_clear_error(text: str) -> None:
    with pytest.raises(FercleanError, match="--target"):
        parse_target(text)


@pytest.mark.parametrize("text", ["angry=3", "happy", "happy=x", "happy=-1"])
def test_bad_per_class_is_a_clear_error(text: str) -> None:
    with pytest.raises(FercleanError, match="--per-class"):
        parse_per_class(text, BEFORE.index)


def _candidates(n: int, confidence: list[float] | None = None) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "key": [f"img/{i:03d}.jpg" for i in range(n)],
            "label": ["happy" if i % 2 else "sad" for i in range(n)],
            "confidence": confidence if confidence is not None else [np.nan] * n,
        }
    )


def test_ranking_is_reproducible_and_independent_of_listing_order() -> None:
    frame = _candidates(40)
    first = rank_candidates(frame, seed=3)
    shuffled = rank_candidates(frame.sample(frac=1, random_state=7), seed=3)
    assert first["key"].tolist() == shuffled["key"].tolist()
    other_seed = rank_candidates(frame, seed=4)
    assert first["key"].tolist() != other_seed["key"].tolist()
    assert set(first["key"]) == set(other_seed["key"])


def test_ranking_prefers_confident_annotations_and_puts_unknown_last() -> None:
    confidence = [0.1, 0.9, np.nan, 0.5, 0.7, np.nan, 0.3, 0.95]
    ranked = rank_candidates(_candidates(8, confidence), seed=0)
    happy = ranked[ranked["label"] == "happy"]
    assert happy["confidence"].iloc[:3].tolist() == [0.95, 0.9, 0.5]
    assert happy["confidence"].isna().tolist() == [False, False, False, True]
    assert happy["rank"].tolist() == [0, 1, 2, 3]


def test_feasible_target_is_the_count_every_class_reaches_with_its_usable_faces() -> None:
    usable = pd.Series({"neutral": 30, "sad": 50})  # happy and surprise have none
    assert feasible_target(BEFORE, usable) == 90  # sad: 40 + 50; happy 100 and surprise 120 are above
    assert feasible_target(BEFORE, pd.Series({"neutral": 5, "sad": 50})) == 75  # neutral 70 + 5
    assert feasible_target(BEFORE, pd.Series(dtype=int)) == 40


def test_trim_plan_takes_training_images_first() -> None:
    counts = pd.DataFrame({"train": [80, 30, 5], "val": [10, 5, 6], "test": [10, 5, 3]}, index=["happy", "sad", "neutral"])
    plan = trim_plan(counts, target=40)
    assert plan.loc["happy"].tolist() == [60, 0, 0]  # train absorbs all 60
    assert plan.loc["sad"].tolist() == [0, 0, 0]
    assert plan.loc["neutral"].tolist() == [0, 0, 0]
    short = trim_plan(counts, target=5)  # neutral: 14 -> 5 needs 9, train holds only 5
    assert short.loc["neutral"].tolist() == [5, 3, 1]  # the other 4 spread 6:3 over val and test
    assert (short.sum(axis=1) == counts.sum(axis=1) - 5).all()


def _manifest(spec: dict[tuple[str, str], int], quality: bool = False) -> pd.DataFrame:
    rows = [
        {"path": f"{split}/{label}/{i:03d}.png", "split": split, "label": label, "status": "keep", "note": "n" if i == 0 else ""}
        for (split, label), count in spec.items()
        for i in range(count)
    ]
    frame = normalise_frame(pd.DataFrame(rows))
    if quality:
        frame["label_quality"] = np.linspace(1.0, 0.0, len(frame))
    return frame


SPEC = {("train", "happy"): 30, ("test", "happy"): 6, ("train", "sad"): 12, ("test", "sad"): 4, ("train", "neutral"): 20, ("test", "neutral"): 5}


def test_trim_reaches_exact_balance_marks_drop_and_leaves_test_alone() -> None:
    frame = _manifest(SPEC)
    trimmed, plan = trim_surplus(frame, 16, seed=0)
    assert len(trimmed) == len(frame) and trimmed["path"].tolist() == frame["path"].tolist()  # marked, never removed
    keep = trimmed[trimmed["status"] != "drop"]
    assert keep["label"].value_counts().to_dict() == {"happy": 16, "sad": 16, "neutral": 16}
    dropped = trimmed[trimmed["status"] == "drop"]
    assert set(dropped["split"]) == {"train"} and len(dropped) == 20 + 9
    assert dropped["note"].str.endswith(TRIM_NOTE).all()
    assert (dropped["note"].isin([TRIM_NOTE, "n; " + TRIM_NOTE])).all()
    assert plan.loc["happy", "train"] == 20 and plan.loc["happy", "test"] == 0 and plan.loc["sad"].sum() == 0


def test_trim_drops_the_lowest_label_quality_first_else_seeded_random() -> None:
    frame = _manifest(SPEC, quality=True)
    trimmed, _ = trim_surplus(frame, 16, seed=0)
    happy_train = frame[(frame["label"] == "happy") & (frame["split"] == "train")]
    lowest = happy_train.nsmallest(20, "label_quality").index
    assert set(trimmed.index[trimmed["status"] == "drop"]) >= set(lowest)
    plain = _manifest(SPEC)
    a, b, c = (trim_surplus(plain, 16, seed=s)[0] for s in (1, 1, 2))
    assert a.equals(b)
    assert not a["status"].equals(c["status"])
