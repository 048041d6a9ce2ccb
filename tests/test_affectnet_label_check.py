"""``--check-labels``: the fast probe, trained on the target, turns away faces it strongly doubts.

Two visually distinct synthetic classes: "happy" faces carry horizontal stripes, "sad" ones
vertical stripes, each over a distinct smooth random pattern (so no two are duplicates).
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from conftest import synthetic_face
from PIL import Image

from ferclean.affectnet.label_check import label_doubts, train_label_probe
from ferclean.affectnet.merge import class_counts
from ferclean.cli import main
from ferclean.manifest import read_manifest

HAPPY, SAD = 4, 6  # AffectNet YOLO class numbers


def striped(seed: int, vertical: bool, size: int = 48) -> Image.Image:
    """A distinct face-like pattern with strong stripes whose direction is the class."""
    base = np.asarray(synthetic_face(seed, size), dtype=float)
    rng = np.random.default_rng(seed)
    period, phase = size / rng.uniform(6, 9), rng.uniform(0, 2 * np.pi)
    axis = np.arange(size)
    wave = np.sin(2 * np.pi * axis / period + phase)
    stripes = np.tile(wave, (size, 1)) if vertical else np.tile(wave[:, None], (1, size))
    return Image.fromarray(np.clip(0.5 * base + 64 + 60 * stripes, 0, 255).astype(np.uint8), mode="L")


def test_probe_doubts_planted_wrong_labels() -> None:
    train = np.stack([np.asarray(striped(s, s % 2 == 1)) for s in range(80)])
    labels = ["sad" if s % 2 else "happy" for s in range(80)]
    probe = train_label_probe(train, labels, ["happy", "sad"], seed=0)
    fresh = np.stack([np.asarray(striped(1000 + s, s < 5)) for s in range(10)])
    given = ["happy"] * 10  # the first five are really sad (vertical stripes)
    doubts = label_doubts(probe.probabilities(fresh), given, ["happy", "sad"])
    assert doubts["doubted"].tolist() == [True] * 5 + [False] * 5
    assert set(doubts.loc[doubts["doubted"], "probe_label"]) == {"sad"}
    assert (doubts["p_label"] + doubts["p_probe"]).round(6).eq(1).all()


@pytest.fixture
def striped_target(tmp_path: Path) -> Path:
    """happy 40, sad 20 over train/test."""
    root = tmp_path / "target"
    seed = 0
    for split, counts in {"train": {"happy": 32, "sad": 16}, "test": {"happy": 8, "sad": 4}}.items():
        for label, count in counts.items():
            (root / split / label).mkdir(parents=True)
            for i in range(count):
                striped(seed, label == "sad").save(root / split / label / f"{label}_{split}_{i:03d}.png")
                seed += 1
    return root


@pytest.fixture
def planted_affectnet(tmp_path: Path) -> Path:
    """28 real "sad" faces (vertical), and 6 "Sad"-labelled happy faces ranked first (confidence 0.9)."""
    root = tmp_path / "affectnet"
    images, labels = root / "test" / "images", root / "test" / "labels"
    images.mkdir(parents=True)
    labels.mkdir(parents=True)
    (root / "data.yaml").write_text('names: ["Anger", "Contempt", "Disgust", "Fear", "Happy", "Neutral", "Sad", "Surprise"]\n')
    faces = [(f"wrong{i}", False, 0.9, 5000 + i) for i in range(6)] + [(f"sad{i:02d}", True, 0.5, 6000 + i) for i in range(28)]
    for stem, vertical, confidence, seed in faces:
        striped(seed, vertical, 96).convert("RGB").save(images / f"{stem}.png")
        (labels / f"{stem}.txt").write_text(f"{SAD} 0.5 0.5 1.0 1.0 {confidence}\n")
    return root


def _run(tmp_path: Path, affectnet: Path, target: Path, name: str, *extra: str):
    manifest = tmp_path / f"{name}.csv"
    result = CliRunner().invoke(
        main, ["merge-affectnet", "--affectnet", str(affectnet), "--into", str(target), "--out", str(tmp_path / f"out-{name}"),
               "-o", str(manifest), "--margin", "0", *extra],
    )
    assert result.exit_code == 0, result.output
    return result, read_manifest(manifest)


def test_check_labels_rejects_planted_wrong_labels_and_replaces_them(tmp_path: Path, striped_target: Path, planted_affectnet: Path) -> None:
    _, unchecked = _run(tmp_path, planted_affectnet, striped_target, "plain")
    plain_names = set(unchecked.frame.query("source == 'affectnet'")["path"].map(lambda p: Path(p).stem))
    assert {f"affectnet_wrong{i}" for i in range(6)} <= plain_names  # without the check, the traps get in

    result, checked = _run(tmp_path, planted_affectnet, striped_target, "checked", "--check-labels")
    new = checked.frame.query("source == 'affectnet'")
    names = set(new["path"].map(lambda p: Path(p).stem))
    assert len(names) == 20 and all(n.startswith("affectnet_sad") for n in names)  # replaced by the next candidates
    assert class_counts(checked.frame).to_dict() == {"happy": 40, "sad": 40}
    assert checked.meta["merge_affectnet"]["skipped"] == {"label doubted by probe": 6}
    assert "turned away" in result.output and "label doubted" in result.output
    assert Counter(Path(p).stem.rstrip("0123456789") for p in (tmp_path / "out-checked").iterdir()) == {"affectnet_sad": 20}
    sheet = tmp_path / "checked-affectnet.png"
    assert sheet.is_file() and Image.open(sheet).size[1] > Image.open(tmp_path / "plain-affectnet.png").size[1]

    _, again = _run(tmp_path, planted_affectnet, striped_target, "again", "--check-labels")
    assert again.frame.drop(columns="path").equals(checked.frame.drop(columns="path"))
