"""The ``clauseguard`` command.

Subcommands are imported only when run, so ``clauseguard --help`` stays quick: each entry of
``COMMANDS`` names the module and the click command object that implements it. A
:class:`~clauseguard.errors.UserError` is printed as one message and exits with code 2; a
:class:`~clauseguard.errors.RecordsError` (the record store failed while working: a broken chain at
purge, a full or read-only disk) is printed as one message and exits with code 1. Neither shows a
traceback. An optional dependency that is not installed (numpy for the classifier, Pillow for
``inspect``, SQLAlchemy for ``audit``) is named with the ``pip install 'clauseguard[extra]'`` that
brings it, exit code 2. Ctrl-C exits with code 130, as shells report it. SIGTERM (``kill``, a container
stopping) raises ``SystemExit(143)`` while a command runs, so what it was writing is cleaned up as on
Ctrl-C (a staging folder is removed, nothing is left half written) and the exit code is still 143.
"""

from __future__ import annotations

import importlib
import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

import click

from clauseguard import __version__
from clauseguard._extras import OPTIONAL, missing_extra_message

__all__ = ["COMMANDS", "OPTIONAL", "main", "missing_extra_message"]

# name -> ("module", "attribute", "one-line help shown by --help without importing the module")
COMMANDS: dict[str, tuple[str, str, str]] = {
    "init": ("clauseguard.generator.cli", "init", "Answer questions about your product; write profile.yaml."),
    "schema": ("clauseguard.generator.cli", "schema", "Print the JSON Schema of profile.yaml (or guards.yaml)."),
    "generate": ("clauseguard.generator.cli", "generate", "Write the legal documents, guards.yaml and report."),
    "explain": ("clauseguard.generator.cli", "explain", "Say why each clause is in or out for a profile."),
    "lint": ("clauseguard.generator.cli", "lint", "Check clause and template files (yours or the built-in ones)."),
    "catalogue": ("clauseguard.generator.cli", "catalogue", "Write the clause catalogue as Markdown."),
    "check": ("clauseguard.guards.cli", "check", "Run guards.yaml on texts; print one JSON verdict per input."),
    "eval": ("clauseguard.guards.eval_cli", "eval", "Measure guards on labelled data: AUROC, precision, recall, F1."),
    "inspect": ("clauseguard.guards.inspect_cli", "inspect", "Show the AI-generated marks of an image."),
    "audit": ("clauseguard.guards.records_cli", "audit", "Verify or export the hash-chained audit log."),
    "records": ("clauseguard.guards.records_cli", "records", "Maintain the record store (purge past retention)."),
    "serve": ("clauseguard.guards.serve_cli", "serve", "Serve the guards, records and LiteLLM guardrail over HTTP."),
}

class _LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        entry = COMMANDS.get(cmd_name)
        if entry is None:
            return None
        module_name, attr, _ = entry
        return getattr(importlib.import_module(module_name), attr)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(name, help_) for name, (_, _, help_) in COMMANDS.items()]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


@click.group(cls=_LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="clauseguard")
def cli() -> None:
    """Legal documents for AI products, and the runtime guards that enforce them."""


def _terminate(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(128 + signum)


@contextmanager
def _sigterm_exits() -> Iterator[None]:
    """SIGTERM raises SystemExit(143) in the block, so ``finally`` clauses run (a staging folder is removed).

    Only where SIGTERM would otherwise kill the process outright: in the main thread, with no handler of
    the host's own (a test runner, an application calling ``main``).
    """
    if threading.current_thread() is not threading.main_thread() or \
            signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL:
        yield
        return
    signal.signal(signal.SIGTERM, _terminate)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)


def main(argv: list[str] | None = None) -> int:
    """Entry point: run the CLI, turning user errors into exit code 2 and record store failures into 1."""
    with _sigterm_exits():
        return _run(argv)


def _run(argv: list[str] | None) -> int:
    from clauseguard.errors import RecordsError, UserError

    try:
        result = cli.main(args=argv, prog_name="clauseguard", standalone_mode=False)
    except UserError as err:
        click.echo(f"error: {err}", err=True)
        return 2
    except RecordsError as err:
        click.echo(f"error: {err}", err=True)
        return 1
    except ModuleNotFoundError as err:
        hint = missing_extra_message(err)
        if hint is None:  # not an optional dependency: a bug, whose traceback helps
            raise
        click.echo(f"error: {hint}", err=True)
        return 2
    except click.exceptions.Abort as err:
        click.echo("aborted", err=True)
        return 130 if isinstance(err.__cause__, KeyboardInterrupt) else 1  # Ctrl-C: 128 + SIGINT, as shells do
    except click.ClickException as err:
        err.show()
        return 2 if isinstance(err, click.UsageError) else err.exit_code
    except click.exceptions.Exit as err:
        return err.exit_code
    return result if isinstance(result, int) else 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
