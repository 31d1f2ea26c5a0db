"""What an override folder replaces, and the overrides that are likely mistakes.

A file of the override folder whose id is a built-in one replaces that clause or template without a
word, so lint names each one (a note, not a problem) with the built-in version. It is a problem when

- the file's path does not match its id: ``our/core/arbitration.md`` copied from governing law with
  ``id: core/governing-law`` left in replaces governing law; ``templates/ai-disclaimer.md`` with
  ``id: ai-disclaimr`` adds an eighth document and leaves the built-in one as it is;
- its text differs from the built-in one and its version is not higher: a clause copied before a fix
  of the built-in one keeps hiding the fix (an identical copy is only a note, until clauseguard raises
  the built-in version);
- a template of the folder is named in no clause's ``documents``, so it is never written.
"""

from __future__ import annotations

import difflib

from clauseguard.generator.library import Clause, Library, Override, Problem, Template

__all__ = ["override_notes", "override_problems", "semver_key"]


def semver_key(version: str) -> tuple:
    """A sort key giving semantic-version precedence: ``1.0.0-rc.1 < 1.0.0 < 1.0.1 < 1.1.0``; build
    metadata (``+...``) is ignored."""
    core, _, pre = version.partition("+")[0].partition("-")
    numbers = tuple(int(n) for n in core.split("."))
    if not pre:
        return numbers, 1, ()
    return numbers, 0, tuple((0, int(p), "") if p.isdigit() else (1, 0, p) for p in pre.split("."))


def _kind(item: Clause | Template) -> str:
    return "clause" if isinstance(item, Clause) else "template"


def _path_ids(override: Override) -> list[str]:
    """The ids the file's path can stand for, longest first: ``x/core/governing-law.md`` ->
    ``x/core/governing-law``, ``core/governing-law``, ``governing-law``; ``templates/a.md`` -> ``a``."""
    stem = override.path.removesuffix(".md")
    if isinstance(override.item, Template):
        stem = stem.rpartition("/")[2]
    parts = stem.split("/")
    return ["/".join(parts[i:]) for i in range(len(parts))]


def override_notes(library: Library) -> list[Problem]:
    """One note per built-in clause or template that the override folder replaces."""
    notes = []
    for override in library.overrides:
        item, builtin = override.item, override.builtin
        if builtin is not None:
            same = "; identical to it" if item.sha256 == builtin.sha256 else ""
            notes.append(Problem(item.file, item.line("id"),
                                 f"note: replaces the built-in {_kind(item)} {item.id} (built-in version "
                                 f"{builtin.meta.version}, this file's {item.meta.version}{same})"))
    return notes


def _path_problem(override: Override, library: Library) -> Problem | None:
    """The file's path names another clause or template than its id (or none, where it replaces one)."""
    item = override.item
    ids = _path_ids(override)
    if item.id in ids:
        return None
    existing = library.clauses if isinstance(item, Clause) else library.templates
    named = next((i for i in ids if i in existing), None)
    kind = _kind(item)
    if override.builtin is not None:
        where = f"templates/{item.id}.md" if isinstance(item, Template) else f"{item.id}.md"
        also = f" (and {named} stays as it is)" if named else ""
        return Problem(item.file, item.line("id"),
                       f"id: {item.id} replaces the built-in {kind} of that id, but this file is {override.path}"
                       f"{also}: a copy of another {kind} keeps its id; give this {kind} an id of its own, or "
                       f"save it as {where} to replace the built-in one")
    if named is not None:
        return Problem(item.file, item.line("id"),
                       f"id: this file is {override.path}, named after the {kind} {named}, but its id is "
                       f"{item.id}: it adds a new {kind} and {named} stays as it is; write id: {named} to "
                       f"replace it, or rename the file")
    return None


def _version_problem(override: Override) -> Problem | None:
    item, builtin = override.item, override.builtin
    if builtin is None or item.sha256 == builtin.sha256:
        return None
    if semver_key(item.meta.version) > semver_key(builtin.meta.version):
        return None
    version, built_in, kind = item.meta.version, builtin.meta.version, _kind(item)
    if semver_key(version) == semver_key(built_in):
        why = (f"is the built-in {kind}'s version, but the text differs: raise it above {built_in}, so that lint "
               "names this file when clauseguard changes the built-in one")
    else:
        why = (f"is lower than the built-in {kind}'s {built_in}: the built-in one ({builtin.file}) has changed "
               f"since this copy was made; compare them, take over what still applies, and raise this version "
               f"above {built_in}")
    return Problem(item.file, item.line("version"), f"version: {version} {why}")


def _unused_template(override: Override, library: Library) -> Problem | None:
    item = override.item
    if not isinstance(item, Template) or any(item.id in c.meta.documents for c in library.clauses.values()):
        return None
    close = difflib.get_close_matches(item.id, [t for t in library.templates if t != item.id], n=1)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    return Problem(item.file, item.line("id"),
                   f"id: no clause names the document {item.id!r} in its documents, so it is never written{hint}")


def override_problems(library: Library) -> list[Problem]:
    """The overrides that are likely mistakes (see the module docstring), each at its line."""
    problems = []
    for override in library.overrides:
        path = _path_problem(override, library)
        # a file replacing a built-in by mistake (a copy that kept its id): its version says nothing more
        version = None if path and override.builtin else _version_problem(override)
        found = (path, version, _unused_template(override, library))
        problems += [p for p in found if p is not None]
    return problems
