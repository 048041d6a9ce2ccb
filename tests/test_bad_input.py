"""Every command against a corpus of bad inputs: one clear line, the right exit status, no
traceback, and every source file byte-identical afterwards.

The corpus is built once (tiny generated images). Each case is (id, arguments, expected
exit, words the output must hold, optional extra check); ``{d}`` is the corpus folder and
``{o}`` a fresh output folder for the case.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import struct
import zlib
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from PIL import Image

from conftest import synthetic_face
from ferclean.cli import main

OK, FAIL = 0, "non-zero"


def _png_header_only(path: Path, side: int) -> None:
    """A PNG announcing ``side`` x ``side`` pixels with almost no data: a decompression bomb, cheap to make."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", side, side, 8, 0, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b""))


def _dataset(root: Path, seed: int = 0, splits: tuple[str, ...] = ("train", "test")) -> Path:
    for split in splits:
        for label in ("happy", "sad"):
            folder = root / split / label
            folder.mkdir(parents=True, exist_ok=True)
            for i in range(4 if split == "train" else 2):
                synthetic_face(seed).save(folder / f"{label}{i}.png")
                seed += 1
    return root


def _bad_files(d: Path) -> None:
    """One dataset per kind of bad file, each beside good images in train/happy."""
    makers: dict[str, Callable[[Path], None]] = {
        "zero": lambda f: (f / "zero.png").write_bytes(b""),
        "truncated": lambda f: (f / "cut.png").write_bytes((f / "happy0.png").read_bytes()[:120]),
        "textjpg": lambda f: (f / "text.jpg").write_text("this is not a JPEG"),
        "huge": lambda f: _png_header_only(f / "bomb.png", 20000),
        "tiny": lambda f: Image.new("L", (1, 1), 80).save(f / "dot.png"),
        "rgba": lambda f: synthetic_face(900).convert("RGBA").save(f / "rgba.png"),
        # A 16-bit copy of train/sad/sad0.png under another label: an exact duplicate with a conflict.
        "sixteen": lambda f: Image.fromarray(
            np.asarray(Image.open(f.parent / "sad" / "sad0.png"), dtype=np.uint16) * 257
        ).save(f / "sixteen.png"),
    }
    for kind, make in makers.items():
        make(_dataset(d / "bad" / kind) / "train" / "happy")


def _manifests(d: Path) -> None:
    """Bad manifests, each a variant of the scan of ``data`` with its companion JSON."""
    m = d / "m"
    good = pd.read_csv(m / "good.csv", dtype=str, keep_default_na=False)
    meta = (m / "good.json").read_text()

    def variant(name: str, frame: pd.DataFrame, companion: bool = True) -> None:
        frame.to_csv(m / f"{name}.csv", index=False)
        if companion:
            (m / f"{name}.json").write_text(meta)

    variant("nolabel", good.drop(columns=["label"]))
    variant("badstatus", good.assign(status=["maybe"] + ["keep"] * (len(good) - 1)))
    variant("header", good.iloc[:0])
    variant("alldropped", good.assign(status="drop"))
    variant("badlabel", good.assign(label=["confused"] + good["label"].tolist()[1:]))
    variant("badsplit", good.assign(split=["holdout"] + good["split"].tolist()[1:]))
    variant("missing", good.assign(path=["gone/" + good["path"][0]] + good["path"].tolist()[1:]))
    variant("nojson", good, companion=False)
    (m / "decisions_badpath.csv").write_text("path,decision,new_label\nnot/there.png,keep,\n")
    (m / "decisions_badcol.csv").write_text("file,verdict\nx.png,keep\n")
    (m / "out.csv").write_text("")  # an existing file, for --plot out.csv -o out.csv


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("corpus")
    _dataset(d / "data")
    (d / "emptyfolder").mkdir()
    _dataset(d / "badclass")
    (d / "badclass" / "train" / "confused").mkdir()
    synthetic_face(500).save(d / "badclass" / "train" / "confused" / "c.png")
    _dataset(d / "badsplit", splits=("train", "holdout"))
    _dataset(d / "trainonly", splits=("train",))
    for label in ("happy", "sad"):  # nothing readable: the quality checks get an empty batch
        (d / "allbad" / "train" / label).mkdir(parents=True)
        (d / "allbad" / "train" / label / "x.png").write_text("not an image")
    _bad_files(d)
    for label, seed in (("happy", 700), ("sad", 800)):
        folder = d / "affectnet" / label
        folder.mkdir(parents=True)
        for i in range(3):
            synthetic_face(seed + i, 96).save(folder / f"{label}{i}.png")
    Image.new("L", (1, 1), 50).save(d / "affectnet" / "sad" / "dot.png")
    result = CliRunner().invoke(main, ["scan", str(d / "data"), "-o", str(d / "m" / "good.csv"), "-j", "1"])
    assert result.exit_code == 0, result.output
    _manifests(d)
    return d


