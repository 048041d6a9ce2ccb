"""Merge AffectNet faces into a target manifest until its classes are balanced.

The flow: candidates (``layouts``) -> target classes (``mapping``) -> ranked per class
(``balance``) -> converted in rounds (``convert``) until each class's quota is filled with
faces that duplicate neither the dataset nor each other -> spread over the splits in the
dataset's current ratios. Optionally each converted face's label is vetted (a probe
trained on the dataset, ``label_check``), the target is cut to what every class can reach
(``feasible``) and classes above it are trimmed (``balance.trim_surplus``). Everything but
the conversion and the vetting is a pure function on tables; both are passed in, so tests
and the CLI choose how they run.
"""

from __future__ import annotations

import math
import os
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

from ferclean.affectnet.balance import FEASIBLE, feasible_target, quotas, rank_candidates, trim_surplus
from ferclean.affectnet.convert import DEFAULT_MARGIN, ConvertTask, convert_face
from ferclean.affectnet.label_check import label_vetter
from ferclean.affectnet.layouts import read_candidates
from ferclean.affectnet.mapping import UNMAPPED, map_expressions
from ferclean.dedupe.hashing import hex_to_uint64
from ferclean.dedupe.resolve import DEFAULT_THRESHOLD
from ferclean.dedupe.search import mirror_pairs
from ferclean.errors import FercleanError
from ferclean.outputs import guard_output
from ferclean.keys import short_hash
from ferclean.labels import class_order
from ferclean.images import UnreadableImage, open_gray
from ferclean.manifest import Manifest, effective_labels, kept, normalise_frame
from ferclean.parallel import Backend, Progress, parallel_map
from ferclean.scan import ensure_hashes
from ferclean.stratify.assign import assign_splits

DUPLICATE = "duplicate"
UNREADABLE = "unreadable"
TOO_SMALL = "too small"
ALREADY_MERGED = "already in dataset"
LABEL_DOUBTED = "label doubted by probe"

Converter = Callable[[Sequence[ConvertTask]], list[dict]]
#: Vets converted faces (a table with ``dest`` and ``label``): one row each, in order, with a
#: boolean ``doubted`` column and any other columns worth reporting.
Vetter = Callable[[pd.DataFrame], pd.DataFrame]


# --- what the target looks like ---------------------------------------------------------


def target_classes(frame: pd.DataFrame) -> list[str]:
    """Classes of the kept rows (effective labels), in display order."""
    return class_order(effective_labels(frame)[kept(frame)].unique())


def class_counts(frame: pd.DataFrame, classes: Sequence[str] | None = None) -> pd.Series:
    """Kept images per class over all splits."""
    counts = effective_labels(frame)[kept(frame)].value_counts()
    return counts.reindex(classes if classes is not None else class_order(counts.index), fill_value=0).astype(int)


def target_size(frame: pd.DataFrame) -> tuple[int, int]:
    """The most common width x height of the kept, readable images (ties: the smaller)."""
    sizes = frame.loc[kept(frame), ["width", "height"]].dropna()
    if sizes.empty:
        raise FercleanError("The target manifest records no image sizes; scan the dataset first (ferclean scan).")
    counts = sizes.value_counts()
    best = counts[counts == counts.max()].index.min()
    return int(best[0]), int(best[1])


def split_ratios(frame: pd.DataFrame) -> dict[str, float]:
    """Share of kept images per split (``{"": 1.0}`` for a flat dataset)."""
    shares = frame.loc[kept(frame), "split"].value_counts(normalize=True)
    return {str(split): float(share) for split, share in shares.items()}


# --- candidates ------------------------------------------------------------------------


def output_names(keys: pd.Series) -> pd.Series:
    """``affectnet_<stem>.png`` per candidate; stems shared by several sources (e.g. the same
    file name in two official sub-folders) get a short hash of the relative path appended."""
    stems = keys.map(lambda k: Path(k).stem)
    clash = stems.str.lower().duplicated(keep=False)
    suffix = ("_" + keys.map(short_hash)).where(clash, "")
    return "affectnet_" + stems + suffix + ".png"


