"""``ferclean clean``: scan, dedupe, review labels, apply the automatic policy, re-split: one command."""

from __future__ import annotations

from pathlib import Path

import click
import pandas as pd
from rich.table import Table

from ferclean.clean import CLEAN_DEDUPE, RELABEL_MIN, CleanResult, Policy, class_changes, clean as clean_dataset
from ferclean.cli.common import check_outputs, command_line, load_input_and_pixels, note_resume, save
from ferclean.cli.console import console, progress
from ferclean.cli.options import Ratios, backend_options, classes_option, jobs_option, output_option
from ferclean.dedupe import BASE
from ferclean.dedupe.report import write_report as write_dedupe_report
from ferclean.mislabel.probe import PROBES, needs_cnn
from ferclean.outputs import write_csv
from ferclean.parallel import Backend
from ferclean.report import write_report_of

#: Rows of the change listing printed by --dry-run (the change table lists them all).
DRY_RUN_ROWS = 20


@click.command()
@click.argument("source", metavar="DATASET_OR_MANIFEST", type=click.Path(path_type=Path))
@output_option()
@click.option("--probe", type=click.Choice(PROBES), default="fast", show_default=True,
              help="Label probe (see mislabel-review): fast takes about a minute on FER2013, cnn about 8 minutes on"
                   " two cores and ensemble about 40; they find more real errors, though on FER2013 the cnn probe's"
                   " curation trained no better model than the fast one's (README, Does curation pay?).")
@click.option("--ratios", type=Ratios(), default=None,
              help="Re-split the kept images leak-free in these train/val/test shares (e.g. 80/10/10).")
@click.option("--keep-splits", "keep_splits", is_flag=True, default=False,
              help="Keep the dataset's own splits (the default; a leak is fixed by dropping the training copy).")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the probe and the re-split.")
@click.option("--relabel-min", type=click.FloatRange(0.0, 1.0), default=None,
              help="Policy strength: relabel a flagged training image when the probe gives its suggestion at least"
                   " this probability; lower changes more labels [default: "
                   + ", ".join(f"{p:g} for {name}" for name, p in RELABEL_MIN.items()) + "].")
@click.option("--rare-relabel-min", type=click.FloatRange(0.0, 1.0), default=Policy.rare_relabel_min, show_default=True,
              help="The probability needed to move an image out of a rare class (under 5 % of the training images).")
@click.option("--dedupe", "dedupe_policy", type=click.Choice(CLEAN_DEDUPE), default=Policy.dedupe, show_default=True,
              help="keep-one: one copy per duplicate group; leaks: each exact copy once and no copy across splits,"
                   " a face's re-crops within a split kept.")
@click.option("--soft-labels/--no-soft-labels", default=Policy.soft_labels, show_default=True,
              help="Write the probe's class distribution of each training image in a soft_label column, which"
                   " `ferclean train` learns from (blended with the label). Off by default: with the cnn probe"
                   " as teacher it cost a point of accuracy on FER2013 (README, Does curation pay?).")
