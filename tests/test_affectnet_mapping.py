"""Name-based mapping of AffectNet expressions onto target classes, with overrides."""

from __future__ import annotations

import pandas as pd
import pytest

from ferclean.affectnet.mapping import UNMAPPED, UNUSABLE, map_expressions
from ferclean.cli.options import parse_map
from ferclean.errors import FercleanError

FOUR = ["happy", "neutral", "sad", "surprise"]


def test_default_map_is_name_based_and_skips_what_the_target_lacks() -> None:
    names = pd.Series(["Happiness", "Sadness", "Anger", "Neutral", "Surprise", "Contempt", "Uncertain", "No-Face", "Happy"])
    mapped = map_expressions(names, FOUR)
    assert mapped["label"].tolist() == ["happy", "sad", "", "neutral", "surprise", "", "", "", "happy"]
    assert mapped["reason"].tolist() == ["", "", UNMAPPED, "", "", UNMAPPED, UNUSABLE, UNUSABLE, ""]


def test_seven_class_target_takes_anger_fear_disgust() -> None:
    mapped = map_expressions(pd.Series(["Anger", "Fear", "Disgust", "Contempt"]), ["angry", "fear", "disgust", "happy"])
    assert mapped["label"].tolist() == ["angry", "fear", "disgust", ""]


def test_overrides_redirect_and_drop() -> None:
    overrides = parse_map("contempt=drop, Disgust=angry, Happiness=DROP", ["angry", "happy", "contempt"])
    assert overrides == {"contempt": "drop", "disgust": "angry", "happy": "drop"}
    mapped = map_expressions(pd.Series(["Contempt", "Disgust", "Happy", "Anger"]), ["angry", "happy", "contempt"], overrides)
    assert mapped["label"].tolist() == ["", "angry", "", "angry"]
    assert mapped["reason"].tolist() == [UNMAPPED, "", UNMAPPED, ""]


def test_override_cannot_rescue_an_unusable_code() -> None:
    overrides = parse_map("uncertain=happy", FOUR)
    assert map_expressions(pd.Series(["Uncertain"]), FOUR, overrides)["reason"].tolist() == [UNUSABLE]


@pytest.mark.parametrize(
    ("text", "message"),
    [("contempt", "not EXPRESSION=CLASS"), ("contempt=angry", "does not have"), ("=happy", "not EXPRESSION=CLASS")],
)
def test_bad_overrides_are_clear_errors(text: str, message: str) -> None:
    with pytest.raises(FercleanError, match=message):
        parse_map(text, FOUR)
