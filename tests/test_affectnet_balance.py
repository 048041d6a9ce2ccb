"""Quotas per class and the reproducible, confidence-first ranking of candidates."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ferclean.affectnet.balance import quotas, rank_candidates
from ferclean.cli.options import parse_per_class, parse_target
from ferclean.errors import FercleanError

BEFORE = pd.Series({"happy": 100, "neutral": 70, "sad": 40, "surprise": 120})


def test_target_max_raises_every_class_to_the_largest() -> None:
    assert quotas(BEFORE).to_dict() == {"happy": 20, "neutral": 50, "sad": 80, "surprise": 0}


def test_target_n_never_asks_for_a_negative_count() -> None:
    assert quotas(BEFORE, parse_target("90")).to_dict() == {"happy": 0, "neutral": 20, "sad": 50, "surprise": 0}


def test_per_class_sets_the_number_to_add_for_named_classes() -> None:
    per_class = parse_per_class("Sadness=5,surprise=17", BEFORE.index)
    assert per_class == {"sad": 5, "surprise": 17}
    assert quotas(BEFORE, None, per_class).to_dict() == {"happy": 20, "neutral": 50, "sad": 5, "surprise": 17}


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