@click.option("--drop-unsure", is_flag=True, help="Drop flagged training images the policy does not relabel (default: keep them).")
@click.option("--probs", "probs_path", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Reuse a probe's probs.npy from an earlier run (matched by path) instead of training it again.")
@click.option("--report-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Report folder: report.html, changes.csv, dedupe/, review/ [default: <output stem>_clean/].")
@click.option("--resume", is_flag=True,
              help="Continue an interrupted cnn or ensemble probe after its last finished epoch or fold (kept in the"
                   " report folder).")
@click.option("--dry-run", is_flag=True, help="Run every stage and print what would change; write nothing.")
@classes_option
@jobs_option
@backend_options
def clean(
    source: Path, output: Path, probe: str, ratios: dict[str, float] | None, keep_splits: bool, seed: int,
    relabel_min: float | None, rare_relabel_min: float, dedupe_policy: str, soft_labels: bool, drop_unsure: bool, probs_path: Path | None, report_dir: Path | None,
    resume: bool, dry_run: bool, classes: str | None, jobs: int | None, backend: Backend,
) -> None:
    """Clean a dataset in one go: scan (with quality checks), dedupe, review labels with a probe,
    apply the automatic policy, and optionally re-split leak-free.

    \b
    The policy, chosen on FER2013's training votes:
    - duplicates (--dedupe leaks): each exact copy stays once, and no face is shared by two
      splits (a test copy is kept before val before train, so a leak is fixed by dropping the
      training copy); a face's re-crops within one split stay; groups whose copies disagree go
      to review (--dedupe keep-one keeps one copy per group);
    - labels: a training image the probe flags is relabelled to its suggestion when the probe
      gives it p >= --relabel-min (0.4, where the relabels fix the most labels net of those they
      break, for every probe); out of a rare class (under 5 % of the training images,
      e.g. disgust) only at p >= --rare-relabel-min (0.7); the rest keep their label (or are
      dropped with --drop-unsure); validation and test flags stay for a person;
    - soft labels, with --soft-labels: each kept training image gets the probe's class
      distribution in soft_label, which `ferclean train` blends with the label (0.3 label +
      0.7 probe, the blend closest to FER2013's annotator votes; off by default, as it did
      not pay with the cnn probe);
    - the probe learns from the training labels only, so no validation or test label reaches
      the relabels or the soft labels;
    - invalid images (blank, text, icons, not a face) and unreadable files: as scan marks them.
    Every changed row says why in `note`; changes.csv lists them, report.html shows them.

    \b
    Example:
      ferclean clean ../shared/data/fer2013 -o manifests/fer2013-clean.csv
      ferclean clean ../shared/data/fer2013 --probe ensemble --ratios 80/10/10 -o manifests/fer2013-clean.csv
      ferclean clean manifests/fer2013.csv --dry-run -o manifests/unused.csv
    """
    if ratios is not None and keep_splits:
        raise click.UsageError("--ratios and --keep-splits exclude each other: re-split, or keep the splits.")
    report_dir = report_dir or output.with_name(output.stem + "_clean")
    outputs = {} if dry_run else {"-o": output, "--report-dir": report_dir}
    check_outputs(source, None, outputs, (probs_path,))
    manifest, pixels = load_input_and_pixels(source, classes, jobs=jobs, backend=backend, invalid="review", keep_pixels=BASE)
    check_outputs(source, manifest, outputs, (probs_path,))
    policy = Policy(relabel_min=relabel_min, rare_relabel_min=rare_relabel_min,
                    drop_unsure=drop_unsure, dedupe=dedupe_policy, soft_labels=soft_labels)
    build_cnn = None
    if needs_cnn(probe) and probs_path is None:
        from ferclean_train.models import PROBE_CNNS as build_cnn

        if not dry_run:
            note_resume("the same command and --resume")
    with progress() as on_progress:
        result = clean_dataset(manifest, probe, policy, ratios, seed, probs_path, build_cnn, pixels,
                               None if dry_run else report_dir / "review", jobs, on_progress, backend, resume)
    _print_summary(result)
    if dry_run:
        _print_changes(result.changes)
        console.print("Dry run: nothing written.")
        return
    write_dedupe_report(result.dedupe, report_dir / "dedupe")
    write_csv(report_dir / "changes.csv", result.changes)
    save(result.manifest, output, command_line(), title="Images per split and class after clean (status != drop)")
    with progress() as on_progress:
        write_report_of(result.manifest, output, report_dir / "report.html", probs=result.review.saved,
                        folders={"dedupe": report_dir / "dedupe", "review": report_dir / "review"}, on_progress=on_progress)
    console.print(f"Report in [bold]{report_dir}/[/]: report.html, changes.csv, dedupe/, review/")


def _print_summary(result: CleanResult) -> None:
    table = Table(title="What clean changed, per class (kept images)")
    changes = class_changes(result.before, result.manifest.frame)
    table.add_column("class")
    for column in changes.columns:
        table.add_column(column, justify="right")
    for name, row in changes.iterrows():
        table.add_row(str(name), *[f"{int(v):,}" for v in row])
    totals = changes.sum()
    table.add_row("total", *[f"{int(v):,}" for v in totals], style="bold")
    counts = result.changes.groupby(["reason", "status"]).size()
    table.caption = "; ".join(f"{reason} -> {status}: {n:,}" for (reason, status), n in counts.items()) or "nothing changed"
    console.print(table)


def _print_changes(changes: pd.DataFrame) -> None:
    table = Table(title=f"Would change {len(changes):,} row(s) (first {min(len(changes), DRY_RUN_ROWS)})")
    for column in ("path", "split", "label", "status", "new_label", "reason"):
        table.add_column(column)
    for row in changes.head(DRY_RUN_ROWS).itertuples():
        table.add_row(row.path, row.split, row.label, row.status, row.new_label, row.reason)
    console.print(table)
