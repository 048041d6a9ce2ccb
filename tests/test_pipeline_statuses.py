"""The README pipeline end to end: no command undoes an earlier drop or review (manifest.STATUS_RANK)."""

from __future__ import annotations

import shutil

import pandas as pd
import pytest
from click.testing import CliRunner
from PIL import Image

from ferclean.cli import main
from ferclean.manifest import STATUS_RANK, mark, normalise_frame, read_manifest
from test_mislabel_cli import CLASSES, striped


def invoke(*args: str) -> None:
    result = CliRunner().invoke(main, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory: pytest.TempPathFactory) -> dict[str, pd.DataFrame]:
    """scan+dedupe -> mislabel-review -> stratify (and an auto-relabel) on a generated dataset with
    label-conflicting copies, plain copies and a tiny image."""
    tmp = tmp_path_factory.mktemp("pipeline")
    root = tmp / "data"
    for c, label in enumerate(CLASSES):
        for i in range(30):
            path = root / "train" / label / f"{label}{i:03d}.png"
            path.parent.mkdir(parents=True, exist_ok=True)
            striped(c, 100 * c + i).save(path)
    for i in range(4):  # the same face under two labels: dedupe sends both copies to review
        shutil.copy(root / "train" / "happy" / f"happy{i:03d}.png", root / "train" / "sad" / f"conflict{i}.png")
    for i in range(3):  # plain copies: dedupe keeps one
        shutil.copy(root / "train" / "neutral" / f"neutral{i:03d}.png", root / "train" / "neutral" / f"copy{i}.png")
    Image.new("L", (1, 1), 90).save(root / "train" / "sad" / "dot.png")  # scan: too small, review
    m = tmp / "manifests"
    invoke("dedupe", str(root), "--policy", "keep-one", "--on-conflict", "review", "-o", str(m / "dedup.csv"), "-j", "1")
    invoke("mislabel-review", str(m / "dedup.csv"), "-o", str(m / "review.csv"), "-j", "1")
    invoke("mislabel-review", str(m / "review.csv"), "--auto-relabel", "0.0", "-o", str(m / "auto.csv"))
    invoke("stratify", str(m / "auto.csv"), "--ratios", "80/10/10", "-o", str(m / "split.csv"))
    return {name: read_manifest(m / f"{name}.csv").frame.set_index("path") for name in ("dedup", "review", "auto", "split")}


def test_dedupe_made_the_decisions_the_test_relies_on(pipeline: dict[str, pd.DataFrame]) -> None:
    dedup = pipeline["dedup"]
    assert (dedup.loc[[f"train/sad/conflict{i}.png" for i in range(4)], "status"] == "review").all()
    for i in range(3):
        pair = dedup.loc[[f"train/neutral/copy{i}.png", f"train/neutral/neutral{i:03d}.png"], "status"]
        assert sorted(pair) == ["drop", "keep"]
    assert dedup.loc["train/sad/dot.png", "status"] == "review"
    assert "too small" in dedup.loc["train/sad/dot.png", "note"]


@pytest.mark.parametrize("later", ["review", "auto", "split"])
def test_no_earlier_drop_or_review_is_lost(pipeline: dict[str, pd.DataFrame], later: str) -> None:
    dedup, after = pipeline["dedup"], pipeline[later].reindex(pipeline["dedup"].index)
    decided = dedup["status"].isin(["drop", "review"])
    assert decided.sum() >= 12
    weakened = after.loc[decided, "status"].map(STATUS_RANK) < dedup.loc[decided, "status"].map(STATUS_RANK)
    assert not weakened.any(), after.loc[decided][weakened.to_numpy()]
    kept_notes = [a.startswith(d) for d, a in zip(dedup.loc[decided, "note"], after.loc[decided, "note"])]
    assert all(kept_notes)


def test_no_group_keeps_copies_with_different_labels(pipeline: dict[str, pd.DataFrame]) -> None:
    split = pipeline["split"]
    live = split[split["status"].isin(["keep", "relabel"]) & split["group"].notna()]
    labels = live["new_label"].where(live["status"] == "relabel", live["label"])
    assert (labels.groupby(live["group"]).nunique() <= 1).all()


def test_mark_raises_never_lowers_and_appends_the_reason() -> None:
    frame = normalise_frame(pd.DataFrame({
        "path": list("abcd"), "split": "train", "label": "sad",
        "status": ["keep", "review", "drop", "relabel"], "note": ["", "conflict", "dup", "fixed"],
    }))
    marked = mark(frame, frame.index, "review", "probe")
    assert marked["status"].tolist() == ["review", "review", "drop", "review"]
    assert marked["note"].tolist() == ["probe", "conflict; probe", "dup; probe", "fixed; probe"]
    assert mark(frame, frame.index, "keep", "x")["status"].tolist() == frame["status"].tolist()
