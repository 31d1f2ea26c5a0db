"""The authoring commands: ``generate``, ``explain``, ``lint``, ``schema``, ``catalogue``, ``init``.

``clauseguard/cli.py`` imports this module only when one of these commands runs. Errors are raised as
:class:`~clauseguard.errors.UserError` subclasses; the entry point prints them and exits with code 2.
Nothing is written when a command fails.
"""

from __future__ import annotations

import json
from pathlib import Path

import click

from clauseguard._atomic import write_text
from clauseguard.errors import ClauseError, UserError

__all__ = ["catalogue", "explain", "generate", "init", "lint", "schema"]

_DIR = click.Path(file_okay=False, path_type=Path)
_FILE = click.Path(dir_okay=False, path_type=Path)
_NO_BUILTIN = click.option("--no-builtin", "no_builtin", is_flag=True,
                           help="Use only the clauses of --clauses / FOLDER, not the built-in ones.")


def _formats(value: str) -> tuple[str, ...]:
    from clauseguard.generator.build import FORMATS

    chosen = tuple(f.strip() for f in value.split(",") if f.strip())
    unknown = [f for f in chosen if f not in FORMATS]
    if unknown or not chosen:
        raise UserError(f"--format: unknown format(s) {unknown}; choose from {','.join(FORMATS)}")
    return chosen


@click.command()
@click.argument("profile", type=_FILE)
@click.option("-o", "--output", "out_dir", type=_DIR, required=True, help="Folder to write the outputs into.")
@click.option("--clauses", "clauses_dir", type=_DIR, help="Your clause folder, layered over the built-in one.")
@click.option("--format", "formats", default="md,html,docx", show_default=True, help="Comma-separated formats.")
@click.option("--force", is_flag=True, help="Replace the output folder if it is not empty.")
@_NO_BUILTIN
def generate(profile: Path, out_dir: Path, clauses_dir: Path | None, formats: str, force: bool,
             no_builtin: bool) -> None:
    """Write the legal documents, guards.yaml, report.json and clauseguard.lock for PROFILE."""
    from clauseguard.generator.build import generate as run
    from clauseguard.generator.library import load_library
    from clauseguard.generator.outputs import undated_changes
    from clauseguard.generator.overrides import override_problems

    previous_lock = _previous_lock(out_dir)
    files = run(profile, out_dir, clauses_dir=clauses_dir, formats=_formats(formats), force=force,
                include_builtin=not no_builtin)
    report = json.loads(files["report.json"])
    click.echo(f"wrote {len(files)} files to {out_dir}: {len(report['documents'])} documents, "
               f"{len(report['clauses'])} clauses, {len(report['guards'])} guards")
    undated = undated_changes(previous_lock, files["clauseguard.lock"])
    for warning in [*report["warnings"], *([undated] if undated else [])]:
        click.echo(f"warning: {warning}", err=True)
    if clauses_dir is not None:  # overrides that are likely mistakes (lint names them as problems)
        for problem in override_problems(load_library(clauses_dir, include_builtin=not no_builtin)):
            click.echo(f"warning: {problem}", err=True)


def _previous_lock(out_dir: Path) -> bytes | None:
    """The clauseguard.lock of the folder that ``generate --force`` is about to replace, if there is one."""
    try:
        return (out_dir / "clauseguard.lock").read_bytes()
    except OSError:
        return None


@click.command()
@click.argument("profile", type=_FILE)
@click.argument("clause", required=False)
@click.option("--clauses", "clauses_dir", type=_DIR, help="Your clause folder, layered over the built-in one.")
@_NO_BUILTIN
def explain(profile: Path, clause: str | None, clauses_dir: Path | None, no_builtin: bool) -> None:
    """Say why each clause (or CLAUSE) is in or out for PROFILE."""
    from clauseguard.generator.explain import explain as run

    click.echo(run(profile, clause, clauses_dir=clauses_dir, include_builtin=not no_builtin), nl=False)


@click.command()
@click.argument("folder", type=_DIR, required=False)
@click.option("--profiles", "profiles", type=_FILE, multiple=True,
              help="Profiles to render (default: examples/*/profile.yaml). Repeat the option for several.")
@_NO_BUILTIN
def lint(folder: Path | None, profiles: tuple[Path, ...], no_builtin: bool) -> None:
    """Check clause and template files: FOLDER layered over the built-in ones, or the built-in ones."""
    from clauseguard.generator.library import load_library
    from clauseguard.generator.lint import lint as run

    notes: list = []
    problems = run(folder, profiles=profiles or None, include_builtin=not no_builtin, notes=notes)
    for line in [*notes, *problems]:  # notes (each built-in clause or template replaced) are no problem
        click.echo(str(line))
    if problems:  # a UserError: the entry point prints it and exits with code 2
        raise ClauseError(f"{len(problems)} problem(s) in clause or template files (listed above)")
    library = load_library(folder, include_builtin=not no_builtin)
    click.echo(f"ok: {len(library.clauses)} clauses and {len(library.templates)} templates")


@click.command()
@click.option("--guards", "guards", is_flag=True, help="Print the schema of guards.yaml instead.")
def schema(guards: bool) -> None:
    """Print the JSON Schema of profile.yaml (or of guards.yaml)."""
    if guards:
        from clauseguard.generator.outputs import GuardsFile as model
    else:
        from clauseguard.generator.profile import Profile as model
    click.echo(json.dumps(model.model_json_schema(), indent=2, sort_keys=True))


@click.command()
@click.option("-o", "--output", "output", type=_FILE, required=True,
              help="Markdown file to write (- writes to standard output).")
@click.option("--clauses", "clauses_dir", type=_DIR, help="Your clause folder, layered over the built-in one.")
@_NO_BUILTIN
def catalogue(output: Path, clauses_dir: Path | None, no_builtin: bool) -> None:
    """Write the catalogue of every clause as Markdown."""
    from clauseguard.generator.catalogue import catalogue_markdown
    from clauseguard.generator.library import load_library

    library = load_library(clauses_dir, include_builtin=not no_builtin)
    if str(output) == "-":
        click.echo(catalogue_markdown(library), nl=False)
        return
    write_text(output, catalogue_markdown(library))
    click.echo(f"wrote {output}: {len(library.clauses)} clauses")


@click.command()
@click.option("-o", "--output", "output", type=_FILE, default=Path("profile.yaml"), show_default=True)
@click.option("--answers", type=_FILE, help="A YAML file of answers (no questions asked for those).")
@click.option("--yes", is_flag=True, help="Accept the default for every question not answered.")
@click.option("--force", is_flag=True, help="Overwrite an existing profile file.")
def init(output: Path, answers: Path | None, yes: bool, force: bool) -> None:
    """Answer questions about your product; write profile.yaml."""
    from clauseguard.generator.questionnaire import run_init

    profile = run_init(output, answers=answers, yes=yes, force=force)
    click.echo(f"wrote {output} for {profile.product.name}; next: clauseguard generate {output} -o legal/")