def _row(out: Path, name: str, path_end: str) -> pd.Series:
    frame = pd.read_csv(out / name, dtype=str, keep_default_na=False)
    return frame[frame["path"].str.endswith(path_end)].iloc[0]


def _dropped_with(words: str, name: str) -> Callable[[Path, Path], None]:
    def check(d: Path, o: Path) -> None:
        row = _row(o, "m.csv", name)
        assert row["status"] == "drop" and words in row["note"]

    return check


def _tiny_is_review(d: Path, o: Path) -> None:
    row = _row(o, "m.csv", "dot.png")
    assert row["status"] == "review" and "too small" in row["note"]


def _sixteen_matches_twin(d: Path, o: Path) -> None:
    assert _row(o, "m.csv", "train/happy/sixteen.png")["sha256"] == _row(o, "m.csv", "train/sad/sad0.png")["sha256"]


def _rgba_is_kept(d: Path, o: Path) -> None:
    row = _row(o, "m.csv", "rgba.png")  # decoded (a blob, so the quality checks may send it to review), not dropped
    assert row["status"] != "drop" and "unreadable" not in row["note"]


def _no_run_folder(d: Path, o: Path) -> None:
    assert not (o / "runs").exists() or not any((o / "runs").iterdir())


def _tiny_face_not_merged(d: Path, o: Path) -> None:
    frame = pd.read_csv(o / "m.csv", dtype=str, keep_default_na=False)
    assert not frame["note"].str.contains("dot").any()
    assert not (o / "faces" / "affectnet_dot.png").exists()


def _symlinked_out(d: Path, o: Path) -> list[str]:
    """OUT/train/happy is a link to a source class folder (the case that overwrote 20 images)."""
    (o / "out" / "train").mkdir(parents=True)
    os.symlink(d / "data" / "train" / "sad", o / "out" / "train" / "happy")
    return []