def prepare_candidates(
    candidates: pd.DataFrame, classes: Sequence[str], overrides: dict[str, str], out_dir: Path, seed: int
) -> tuple[pd.DataFrame, Counter]:
    """Mapped, ranked candidates with their destination file, and counts of the skipped."""
    mapped = map_expressions(candidates["name"], classes, overrides)
    frame = candidates.assign(label=mapped["label"], dest=[str(out_dir / n) for n in output_names(candidates["key"])])
    skipped = Counter()
    for (reason, name), count in mapped.loc[mapped["reason"] != ""].groupby(["reason", candidates["name"]]).size().items():
        skipped[f"{reason}: {name}" if reason == UNMAPPED else reason] += int(count)
    usable = frame.loc[mapped["reason"] == ""]
    return rank_candidates(usable, seed), skipped


# --- duplicate check --------------------------------------------------------------------


def duplicate_flags(
    existing: tuple[np.ndarray, np.ndarray], batch: tuple[np.ndarray, np.ndarray], threshold: int
) -> tuple[np.ndarray, list[set[int]]]:
    """For a batch of new faces: the first existing image each duplicates, directly or
    mirrored (-1 if none), and which other batch members each one duplicates."""
    n_old, n_new = len(existing[0]), len(batch[0])
    direct = np.concatenate([existing[0], batch[0]])
    flipped = np.concatenate([existing[1], batch[1]])
    pairs = mirror_pairs(direct, flipped, threshold)
    pairs = pairs[pairs.max(axis=1) >= n_old]
    clash_old = np.full(n_new, -1, dtype=np.int64)
    clash_new: list[set[int]] = [set() for _ in range(n_new)]
    for a, b in pairs[np.lexsort((pairs[:, 0], pairs[:, 1]))]:
        if a < n_old:
            if clash_old[b - n_old] < 0:
                clash_old[b - n_old] = a
        else:
            clash_new[a - n_old].add(b - n_old)
            clash_new[b - n_old].add(a - n_old)
    return clash_old, clash_new


# --- the rounds of conversion --------------------------------------------------------------


@dataclass
class Selection:
    """The faces accepted per class (in rank order) and why others were turned away."""

    added: pd.DataFrame
    skipped: Counter = field(default_factory=Counter)
    rejected: list[dict] = field(default_factory=list)
    surplus: list[str] = field(default_factory=list)


def convert_tasks(rows: pd.DataFrame, size: tuple[int, int], margin: float, hash_method: str) -> list[ConvertTask]:
    """One conversion per candidate row (``source``, ``dest``, box columns)."""
    boxes = rows[["box_x0", "box_y0", "box_x1", "box_y1"]].to_numpy(dtype=float)
    return [
        ConvertTask(
            source=source,
            dest=dest,
            box=None if np.isnan(box).any() else tuple(float(v) for v in box),
            box_relative=bool(relative),
            size=size,
            margin=margin,
            hash_method=hash_method,
        )
        for source, dest, box, relative in zip(rows["source"], rows["dest"], boxes, rows["box_relative"])
    ]


