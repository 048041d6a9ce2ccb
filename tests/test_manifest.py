import pandas as pd
import pytest

from ferclean.errors import FercleanError
from ferclean.manifest import COLUMNS, Manifest, effective_labels, group_keys, normalise_frame, read_manifest, write_manifest


def _frame():
    return normalise_frame(
        pd.DataFrame(
            {
                "path": ["a.png", "b.png", "c.png"],
                "split": ["train", "test", "val"],
                "label": ["sad", "neutral", "happy"],
                "status": ["keep", "relabel", "drop"],
                "new_label": ["", "sad", ""],
                "group": [3, pd.NA, 3],
                "extra_score": ["0.5", "0.1", "0.9"],
            }
        )
    )


def test_round_trip_keeps_columns_order_and_extras(tmp_path):
    frame = _frame()
    write_manifest(Manifest(frame, tmp_path), tmp_path / "m.csv", command="ferclean test")
    back = read_manifest(tmp_path / "m.csv")
    assert list(back.frame.columns) == [*COLUMNS, "extra_score"]
    pd.testing.assert_frame_equal(back.frame, frame)
    assert back.root == tmp_path.resolve()
    assert back.meta["history"] == ["ferclean test"]


def test_missing_required_columns_is_a_clear_error(tmp_path):
    (tmp_path / "m.csv").write_text("path,label\na.png,sad\n")
    with pytest.raises(FercleanError, match="lacks column"):
        read_manifest(tmp_path / "m.csv")


def test_unknown_status_is_a_clear_error(tmp_path):
    (tmp_path / "m.csv").write_text("path,split,label,status\na.png,train,sad,maybe\n")
    with pytest.raises(FercleanError, match="maybe"):
        read_manifest(tmp_path / "m.csv")


def test_effective_labels_and_group_keys():
    frame = _frame()
    assert effective_labels(frame).tolist() == ["sad", "sad", "happy"]
    keys = group_keys(frame)
    assert keys[0] == keys[2] != keys[1]


def test_group_keys_keep_exact_copies_together_without_dedupe() -> None:
    frame = pd.DataFrame({
        "path": ["a.png", "b.png", "c.png", "d.png", "e.png"],
        "sha256": ["x", "x", "y", "", "y"],
        "group": [None, None, None, None, "3"],
    })
    keys = group_keys(frame)
    assert keys[0] == keys[1]  # same pixels, never deduped
    assert keys[2] != keys[0] and keys[3] not in set(keys.drop(3))  # no hash: a key of its own
    assert keys[4] == "3"  # dedupe's group wins over the hash