CASES: list[tuple] = [
    # --- datasets and files
    ("scan missing path", ["scan", "{d}/nope", "-o", "{o}/m.csv"], FAIL, ["does not exist"]),
    ("scan empty folder", ["scan", "{d}/emptyfolder", "-o", "{o}/m.csv"], FAIL, ["no class or split"]),
    ("scan zero-byte", ["scan", "{d}/bad/zero", "-o", "{o}/m.csv"], OK, ["unreadable", "empty file"], _dropped_with("empty file", "zero.png")),
    ("scan truncated", ["scan", "{d}/bad/truncated", "-o", "{o}/m.csv"], OK, ["unreadable"], _dropped_with("truncated", "cut.png")),
    ("scan text-as-jpg", ["scan", "{d}/bad/textjpg", "-o", "{o}/m.csv"], OK, ["not a recognised"], _dropped_with("not a recognised", "text.jpg")),
    ("scan huge image", ["scan", "{d}/bad/huge", "-o", "{o}/m.csv"], OK, ["too large"], _dropped_with("too large", "bomb.png")),
    ("scan tiny image", ["scan", "{d}/bad/tiny", "-o", "{o}/m.csv"], OK, ["too small"], _tiny_is_review),
    ("scan nothing readable", ["scan", "{d}/allbad", "-o", "{o}/m.csv"], OK, ["unreadable"], _dropped_with("unreadable", "sad/x.png")),
    ("scan rgba", ["scan", "{d}/bad/rgba", "-o", "{o}/m.csv"], OK, [], _rgba_is_kept),
    ("dedupe 16-bit", ["dedupe", "{d}/bad/sixteen", "-o", "{o}/m.csv"], OK, ["label conflict"], _sixteen_matches_twin),
    ("scan unknown class folder", ["scan", "{d}/badclass", "-o", "{o}/m.csv"], FAIL, ["Unknown class folder", "--classes confused"]),
    ("scan unknown split folder", ["scan", "{d}/badsplit", "-o", "{o}/m.csv"], FAIL, ["holdout", "neither a split"]),
    # --- manifests
    ("manifest missing a column", ["dedupe", "{d}/m/nolabel.csv", "-o", "{o}/m.csv"], FAIL, ["lacks column", "label"]),
    ("unknown status", ["stratify", "{d}/m/badstatus.csv", "-o", "{o}/m.csv"], FAIL, ["unknown status", "maybe"]),
    ("header-only export", ["export", "{d}/m/header.csv", "--out", "{o}/out"], FAIL, ["no kept image"]),
    ("header-only stratify", ["stratify", "{d}/m/header.csv", "-o", "{o}/m.csv"], FAIL, ["no kept image"]),
    ("all dropped export", ["export", "{d}/m/alldropped.csv", "--out", "{o}/out"], FAIL, ["no kept image"]),
    ("all dropped mislabel", ["mislabel-review", "{d}/m/alldropped.csv", "-o", "{o}/m.csv"], FAIL, ["no kept images"]),
    *[
        (f"undeclared label {cmd}", [cmd, "{d}/m/badlabel.csv", *extra], FAIL, ["unknown label", "confused"])
        for cmd, extra in [
            ("dedupe", ["-o", "{o}/m.csv"]),
            ("stratify", ["-o", "{o}/m.csv"]),
            ("mislabel-review", ["-o", "{o}/m.csv"]),
            ("export", ["--out", "{o}/out"]),
        ]
    ],
    ("undeclared label merge", ["merge-affectnet", "--affectnet", "{d}/affectnet", "--into", "{d}/m/badlabel.csv", "--out", "{o}/faces", "-o", "{o}/m.csv"], FAIL, ["unknown label"]),
    ("undeclared split", ["stratify", "{d}/m/badsplit.csv", "-o", "{o}/m.csv"], FAIL, ["unknown split", "holdout"]),
    ("missing image paths warn", ["stratify", "{d}/m/missing.csv", "-o", "{o}/m.csv"], OK, ["Warning: 1 of", "do not exist", "gone/"]),
    ("missing image paths dedupe", ["dedupe", "{d}/m/missing.csv", "-o", "{o}/m.csv"], OK, ["do not exist"]),
    ("manifest without companion", ["mislabel-review", "{d}/m/nojson.csv", "-o", "{o}/m.csv"], FAIL, ["could be read"]),
    ("bad decisions path", ["mislabel-review", "{d}/m/good.csv", "--apply", "{d}/m/decisions_badpath.csv", "-o", "{o}/m.csv"], FAIL, ["line 2", "not in the manifest"]),
    ("bad decisions columns", ["mislabel-review", "{d}/m/good.csv", "--apply", "{d}/m/decisions_badcol.csv", "-o", "{o}/m.csv"], FAIL, ["lacks column"]),
    # --- outputs inside the source, equal to the input, unwritable
    ("scan -o inside source", ["scan", "{d}/data", "-o", "{d}/data/train/happy/m.csv"], FAIL, ["inside the source image folder"]),
    ("dedupe -o inside source", ["dedupe", "{d}/m/good.csv", "-o", "{d}/data/train/m.csv"], FAIL, ["inside the source image folder"]),
    ("dedupe report inside source", ["dedupe", "{d}/data", "-o", "{o}/m.csv", "--report-dir", "{d}/data/train/happy/r"], FAIL, ["--report-dir", "inside the source"]),
    ("mislabel report inside source", ["mislabel-review", "{d}/m/good.csv", "-o", "{o}/m.csv", "--report-dir", "{d}/data/r"], FAIL, ["--report-dir", "inside the source"]),
    ("stratify plot inside source", ["stratify", "{d}/m/good.csv", "-o", "{o}/m.csv", "--plot", "{d}/data/p.png"], FAIL, ["--plot", "inside the source"]),
    ("export into source", ["export", "{d}/m/good.csv", "--out", "{d}/data/train", "--force"], FAIL, ["inside the source image folder"]),
    ("export through a symlink", ["export", "{d}/m/good.csv", "--out", "{o}/out", "--force"], FAIL, ["resolves to", "inside the source image folder"], None, _symlinked_out),
    ("merge --out inside target", ["merge-affectnet", "--affectnet", "{d}/affectnet", "--into", "{d}/data", "--out", "{d}/data/train/happy", "-o", "{o}/m.csv"], FAIL, ["--out", "inside the source image folder"]),
    ("merge --out inside affectnet", ["merge-affectnet", "--affectnet", "{d}/affectnet", "--into", "{d}/m/good.csv", "--out", "{d}/affectnet/new", "-o", "{o}/m.csv"], FAIL, ["inside the source image folder"]),
    *[
        (f"-o equal to input {cmd}", [cmd, "{d}/m/good.csv", "-o", "{d}/m/good.csv"], FAIL, ["is the input", "new name"])
        for cmd in ("dedupe", "stratify", "mislabel-review")
    ],
    ("-o equal to input merge", ["merge-affectnet", "--affectnet", "{d}/affectnet", "--into", "{d}/m/good.csv", "--out", "{o}/faces", "-o", "{d}/m/good.csv"], FAIL, ["is the input"]),
    ("scan -o not csv", ["scan", "{d}/data", "-o", "{o}/x.json"], FAIL, ["-o", "must end in .csv"]),
    ("stratify plot equal to -o", ["stratify", "{d}/m/good.csv", "--plot", "{d}/m/out.csv", "-o", "{d}/m/out.csv"], FAIL, ["--plot"]),
    ("dedupe -o unwritable", ["dedupe", "{d}/m/good.csv", "-o", "/proc/x.csv"], FAIL, ["Cannot write"]),
    # --- option ranges, named by click
    ("train negative learning rate", ["train", "-m", "{d}/data", "--learning-rate", "-1"], FAIL, ["--learning-rate"]),
    ("train dropout 2.0", ["train", "-m", "{d}/data", "--dropouts", "2.0"], FAIL, ["--dropouts", "2.0"]),
    ("stratify ratios without train", ["stratify", "{d}/m/good.csv", "--ratios", "0/0/100", "-o", "{o}/m.csv"], FAIL, ["--ratios", "train split no share"]),
    ("merge unknown expression", ["merge-affectnet", "--affectnet", "{d}/affectnet", "--into", "{d}/m/good.csv", "--out", "{o}/faces", "--map", "bogus=happy", "-o", "{o}/m.csv"], FAIL, ["--map", "unknown expression", "bogus"]),
    ("dedupe threshold 40", ["dedupe", "{d}/m/good.csv", "--threshold", "40", "-o", "{o}/m.csv"], FAIL, ["--threshold", "0<=x<=32"]),
    ("merge threshold 40", ["merge-affectnet", "--affectnet", "{d}/affectnet", "--into", "{d}/m/good.csv", "--out", "{o}/faces", "--threshold", "40", "-o", "{o}/m.csv"], FAIL, ["--threshold", "0<=x<=32"]),
    # --- whole runs that must refuse part of their input
    ("merge skips a tiny face", ["merge-affectnet", "--affectnet", "{d}/affectnet", "--into", "{d}/m/good.csv", "--out", "{o}/faces", "--per-class", "sad=4,happy=0", "-o", "{o}/m.csv"], OK, ["too small"], _tiny_face_not_merged),
    ("train runs-dir inside source", ["train", "-m", "{d}/data", "--runs-dir", "{d}/data/runs"], FAIL, ["--runs-dir", "inside the source"]),
    ("failed train leaves no run folder", ["train", "-m", "{d}/trainonly", "--epochs", "1", "--runs-dir", "{o}/runs"], FAIL, ["test"], _no_run_folder),
]


