"""Vote files: reading, the more-than-half majority rule, matching to manifest paths."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from ferclean.errors import FercleanError
from ferclean.votes import majority_labels, match_votes, read_votes

HEADER = "path,neutral,happiness,surprise,sadness,anger,disgust,fear,contempt,unknown,NF\n"


def write_votes(tmp_path: Path, rows: list[str]) -> Path:
    path = tmp_path / "votes.csv"
    path.write_text(HEADER + "".join(f"{r}\n" for r in rows))
    return path


def test_majority_needs_more_than_half_of_all_votes(tmp_path: Path) -> None:
    votes = read_votes(
        write_votes(
            tmp_path,
            [
                "a.png,0,6,0,0,0,0,0,0,4,0",  # 6 of 10 happiness: happy
                "b.png,5,0,0,5,0,0,0,0,0,0",  # a tie: none
                "c.png,5,0,0,4,0,0,0,0,1,0",  # 5 of 10 is not more than half: none
                "d.png,0,0,0,0,0,0,0,6,4,0",  # contempt is not one of the seven classes: none
                "e.png,0,0,0,0,7,0,0,0,0,3",  # anger -> angry
                "f.png,0,0,0,0,0,0,0,0,0,10",  # not a face
            ],
        )
    )
    assert majority_labels(votes).tolist() == ["happy", "", "", "", "angry", ""]


def test_match_by_path_then_by_unique_file_name(tmp_path: Path) -> None:
    votes = read_votes(write_votes(tmp_path, ["train/x/a.png,0,6,0,0,0,0,0,0,4,0", "train/x/b.png,5,0,0,5,0,0,0,0,0,0"]))
    paths = pd.Series(["train/x/a.png", "elsewhere/b.png", "c.png"])
    match = match_votes(paths, votes)
    assert match.labels.tolist() == ["happy", "", ""]
    assert (match.rows, match.without_votes, match.without_majority, match.labelled) == (3, 1, 1, 1)


def test_file_names_are_not_used_when_ambiguous(tmp_path: Path) -> None:
    votes = read_votes(write_votes(tmp_path, ["train/x/a.png,0,6,0,0,0,0,0,0,4,0", "test/y/a.png,6,0,0,0,0,0,0,0,4,0"]))
    match = match_votes(pd.Series(["other/a.png"]), votes)
    assert match.without_votes == 1


@pytest.mark.parametrize(
    ("rows", "words"),
    [
        (None, "does not exist"),
        (["a.png,x,0,0,0,0,0,0,0,0,0"], "whole numbers"),
        (["a.png,-1,0,0,0,0,0,0,0,0,0"], "whole numbers"),
        (["a.png,1,0,0,0,0,0,0,0,0,0", "a.png,1,0,0,0,0,0,0,0,0,0"], "twice"),
    ],
)
def test_bad_vote_files_are_refused(tmp_path: Path, rows: list[str] | None, words: str) -> None:
    path = tmp_path / "missing.csv" if rows is None else write_votes(tmp_path, rows)
    with pytest.raises(FercleanError, match=words):
        read_votes(path)


def test_missing_columns_are_named(tmp_path: Path) -> None:
    path = tmp_path / "votes.csv"
    path.write_text("path,neutral\na.png,3\n")
    with pytest.raises(FercleanError, match="happiness"):
        read_votes(path)
