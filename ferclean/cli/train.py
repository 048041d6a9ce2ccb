"""``ferclean train``: train a CNN on a manifest (``ferclean_train`` does the work)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click
from rich.table import Table

from ferclean.cli.common import check_outputs, claim_output, command_line, load_input, manifest_stem, note_resume
from ferclean.cli.options import classes_option, jobs_option
from ferclean.cli.console import console, err_console, progress
from ferclean.errors import FercleanError
from ferclean.render.tables import distribution_table, metrics_table, split_class_counts
from ferclean_train.config import MONITORS, TrainConfig
from ferclean_train.hparams import ARCHS, LOSSES, SCHEDULES

ARCH_DEFAULT = "the arch's default"
#: The library's defaults are the command's defaults.
DEFAULTS = TrainConfig()


def _number_list(item: click.ParamType) -> Callable[[click.Context, click.Parameter, str | None], tuple | None]:
    """A callback parsing ``a,b,c`` with ``item`` (a click type, so its range is checked per number)."""

    def parse(ctx: click.Context, param: click.Parameter, value: str | None) -> tuple | None:
        if value is None:
            return None
        try:
            return tuple(item.convert(part.strip(), param, ctx) for part in value.split(","))
        except click.BadParameter as exc:
            raise click.BadParameter(f"in {value!r}: {exc.message}") from None

    return parse


POSITIVE = click.FloatRange(min=0, min_open=True)
NON_NEGATIVE = click.FloatRange(min=0)
FRACTION = click.FloatRange(0, 1, max_open=True)


def _hparam(flag: str, kind: Any, help_text: str, **kwargs: Any) -> Callable:
    return click.option(flag, type=kind, default=None, help=f"{help_text} [default: {ARCH_DEFAULT}]", **kwargs)


TRAIN_OPTIONS = [
    click.option("--manifest", "-m", "manifest_path", type=click.Path(path_type=Path), help="Manifest .csv or dataset folder to train on."),
    click.option("--arch", type=click.Choice(ARCHS), default=None, help="Model architecture [default: bpp with a GPU, compact without]."),
    click.option("--max-minutes", type=click.FloatRange(min=0, min_open=True), default=None,
                 help="Wall-clock budget: time a few steps, then train the epochs that fit, schedule included."),
    click.option("--image-size", type=click.IntRange(min=16), default=DEFAULTS.image_size, show_default=True, help="Input side in pixels (48 or 96)."),
    click.option("--batch-size", type=click.IntRange(min=1), default=DEFAULTS.batch_size, show_default=True),
    click.option("--epochs", type=click.IntRange(min=1), default=None, help=f"Maximum epochs [default: {DEFAULTS.epochs}; with --resume: the run's]."),
    click.option("--seed", type=int, default=DEFAULTS.seed, show_default=True, help="Seed of weights, shuffling, augmentation and folds."),
    click.option("--class-weights/--no-class-weights", default=None, help="Balance the loss by class frequency [default: on, off for compact]."),
    click.option("--mixup", type=click.FloatRange(min=0), default=DEFAULTS.mixup, show_default=True, help="Mixup Beta alpha on training batches (0: off)."),
    click.option("--soft-labels/--no-soft-labels", default=DEFAULTS.soft_labels, show_default=True,
                 help="Learn from the manifest's soft_label column (the probe's class distribution, written by"
                      " `ferclean clean`) where it has one, blended with the label by --soft-weight."),
    click.option("--soft-weight", type=click.FloatRange(0, 1), default=DEFAULTS.soft_weight, show_default=True,
                 help="Target = (1 - w) * label + w * soft_label; 0.7 is closest to FER2013's annotator votes."),
    click.option("--tta/--no-tta", default=None, help="Average each test image with its mirror [default: on when flips augment]."),
    click.option("--val-fraction", type=click.FloatRange(0, 1, min_open=True, max_open=True), default=DEFAULTS.val_fraction, show_default=True,
                 help="Share of train held out for validation when the manifest has no val split."),
    click.option("--monitor", type=click.Choice(MONITORS), default=DEFAULTS.monitor, show_default=True,
                 help="Metric for early stopping, LR decay and the kept model."),
    click.option("--early-stopping-patience", type=click.IntRange(min=1), default=DEFAULTS.early_stopping_patience, show_default=True),
    click.option("--reduce-lr-factor", type=click.FloatRange(0, 1, min_open=True, max_open=True), default=DEFAULTS.reduce_lr_factor, show_default=True),
    click.option("--reduce-lr-patience", type=click.IntRange(min=1), default=DEFAULTS.reduce_lr_patience, show_default=True),
    click.option("--min-learning-rate", type=NON_NEGATIVE, default=DEFAULTS.min_learning_rate, show_default=True),
    click.option("--mixed-precision/--no-mixed-precision", default=None, help="float16 compute [default: on with a GPU]."),
    click.option("--xla/--no-xla", default=None, help="XLA-compile the train step [default: on with a GPU]."),
    _hparam("--learning-rate", POSITIVE, "Adam learning rate (bpp 5e-4)."),
    _hparam("--loss", click.Choice(LOSSES), "Loss (bpp: focal)."),
    _hparam("--focal-gamma", NON_NEGATIVE, "Focal loss gamma (2.0)."),
    _hparam("--focal-alpha", click.FloatRange(0, 1), "Focal loss alpha (0.25)."),
    _hparam("--label-smoothing", FRACTION, "Label smoothing (bpp 0.1)."),
    _hparam("--schedule", click.Choice(SCHEDULES), "LR schedule: plateau (Adam, decay on plateau) or cosine (AdamW, warm-up)."),
    _hparam("--weight-decay", NON_NEGATIVE, "AdamW decoupled weight decay (compact 0.01)."),
    _hparam("--warmup-fraction", FRACTION, "Share of the steps warming the LR up (compact 0.15)."),
    _hparam("--filters", str, "Filters per block, e.g. 64,128,256.", callback=_number_list(click.IntRange(min=1))),
    _hparam("--stem-filters", str, "compact: full-resolution stem convolutions, e.g. 32.", callback=_number_list(click.IntRange(min=1))),
    click.option("--residual/--no-residual", default=None, help="compact: residual shortcuts [default: on]."),
    _hparam("--dropouts", str, "Dropout per block, e.g. 0.25,0.3,0.4 (one value: every block).", callback=_number_list(FRACTION)),
    _hparam("--dense-units", click.IntRange(min=1), "Units of the dense (or bottleneck) layer."),
    _hparam("--dense-dropout", FRACTION, "Dropout after the dense layer."),
    _hparam("--l2", NON_NEGATIVE, "L2 weight decay on kernels."),
    click.option("--augment/--no-augment", default=None, help="In-model augmentation [default: on for bpp]."),
    click.option("--flip/--no-flip", default=None, help="Random horizontal flip when augmenting [default: on]."),
    _hparam("--rotation", NON_NEGATIVE, "Random rotation, fraction of a turn (0.05)."),
    _hparam("--zoom", FRACTION, "Random zoom factor (0.05)."),
    _hparam("--contrast", NON_NEGATIVE, "Random contrast factor (0.05)."),
    _hparam("--translation", FRACTION, "Random shift, fraction of the side (compact 0.08)."),
    click.option("--folds", type=click.IntRange(min=2), default=None, help="Train K models on stratified folds of train+val."),
    click.option("--runs-dir", type=click.Path(file_okay=False, path_type=Path), default=Path("runs"), show_default=True),
    click.option("--name", default=None, help="Run name [default: the manifest's stem]."),
    click.option("--version", "version", type=click.IntRange(min=1), default=None, help="Run version [default: next free]."),
    click.option("--resume", type=click.Path(path_type=Path), default=None, help="Continue RUN_DIR from its saved config."),
]


def _apply(options: list[Callable]) -> Callable:
    def decorate(fn: Callable) -> Callable:
        for option in reversed(options):
            fn = option(fn)
        return fn

    return decorate


CONFIG_KEYS = set(TrainConfig.__dataclass_fields__)


@click.command()
@_apply(TRAIN_OPTIONS)
@classes_option
@jobs_option
def train(
    manifest_path: Path | None,
    folds: int | None,
    runs_dir: Path,
    name: str | None,
    version: int | None,
    resume: Path | None,
    classes: str | None,
    jobs: int | None,
    **options: Any,
) -> None:
    """Train a CNN on the kept rows of a manifest, then evaluate it on the test split.

    Relabelled rows train with their new label, blended with their soft_label where the manifest
    has one (`ferclean clean` writes it); the class list comes from the manifest.
    Each run writes runs/<name>-<version>/: model-details.json (every hyper-parameter, classes,
    manifest and sha256, seed, library versions), model.keras, history.csv, curves.png, and the
    test evaluation (metrics.json, classification_report.txt, confusion_matrix.png/.csv,
    predictions.csv). Without a val split, --val-fraction of train is held out.

    \b
    Example:
      ferclean train --manifest manifests/fer2013-clean.csv --max-minutes 45
      ferclean train --manifest manifests/fer2013-clean.csv --arch bpp --epochs 60
      ferclean train -m manifests/capstone.csv --arch five-block --image-size 96 --folds 5
      ferclean train --resume runs/fer2013-clean-1 --epochs 120
    """
    from ferclean_train.runs import discard_unfinished, new_run_dir
    from ferclean_train.fit import gpu_names, resume_run, run_folds, start_run

    if resume is not None:
        claim_output(resume, "Run folder", deferred=False)
        note_resume(f"--resume {resume}")
        with progress() as on_progress:
            details = resume_run(resume, options["epochs"], on_progress, err_console.print)
        _print_run(resume, details)
        return
    if manifest_path is None:
        raise FercleanError("Give --manifest (a manifest .csv or a dataset folder), or --resume RUN_DIR.")
    if options["epochs"] is None:
        options["epochs"] = DEFAULTS.epochs
    gpu = bool(gpu_names())
    if options["arch"] is None:
        options["arch"] = "bpp" if gpu else "compact"
    try:
        config = TrainConfig(**{k: v for k, v in options.items() if k in CONFIG_KEYS}).resolved(gpu=gpu)
    except ValueError as exc:
        raise FercleanError(str(exc)) from None
    manifest = load_input(manifest_path, classes, jobs=jobs)
    check_outputs(manifest_path, manifest, {"--runs-dir": runs_dir}, claimed=False)
    run_dir = new_run_dir(runs_dir, name or manifest_stem(manifest_path), version)
    claim_output(run_dir, "Run folder", deferred=False)  # checkpoints land at once, for --resume
    note_resume(f"--resume {run_dir}")
    console.print(distribution_table(split_class_counts(manifest.frame), "Kept images per split and class"))
    console.print(f"Training [bold]{config.arch}[/] into [bold]{run_dir}[/]")
    try:
        with progress() as on_progress:
            if folds:
                summary = run_folds(manifest, manifest_path, config, run_dir, folds, command_line(), on_progress, err_console.print)
            else:
                details = start_run(
                    manifest, manifest_path, config, run_dir, command_line(), on_progress=on_progress, on_epoch=err_console.print
                )
    except BaseException:
        if discard_unfinished(run_dir):
            note_resume(None)  # nothing to resume: the run folder is gone
        raise
    if folds:
        _print_folds(run_dir, summary)
    else:
        _print_run(run_dir, details)


def _print_run(run_dir: Path, details: dict[str, Any]) -> None:
    metrics = json.loads((run_dir / "metrics.json").read_text())
    console.print(metrics_table(metrics, f"Test split of {run_dir.name}"))
    t = details["training"]
    images = f", {t['train_images_per_s']:.0f} images/s" if t.get("train_images_per_s") else ""
    console.print(
        f"{t['epochs_run']} epoch(s), best epoch {t['best_epoch']}, {t['wall_time_s']:.0f} s training "
        f"({t['train_steps_per_s']:.1f} steps/s{images}). Wrote [bold]{run_dir}[/]"
    )
    if "budget" in details:
        b = details["budget"]
        console.print(
            f"Budget {b['budget_s'] / 60:g} min: {b['epochs']} epoch(s) planned at about {b['epoch_s']:.0f} s,"
            f" {b['epochs_run']} run at {b['seconds_per_epoch']:.0f} s; finished {b['finished_s_before_deadline']:.0f} s"
            f" before the deadline{' (stopped early: the machine slowed down)' if b['stopped_by_guard'] else ''}."
        )


def _print_folds(run_dir: Path, summary: dict[str, Any]) -> None:
    table = Table(title=f"{summary['folds']}-fold cross-validation ({run_dir.name})")
    table.add_column("fold")
    table.add_column("test accuracy", justify="right")
    table.add_column("test macro-F1", justify="right")
    for i, (acc, f1) in enumerate(zip(summary["test_accuracy"]["per_fold"], summary["test_macro_f1"]["per_fold"]), 1):
        table.add_row(str(i), f"{acc:.2%}", f"{f1:.3f}")
    table.add_section()
    acc, f1 = summary["test_accuracy"], summary["test_macro_f1"]
    table.add_row("mean ± std", f"{acc['mean']:.2%} ± {acc['std']:.2%}", f"{f1['mean']:.3f} ± {f1['std']:.3f}", style="bold")
    console.print(table)
    console.print(f"Wrote [bold]{run_dir}[/] (folds.json and fold-1..{summary['folds']}/)")
