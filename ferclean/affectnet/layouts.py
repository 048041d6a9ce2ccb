"""Find and read the AffectNet layouts users have into one candidate table.

Every reader returns the same columns, so mapping, balancing and conversion never care
which release the faces came from:

``source`` (absolute path), ``key`` (path relative to the AffectNet folder, POSIX; the
stable identity used for seeded choice and file naming), ``name`` (the expression name
as the layout gives it, e.g. ``Happiness`` or ``happy``), ``box_x0 .. box_y1`` (face box,
NaN when the image is already a face crop), ``box_relative`` (box in fractions of the
image size, as in YOLO labels, rather than pixels) and ``confidence`` (how sure the
annotation is, NaN where the layout does not say).
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from ferclean.affectnet.codes import OFFICIAL_CODES, UNUSABLE_NAMES, YOLO_NAMES, code_name
from ferclean.errors import FercleanError
from ferclean.images import IMAGE_SUFFIXES, visible_dirs
from ferclean.labels import normalise_class, normalise_split

LAYOUTS: tuple[str, ...] = ("official", "npy", "yolo", "folders")

CANDIDATE_COLUMNS: tuple[str, ...] = (
    "source",
    "key",
    "name",
    "box_x0",
    "box_y0",
    "box_x1",
    "box_y1",
    "box_relative",
    "confidence",
)

_OFFICIAL_PATH = "subDirectory_filePath"
_OFFICIAL_COLUMNS = (
    _OFFICIAL_PATH, "face_x", "face_y", "face_width", "face_height", "facial_landmarks", "expression", "valence", "arousal",
)
#: A header-less official CSV (some copies of validation.csv) starts with a row like ``12/abc.jpg,...``.
_OFFICIAL_ROW = re.compile(r"^\d+/[^,]+\.(jpe?g|png|bmp|tiff?),", flags=re.I)
_OFFICIAL_IMAGE_DIRS = ("Manually_Annotated_Images", "Manually_Annotated/Manually_Annotated_Images", ".")
_CONFIDENCE_COLUMNS = ("confidence", "conf", "relfcs", "score", "prob", "probability")
_PATH_COLUMNS = ("pth", "path", "file", "filename", "image", "subdirectory_filepath")


@dataclass
class Candidates:
    """Every face a layout offers, plus counts of entries that could not even be listed."""

    frame: pd.DataFrame
    layout: str
    skipped: Counter = field(default_factory=Counter)


def _frame(rows: list[dict]) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=list(CANDIDATE_COLUMNS))
    for column in ("box_x0", "box_y0", "box_x1", "box_y1", "confidence"):
        frame[column] = pd.to_numeric(frame[column], errors="coerce").astype(float)
    frame["box_relative"] = frame["box_relative"].eq(True)
    return frame.sort_values("key", kind="stable").reset_index(drop=True)


def _images_under(folder: Path) -> list[Path]:
    return sorted(
        p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES and not p.name.startswith(".")
    )


# --- detection ---------------------------------------------------------------------------


def _official_csvs(root: Path) -> list[Path]:
    """CSV files (at the root or one level down) whose header names ``subDirectory_filePath``,
    or that have no header and start with an official row."""
    found = []
    for csv in sorted([*root.glob("*.csv"), *root.glob("*/*.csv")]):
        try:
            with csv.open(encoding="utf-8", errors="replace") as handle:
                header = handle.readline()
        except OSError:
            continue
        if _OFFICIAL_PATH in header or _OFFICIAL_ROW.match(header):
            found.append(csv)
    return found


def _npy_sets(root: Path) -> list[Path]:
    """Folders holding ``images/`` and ``annotations/*_exp.npy`` (``train_set``, ``val_set``, or root)."""
    sets = []
    for folder in [root, *visible_dirs(root)]:
        annotations = folder / "annotations"
        if (folder / "images").is_dir() and annotations.is_dir() and next(annotations.glob("*_exp.npy"), None):
            sets.append(folder)
    return sets


def _yolo_pairs(root: Path) -> list[tuple[Path, Path]]:
    """(images, labels) folder pairs of a YOLO release: ``[split/]images`` beside ``[split/]labels``."""
    pairs = []
    for folder in [root, *visible_dirs(root)]:
        images, labels = folder / "images", folder / "labels"
        if images.is_dir() and labels.is_dir() and next(labels.rglob("*.txt"), None):
            pairs.append((images, labels))
    return pairs


def _folder_label(name: str) -> str | None:
    """The expression a class folder stands for: a number is an official code, else its name."""
    if name.isdigit():
        return code_name(int(name)) if int(name) in OFFICIAL_CODES else None
    if normalise_class(name) or name.strip().lower() in UNUSABLE_NAMES:
        return name
    return None


def _class_folders(root: Path) -> list[Path]:
    """Class folders of a ``[split/]class/`` tree, or [] when the tree is not one."""
    top = visible_dirs(root)
    if top and all(normalise_split(d.name) for d in top):
        top = [c for split in top for c in visible_dirs(split)]
    return top if top and any(_folder_label(d.name) for d in top) else []


def detect_layout(root: Path) -> str:
    """The layout of an AffectNet folder, checked from the most to the least specific."""
    if _official_csvs(root):
        return "official"
    if _npy_sets(root):
        return "npy"
    if _yolo_pairs(root):
        return "yolo"
    if _class_folders(root):
        return "folders"
    raise FercleanError(
        f"{root} holds no AffectNet layout I know (official CSV + Manually_Annotated_Images, train_set/images +"
        " annotations/*_exp.npy, YOLO images/ + labels/, or one folder per class); see --layout."
    )


# --- readers -----------------------------------------------------------------------------


def _official_image_dir(root: Path, csv: Path, paths: pd.Series) -> Path:
    """The folder the CSV's relative paths start from: the one where most sampled files exist."""
    sample = paths.head(50).tolist()
    bases = [root / d for d in _OFFICIAL_IMAGE_DIRS] + [csv.parent / d for d in _OFFICIAL_IMAGE_DIRS]
    return max(bases, key=lambda base: sum((base / p).is_file() for p in sample))


def read_official(root: Path) -> Candidates:
    """``training.csv`` / ``validation.csv`` with face boxes over uncropped images."""
    rows, skipped = [], Counter()
    for csv in _official_csvs(root):
        with csv.open(encoding="utf-8", errors="replace") as handle:
            has_header = _OFFICIAL_PATH in handle.readline()
        table = pd.read_csv(
            csv,
            dtype=str,
            keep_default_na=False,
            header=0 if has_header else None,
            names=None if has_header else list(_OFFICIAL_COLUMNS),
            usecols=lambda c: c != "facial_landmarks",
        )
        missing = [c for c in (_OFFICIAL_PATH, "expression") if c not in table.columns]
        if missing:
            raise FercleanError(f"AffectNet CSV {csv} lacks column(s) {', '.join(missing)}.")
        base = _official_image_dir(root, csv, table[_OFFICIAL_PATH])
        confidence = next((c for c in table.columns if c.lower() in _CONFIDENCE_COLUMNS), None)
        for record in table.to_dict("records"):
            path = base / record[_OFFICIAL_PATH]
            if not path.is_file():
                skipped["missing file"] += 1
                continue
            try:
                code = int(float(record["expression"]))
                x, y = float(record["face_x"]), float(record["face_y"])
                w, h = float(record["face_width"]), float(record["face_height"])
            except (KeyError, ValueError):
                skipped["bad annotation"] += 1
                continue
            rows.append(
                {
                    "source": str(path.resolve()),
                    "key": path.relative_to(root).as_posix() if path.is_relative_to(root) else str(path),
                    "name": code_name(code),
                    "box_x0": x,
                    "box_y0": y,
                    "box_x1": x + w,
                    "box_y1": y + h,
                    "box_relative": False,
                    "confidence": record[confidence] if confidence else np.nan,
                }
            )
    return Candidates(_frame(rows), "official", skipped)


def read_npy(root: Path) -> Candidates:
    """``train_set/images/<id>.jpg`` with the code in ``train_set/annotations/<id>_exp.npy``."""
    rows, skipped = [], Counter()
    for folder in _npy_sets(root):
        for image in _images_under(folder / "images"):
            annotation = folder / "annotations" / f"{image.stem}_exp.npy"
            try:
                code = int(np.load(annotation, allow_pickle=False).item())
            except (OSError, ValueError, TypeError):
                skipped["no label"] += 1
                continue
            rows.append({"source": str(image.resolve()), "key": image.relative_to(root).as_posix(), "name": code_name(code)})
    return Candidates(_frame(rows), "npy", skipped)


def yolo_names(root: Path) -> list[str]:
    """Class names from the release's ``data.yaml`` (inline list, block list or index map)."""
    for yaml in sorted([*root.glob("*.yaml"), *root.glob("*.yml")]):
        text = yaml.read_text(encoding="utf-8", errors="replace")
        inline = re.search(r"^names:\s*\[(.*?)\]", text, flags=re.M | re.S)
        if inline:
            return [n.strip().strip("'\"") for n in inline.group(1).split(",") if n.strip()]
        block = re.search(r"^names:\s*\n((?:[ \t]+.*\n?)+)", text, flags=re.M)
        if block:
            items = [re.sub(r"^\s*(-|\d+\s*:)\s*", "", line).strip().strip("'\"") for line in block.group(1).splitlines()]
            return [i for i in items if i]
    return list(YOLO_NAMES)


def read_yolo(root: Path) -> Candidates:
    """``images/<stem>.jpg`` with ``labels/<stem>.txt`` = ``class cx cy w h [confidence]``."""
    names = yolo_names(root)
    rows, skipped = [], Counter()
    for images, labels in _yolo_pairs(root):
        for image in _images_under(images):
            label = labels / image.relative_to(images).with_suffix(".txt")
            try:
                fields = label.read_text().split("\n", 1)[0].split()
                index = int(float(fields[0]))
                cx, cy, w, h = (float(v) for v in fields[1:5])
            except (OSError, ValueError, IndexError):
                skipped["no label"] += 1
                continue
            rows.append(
                {
                    "source": str(image.resolve()),
                    "key": image.relative_to(root).as_posix(),
                    "name": names[index] if 0 <= index < len(names) else f"class {index}",
                    "box_x0": cx - w / 2,
                    "box_y0": cy - h / 2,
                    "box_x1": cx + w / 2,
                    "box_y1": cy + h / 2,
                    "box_relative": True,
                    "confidence": float(fields[5]) if len(fields) > 5 else np.nan,
                }
            )
    return Candidates(_frame(rows), "yolo", skipped)


def _folder_confidences(root: Path) -> dict[str, float]:
    """``path -> confidence`` from a CSV beside the class folders (e.g. a ``labels.csv`` with ``relFCs``)."""
    found: dict[str, float] = {}
    for csv in sorted(root.glob("*.csv")):
        table = pd.read_csv(csv, dtype=str, keep_default_na=False)
        columns = {c.lower(): c for c in table.columns}
        path_col = next((columns[c] for c in _PATH_COLUMNS if c in columns), None)
        conf_col = next((columns[c] for c in _CONFIDENCE_COLUMNS if c in columns), None)
        if path_col and conf_col:
            values = pd.to_numeric(table[conf_col], errors="coerce")
            keys = table[path_col].str.replace("\\", "/").str.removeprefix("./")
            found.update(zip(keys, values))
    return found


def read_folders(root: Path) -> Candidates:
    """One folder per class, named (``anger``, ``Happy``) or numbered with official codes."""
    confidences = _folder_confidences(root)
    rows, skipped = [], Counter()
    for folder in _class_folders(root):
        name = _folder_label(folder.name)
        if name is None:
            skipped[f"unknown folder {folder.name!r}"] += len(_images_under(folder))
            continue
        for image in _images_under(folder):
            key = image.relative_to(root).as_posix()
            in_split = key.split("/", 1)[-1]
            rows.append(
                {
                    "source": str(image.resolve()),
                    "key": key,
                    "name": name,
                    "confidence": confidences.get(key, confidences.get(in_split, np.nan)),
                }
            )
    return Candidates(_frame(rows), "folders", skipped)


_READERS = {"official": read_official, "npy": read_npy, "yolo": read_yolo, "folders": read_folders}


def read_candidates(root: str | Path, layout: str | None = None) -> Candidates:
    """Every face under an AffectNet folder, in the given or the detected layout."""
    root = Path(root).resolve()
    if not root.is_dir():
        raise FercleanError(f"AffectNet folder {root} does not exist or is not a folder.")
    layout = layout or detect_layout(root)
    if layout not in _READERS:
        raise FercleanError(f"Unknown AffectNet layout {layout!r}; choose one of {', '.join(LAYOUTS)}.")
    candidates = _READERS[layout](root)
    if candidates.frame.empty:
        raise FercleanError(f"No labelled AffectNet images found under {root} in the {layout} layout.")
    return candidates
