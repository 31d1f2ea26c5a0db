"""Build every output for a profile in memory, then write the folder atomically.

``render_outputs`` returns relative path -> bytes and is byte-identical for the same inputs (dates
come from ``product.effective_date``, never from the clock). ``write_outputs`` fills a staging folder
first, then puts it in place (see :mod:`clauseguard._atomic`), so a failure never leaves a half written
folder. An existing folder is written into, never replaced: it may be a mount point, a link, or the
folder the shell is in. A non-empty one is overwritten only with ``force``, and only when it holds
nothing but generated files (and the staging folders of a run that was killed, which ``force`` removes);
an output folder that contains the profile or the clause folder is refused.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from pathlib import Path

from clauseguard._atomic import is_staging_leftover, staged_folder
from clauseguard.errors import SelectionError, UserError
from clauseguard.generator.document import RenderedDocument
from clauseguard.generator.guardset import in_use, merge_guards
from clauseguard.generator.library import Library, load_library
from clauseguard.generator.markdown import to_markdown
from clauseguard.generator.outputs import Outputs, guards_yaml, lock_file, report_json
from clauseguard.generator.profile import Profile, load_profile
from clauseguard.generator.render import base_globals, make_stamp, number, render_documents
from clauseguard.generator.selection import select

__all__ = ["FORMATS", "GENERATED", "build", "generate", "generated_paths", "render_outputs", "write_outputs"]

FORMATS = ("md", "html", "docx")


def _markdown(doc: RenderedDocument) -> bytes:
    return to_markdown(doc).encode("utf-8")


def _html(doc: RenderedDocument) -> bytes:
    from clauseguard.generator.html import to_html

    return to_html(doc).encode("utf-8")


def _docx(doc: RenderedDocument) -> bytes:
    from clauseguard.generator.docx import to_docx

    return to_docx(doc)


_EXPORTERS: dict[str, Callable[[RenderedDocument], bytes]] = {"md": _markdown, "html": _html, "docx": _docx}


def _check_formats(formats: Iterable[str]) -> tuple[str, ...]:
    chosen = tuple(dict.fromkeys(formats))
    unknown = [f for f in chosen if f not in _EXPORTERS]
    if unknown or not chosen:
        raise UserError(f"unknown format(s) {unknown}; choose from {', '.join(FORMATS)}")
    return chosen


def build(profile: Profile, library: Library, formats: tuple[str, ...] = FORMATS) -> Outputs:
    """Select, number, merge guards and render: everything but the bytes."""
    context = profile.context()
    # Conditions, reasons (report.json, `explain`), guard parameters (a notice shown to users) and the
    # warnings are plain text, not Markdown: they get the values as written; only the documents get
    # them escaped.
    plain = profile.context(markdown=False)
    selection = select(library, {**plain, **base_globals(library)})
    numbering = number(library, selection)
    guards = merge_guards(library, selection.selected, numbering, plain)
    stamp = make_stamp(context, profile.sha256())
    documents = render_documents(library, selection, numbering, context, stamp, in_use(guards))
    paths = {d.id: [f"documents/{d.id}.{fmt}" for fmt in formats] for d in documents}
    return Outputs(library, selection, numbering, guards, documents, plain, profile.sha256(), paths)


def _check_cited(out: Outputs) -> None:
    """Refuse an included clause whose every source has a false ``when``: it would be printed citing
    nothing. ``lint`` reports the same for the example profiles; this catches it for the user's own."""
    for clause_id in out.selection.selected:
        if not out.selection.decisions[clause_id].sources:
            clause = out.library.clauses[clause_id]
            raise SelectionError(
                f"sources: no source applies for this profile (the `when` of every source of {clause_id} is "
                "false), so the clause would be printed citing nothing; give it a source that applies, or "
                "narrow its applies_when (`clauseguard lint` checks this)",
                where=f"{clause.file}:{clause.line('sources')}")


def render_outputs(profile: Profile, *, clauses_dir: Path | str | None = None,
                   formats: Iterable[str] = FORMATS, library: Library | None = None,
                   include_builtin: bool = True) -> dict[str, bytes]:
    """Every output file, relative path -> bytes, in a stable order."""
    chosen = _check_formats(formats)
    out = build(profile, library or load_library(clauses_dir, include_builtin=include_builtin), chosen)
    _check_cited(out)
    files: dict[str, bytes] = {}
    for doc in out.documents:
        for fmt, path in zip(chosen, out.paths[doc.id], strict=True):
            files[path] = _EXPORTERS[fmt](doc)
    files["guards.yaml"] = guards_yaml(out)
    files["report.json"] = report_json(out)
    files["clauseguard.lock"] = lock_file(out)
    return files


# What clauseguard writes at the top of an output folder; --force replaces only a folder holding these.
GENERATED = ("documents", "guards.yaml", "report.json", "clauseguard.lock")


