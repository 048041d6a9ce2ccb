"""``ferclean merge-affectnet``: balance a dataset's classes with AffectNet faces."""

from __future__ import annotations

import textwrap
from pathlib import Path

import click
from PIL import Image, ImageDraw, ImageFont
from rich.table import Table

from ferclean.affectnet.convert import DEFAULT_MARGIN
from ferclean.affectnet.label_check import MAX_GIVEN, MIN_OTHER
from ferclean.affectnet.layouts import LAYOUTS
from ferclean.affectnet.merge import (
    DUPLICATE,
    LABEL_DOUBTED,
    MergeResult,
    merge_affectnet as merge_faces,
    target_classes,
    target_size,
)
from ferclean.cli.common import check_outputs, command_line, load_input, save
from ferclean.cli.console import console, progress
from ferclean.cli.options import (
    MAP_FORM,
    PER_CLASS_FORM,
    Assignments,
    Split,
    Target,
    backend_options,
    classes_option,
    jobs_option,
    output_option,
    parse_map,
    parse_per_class,
    threshold_option,
)
from ferclean.labels import SPLITS
from ferclean.parallel import Backend
from ferclean.render.contact_sheet import contact_sheet
from ferclean.render.tables import distribution_table, split_class_counts


@click.command()
@click.option(
    "--affectnet", "affectnet", required=True, type=click.Path(path_type=Path), help="AffectNet folder (any layout)."
)
@click.option(
    "--into", "into", required=True, metavar="MANIFEST_OR_DATASET", type=click.Path(path_type=Path),
    help="The dataset to balance: a manifest .csv or a dataset folder.",
)
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False, path_type=Path), help="Folder for the new face images.")
@output_option()
@click.option("--layout", type=click.Choice(LAYOUTS), default=None, help="Force an AffectNet layout [default: detected].")
@click.option("--map", "map_text", type=Assignments("--map", MAP_FORM), default=None, metavar="EXPR=CLASS,...", help="Override the name-based map, e.g. contempt=drop,disgust=angry.")
@click.option(
    "--target", type=Target(), default="max", show_default=True, metavar="max|feasible|N",
    help="Raise every class to the largest class's count, to the highest count every class can reach (feasible), or to N.",
)
@click.option("--trim", is_flag=True, help="Bring classes above the target down to it (status=drop, training images first).")
@click.option(
    "--check-labels", is_flag=True,
    help=f"Turn away faces whose AffectNet label a probe trained on the dataset strongly doubts (p(label) < {MAX_GIVEN}, another >= {MIN_OTHER}).",
)
@click.option("--per-class", type=Assignments("--per-class", PER_CLASS_FORM), default=None, metavar="CLASS=N,...", help="Images to add for the named classes, e.g. happy=0,surprise=1700.")
@click.option("--only-split", type=Split("--only-split"), default=None, metavar="SPLIT", help="Put every new face in this split instead of spreading them.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the choice and the split spread.")
@click.option("--margin", type=click.FloatRange(0, 1), default=DEFAULT_MARGIN, show_default=True, help="Room around a face box, per side, as a fraction of the box.")
@threshold_option("Hamming distance (bits) at which a face counts as a duplicate.")
@click.option("--samples", type=click.IntRange(0, 30), default=8, show_default=True, help="Faces per class on the contact sheet.")
@classes_option
@jobs_option
@backend_options
def merge_affectnet(
    affectnet: Path,
    into: Path,
    out_dir: Path,
    output: Path,
    layout: str | None,
    map_text: list[tuple[str, str]] | None,
    target: int | str | None,
    trim: bool,
    check_labels: bool,
    per_class: list[tuple[str, str]] | None,
    only_split: str | None,
    seed: int,
    margin: float,
    threshold: int,
    samples: int,
    classes: str | None,
    jobs: int | None,
    backend: Backend,
) -> None:
    """Balance the classes of a dataset with faces from AffectNet.

    Reads any AffectNet layout (official CSV with face boxes, the YOLO release, train_set
    images + _exp.npy, one folder per class, named or numbered with the official codes
    0 Neutral .. 7 Contempt), maps its expressions onto the dataset's
    classes by name (codes 8-10 None/Uncertain/No-Face are skipped), and converts the faces
    it needs like the dataset's own: cropped to the face box with a margin, grey, resized
    to the dataset's image size. Faces that duplicate the dataset or each other are
    replaced by further candidates. New images go to --out as affectnet_<stem>.png; they
    are spread over the splits in the dataset's ratios (stratified by class) and marked
    source=affectnet in the output manifest. A contact sheet NAME-affectnet.png beside the
    manifest shows sample additions per class and the faces that were turned away.

    When AffectNet runs short, --target feasible aims at the highest count every class can
    reach with its usable faces, and --trim marks the surplus of larger classes
    status=drop ("trimmed to balance"; lowest label_quality first, training images before
    val and test), so the classes end exactly equal. --check-labels trains the mislabel
    fast probe on the dataset's kept images and turns away faces whose AffectNet label it
    strongly doubts, taking the next candidates instead.

    \b
    Example:
      ferclean merge-affectnet --affectnet ../shared/data/affectnet-yolo-sample \\
          --into manifests/fer4.csv --out data/affectnet48 -o manifests/fer4-balanced.csv
      ferclean merge-affectnet --affectnet AffectNet --into manifests/fer.csv --out data/an \\
          --per-class happy=0,surprise=1700 --map contempt=drop --only-split train -o manifests/fer-an.csv
      ferclean merge-affectnet --affectnet ../shared/data/affectnet-yolo-sample --into manifests/fer4.csv \
          --out data/affectnet48 --target feasible --trim --check-labels -o manifests/fer4-equal.csv
    """
    # The new faces are the only files merge writes into a folder; its own earlier faces (source=affectnet) may live there.
    outputs = {"-o": output, "--out": out_dir, "contact sheet": _sheet_path(output)}
    # The faces land as converted: the merge reads them back (a rerun reuses them).
    check_outputs(into, None, outputs, extra_roots=(affectnet,), immediate=("--out",))
    manifest = load_input(into, classes, jobs=jobs, backend=backend)
    check_outputs(into, manifest, outputs, extra_roots=(affectnet,), exclude_source="affectnet", immediate=("--out",))
    names = target_classes(manifest.frame)
    console.print(distribution_table(split_class_counts(manifest.frame), "Images per split and class before merging"))
    with progress() as on_progress:
        result = merge_faces(
            manifest, affectnet, out_dir, layout=layout, overrides=parse_map(map_text, names), target=target,
            per_class=parse_per_class(per_class, names), only_split=only_split, seed=seed, margin=margin,
            threshold=threshold, trim=trim, check_labels=check_labels, jobs=jobs, on_progress=on_progress,
            backend=backend,
        )
    console.print(
        f"AffectNet: {result.candidates:,} faces in the [bold]{result.layout}[/] layout;"
        f" target: {len(manifest.frame):,} images, classes {', '.join(names)},"
        f" size {'x'.join(map(str, target_size(result.frame)))}"
    )
    _report(result, Path(affectnet).resolve(), result.manifest.root)
    sheet = _sheet(result, output, samples)
    save(result.manifest, output, command_line(), "Images per split and class after merging")
    if sheet:
        console.print(f"Contact sheet of sample additions: [bold]{sheet}[/]")


