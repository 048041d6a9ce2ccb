"""``ferclean scan``: index a dataset folder into a manifest."""

from __future__ import annotations

from pathlib import Path

import click

from ferclean.errors import FercleanError
from ferclean.cli.common import check_outputs, command_line, load_input, save
from ferclean.cli.options import backend_options, classes_option, hash_option, jobs_option, output_option
from ferclean.parallel import Backend


@click.command()
@click.argument("dataset", type=click.Path(path_type=Path))
@output_option()
@classes_option
@hash_option
@jobs_option
@backend_options
def scan(dataset: Path, output: Path, classes: str | None, hash_method: str, jobs: int | None, backend: Backend) -> None:
    """Index DATASET, a <split>/<class>/<image> or <class>/<image> folder tree.

    Split names (train/training, val/valid/validation/dev/PublicTest, test/testing/PrivateTest)
    and class names (happy/happiness, sad/sadness, ...) are normalised. Each image is decoded
    once: size, pixel hash and perceptual hashes go into the manifest; unreadable files are
    listed and marked status=drop.

    \b
    Example:
      ferclean scan ../shared/data/fer2013 -o manifests/fer2013.csv
      ferclean scan big-set -o manifests/big.csv --backend dask --scheduler tcp://head:8786
    """
    if not dataset.is_dir():
        raise FercleanError(f"Dataset folder {dataset} does not exist or is not a folder.")
    check_outputs(dataset, None, {"-o": output})
    manifest = load_input(dataset, classes, hash_method, jobs, backend)
    save(manifest, output, command_line())