def select_faces(
    ranked: pd.DataFrame,
    need: pd.Series,
    existing: tuple[np.ndarray, np.ndarray],
    convert: Converter,
    size: tuple[int, int],
    threshold: int,
    margin: float = DEFAULT_MARGIN,
    hash_method: str = "phash",
    existing_names: Sequence[str] | None = None,
    vet: Vetter | None = None,
) -> Selection:
    """Convert ranked candidates in rounds until every class has ``need`` new faces that are
    readable and duplicate neither ``existing`` hashes nor earlier additions.

    Each round converts a few more than a class still lacks (duplicates and unreadable files
    happen), taking the next candidates in rank order; extra conversions are reported as
    ``surplus`` so the caller can delete them. Accepted faces are always the best-ranked
    valid ones, so the result does not depend on how rounds fall. Rejected duplicates
    name what they duplicate (``existing_names`` entry or an earlier addition's ``dest``).
    With ``vet``, faces it doubts are turned away (``label doubted by probe``) and replaced too.
    """
    by_class = {label: group for label, group in ranked.groupby("label", sort=True)}
    taken = Counter()
    accepted: dict[str, list[dict]] = {label: [] for label in need.index}
    old = (np.asarray(existing[0], dtype=np.uint64), np.asarray(existing[1], dtype=np.uint64))
    old_names = list(existing_names) if existing_names is not None else [""] * len(old[0])
    selection = Selection(added=pd.DataFrame())
    while True:
        batch = []
        for label in need.index:
            short = int(need[label]) - len(accepted[label])
            pool = by_class.get(label)
            if short <= 0 or pool is None or taken[label] >= len(pool):
                continue
            extra = max(2, math.ceil(0.05 * short))
            batch.append(pool.iloc[taken[label] : taken[label] + short + extra])
            taken[label] += short + extra
        if not batch:
            break
        rows = pd.concat(batch)
        results = convert(convert_tasks(rows, size, margin, hash_method))
        readable = [i for i, r in enumerate(results) if not r.get("error")]
        hashes = (
            hex_to_uint64([results[i]["phash"] for i in readable]),
            hex_to_uint64([results[i]["phash_flip"] for i in readable]),
        )
        clash_old, clash_new = duplicate_flags(old, hashes, threshold)
        vetted = vet(rows.iloc[readable].reset_index(drop=True)).to_dict("records") if vet is not None and readable else []
        position = {i: p for p, i in enumerate(readable)}
        kept_positions: dict[int, str] = {}
        for i, (record, result) in enumerate(zip(rows.to_dict("records"), results)):
            label = record["label"]
            info = {**record, **result}
            if result.get("error"):
                reason = TOO_SMALL if str(result["error"]).startswith("too small") else UNREADABLE
                selection.skipped[reason] += 1
                selection.rejected.append({**info, "reason": reason})
                continue
            if len(accepted[label]) >= need[label]:
                selection.surplus.append(record["dest"])
                continue
            here = position[i]
            twins = sorted(clash_new[here] & kept_positions.keys())
            if clash_old[here] >= 0 or twins:
                original = old_names[clash_old[here]] if clash_old[here] >= 0 else kept_positions[twins[0]]
                selection.skipped[DUPLICATE] += 1
                selection.rejected.append({**info, "reason": DUPLICATE, "duplicate_of": original})
            elif vetted and vetted[here]["doubted"]:
                selection.skipped[LABEL_DOUBTED] += 1
                selection.rejected.append({**info, **vetted[here], "reason": LABEL_DOUBTED})
            else:
                accepted[label].append(info)
                kept_positions[here] = record["dest"]
        if kept_positions:
            chosen = list(kept_positions)
            old = (np.concatenate([old[0], hashes[0][chosen]]), np.concatenate([old[1], hashes[1][chosen]]))
            old_names += list(kept_positions.values())
    records = [info for label in need.index for info in accepted[label]]
    selection.added = pd.DataFrame(records)
    return selection


# --- the new manifest rows ---------------------------------------------------------------


def spread_splits(labels: pd.Series, names: pd.Series, ratios: dict[str, float], seed: int, only_split: str | None) -> np.ndarray:
    """A split per new face: ``only_split``, the flat split, or stratified by class in ``ratios``."""
    if only_split is not None:
        return np.full(len(labels), only_split, dtype=object)
    if set(ratios) <= {""}:
        return np.full(len(labels), "", dtype=object)
    return assign_splits(labels.to_numpy(), names.to_numpy(), {s: r for s, r in ratios.items() if s}, seed)


def new_rows(added: pd.DataFrame, splits: np.ndarray) -> pd.DataFrame:
    """Manifest rows for the added faces: absolute paths, ``source=affectnet``, sizes and hashes."""
    return normalise_frame(
        pd.DataFrame(
            {
                "path": [str(Path(d).resolve()) for d in added["dest"]],
                "split": splits,
                "label": added["label"],
                "source": "affectnet",
                "width": added["width"],
                "height": added["height"],
                "sha256": added["sha256"],
                "phash": added["phash"],
                "phash_flip": added["phash_flip"],
                "status": "keep",
                "note": [f"affectnet {k} ({n})" for k, n in zip(added["key"], added["name"])],
            }
        )
    )


