"""``ferclean stratify``: a leak-free, class-stratified re-split of a manifest."""

from __future__ import annotations

from pathlib import Path

import click
import numpy as np
import pandas as pd
from rich.table import Table

from ferclean.cli.common import (
    check_outputs,
    classes_option,
    command_line,
    hash_option,
    jobs_option,
    load_input,
    output_option,
    parsed_by,
)
from ferclean.console import console
from ferclean.errors import FercleanError
from ferclean.manifest import effective_labels, kept, write_manifest
from ferclean.split_plot import plot_name, plot_splits
from ferclean.stratify import (
    check_min_per_class,
    cross_split_groups,
    deviation_floor,
    deviation_table,
    max_deviation,
    parse_ratios,
    StratifyResult,
    stratify_frame,
)
from ferclean.tables import distribution_table, split_class_counts

#: The issue's quality bar: every class within this many percentage points of its target.
DEVIATION_GOAL_PP = 0.5


@click.command()
@click.argument("source", metavar="MANIFEST_OR_DATASET", type=click.Path(path_type=Path))
@output_option()
@click.option(
    "--ratios", default="80/10/10", show_default=True, callback=parsed_by(parse_ratios),
    help="train/val/test shares; 80/20 means no test.",
)
@click.option("--seed", type=int, default=42, show_default=True, help="Seed of the group order; same seed, same split.")
@click.option(
    "--keep-split",
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
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    callback=parsed_by(plot_name),
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
    target = ratios
    shares = "/".join(f"{100 * r:g}" for r in ratios.values())
    plot_path = plot or output.with_name(f"{output.stem}_splits.png")
    outputs = {"-o": output, "--plot": plot_path}
    check_outputs(source, None, outputs)
    manifest = load_input(source, classes, hash_method, jobs)
    check_outputs(source, manifest, outputs)
    result = stratify_frame(manifest.frame, target, seed, keep_split)
    frame = result.frame
    splits = list(dict.fromkeys([*target, *([result.keep_split] if result.keep_split else [])]))
    check_min_per_class(frame, splits, min_per_class)
    leaks = cross_split_groups(frame)
    if leaks:
        raise FercleanError(f"Internal error: {leaks} duplicate group(s) would straddle splits; nothing was written.")

    assigned = result.assigned.to_numpy()
    resplit_ratios = {s: r for s, r in target.items() if s != result.keep_split}
    deviations = deviation_table(effective_labels(frame)[assigned], frame["split"][assigned], resplit_ratios)
    worst = max_deviation(deviations)
    floor = deviation_floor(effective_labels(frame)[assigned], resplit_ratios)
    before, after = split_class_counts(manifest.frame), split_class_counts(frame)
    plot_splits(before, after, plot_path, title=f"Class share per split, ratios {shares}, seed {seed}")

    stats = {
        "ratios": target,
        "seed": seed,
        "keep_split": result.keep_split,
        "max_deviation_pp": round(worst, 4),
        "deviation_floor_pp": round(floor, 4),
        "cross_split_groups": leaks,
    }
    write_manifest(manifest.with_frame(frame, stratify=stats), output, command=command_line())

    console.print(distribution_table(before, "Before: images per split and class"))
    console.print(distribution_table(after, "After: images per split and class"))
    console.print(_deviation_rich(deviations, resplit_ratios, max(DEVIATION_GOAL_PP, floor + 1e-9)))
    _print_summary(frame, result, (worst, floor), leaks, plot_path, output)


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


def _print_summary(
    frame: pd.DataFrame,
    result: StratifyResult,
    deviation: tuple[float, float],
    leaks: int,
    plot_path: Path,
    output: Path,
) -> None:
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
    worst, floor = deviation
    colour = "green" if worst < max(DEVIATION_GOAL_PP, floor + 1e-9) else "red"
    table.add_row("largest class deviation from target", f"[{colour}]{worst:.3f} points[/]")
    table.add_row("  least reachable with whole images", f"{floor:.3f} points")
    table.add_row("duplicate groups across splits", f"[{'green' if leaks == 0 else 'red'}]{leaks}[/]")
    groups = frame.loc[keep, "group"].dropna()
    table.add_row("duplicate groups with kept members", f"{int(np.unique(groups).size):,}")
    console.print(table)
    console.print(f"Wrote [bold]{output}[/] ({len(frame):,} rows), {output.with_suffix('.json').name} and {plot_path}")
