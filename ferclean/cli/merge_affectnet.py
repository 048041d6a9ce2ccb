"""``ferclean merge-affectnet``: balance a dataset's classes with AffectNet faces."""

from __future__ import annotations

from pathlib import Path

import click
from rich.table import Table

from ferclean.affectnet.convert import DEFAULT_MARGIN
from ferclean.affectnet.layouts import LAYOUTS
from ferclean.affectnet.merge import DUPLICATE, MergeResult, merge_affectnet as merge_faces, target_classes, target_size
from ferclean.cli.common import command_line, load_input, save
from ferclean.cli.console import console, progress
from ferclean.cli.options import (
    MAP_FORM,
    PER_CLASS_FORM,
    Assignments,
    Split,
    Target,
    classes_option,
    jobs_option,
    output_option,
    parse_map,
    parse_per_class,
)
from ferclean.dedupe.resolve import DEFAULT_THRESHOLD
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
@click.option("--target", type=Target(), default="max", show_default=True, metavar="max|N", help="Raise every class to the largest class's count, or to N.")
@click.option("--per-class", type=Assignments("--per-class", PER_CLASS_FORM), default=None, metavar="CLASS=N,...", help="Images to add for the named classes, e.g. happy=0,surprise=1700.")
@click.option("--only-split", type=Split("--only-split"), default=None, metavar="SPLIT", help="Put every new face in this split instead of spreading them.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the choice and the split spread.")
@click.option("--margin", type=click.FloatRange(0, 1), default=DEFAULT_MARGIN, show_default=True, help="Room around a face box, per side, as a fraction of the box.")
@click.option("--threshold", type=click.IntRange(0, 64), default=DEFAULT_THRESHOLD, show_default=True, help="Hamming distance (bits) at which a face counts as a duplicate.")
@click.option("--samples", type=click.IntRange(0, 30), default=8, show_default=True, help="Faces per class on the contact sheet.")
@classes_option
@jobs_option
def merge_affectnet(
    affectnet: Path,
    into: Path,
    out_dir: Path,
    output: Path,
    layout: str | None,
    map_text: list[tuple[str, str]] | None,
    target: int | None,
    per_class: list[tuple[str, str]] | None,
    only_split: str | None,
    seed: int,
    margin: float,
    threshold: int,
    samples: int,
    classes: str | None,
    jobs: int | None,
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
    manifest shows sample additions per class and the duplicates that were turned away.

    \b
    Example:
      ferclean merge-affectnet --affectnet ../shared/data/affectnet-yolo-sample \\
          --into manifests/fer4.csv --out data/affectnet48 -o manifests/fer4-balanced.csv
      ferclean merge-affectnet --affectnet AffectNet --into manifests/fer.csv --out data/an \\
          --per-class happy=0,surprise=1700 --map contempt=drop --only-split train -o manifests/fer-an.csv
    """
    manifest = load_input(into, classes, jobs=jobs)
    names = target_classes(manifest.frame)
    console.print(distribution_table(split_class_counts(manifest.frame), "Images per split and class before merging"))
    with progress() as on_progress:
        result = merge_faces(
            manifest, affectnet, out_dir, layout=layout, overrides=parse_map(map_text, names), target=target,
            per_class=parse_per_class(per_class, names), only_split=only_split, seed=seed, margin=margin,
            threshold=threshold, jobs=jobs, on_progress=on_progress,
        )
    console.print(
        f"AffectNet: {result.candidates:,} faces in the [bold]{result.layout}[/] layout;"
        f" target: {len(manifest.frame):,} images, classes {', '.join(names)},"
        f" size {'x'.join(map(str, target_size(result.frame)))}"
    )
    _report(result)
    sheet = _sheet(result, output, samples)
    save(result.manifest, output, command_line(), "Images per split and class after merging")
    if sheet:
        console.print(f"Contact sheet of sample additions: [bold]{sheet}[/]")


def _report(result: MergeResult) -> None:
    counts = result.counts
    table = Table(title="AffectNet faces per class")
    for column in ("class", "before", "wanted", "available", "added", "after"):
        table.add_column(column, justify="left" if column == "class" else "right")
    for label, row in counts.iterrows():
        short = row["added"] < row["wanted"]
        table.add_row(
            str(label), *(f"{int(row[c]):,}" for c in ("before", "wanted", "available")),
            f"[yellow]{int(row['added']):,}[/]" if short else f"{int(row['added']):,}", f"{int(row['after']):,}",
        )
    after = counts["after"]
    spread = (after.max() - after.min()) / max(after.max(), 1)
    table.caption = f"after: largest - smallest class = {100 * spread:.2f}% of the largest"
    console.print(table)
    if any(counts["added"] < counts["wanted"]):
        console.print("[yellow]Some classes could not be filled: AffectNet has too few usable, non-duplicate faces of them.")
    added = split_class_counts(result.frame[result.frame["source"] == "affectnet"])
    if not added.empty:
        console.print(distribution_table(added, "Added faces per split and class"))
    if result.skipped:
        skipped = Table(title="AffectNet faces not added")
        skipped.add_column("reason")
        skipped.add_column("faces", justify="right")
        for reason, count in sorted(result.skipped.items()):
            skipped.add_row(reason, f"{count:,}")
        console.print(skipped)
    duplicates = [r for r in result.rejected if r["reason"] == DUPLICATE]
    if duplicates:
        table = Table(title=f"{len(duplicates)} duplicate face(s) rejected and replaced")
        table.add_column("AffectNet image")
        table.add_column("duplicate of")
        for r in duplicates[:10]:
            table.add_row(r["key"], str(r["duplicate_of"]))
        if len(duplicates) > 10:
            table.caption = f"... and {len(duplicates) - 10} more"
        console.print(table)


def _sheet(result: MergeResult, output: Path, samples: int) -> Path | None:
    """Sample additions, one row per class, then rejected duplicates beside what they duplicate."""
    if result.added.empty or samples == 0:
        return None
    groups = list(result.added.groupby("label", sort=False))
    rows = [[(Path(r["dest"]), Path(r["key"]).stem) for r in group.head(samples).to_dict("records")] for _, group in groups]
    title = f"AffectNet additions, one row per class: {', '.join(str(label) for label, _ in groups)}"
    duplicates = [r for r in result.rejected if r["reason"] == DUPLICATE][: max(1, samples // 2)]
    if duplicates:
        rows.append(
            [cell for r in duplicates for cell in ((Path(r["dest"]), Path(r["key"]).stem), (Path(r["duplicate_of"]), Path(r["duplicate_of"]).name))]
        )
        title += "; last row: rejected duplicate, then what it duplicates"
    return contact_sheet(rows, output.with_name(f"{output.stem}-affectnet.png"), title=title)
