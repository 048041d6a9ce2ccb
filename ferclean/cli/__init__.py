"""The ``ferclean`` command line: a click group whose subcommands are imported on first use.

Lazy loading keeps ``ferclean scan --help`` fast: only ``train``/``evaluate``/``predict``
import TensorFlow.

Faults are handled here, once for every command: each runs in an output session
(ferclean.outputs: locks, writes committed together); SIGINT and SIGTERM end it with one
``Interrupted: ...`` line and exit status 130, leaving the previous outputs; a full disk, a
read-only folder or a refused permission is one ``Error: ...`` line naming the path.
"""

from __future__ import annotations

import errno
import importlib
import os
import signal
import sys
import threading
from collections.abc import Sequence
from typing import Any

import click

from ferclean import __version__
from ferclean.errors import FercleanError
from ferclean.outputs import Session, current_session, hold_signal, output_session

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


#: Exit status of an interrupted command (128 + SIGINT, as shells report Ctrl-C).
INTERRUPTED = 130
#: Errors of the disk or file system, not of ferclean: reported as one line naming the path.
DISK_ERRORS = {errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM, errno.EFBIG, errno.EIO}


class Interrupted(BaseException):
    """SIGINT or SIGTERM, raised in the main thread so that the command unwinds (rolling back
    its waiting outputs, releasing its locks) as it would on Ctrl-C.

    Not a KeyboardInterrupt: libraries catch that one. scikit-learn's perceptrons end their
    training on it with a warning and return, so the fast probe would carry on half-trained
    and the command would exit 0 with other probabilities than an uninterrupted run's."""


#: Key of the running subcommand's name in ``click.Context.meta``.
COMMAND = "ferclean.command"
#: What an interrupt outside a command means: set once a command has ended.
_after_command: list[str] = []


def _on_signal(signum: int, frame: Any) -> None:
    if hold_signal(signum):  # outputs are being renamed into place: finish that first
        return
    if current_session() is None:  # parsing options, or exiting: nothing is being written
        click.echo(_after_command[-1] if _after_command else "Interrupted: ferclean stopped before writing anything.", err=True)
        sys.stderr.flush()
        os._exit(INTERRUPTED)  # also while the interpreter shuts down
    raise Interrupted(signal.Signals(signum).name)


def interrupted_line(command: str, session: Session | None) -> str:
    """The one line an interrupted command prints: what is left, and how to go on."""
    hint = session.resume_hint if session is not None else None
    if session is not None and session.committed:
        return f"Interrupted: ferclean {command} stopped after writing its complete outputs."
    if hint:
        return f"Interrupted: ferclean {command} stopped; its finished work is checkpointed: resume with {hint}"
    return f"Interrupted: ferclean {command} stopped; its outputs are as they were before it started."


class LazyGroup(click.Group):
    """A group that imports a subcommand's module only when that subcommand is used,
    and turns FercleanError into click's one-line ``Error: ...`` with a non-zero exit."""

    def main(self, args: Sequence[str] | None = None, *rest: Any, **kwargs: Any) -> Any:  # noqa: ANN401 - click's
        """click's entry point, with SIGINT/SIGTERM raising :class:`Interrupted` and SIGXFSZ ignored
        (a file-size limit then fails the write with EFBIG, reported, instead of killing the run)."""
        if threading.current_thread() is not threading.main_thread():
            return super().main(args, *rest, **kwargs)
        wanted = {signal.SIGINT: _on_signal, signal.SIGTERM: _on_signal, signal.SIGXFSZ: signal.SIG_IGN}
        previous = {signum: signal.signal(signum, handler) for signum, handler in wanted.items()}
        try:
            return super().main(args, *rest, **kwargs)
        finally:
            if args is not None:  # called from Python (tests): give the caller its handlers back
                for signum, handler in previous.items():
                    signal.signal(signum, handler)
            else:  # exiting: Python's shutdown would reset them to die by the signal, status lost
                signal.signal(signal.SIGINT, signal.SIG_IGN)
                signal.signal(signal.SIGTERM, signal.SIG_IGN)

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *COMMANDS})

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        ctx.meta[COMMAND] = name
        if name in COMMANDS:
            module_name, attribute = COMMANDS[name].split(":")
            return getattr(importlib.import_module(module_name), attribute)
        return super().get_command(ctx, name)

    def invoke(self, ctx: click.Context):  # noqa: ANN201 - click's own signature
        session = None
        try:
            with output_session() as session:
                result = super().invoke(ctx)
            _after_command.append(f"Interrupted: ferclean {ctx.meta.get(COMMAND, '')} stopped after writing its complete outputs.")
            return result
        except FercleanError as exc:
            raise click.ClickException(str(exc)) from None
        except (Interrupted, KeyboardInterrupt):
            click.echo(interrupted_line(ctx.meta.get(COMMAND, ""), session), err=True)
            raise click.exceptions.Exit(INTERRUPTED) from None
        except OSError as exc:
            if exc.errno not in DISK_ERRORS:
                raise
            where = f" {exc.filename}" if exc.filename else ""
            raise click.ClickException(f"Cannot write{where}: {exc.strerror or exc}.") from None


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