def _report_paths(out_dir: Path) -> set[str]:
    """The document paths an earlier run's report.json lists; none if it is missing or not one of ours."""
    try:
        report = json.loads((out_dir / "report.json").read_bytes())
        listed = [p for doc in report["documents"] for p in doc["paths"]]
    except (OSError, ValueError, TypeError, KeyError):
        return set()
    return {p for p in listed if isinstance(p, str)}


def generated_paths(out_dir: Path, template_ids: Iterable[str]) -> set[str]:
    """The paths under documents/ that --force may replace: those the old report.json lists, and
    ``documents/<template-id>.<format>`` of the templates given. Anything else there someone else wrote."""
    named = {f"documents/{t}.{fmt}" for t in template_ids for fmt in FORMATS}
    return named | _report_paths(out_dir)


def _foreign_entry(out_dir: Path, generated: set[str]) -> Path | None:
    """The first entry of ``out_dir`` that clauseguard did not write, or None. A staging folder that a
    killed run left (``.clauseguard-new-*``) is clauseguard's own: ``--force`` removes it."""
    for entry in sorted(out_dir.iterdir()):
        if is_staging_leftover(entry):
            continue
        if entry.name not in GENERATED or (entry.name == "documents") != entry.is_dir():
            return entry
    documents = out_dir / "documents"
    if documents.is_dir():
        for entry in sorted(documents.iterdir()):
            if not entry.is_file() or f"documents/{entry.name}" not in generated:
                return entry
    return None


def _prepare_target(out_dir: Path, force: bool, generated: set[str]) -> None:
    if out_dir.exists() and not out_dir.is_dir():
        raise UserError("the output path exists and is not a folder", where=str(out_dir))
    if not out_dir.is_dir() or not any(out_dir.iterdir()):
        return
    if not force:
        raise UserError("the output folder is not empty; use --force to replace it", where=str(out_dir))
    if (foreign := _foreign_entry(out_dir, generated)) is not None:
        raise UserError(f"--force replaces only generated files ({', '.join(GENERATED)}, and under documents/ "
                        f"those report.json lists or named after a document template), and this folder also "
                        f"holds {str(foreign.relative_to(out_dir))!r}; move it or choose another folder",
                        where=str(out_dir))


def _check_inputs_outside(out_dir: Path, inputs: dict[str, Path | str | None]) -> None:
    """Refuse an output folder that holds an input: replacing the folder would delete it."""
    target = Path(out_dir).resolve()
    for what, path in inputs.items():
        if path is not None and Path(path).resolve().is_relative_to(target):
            raise UserError(f"the output folder contains the {what} {str(path)!r}, which generating would "
                            "delete; write the outputs to another folder", where=str(out_dir))


def _fill(folder: Path, files: dict[str, bytes]) -> None:
    for rel, data in files.items():
        if Path(rel).is_absolute() or ".." in Path(rel).parts:
            raise UserError(f"refusing to write outside the output folder: {rel}")
        target = folder / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)


def write_outputs(files: dict[str, bytes], out_dir: Path | str, *, force: bool = False,
                  template_ids: Iterable[str] | None = None) -> Path:
    """Write ``files`` under ``out_dir`` atomically; an existing non-empty ``out_dir`` needs ``force``
    and may hold only generated files (see :data:`GENERATED` and :func:`generated_paths`; the documents
    of ``files`` and of ``template_ids``, by default the built-in templates, count as generated)."""
    out_dir = Path(out_dir).absolute()
    if template_ids is None:
        template_ids = [t.id for t in load_library().documents()]
    _prepare_target(out_dir, force, generated_paths(out_dir, template_ids) | set(files))
    with staged_folder(out_dir, replaces=GENERATED, sweep=force) as staging:
        _fill(staging, files)
    return out_dir


def generate(profile_path: Path | str, out_dir: Path | str, *, clauses_dir: Path | str | None = None,
             formats: Iterable[str] = FORMATS, force: bool = False,
             include_builtin: bool = True) -> dict[str, bytes]:
    """Load the profile, render everything in memory, then write it; nothing is written on error."""
    _check_inputs_outside(Path(out_dir), {"profile": profile_path, "clause folder": clauses_dir})
    profile = load_profile(profile_path)
    library = load_library(clauses_dir, include_builtin=include_builtin)
    if not library.clauses:  # --no-builtin with a folder of none: documents of nothing but their headings
        raise UserError("no clauses to build the documents from: with --no-builtin only the clauses of --clauses "
                        "are used, and it holds none", where=str(clauses_dir or "--clauses"))
    template_ids = [t.id for t in library.documents()]
    _prepare_target(Path(out_dir), force, generated_paths(Path(out_dir), template_ids))
    files = render_outputs(profile, formats=formats, library=library)
    write_outputs(files, out_dir, force=force, template_ids=template_ids)
    return files
