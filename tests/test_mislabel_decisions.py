"""Reading a reviewer's decisions.csv and writing decisions into a manifest."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from ferclean.errors import FercleanError
from ferclean.manifest import effective_labels, normalise_frame
from ferclean.mislabel.decisions import apply_decisions, auto_relabel, read_decisions

CLASSES = ["happy", "sad", "neutral"]


def reviewed_frame() -> pd.DataFrame:
    frame = normalise_frame(pd.DataFrame({
        "path": ["a.png", "b.png", "c.png", "d.png"],
        "split": "train",
        "label": ["sad", "sad", "happy", "neutral"],
        "status": ["review", "review", "review", "keep"],
        "note": ["", "dup of x", "", ""],
    }))
    frame["suggested_label"] = ["neutral", "happy", "sad", "neutral"]
    frame["suggested_confidence"] = [0.95, 0.6, 0.91, 0.8]
    return frame


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "decisions.csv"
    path.write_text(text)
    return path


def test_apply_round_trip(tmp_path: Path) -> None:
    frame = reviewed_frame()
    path = write(tmp_path, "path,decision,new_label\na.png,relabel,Neutral\nb.png,drop,\nc.png,keep,\n")
    decided = apply_decisions(frame, read_decisions(path, frame["path"], CLASSES), "decisions.csv")
    assert decided["status"].tolist() == ["relabel", "drop", "keep", "keep"]
    assert effective_labels(decided).tolist() == ["neutral", "sad", "happy", "neutral"]
    assert decided.loc[1, "note"] == "dup of x; reviewed (decisions.csv): drop"
    assert "relabel -> neutral" in decided.loc[0, "note"]
    assert decided.loc[3].equals(frame.loc[3])


@pytest.mark.parametrize(
    "body,message",
    [
        ("zzz.png,keep,\n", "line 3: path 'zzz.png' is not in the manifest"),
        ("b.png,relabel,elated\n", "line 3: unknown label 'elated'"),
        ("b.png,relabel,\n", "line 3: decision relabel needs a new_label"),
        ("b.png,burn,\n", "line 3: unknown decision 'burn'"),
        ("a.png,keep,\n", "line 3: path 'a.png' was already decided on line 2"),
    ],
)
def test_bad_lines_name_the_line(tmp_path: Path, body: str, message: str) -> None:
    path = write(tmp_path, "path,decision,new_label\na.png,keep,\n" + body)
    with pytest.raises(FercleanError, match=message):
        read_decisions(path, reviewed_frame()["path"], CLASSES)


def test_missing_columns_and_missing_file(tmp_path: Path) -> None:
    with pytest.raises(FercleanError, match="lacks column"):
        read_decisions(write(tmp_path, "file,verdict\na.png,keep\n"), ["a.png"], CLASSES)
    with pytest.raises(FercleanError, match="does not exist"):
        read_decisions(tmp_path / "nope.csv", ["a.png"], CLASSES)


def test_auto_relabel_takes_confident_flagged_suggestions_only() -> None:
    relabelled, count = auto_relabel(reviewed_frame(), 0.9)
    assert count == 2
    assert relabelled["status"].tolist() == ["relabel", "review", "relabel", "keep"]
    assert relabelled["new_label"].tolist() == ["neutral", "", "sad", ""]
    assert relabelled.loc[0, "note"].startswith("auto-relabel: probe p=0.95")


def test_auto_relabel_needs_scores() -> None:
    with pytest.raises(FercleanError, match="run mislabel-review on it first"):
        auto_relabel(reviewed_frame().drop(columns=["suggested_confidence"]), 0.9)
