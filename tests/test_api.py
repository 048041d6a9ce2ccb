"""The README's "From Python" pipeline gives the same manifests as the CLI."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pandas as pd
from click.testing import CliRunner

import ferclean
from ferclean.cli import main
from ferclean.dedupe import find_duplicates
from ferclean.mislabel import review
from ferclean.stratify import stratify


def _cli(*args: str) -> None:
    result = CliRunner().invoke(main, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output


def _frame(manifest: ferclean.Manifest, path: Path) -> pd.DataFrame:
    """The frame as the CLI would store it (written and read back)."""
    ferclean.write_manifest(manifest, path)
    return ferclean.read_manifest(path).frame


def test_readme_pipeline_matches_the_cli(tmp_path: Path, make_dataset: Callable[..., Path]) -> None:
    root = make_dataset(
        tmp_path / "data", {"train": {"happy": 14, "sad": 14, "angry": 12}, "test": {"happy": 4, "sad": 4, "angry": 4}}
    )
    # A leak: a training image copied into test; keep-one must drop the training copy.
    shutil.copy(root / "train" / "sad" / "sad_train_0000.png", root / "test" / "sad" / "leak.png")
    out = tmp_path / "cli"
    _cli("scan", str(root), "-o", str(out / "scan.csv"))
    _cli("dedupe", str(out / "scan.csv"), "--policy", "keep-one", "-o", str(out / "dedup.csv"))
    _cli("mislabel-review", str(out / "dedup.csv"), "-o", str(out / "review.csv"))
    _cli("stratify", str(out / "review.csv"), "-o", str(out / "split.csv"))

    api = tmp_path / "api"
    manifest, _ = ferclean.scan_dataset(root)
    steps = {"scan": manifest}
    steps["dedup"] = find_duplicates(manifest, policy="keep-one").manifest
    steps["review"] = review(steps["dedup"], probe="fast").manifest
    steps["split"] = stratify(steps["review"], {"train": 0.8, "val": 0.1, "test": 0.1}, seed=42).manifest

    for name, result in steps.items():
        expected = ferclean.read_manifest(out / f"{name}.csv").frame
        pd.testing.assert_frame_equal(_frame(result, api / f"{name}.csv"), expected, check_like=True)
    split = steps["split"].frame
    assert (split["status"] == "drop").sum() >= 1 and split["group"].notna().sum() >= 2
    assert set(split.loc[split["status"] != "drop", "split"]) == {"train", "val", "test"}