@dataclass
class MergeResult:
    """The merged table and everything the report shows."""

    frame: pd.DataFrame
    counts: pd.DataFrame
    skipped: Counter
    added: pd.DataFrame
    rejected: list[dict]
    surplus: list[str]
    #: Set by ``merge_affectnet``: the merged manifest, the AffectNet layout read, and the
    #: faces it offered.
    manifest: Manifest | None = None
    layout: str = ""
    candidates: int = 0
    #: The per-class count aimed at (``feasible`` or a number), the classes that limit a
    #: feasible target, and the images trimmed per class and split.
    target: int | None = None
    limited_by: list[str] = field(default_factory=list)
    trimmed: pd.DataFrame = field(default_factory=pd.DataFrame)


def _remembered(convert: Converter) -> tuple[Converter, dict[str, dict]]:
    """``convert`` that converts each destination once, and the results so far by destination."""
    done: dict[str, dict] = {}

    def run(tasks: Sequence[ConvertTask]) -> list[dict]:
        todo = [t for t in tasks if t.dest not in done]
        done.update({t.dest: r for t, r in zip(todo, convert(todo) if todo else [])})
        return [done[t.dest] for t in tasks]

    return run, done


def _remembered_vet(vet: Vetter) -> Vetter:
    """``vet`` that scores each destination once."""
    done: dict[str, dict] = {}

    def run(rows: pd.DataFrame) -> pd.DataFrame:
        todo = rows.loc[~rows["dest"].isin(done.keys())].reset_index(drop=True)
        if len(todo):
            done.update(zip(todo["dest"], vet(todo).to_dict("records")))
        return pd.DataFrame([done[d] for d in rows["dest"]])

    return run


def select_feasible(
    ranked: pd.DataFrame, need: pd.Series, before: pd.Series, convert: Converter, vet: Vetter | None, **options
) -> tuple[Selection, int, pd.Series, list[str]]:
    """The selection for the highest per-class count every class reaches (at most before +
    ``need``), that count, the usable faces found per class, and the classes that limit it
    (those that end at the count having used every usable face or their whole ``need``).

    A first pass fills each class up to the bound the candidate counts allow, which also
    counts the usable (readable, non-duplicate, undoubted) faces of the classes that run
    short; the second pass is exactly a run with that target, reusing the first pass's
    conversions and verdicts, so ``--target feasible`` and ``--target <its value>`` agree.
    """
    pool = ranked["label"].value_counts().reindex(need.index, fill_value=0)
    bound = feasible_target(before, pool.clip(upper=need))
    first_need = (bound - before).clip(lower=0).clip(upper=need).astype(int)
    convert, converted = _remembered(convert)
    vet = _remembered_vet(vet) if vet is not None else None
    first = select_faces(ranked, first_need, convert=convert, vet=vet, **options)
    usable = _added_per_class(first.added, need.index)
    goal = feasible_target(before, usable)
    capped = (usable < first_need) | (usable >= need) | (first_need == 0)  # ran out, hit its quota, or at the bound
    limited_by = [c for c in need.index if before[c] + usable[c] == goal and capped[c]]
    selection = select_faces(ranked, (goal - before).clip(lower=0).clip(upper=need).astype(int), convert=convert, vet=vet, **options)
    final = set(selection.surplus) | {r["dest"] for r in selection.rejected}
    final |= set(selection.added["dest"]) if len(selection.added) else set()
    selection.surplus += sorted(d for d, r in converted.items() if not r.get("error") and d not in final)
    return selection, goal, usable, limited_by


def _added_per_class(added: pd.DataFrame, classes: pd.Index) -> pd.Series:
    counts = added["label"].value_counts() if len(added) else pd.Series(dtype=int)
    return counts.reindex(classes, fill_value=0).astype(int)


