"""The ``ferclean`` command line: a click group whose subcommands are imported on first use.

Lazy loading keeps ``ferclean scan --help`` fast: only ``train``/``evaluate``/``predict``
import TensorFlow.
"""

from __future__ import annotations

import importlib

import click

from ferclean import __version__
from ferclean.errors import FercleanError

#: command name -> "module:attribute" of its click command.
COMMANDS: dict[str, str] = {
    "scan": "ferclean.cli.scan:scan",
    "clean": "ferclean.cli.clean:clean",
    "dedupe": "ferclean.cli.dedupe:dedupe",
    "stratify": "ferclean.cli.stratify:stratify",
    "export": "ferclean.cli.export:export",
    "mislabel-review": "ferclean.cli.mislabel:mislabel_review",
    "merge-affectnet": "ferclean.cli.merge_affectnet:merge_affectnet",
    "train": "ferclean.cli.train:train",
    "evaluate": "ferclean.cli.evaluate:evaluate",
    "predict": "ferclean.cli.predict:predict",
    "report": "ferclean.cli.report:report",
}


class LazyGroup(click.Group):
    """A group that imports a subcommand's module only when that subcommand is used,
    and turns FercleanError into click's one-line ``Error: ...`` with a non-zero exit."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *COMMANDS})

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name in COMMANDS:
            module_name, attribute = COMMANDS[name].split(":")
            return getattr(importlib.import_module(module_name), attribute)
        return super().get_command(ctx, name)

    def invoke(self, ctx: click.Context):  # noqa: ANN201 - click's own signature
        try:
            return super().invoke(ctx)
        except FercleanError as exc:
            raise click.ClickException(str(exc)) from None


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="ferclean")
def main() -> None:
    """Clean a facial-expression image dataset: find duplicates and leaks, review doubtful
    labels, re-split, balance with AffectNet, and train a CNN on the result.

    Every command reads a dataset folder or a CSV manifest and writes new files only.

    \b
    Example:
      ferclean scan ../shared/data/fer2013 -o manifests/fer2013.csv
      ferclean dedupe manifests/fer2013.csv --policy keep-one -o manifests/fer2013-dedup.csv
    """