def _relative(path: str, roots: dict[str, Path]) -> str:
    """``path`` under the first root that holds it, as ``NAME/rest``; else in full."""
    for name, root in roots.items():
        if Path(path).is_relative_to(root):
            return f"{name}/{Path(path).relative_to(root)}"
    return str(path)


def _report(result: MergeResult, affectnet: Path, target_root: Path) -> None:
    counts = result.counts
    if "usable" in counts:
        short = ", ".join(
            f"{label} ({int(counts.at[label, 'before']):,} + {int(counts.at[label, 'usable']):,} usable)" for label in result.limited_by
        )
        console.print(f"Feasible target: [bold]{result.target:,}[/] images per class, limited by {short}.")
    table = Table(title="AffectNet faces per class")
    columns = [c for c in ("before", "wanted", "available", "usable", "added", "trimmed", "after") if c in counts]
    table.add_column("class")
    for column in columns:
        table.add_column(column, justify="right")
    for label, row in counts.iterrows():
        cells = [f"{int(row[c]):,}" for c in columns]
        if row["added"] < row["wanted"]:
            cells[columns.index("added")] = f"[yellow]{cells[columns.index('added')]}[/]"
        table.add_row(str(label), *cells)
    after = counts["after"]
    spread = (after.max() - after.min()) / max(after.max(), 1)
    table.caption = f"after: largest - smallest class = {100 * spread:.2f}% of the largest"
    console.print(table)
    if any(counts["added"] < counts["wanted"]):
        console.print("[yellow]Some classes could not be filled: AffectNet has too few usable, non-duplicate faces of them.")
    added = split_class_counts(result.frame[result.frame["source"] == "affectnet"])
    if not added.empty:
        console.print(distribution_table(added, "Added faces per split and class"))
    if not result.trimmed.empty and result.trimmed.to_numpy().sum():
        trimmed = result.trimmed.loc[result.trimmed.sum(axis=1) > 0]
        splits = [s for s in SPLITS if s in trimmed.columns] + sorted(set(trimmed.columns) - set(SPLITS))
        table = Table(title=f"Images trimmed to {result.target:,} per class (status=drop, not deleted)")
        table.add_column("class")
        for split in splits:
            table.add_column(split or "(no split)", justify="right")
        table.add_column("total", justify="right")
        for label, row in trimmed.iterrows():
            table.add_row(str(label), *(f"{int(row[s]):,}" for s in splits), f"{int(row.sum()):,}")
        console.print(table)
    if result.skipped:
        skipped = Table(title="AffectNet faces not added")
        skipped.add_column("reason")
        skipped.add_column("faces", justify="right")
        for reason, count in sorted(result.skipped.items()):
            skipped.add_row(reason, f"{count:,}")
        console.print(skipped)
    doubted = [r for r in result.rejected if r["reason"] == LABEL_DOUBTED]
    if doubted:
        table = Table(title=f"{len(doubted)} face(s) whose AffectNet label the probe doubts, turned away and replaced")
        for column in ("AffectNet label", "faces", "probe's class (most)"):
            table.add_column(column, justify="left" if column != "faces" else "right")
        by_label: dict[str, list[str]] = {}
        for r in doubted:
            by_label.setdefault(r["label"], []).append(r["probe_label"])
        for label, probe_labels in sorted(by_label.items()):
            common = max(sorted(set(probe_labels)), key=probe_labels.count)
            table.add_row(label, f"{len(probe_labels):,}", f"{common} ({probe_labels.count(common)})")
        console.print(table)
    duplicates = [r for r in result.rejected if r["reason"] == DUPLICATE]
    if duplicates:
        roots = {"affectnet": affectnet, "dataset": target_root.resolve(), "out": Path(duplicates[0]["dest"]).parent}
        table = Table(title=f"{len(duplicates)} duplicate face(s) rejected and replaced")
        table.add_column("AffectNet image", overflow="fold")
        table.add_column("duplicate of", overflow="fold")
        for r in duplicates[:10]:
            table.add_row(_relative(r["source"], roots), _relative(str(r["duplicate_of"]), roots))
        table.caption = "".join(
            [f"... and {len(duplicates) - 10} more; " if len(duplicates) > 10 else "",
             "; ".join(f"{name} = {root}" for name, root in roots.items())]
        )
        console.print(table)


