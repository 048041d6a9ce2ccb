"""``ferclean stratify``: a leak-free, class-stratified re-split of a manifest."""

from __future__ import annotations

from pathlib import Path

import click
import numpy as np
import pandas as pd
from rich.table import Table

from ferclean.cli.common import check_outputs, command_line, load_input
from ferclean.cli.console import console
from ferclean.cli.options import FigurePath, Ratios, Split, classes_option, hash_option, jobs_option, output_option
from ferclean.labels import SPLITS
from ferclean.manifest import kept, write_manifest
from ferclean.render.plots import plot_splits
from ferclean.render.tables import distribution_table
from ferclean.stratify import Stratified, stratify as stratify_manifest

#: The issue's quality bar: every class within this many percentage points of its target.
DEVIATION_GOAL_PP = 0.5


@click.command()
@click.argument("source", metavar="MANIFEST_OR_DATASET", type=click.Path(path_type=Path))
@output_option()
@click.option("--ratios", type=Ratios(), default="80/10/10", show_default=True, help="train/val/test shares; 80/20 means no test.")
@click.option("--seed", type=int, default=42, show_default=True, help="Seed of the group order; same seed, same split.")
@click.option(
    "--keep-split",
    type=Split("--keep-split"),
    default=None,
    metavar="SPLIT",
    help="Leave this existing split (e.g. test) as it is, re-split the rest around it; duplicate groups"
    " touching it join it whole.",
)
@click.option(
    "--min-per-class",
    type=click.IntRange(min=0),
    default=0,
    show_default=True,
    help="Refuse a result where a split holds fewer images of some class.",
)
@click.option(
    "--plot",
    type=FigurePath("--plot"),
    default=None,
    help="Bar chart PNG to write [default: <output stem>_splits.png beside the output].",
)
@classes_option
@hash_option
@jobs_option
def stratify(
    source: Path,
    output: Path,
    ratios: dict[str, float],
    seed: int,
    keep_split: str | None,
    min_per_class: int,
    plot: Path | None,
    classes: str | None,
    hash_method: str,
    jobs: int | None,
) -> None:
    """Re-split every kept image of MANIFEST_OR_DATASET into train/val/test.

    Each class gets as close as possible to the target share in every split, and all
    members of a duplicate group (the `group` column from `ferclean dedupe`) land in the same
    split, so no duplicate leaks across splits. The result depends only on the seed, not on
    file order. Dropped images keep their split; the old split is kept in `orig_split`.

    \b
    Example:
      ferclean stratify manifests/fer2013-dedup.csv --ratios 80/10/10 --seed 42 -o manifests/fer2013-split.csv
      ferclean stratify manifests/fer2013-dedup.csv --ratios 80/10/10 --keep-split test -o manifests/keep-test.csv
    """
    plot_path = plot or output.with_name(f"{output.stem}_splits.png")
    outputs = {"-o": output, "--plot": plot_path}
    check_outputs(source, None, outputs)
    manifest = load_input(source, classes, hash_method, jobs)
    check_outputs(source, manifest, outputs)
    done = stratify_manifest(manifest, ratios, seed, keep_split, min_per_class)
    report = done.report
    plot_path = plot_splits(
        report.before, report.after, plot_path,
        title=f"Class share per split, ratios {_ratio_text(ratios)}, seed {seed}",
    )
    write_manifest(done.manifest, output, command=command_line())
    console.print(distribution_table(report.before, "Before: images per split and class"))
    console.print(distribution_table(report.after, "After: images per split and class"))
    alarm = max(DEVIATION_GOAL_PP, report.deviation_floor_pp + 1e-9)
    console.print(_deviation_rich(report.deviations, report.ratios, alarm))
    _print_summary(done, plot_path, output)


def _ratio_text(ratios: dict[str, float]) -> str:
    """``{"train": 0.8, "test": 0.2}`` -> ``80/0/20``, the form --ratios takes."""
    shares = [100 * ratios.get(split, 0.0) for split in SPLITS]
    while shares and shares[-1] == 0:
        shares.pop()
    return "/".join(f"{share:g}" for share in shares)


def _deviation_rich(deviations: pd.DataFrame, ratios: dict[str, float], alarm: float) -> Table:
    """The deviation per class and split; cells at or past ``alarm`` points in red."""
    total = sum(ratios.values())
    table = Table(title="Deviation from target, in percentage points")
    table.caption = "100 x (images of the class in the split / images of the class - split ratio)"
    table.add_column("class")
    for split in deviations.columns:
        table.add_column(f"{split} ({100 * ratios[split] / total:g}%)", justify="right")
    for label, row in deviations.iterrows():
        cells = []
        for value in row:
            style = "red" if abs(value) >= alarm else ""
            cells.append(f"[{style}]{value:+.2f}[/]" if style else f"{value:+.2f}")
        table.add_row(str(label), *cells)
    return table


def _print_summary(done: Stratified, plot_path: Path, output: Path) -> None:
    frame, result, report = done.manifest.frame, done.result, done.report
    table = Table(title="Stratify summary", show_header=False)
    table.add_column("what")
    table.add_column("value", justify="right")
    keep = kept(frame)
    table.add_row("kept images re-split", f"{int(result.assigned.sum()):,}")
    if result.keep_split:
        held = int((keep & (frame["split"] == result.keep_split)).sum())
        table.add_row(f"images in {result.keep_split} (--keep-split, pulled groups included)", f"{held:,}")
        table.add_row(
            f"duplicate groups pulled into {result.keep_split} (a member was already there)",
            f"{result.pulled_groups:,} groups, {result.pulled_rows:,} images",
        )
    table.add_row("dropped images (split untouched)", f"{int((~keep).sum()):,}")
    moved = keep & (frame["split"] != frame["orig_split"])
    table.add_row("kept images whose split changed", f"{int(moved.sum()):,}")
    worst, floor, leaks = report.max_deviation_pp, report.deviation_floor_pp, report.cross_split_groups
    colour = "green" if worst < max(DEVIATION_GOAL_PP, floor + 1e-9) else "red"
    table.add_row("largest class deviation from target", f"[{colour}]{worst:.3f} points[/]")
    table.add_row("  least reachable with whole images", f"{floor:.3f} points")
    table.add_row("duplicate groups across splits", f"[{'green' if leaks == 0 else 'red'}]{leaks}[/]")
    groups = frame.loc[keep, "group"].dropna()
    table.add_row("duplicate groups with kept members", f"{int(np.unique(groups).size):,}")
    console.print(table)
    console.print(f"Wrote [bold]{output}[/] ({len(frame):,} rows), {output.with_suffix('.json').name} and {plot_path}")
