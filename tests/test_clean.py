"""``ferclean clean``: the policy on DataFrames, and the command end to end on planted flips."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner
from test_mislabel_cli import planted_dataset

from ferclean.clean import Policy, apply_policy, change_reason, class_changes, rare_classes, status_changes
from ferclean.cli import main
from ferclean.manifest import read_manifest

FLAG = "mislabel-review: suggested {} (p={:.2f})"


def flagged_frame() -> pd.DataFrame:
    """Training rows: 40 happy, 40 sad, 2 disgust (rare), flagged ones with suggestions."""
    rows = [("train", "happy", "", "", "")] * 40 + [("train", "sad", "", "", "")] * 40 + [("train", "disgust", "", "", "")] * 2
    frame = pd.DataFrame(rows, columns=["split", "label", "suggested_label", "suggested_confidence", "note"])
    frame["path"] = [f"img{i}.png" for i in range(len(frame))]
    frame["status"] = "keep"
    frame["new_label"] = ""
    frame["suggested_confidence"] = float("nan")
    cases = {0: ("sad", 0.55), 1: ("sad", 0.30), 40: ("happy", 0.41), 80: ("sad", 0.55), 81: ("sad", 0.75)}
    for row, (suggested, p) in cases.items():
        frame.loc[row, ["status", "suggested_label", "suggested_confidence", "note"]] = (
            "review", suggested, p, FLAG.format(suggested, p))
    return frame


def test_policy_relabels_confident_flags_and_protects_the_rare_class() -> None:
    frame = apply_policy(flagged_frame(), Policy(relabel_min=0.4))
    changes = status_changes(flagged_frame(), frame)
    assert rare_classes(frame, Policy()) == {"disgust"}
    # 0.55 and 0.41 pass the common 0.4; 0.30 stays for review; disgust needs 0.7: 0.55 stays, 0.75 moves.
    assert sorted(changes["path"]) == ["img0.png", "img40.png", "img81.png"]
    assert (frame.loc[[0, 40, 81], "status"] == "relabel").all()
    assert frame.loc[[0, 40, 81], "new_label"].tolist() == ["sad", "happy", "sad"]
    assert (frame.loc[[1, 80], "status"] == "review").all()
    assert frame.loc[0, "note"].endswith("clean: relabel, probe p=0.55 >= 0.4")
    assert frame.loc[81, "note"].endswith(">= 0.7")


def test_policy_leaves_evaluation_splits_and_other_reviews_alone() -> None:
    source = flagged_frame()
    source.loc[0, "split"] = "test"
    source.loc[40, "note"] = "label conflict in group 3: happy/sad; " + source.loc[40, "note"]
    frame = apply_policy(source, Policy(relabel_min=0.4))
    changes = status_changes(source, frame)
    assert frame.loc[0, "status"] == "review" and frame.loc[40, "status"] == "review"
    assert changes["path"].tolist() == ["img81.png"]


def test_policy_drop_unsure_and_thresholds() -> None:
    frame = apply_policy(flagged_frame(), Policy(relabel_min=0.5, drop_unsure=True))
    changes = status_changes(flagged_frame(), frame)
    assert dict(zip(changes["path"], changes["status"])) == {
        "img0.png": "relabel", "img1.png": "drop", "img40.png": "drop", "img80.png": "drop", "img81.png": "relabel"}
    assert "probe unsure (p=0.30)" in frame.loc[1, "note"]
    with pytest.raises(ValueError, match="relabel_min"):
        Policy(relabel_min=1.5)
    with pytest.raises(ValueError, match="relabel_min is not set"):
        apply_policy(flagged_frame(), Policy())
    assert Policy().for_probe("fast").relabel_min == 0.4 and Policy(relabel_min=0.3).for_probe("fast").relabel_min == 0.3
    with pytest.raises(ValueError, match="suggested_label"):
        apply_policy(flagged_frame().drop(columns="suggested_label"), Policy(relabel_min=0.4))


def test_change_reason_and_class_changes() -> None:
    assert change_reason("duplicate of a.png (group 1)") == "duplicate"
    assert change_reason("invalid: blank; mislabel-review: suggested sad (p=0.2)") == "doubtful label"
    assert change_reason("anything else") == "other"
    before = flagged_frame()
    after = apply_policy(before, Policy(relabel_min=0.4))
    after.loc[2, "status"] = "drop"
    table = class_changes(before, after)
    assert table.loc["happy"].to_dict() == {"before": 40, "dropped": 1, "relabelled out": 1, "relabelled in": 1, "after": 39}
    assert table.loc["sad"].to_dict() == {"before": 40, "dropped": 0, "relabelled out": 1, "relabelled in": 2, "after": 41}
    assert table["after"].sum() == table["before"].sum() - 1


def checksums(root: Path) -> dict[str, str]:
    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, set[str], dict[str, str]]:
    """Planted flips, plus one training image per class copied into test (leaks): test copy -> source."""
    root = tmp_path_factory.mktemp("clean") / "data"
    wrong = planted_dataset(root, per_class=40, flips=6)
    leaks = {}
    for label in ("happy", "sad", "neutral"):
        source = sorted((root / "train" / label).glob("img*.png"))[0]
        target = root / "test" / label / "leaked.png"
        target.parent.mkdir(parents=True)
        shutil.copy(source, target)
        leaks[target.relative_to(root).as_posix()] = source.relative_to(root).as_posix()
    return root, wrong, leaks


def test_clean_end_to_end(dataset: tuple[Path, set[str], dict[str, str]], tmp_path: Path) -> None:
    root, wrong, leaks = dataset
    before = checksums(root)
    out, scanned = tmp_path / "clean.csv", tmp_path / "scanned.csv"
    # Stripes are no faces: scan them without the quality checks, whose flags clean leaves to a person.
    assert CliRunner().invoke(main, ["scan", str(root), "--no-quality", "-o", str(scanned)]).exit_code == 0
    # A class's stripes are near copies of one another; keep-one thins them, which lets the small
    # probe see the planted flips (test_dedupe covers the default leaks policy).
    result = CliRunner().invoke(main, ["clean", str(scanned), "-o", str(out), "--relabel-min", "0.3", "--dedupe", "keep-one",
                                                "--soft-labels"],
                                catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "What clean changed, per class" in result.output
    frame = read_manifest(out).frame.set_index("path")
    # The leak is fixed by dropping the training copy; the test copies stay.
    for copy, source in leaks.items():
        assert frame.loc[copy, "status"] != "drop"
        assert frame.loc[source, "status"] == "drop" and f"duplicate of {copy}" in frame.loc[source, "note"]
    relabelled = frame[frame["status"] == "relabel"]
    assert len(relabelled) and relabelled["note"].str.contains("clean: relabel").all()
    # Most planted flips are found and moved; evaluation images keep their labels.
    assert len(set(relabelled.index) & wrong) >= 3
    assert (relabelled["split"] == "train").all()
    # Kept training images carry the probe's distribution for `train`; evaluation images none.
    train = frame[(frame["split"] == "train") & (frame["status"] != "drop")]
    assert train["soft_label"].str.count(":").eq(frame["label"].nunique()).all()
    assert (frame.loc[frame["split"] != "train", "soft_label"] == "").all()
    # The probe learned from the training labels only; the test images were judged, not learned.
    meta = json.loads((tmp_path / "clean_clean" / "review" / "probs_meta.json").read_text())
    assert meta["fit_splits"] == ["train"]
    assert frame.loc[frame["split"] == "test", "label_quality"].astype(str).ne("").all()
    report = tmp_path / "clean_clean"
    page = (report / "report.html").read_text()
    # The page is built before the outputs land, yet links the review page and shows the probe's bars.
    assert 'review/review.html"' in page and "Suspect labels" in page and "Duplicates" in page
    changes = pd.read_csv(report / "changes.csv", keep_default_na=False)
    assert set(changes["path"]) == set(frame.index[frame["status"] != "keep"])
    assert {"dedupe", "review"} <= {p.name for p in report.iterdir()}
    assert checksums(root) == before


def test_clean_dry_run_writes_nothing_and_bad_options(dataset: tuple[Path, set[str], dict[str, str]], tmp_path: Path) -> None:
    root, _, _ = dataset
    out = tmp_path / "clean.csv"
    result = CliRunner().invoke(main, ["clean", str(root), "-o", str(out), "--dry-run"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "Would change" in result.output and "Dry run: nothing written." in result.output
    assert list(tmp_path.iterdir()) == []
    bad = CliRunner().invoke(main, ["clean", str(root), "-o", str(out), "--ratios", "80/10/10", "--keep-splits"])
    assert bad.exit_code != 0 and "exclude each other" in bad.output
    inside = CliRunner().invoke(main, ["clean", str(root), "-o", str(root / "x.csv")])
    assert inside.exit_code != 0 and "Error:" in inside.output and "Traceback" not in inside.output


def test_clean_resplits_before_the_review(dataset: tuple[Path, set[str], dict[str, str]], tmp_path: Path) -> None:
    """With --ratios the probe learns from the final training split and only it is relabelled."""
    root, _, _ = dataset
    out, scanned = tmp_path / "clean.csv", tmp_path / "scanned.csv"
    assert CliRunner().invoke(main, ["scan", str(root), "--no-quality", "-o", str(scanned)]).exit_code == 0
    result = CliRunner().invoke(main, ["clean", str(scanned), "-o", str(out), "--relabel-min", "0.3", "--dedupe", "keep-one",
                                       "--ratios", "60/20/20", "--soft-labels"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    frame = read_manifest(out).frame
    kept_rows = frame[frame["status"] != "drop"]
    assert set(kept_rows["split"]) == {"train", "val", "test"}
    assert (frame.loc[frame["status"] == "relabel", "split"] == "train").all()
    # Soft labels, like relabels, belong to the final training split.
    assert (kept_rows["soft_label"] != "").eq(kept_rows["split"] == "train").all()
    review_index = pd.read_csv(tmp_path / "clean_clean" / "review" / "probs_index.csv")
    assert set(review_index["path"]) == set(kept_rows["path"])
