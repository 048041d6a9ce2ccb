"""Exporting a manifest as a folder tree: layout, modes, refusals, and the scan round trip."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from ferclean.cli import main
from ferclean.errors import FercleanError
from ferclean.export import check_sources, export_tree, plan_export
from ferclean.manifest import Manifest, normalise_frame, read_manifest, write_manifest
from ferclean.render.tables import split_class_counts


def manifest_of(root: Path, rows: list[dict]) -> Manifest:
    return Manifest(frame=normalise_frame(pd.DataFrame(rows)), root=root)


def row(path: str, split: str, label: str, status: str = "keep", new_label: str = "") -> dict:
    return {"path": path, "split": split, "label": label, "status": status, "new_label": new_label}


def test_plan_layout_drop_relabel_and_flat(tmp_path: Path) -> None:
    manifest = manifest_of(
        tmp_path,
        [
            row("a/x.png", "train", "happy"),
            row("a/y.png", "test", "sad", status="drop"),
            row("a/z.png", "val", "sad", status="relabel", new_label="neutral"),
            row("b/w.png", "", "fear"),
        ],
    )
    plan = plan_export(manifest)
    assert plan["dest"].tolist() == ["train/happy/x.png", "val/neutral/z.png", "fear/w.png"]
    assert plan["source"].tolist() == [str(tmp_path / p) for p in ("a/x.png", "a/z.png", "b/w.png")]
    assert not plan["renamed"].any()


def test_plan_renames_every_clashing_file_independently_of_row_order(tmp_path: Path) -> None:
    rows = [row("one/img.png", "train", "happy"), row("two/img.png", "train", "happy"), row("three/img.png", "val", "happy")]
    plan = plan_export(manifest_of(tmp_path, rows))
    reversed_plan = plan_export(manifest_of(tmp_path, rows[::-1]))
    assert plan["renamed"].tolist() == [True, True, False]
    assert plan["dest"].is_unique
    assert plan["dest"][2] == "val/happy/img.png"
    assert all(d.startswith("train/happy/img-") and d.endswith(".png") for d in plan["dest"][:2])
    assert dict(zip(plan["source"], plan["dest"])) == dict(zip(reversed_plan["source"], reversed_plan["dest"]))


def test_plan_refuses_unlabelled_and_duplicate_rows(tmp_path: Path) -> None:
    with pytest.raises(FercleanError, match="no label"):
        plan_export(manifest_of(tmp_path, [row("x.png", "train", "")]))
    with pytest.raises(FercleanError, match="same file"):
        plan_export(manifest_of(tmp_path, [row("x.png", "train", "happy"), row("x.png", "train", "happy")]))


@pytest.fixture
def dataset(tmp_path: Path, make_dataset) -> Path:  # noqa: ANN001
    return make_dataset(tmp_path / "src", {"train": {"happy": 4, "sad": 3}, "test": {"happy": 2, "sad": 1}})


def snapshot(root: Path) -> dict[str, tuple[bytes, int]]:
    """Content and modification time of every source file, to prove export leaves them alone."""
    return {str(p): (p.read_bytes(), p.stat().st_mtime_ns) for p in sorted(root.rglob("*.png"))}


@pytest.mark.parametrize("mode", ["copy", "hardlink", "symlink"])
def test_export_modes(tmp_path: Path, dataset: Path, mode: str) -> None:
    before = snapshot(dataset)
    manifest_path = tmp_path / "m.csv"
    assert CliRunner().invoke(main, ["scan", str(dataset), "-o", str(manifest_path)]).exit_code == 0
    out = tmp_path / "out"
    result = CliRunner().invoke(main, ["export", str(manifest_path), "--out", str(out), "--mode", mode])
    assert result.exit_code == 0, result.output
    exported = sorted(p for p in out.rglob("*.png"))
    assert len(exported) == 10
    for dest in exported:
        source = dataset / dest.relative_to(out)
        assert dest.read_bytes() == source.read_bytes()
        if mode == "copy":
            assert not dest.is_symlink() and not os.path.samefile(dest, source)
        elif mode == "hardlink":
            assert not dest.is_symlink() and os.path.samefile(dest, source)
        else:
            assert dest.is_symlink() and Path(os.readlink(dest)) == source.resolve()
    assert snapshot(dataset) == before


def test_export_refuses_non_empty_folder_and_force_keeps_other_files(tmp_path: Path, dataset: Path) -> None:
    out = tmp_path / "out"
    (out / "train" / "happy").mkdir(parents=True)
    unrelated = out / "notes.txt"
    unrelated.write_text("mine")
    stale = out / "train" / "happy" / "happy_train_0000.png"
    stale.write_bytes(b"old")
    runner = CliRunner()
    refused = runner.invoke(main, ["export", str(dataset), "--out", str(out)])
    assert refused.exit_code != 0 and "is not empty" in refused.output and "--force" in refused.output
    assert stale.read_bytes() == b"old"
    forced = runner.invoke(main, ["export", str(dataset), "--out", str(out), "--force"])
    assert forced.exit_code == 0, forced.output
    assert unrelated.read_text() == "mine"
    assert stale.read_bytes() == (dataset / "train" / "happy" / "happy_train_0000.png").read_bytes()
    assert "left untouched" in forced.output


def test_force_over_a_hardlink_export_never_writes_through_to_the_source(tmp_path: Path, dataset: Path) -> None:
    out = tmp_path / "out"
    runner = CliRunner()
    assert runner.invoke(main, ["export", str(dataset), "--out", str(out), "--mode", "hardlink"]).exit_code == 0
    before = snapshot(dataset)
    result = runner.invoke(main, ["export", str(dataset), "--out", str(out), "--mode", "copy", "--force"])
    assert result.exit_code == 0, result.output
    dest = out / "test" / "sad" / "sad_test_0000.png"
    assert not os.path.samefile(dest, dataset / "test" / "sad" / "sad_test_0000.png")
    assert snapshot(dataset) == before
    # Symlinks left by an earlier export are replaced, not followed.
    assert runner.invoke(main, ["export", str(dataset), "--out", str(out), "--mode", "symlink", "--force"]).exit_code == 0
    assert runner.invoke(main, ["export", str(dataset), "--out", str(out), "--mode", "copy", "--force"]).exit_code == 0
    assert not dest.is_symlink()
    assert snapshot(dataset) == before


def test_export_into_the_source_tree_is_refused(tmp_path: Path, dataset: Path) -> None:
    before = snapshot(dataset)
    result = CliRunner().invoke(main, ["export", str(dataset), "--out", str(dataset), "--force"])
    assert result.exit_code != 0 and "inside the source image folder" in result.output
    assert snapshot(dataset) == before


def test_missing_source_writes_nothing(tmp_path: Path, dataset: Path) -> None:
    manifest = manifest_of(dataset, [row("train/happy/happy_train_0000.png", "train", "happy"), row("gone.png", "train", "sad")])
    plan = plan_export(manifest)
    with pytest.raises(FercleanError, match="missing"):
        check_sources(plan, tmp_path / "out")
    write_manifest(manifest, tmp_path / "m.csv")
    result = CliRunner().invoke(main, ["export", str(tmp_path / "m.csv"), "--out", str(tmp_path / "out")])
    assert result.exit_code != 0 and "1 source image(s) are missing" in result.output
    assert not (tmp_path / "out").exists()


def test_export_tree_rejects_unknown_mode(tmp_path: Path, dataset: Path) -> None:
    plan = plan_export(manifest_of(dataset, [row("train/happy/happy_train_0000.png", "train", "happy")]))
    with pytest.raises(FercleanError, match="Unknown export mode"):
        export_tree(plan, tmp_path / "out", "move")


def test_round_trip_stratify_export_scan(tmp_path: Path, make_dataset) -> None:  # noqa: ANN001
    """scan -> mark a drop, a relabel and a name clash -> stratify -> export -> scan: same counts."""
    src = make_dataset(tmp_path / "src", {"train": {"happy": 12, "sad": 8, "fear": 5}, "test": {"happy": 3, "sad": 2}})
    make_dataset(tmp_path / "src2", {"train": {"happy": 1}})  # same file name as src/train/happy/..._0000.png
    runner = CliRunner()
    assert runner.invoke(main, ["scan", str(src), "-o", str(tmp_path / "a.csv")]).exit_code == 0
    manifest = read_manifest(tmp_path / "a.csv")
    frame = manifest.frame
    frame.loc[0, "status"] = "drop"
    frame.loc[1, ["status", "new_label"]] = ["relabel", "neutral"]
    twin = frame.index[frame["path"] == "train/happy/happy_train_0000.png"][0]
    assert twin > 1  # neither dropped nor relabelled
    extra = frame.loc[[twin]].assign(path=str(tmp_path / "src2" / "train" / "happy" / "happy_train_0000.png"))
    frame = pd.concat([frame, extra], ignore_index=True)
    frame.loc[[twin, len(frame) - 1], "group"] = 7  # a duplicate group: same split, so the names clash
    write_manifest(manifest.with_frame(frame), tmp_path / "b.csv")
    result = runner.invoke(main, ["stratify", str(tmp_path / "b.csv"), "--ratios", "60/20/20", "-o", str(tmp_path / "c.csv")])
    assert result.exit_code == 0, result.output
    result = runner.invoke(main, ["export", str(tmp_path / "c.csv"), "--out", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    assert len(list((tmp_path / "out").rglob("happy_train_0000-*.png"))) == 2
    assert runner.invoke(main, ["scan", str(tmp_path / "out"), "-o", str(tmp_path / "d.csv")]).exit_code == 0
    expected = split_class_counts(read_manifest(tmp_path / "c.csv").frame)
    again = split_class_counts(read_manifest(tmp_path / "d.csv").frame)
    pd.testing.assert_frame_equal(expected, again, check_names=False)
    assert again.to_numpy().sum() == len(frame) - 1


def test_round_trip_flat_tree(tmp_path: Path, make_dataset) -> None:  # noqa: ANN001
    src = make_dataset(tmp_path / "src", {"": {"happy": 3, "sad": 2}})
    runner = CliRunner()
    assert runner.invoke(main, ["export", str(src), "--out", str(tmp_path / "out")]).exit_code == 0
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["happy", "sad"]
    assert runner.invoke(main, ["scan", str(tmp_path / "out"), "-o", str(tmp_path / "d.csv")]).exit_code == 0
    assert split_class_counts(read_manifest(tmp_path / "d.csv").frame).to_dict() == {"": {"happy": 3, "sad": 2}}


def test_symlinked_folder_into_the_source_is_refused_and_replaced_count_is_exact(tmp_path: Path, dataset: Path) -> None:
    """OUT/train/happy linking to a source class folder once let --force overwrite source images."""
    out = tmp_path / "out"
    (out / "train").mkdir(parents=True)
    os.symlink(dataset / "train" / "sad", out / "train" / "happy")
    before = snapshot(dataset)
    plan = plan_export(manifest_of(dataset, [row("train/happy/happy_train_0000.png", "train", "happy")]))
    with pytest.raises(FercleanError, match="inside the source image folder"):
        check_sources(plan, out, [dataset])
    result = CliRunner().invoke(main, ["export", str(dataset), "--out", str(out), "--force"])
    assert result.exit_code != 0 and "resolves to" in result.output
    assert snapshot(dataset) == before
    (out / "train" / "happy").unlink()
    assert export_tree(plan, out, "copy") == (1, 0)
    assert export_tree(plan, out, "copy") == (1, 1)
