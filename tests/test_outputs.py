"""Where ferclean may write (guard_output) and how (atomic_path): the shared rule every command uses."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ferclean.errors import FercleanError
from ferclean.manifest import Manifest, normalise_frame, read_manifest, write_manifest
from ferclean.outputs import atomic_path, csv_text, guard_output, guard_outputs, image_roots, write_csv


def test_image_roots_fold_nested_folders_and_resolve_links(tmp_path: Path) -> None:
    (tmp_path / "data" / "train" / "happy").mkdir(parents=True)
    os.symlink(tmp_path / "data", tmp_path / "alias")
    paths = [tmp_path / "alias" / "train" / "happy" / "a.png", tmp_path / "elsewhere" / "b.png"]
    assert image_roots(paths, tmp_path / "data") == [(tmp_path / "data").resolve(), (tmp_path / "elsewhere").resolve()]


def test_guard_refuses_inside_a_root_and_equal_to_an_input(tmp_path: Path) -> None:
    root = tmp_path / "data"
    (root / "train").mkdir(parents=True)
    with pytest.raises(FercleanError, match=r"-o .*m\.csv lies inside the source image folder .*data"):
        guard_output(root / "train" / "m.csv", [root.resolve()], what="-o")
    os.symlink(root / "train", tmp_path / "link")
    with pytest.raises(FercleanError, match="inside the source image folder"):
        guard_output(tmp_path / "link" / "m.csv", [root.resolve()], what="-o")
    (tmp_path / "in.csv").write_text("")
    with pytest.raises(FercleanError, match="is the input"):
        guard_output(tmp_path / "in.csv", [], [tmp_path / "in.csv"], what="-o")
    assert guard_output(tmp_path / "out.csv", [root.resolve()], [tmp_path / "in.csv"]) == tmp_path / "out.csv"
    with pytest.raises(FercleanError, match="same file as -o"):
        guard_outputs({"-o": tmp_path / "x.png", "--plot": tmp_path / "x.png"})


def test_atomic_path_leaves_the_old_file_on_failure(tmp_path: Path) -> None:
    target = tmp_path / "m.csv"
    target.write_text("old")
    with pytest.raises(RuntimeError), atomic_path(target) as temp:
        temp.write_text("half")
        raise RuntimeError("interrupted")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["m.csv"]
    with atomic_path(target) as temp:
        temp.write_text("new")
    assert target.read_text() == "new" and [p.name for p in tmp_path.iterdir()] == ["m.csv"]


def test_atomic_path_unwritable_is_one_line(tmp_path: Path) -> None:
    with pytest.raises(FercleanError, match="Cannot write /proc/x.csv"), atomic_path(Path("/proc/x.csv")) as temp:
        temp.write_text("x")


def test_write_manifest_refuses_a_non_csv_name(tmp_path: Path) -> None:
    manifest = Manifest(normalise_frame(pd.DataFrame({"path": ["a.png"], "split": ["train"], "label": ["sad"], "status": ["keep"]})), tmp_path)
    with pytest.raises(FercleanError, match="must end in .csv"):
        write_manifest(manifest, tmp_path / "m.json")
    write_manifest(manifest, tmp_path / "m.csv")
    assert read_manifest(tmp_path / "m.csv").frame["label"].tolist() == ["sad"]


def _tricky_frame(quoted: bool) -> pd.DataFrame:
    text = ["a/b.png", "", "x y", "é.png"] + (['say "hi"', "a,b", "two\nlines"] if quoted else ["c", "d", "e"])
    n = len(text)
    return pd.DataFrame(
        {
            "path": pd.Series(text, dtype="str"),
            "maybe": pd.Series(["p", None, "q", "r", np.nan, "s", "t"][:n], dtype="str"),
            "objects": pd.Series(["o", None, "x", "y", "z", "w", "v"][:n], dtype=object),
            "count": np.arange(n, dtype=np.int64) - 3,
            "small": np.arange(n, dtype=np.uint8),
            "score": np.array([0.1848, np.nan, -0.0, 1e16, 1e-05, 123456.789, 2.0 / 3.0][:n]),
            "single": np.array([0.1, 0.2, 1e-8, 3.0, np.nan, 7.5, 1.0 / 3.0][:n], dtype=np.float32),
            "verified": np.array([True, False] * 4)[:n],
            "group": pd.Series([1, None, 3, None, 5, 6, 70][:n], dtype="Int64"),
        }
    )


@pytest.mark.parametrize("quoted", [False, True], ids=["joined", "csv module"])
@pytest.mark.parametrize("chunk", [3, 50_000])
def test_csv_text_is_byte_identical_to_pandas(quoted: bool, chunk: int, monkeypatch: pytest.MonkeyPatch) -> None:
    import ferclean.outputs

    monkeypatch.setattr(ferclean.outputs, "CSV_CHUNK_ROWS", chunk)  # rows formatted a few at a time
    frame = _tricky_frame(quoted)
    assert csv_text(frame) == frame.to_csv(index=False)
    one = frame[["path"]]  # one column: an empty field alone on its line is quoted
    assert csv_text(one) == one.to_csv(index=False)
    mixed = frame.assign(objects=pd.Series([1, "a", None, 2.5, "b", "c", "d"][: len(frame)], dtype=object))
    assert csv_text(mixed) == mixed.to_csv(index=False)  # left to pandas
    assert csv_text(frame.iloc[:0]) == frame.iloc[:0].to_csv(index=False)


def test_write_csv_writes_the_index_first_when_asked(tmp_path: Path) -> None:
    frame = pd.DataFrame({"size": [3, 2]}, index=pd.Index([7, 9], name="g"))
    assert write_csv(tmp_path / "a.csv", frame, index=True, index_label="group").read_text() == frame.to_csv(index_label="group")
    assert write_csv(tmp_path / "b.csv", frame, index=True).read_text() == frame.to_csv()
    assert write_csv(tmp_path / "c.csv", frame).read_text() == frame.to_csv(index=False)