def merge(
    target: pd.DataFrame,
    target_root: Path,
    candidates: pd.DataFrame,
    need: pd.Series,
    out_dir: Path,
    convert: Converter,
    *,
    overrides: dict[str, str] | None = None,
    threshold: int,
    seed: int = 0,
    only_split: str | None = None,
    margin: float = DEFAULT_MARGIN,
    hash_method: str = "phash",
    skipped: Counter | None = None,
    vet: Vetter | None = None,
    feasible: bool = False,
    trim_to: int | None = None,
    trim: bool = False,
) -> MergeResult:
    """Add AffectNet faces to ``target`` per ``need`` (images to add per class).

    ``vet`` turns doubted labels away; ``feasible`` lowers the goal to the highest count
    every class reaches (``need`` is then the most to add); ``trim`` drops the surplus of
    classes above that count, or above ``trim_to`` without ``feasible``.
    """
    classes = list(need.index)
    out_dir = Path(out_dir).resolve()
    before = class_counts(target, classes)
    ranked, skip_counts = prepare_candidates(candidates, classes, overrides or {}, out_dir, seed)
    skip_counts.update(skipped or {})
    present = {os.path.normpath(target_root / p) for p in target["path"]}
    merged_already = ranked["dest"].isin(present)
    skip_counts[ALREADY_MERGED] += int(merged_already.sum())
    ranked = ranked.loc[~merged_already]
    if not skip_counts[ALREADY_MERGED]:
        del skip_counts[ALREADY_MERGED]
    hashed = kept(target) & (target["phash"] != "")
    existing = (
        hex_to_uint64(target.loc[hashed, "phash"].tolist()),
        hex_to_uint64(target.loc[hashed, "phash_flip"].tolist()),
    )
    names = [str(target_root / p) for p in target.loc[hashed, "path"]]
    options = dict(
        existing=existing, size=target_size(target), threshold=threshold, margin=margin, hash_method=hash_method, existing_names=names
    )
    usable, limited_by = None, []
    if feasible:
        selection, trim_to, usable, limited_by = select_feasible(ranked, need, before, convert, vet, **options)
        need = (trim_to - before).clip(lower=0).clip(upper=need).astype(int)
    else:
        selection = select_faces(ranked, need, convert=convert, vet=vet, **options)
    skip_counts.update(selection.skipped)
    added = selection.added
    if added.empty:
        rows = normalise_frame(pd.DataFrame())
    else:
        splits = spread_splits(added["label"], added["dest"].map(lambda d: Path(d).name), split_ratios(target), seed, only_split)
        rows = new_rows(added, splits)
    frame = normalise_frame(pd.concat([target, rows], ignore_index=True)) if len(rows) else target
    plan = pd.DataFrame()
    if trim:
        if trim_to is None:
            raise ValueError("trim needs a target count (trim_to) or feasible=True")
        frame, plan = trim_surplus(frame, trim_to, seed)
    counts = pd.DataFrame({"before": before, "wanted": need.astype(int)})
    counts["available"] = ranked["label"].value_counts().reindex(classes, fill_value=0).astype(int)
    if usable is not None:
        counts["usable"] = usable
    counts["added"] = class_counts(rows, classes) if len(rows) else 0
    if trim:
        counts["trimmed"] = plan.sum(axis=1).reindex(classes, fill_value=0).astype(int)
    counts["after"] = class_counts(frame, classes)
    return MergeResult(
        frame, counts, skip_counts, added, selection.rejected, selection.surplus, target=trim_to, limited_by=limited_by, trimmed=plan
    )