def _checksums(d: Path) -> dict[str, str]:
    """sha256 of every source file (datasets, AffectNet, input manifests); outputs live elsewhere."""
    return {
        str(p.relative_to(d)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(d.rglob("*"))
        if p.is_file() and not p.is_symlink()
    }


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_bad_input(corpus: Path, tmp_path: Path, case: tuple) -> None:
    name, template, expected, words, *rest = case
    check = rest[0] if rest else None
    prepare = rest[1] if len(rest) > 1 else None
    if prepare is not None:
        prepare(corpus, tmp_path)
    before = _checksums(corpus)
    args = [a.format(d=corpus, o=tmp_path) for a in template]
    if args[0] != "train":
        args += ["-j", "1"]
    result = CliRunner().invoke(main, args)
    output = result.output
    assert "Traceback" not in output, output
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    if expected == OK:
        assert result.exit_code == 0, output
    else:
        assert result.exit_code != 0, output
    flat = " ".join(output.split())
    for word in words:
        assert word in flat, f"{word!r} not in: {flat}"
    if expected != OK:
        errors = [line for line in output.splitlines() if line.startswith("Error:")]
        assert len(errors) == 1, output
    assert _checksums(corpus) == before
    if check is not None:
        check(corpus, tmp_path)
    shutil.rmtree(tmp_path / "out", ignore_errors=True)