def _label_cell(text: str, size: int = 96) -> Image.Image:
    """A thumbnail-sized tile naming a contact-sheet row."""
    tile = Image.new("L", (size, size), 235)
    draw = ImageDraw.Draw(tile)
    lines = textwrap.wrap(text, 14, break_on_hyphens=False)[:6]
    for k, line in enumerate(lines):
        draw.text((4, size // 2 - 6 * len(lines) + 12 * k), line, fill=0, font=ImageFont.load_default())
    return tile


def _sheet(result: MergeResult, output: Path, samples: int) -> Path | None:
    """Sample additions, one row per class named at its start; then faces turned away for
    their label (caption: what the probe thinks), then duplicates beside what they duplicate."""
    doubted = [r for r in result.rejected if r["reason"] == LABEL_DOUBTED]
    if (result.added.empty and not doubted) or samples == 0:
        return None
    rows = []
    if not result.added.empty:
        for label, group in result.added.groupby("label", sort=False):
            cells = [(Path(r["dest"]), Path(r["key"]).stem) for r in group.head(samples).to_dict("records")]
            rows.append([(_label_cell(f"{label} (added)"), ""), *cells])
    title = "AffectNet additions per class"
    if doubted:
        for label in sorted({r["label"] for r in doubted}):
            picked = [r for r in doubted if r["label"] == label][:samples]
            cells = [(_face(r), f"{r['probe_label']} {r['p_probe']:.2f}") for r in picked]
            rows.append([(_label_cell(f"{label} rejected: label doubted"), ""), *cells])
        title += "; rejected rows: caption = the probe's class and probability"
    duplicates = [r for r in result.rejected if r["reason"] == DUPLICATE][: max(1, samples // 2)]
    if duplicates:
        cells = [
            cell for r in duplicates for cell in ((_face(r), Path(r["key"]).stem), (Path(r["duplicate_of"]), Path(r["duplicate_of"]).name))
        ]
        rows.append([(_label_cell("duplicate, then what it duplicates"), ""), *cells])
    return contact_sheet(rows, _sheet_path(output), title=title)


def _sheet_path(output: Path) -> Path:
    return output.with_name(f"{output.stem}-affectnet.png")


def _face(rejected: dict) -> Path | Image.Image:
    """A rejected face as kept in memory (its file is gone), else its path."""
    face = rejected.get("face")
    return face if face is not None else Path(rejected["dest"])