def merge_affectnet(
    manifest: Manifest,
    affectnet: Path,
    out_dir: Path,
    *,
    layout: str | None = None,
    overrides: dict[str, str] | None = None,
    target: int | str | None = None,
    per_class: dict[str, int] | None = None,
    only_split: str | None = None,
    seed: int = 0,
    margin: float = DEFAULT_MARGIN,
    threshold: int = DEFAULT_THRESHOLD,
    trim: bool = False,
    check_labels: bool = False,
    jobs: int | None = None,
    on_progress: Progress | None = None,
    backend: Backend | None = None,
) -> MergeResult:
    """Balance ``manifest`` with AffectNet faces converted into ``out_dir``; the whole step.

    ``target`` None raises every class to the largest one's count, ``"feasible"`` to the
    highest count every class can reach with its usable faces, a number to that count;
    ``trim`` marks the surplus of classes above a feasible or numeric target ``drop``;
    ``check_labels`` turns away faces whose label a probe trained on ``manifest`` strongly
    doubts. ``per_class`` sets the number to add for the classes it names; ``overrides``
    change the name-based expression map (``{"contempt": "drop"}``). Converted faces this
    run does not use (spares and rejected faces) are deleted again, rejected ones kept in
    memory as ``face`` for the report; files of earlier runs are left alone.
    """
    affectnet, out_dir = Path(affectnet).resolve(), Path(out_dir).resolve()
    if trim and target is None:
        raise FercleanError("trim needs target 'feasible' or a number: with 'max' no class is above the target.")
    if not affectnet.is_dir():
        raise FercleanError(f"AffectNet folder {affectnet} does not exist or is not a folder.")
    # Its own earlier faces (source=affectnet) may live in out_dir; no other source image may.
    guard_output(out_dir, [*manifest.source_roots(exclude_source="affectnet"), affectnet], what="out_dir")
    hash_method = manifest.meta.get("hash", "phash")
    manifest = ensure_hashes(manifest, hash_method, jobs, on_progress, backend)
    frame = manifest.frame
    names = target_classes(frame)
    if only_split is not None and set(frame.loc[frame["status"] != "drop", "split"]) <= {""}:
        raise FercleanError(f"only_split {only_split} needs a dataset with splits; the target is a flat <class>/ tree.")
    if not names:
        raise FercleanError("The target manifest has no kept images, so there is nothing to balance.")
    unknown = sorted(set(per_class or {}) - set(names))
    if unknown:
        raise FercleanError(f"per_class names {', '.join(unknown)}; the dataset's classes are {', '.join(names)}.")
    need = quotas(class_counts(frame, names), None if target == FEASIBLE else target, per_class)
    candidates = read_candidates(affectnet, layout)
    vet = label_vetter(manifest, names, seed, jobs, on_progress, backend) if check_labels else None
    out_dir.mkdir(parents=True, exist_ok=True)
    earlier = {str(p) for p in out_dir.glob("affectnet_*.png")}
    result = merge(
        frame,
        manifest.root,
        candidates.frame,
        need,
        out_dir,
        lambda tasks: parallel_map(convert_face, tasks, "Converting faces", jobs, on_progress, backend),
        overrides=overrides,
        threshold=threshold,
        seed=seed,
        only_split=only_split,
        margin=margin,
        hash_method=hash_method,
        skipped=candidates.skipped,
        vet=vet,
        feasible=target == FEASIBLE,
        trim_to=target if isinstance(target, int) else None,
        trim=trim,
    )
    shown = [r for r in result.rejected if r["reason"] in (DUPLICATE, LABEL_DOUBTED)]
    for r in shown:
        r["face"] = _in_memory(r["dest"])
    for path in set(result.surplus + [r["dest"] for r in shown]) - earlier:
        Path(path).unlink(missing_ok=True)
    summary = {
        "affectnet": str(affectnet),
        "layout": candidates.layout,
        "out": str(out_dir),
        "seed": seed,
        "target": "max" if target is None else str(target),
        "target_count": result.target,
        "trim": trim,
        "check_labels": check_labels,
        "per_class": ",".join(f"{k}={v}" for k, v in (per_class or {}).items()),
        "map": ",".join(f"{k}={v}" for k, v in (overrides or {}).items()),
        "threshold": threshold,
        "margin": margin,
        "before": {k: int(v) for k, v in result.counts["before"].items()},
        "added": {k: int(v) for k, v in result.counts["added"].items()},
        "after": {k: int(v) for k, v in result.counts["after"].items()},
        "trimmed": {k: int(v) for k, v in result.counts["trimmed"].items()} if trim else {},
        "skipped": dict(result.skipped),
    }
    result.manifest = manifest.with_frame(result.frame, merge_affectnet=summary)
    result.layout, result.candidates = candidates.layout, len(candidates.frame)
    return result


def _in_memory(path: str) -> Image.Image | None:
    """A converted face, read before its file is deleted (None if it cannot be read)."""
    try:
        return open_gray(path)
    except UnreadableImage:
        return None
