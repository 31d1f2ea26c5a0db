"""``clauseguard lint``: every problem in clause and template files, as ``file:line: message``.

Checks, in order: front matter (schema, semver, unique ids, documents and sections that exist,
``requires``/``conflicts`` that name clauses, no loop of ``requires``), the override folder's
replacements of built-in clauses and templates (:mod:`~clauseguard.generator.overrides`: noted, and a
problem where the path does not match the id or a changed text keeps a version not above the built-in
one's), ``applies_when`` (compiles, names only profile fields, compares a key of fixed values only with
values it can hold), bodies, rationales and guard parameters (compile in the sandbox, name only
known variables, the same values check), the ids named by ``ref``, ``selected``, ``doc`` and ``licence``
(exist, wherever the call sits), no heading (``#``, or setext: text underlined by ``===`` or ``---``) and
no horizontal rule in a clause body, guard specs, and finally a full render of every example
profile, which catches what only shows at render time (an undefined attribute, a ``ref`` to a clause
that is not included). Each clause body and document is rendered on its own, so one failure does not
hide the next, and the files with static problems are left out of it (their problems are listed once
already). The example profiles ship with clauseguard (package data beside the generator); with none
found and no ``--profiles``, that is a problem too, not a silent "ok". The ``when`` of each conditional
source is checked like ``applies_when``, and every clause included for an example profile, or for that
profile with a single jurisdiction instead of its own (``[CA]``, ``[OTHER]``, …), must keep at least one
source that applies.
"""

from __future__ import annotations

import difflib
import functools
import re
import types
import typing
from collections.abc import Iterable, Iterator
from importlib import resources
from pathlib import Path
from typing import Any

from jinja2 import meta, nodes
from pydantic import BaseModel

from clauseguard.errors import ClauseError, ProfileError, SelectionError
from clauseguard.generator.conditions import key_path
from clauseguard.generator.guardset import in_use, merge_guards
from clauseguard.generator.library import (
    Clause,
    Library,
    Problem,
    Template,
    curly_quote_problems,
    scan_library,
    unknown_ids,
    unread_files,
)
from clauseguard.generator.licences import known_licence_ids
from clauseguard.generator.overrides import override_notes, override_problems
from clauseguard.generator.profile import Jurisdiction, ModelEntry, Profile, load_profile
from clauseguard.generator.render import (
    Numbering,
    base_globals,
    clause_globals,
    make_stamp,
    number,
    render_document,
    render_text,
)
from clauseguard.generator.sandbox import Source, environment, parse_expression, parse_template
from clauseguard.generator.selection import FactRef, Selection, fact_refs, requires_cycles, select

__all__ = ["BODY_NAMES", "TEMPLATE_NAMES", "allowed_values", "check_fact", "example_profiles", "lint",
           "requires_loops"]

BODY_NAMES = frozenset({"ref", "selected", "doc", "licence", "guards_in_use"})
TEMPLATE_NAMES = BODY_NAMES | {"document", "sections"}
_RATIONALE_NAMES = frozenset({"doc", "licence"})


def _unwrap(tp: Any) -> Any:
    """``X | None`` -> ``X``."""
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        return args[0] if len(args) == 1 else tp
    return tp


def _is_model(tp: Any) -> bool:
    return isinstance(tp, type) and issubclass(tp, BaseModel)


def _walk_path(path: tuple[str, ...]) -> tuple[Any, str | None]:
    """The annotation at ``path`` in the Profile model, or an error message."""
    tp: Any = Profile
    for index, part in enumerate(path):
        tp = _unwrap(tp)
        where = ".".join(path[:index]) or "the profile"
        if not _is_model(tp):
            return None, f"{where} has no field {part!r} (it is not a group of keys)"
        if part not in tp.model_fields:
            return None, f"{'.'.join(path[:index + 1])!r} is not a profile field; {where} has: " + \
                ", ".join(tp.model_fields)
        tp = tp.model_fields[part].annotation
    return tp, None


def check_fact(ref: FactRef) -> str | None:
    """None when ``ref`` names a profile field (and, if mapped, a field of its list items)."""
    tp, error = _walk_path(ref.path)
    if error or not ref.mapped:
        return error
    item = _unwrap(typing.get_args(_unwrap(tp))[0]) if typing.get_origin(_unwrap(tp)) is list else None
    if not _is_model(item):
        return f"{'.'.join(ref.path)} is not a list of groups of keys; map(attribute=...) cannot apply"
    if ref.mapped not in item.model_fields:
        return f"items of {'.'.join(ref.path)} have no field {ref.mapped!r}; they have: {', '.join(item.model_fields)}"
    return None


# Profile keys whose values a validator closes rather than a Literal annotation: the values, read when asked.
_VALIDATED_VALUES = {(ModelEntry, "license"): lambda: (*sorted(known_licence_ids()), "other")}

# Hints beyond spelling: what a profile writer means by a value the profile does not take.
_EU_MEMBERS = ("AT", "BE", "BG", "CY", "CZ", "DE", "DK", "EE", "EL", "ES", "FI", "FR", "GR", "HR", "HU", "IE", "IT",
               "LT", "LU", "LV", "MT", "NL", "PL", "PT", "RO", "SE", "SI", "SK")
_ALIASES = {"GB": "UK", "USA": "US", **dict.fromkeys(_EU_MEMBERS, "EU")}


def _item_type(tp: Any) -> Any:
    """``list[X]`` -> ``X``, ``Annotated[X, ...]`` -> ``X``; anything else as it is."""
    tp = _unwrap(tp)
    if typing.get_origin(tp) is list:
        tp = _unwrap(typing.get_args(tp)[0])
    return typing.get_args(tp)[0] if typing.get_origin(tp) is typing.Annotated else tp


def _is_list(ref: FactRef) -> bool:
    tp, error = _walk_path(ref.path)
    return not error and (bool(ref.mapped) or typing.get_origin(_unwrap(tp)) is list)


def allowed_values(ref: FactRef) -> tuple[str, ...] | None:
    """The values the profile key ``ref`` may hold (each item's, for a list), as profile.py closes them;
    None for free text, numbers, flags and keys that do not exist."""
    tp, error = _walk_path(ref.path)
    if error:
        return None
    if ref.mapped:
        item = _item_type(tp)
        if not _is_model(item) or ref.mapped not in item.model_fields:
            return None
        if (item, ref.mapped) in _VALIDATED_VALUES:
            return _VALIDATED_VALUES[item, ref.mapped]()
        tp = item.model_fields[ref.mapped].annotation
    tp = _item_type(tp)
    return typing.get_args(tp) if typing.get_origin(tp) is typing.Literal else None


def _fact_of(node: nodes.Node) -> FactRef | None:
    """The profile key ``node`` reads as a whole (``modalities.outputs``, ``models|map(attribute='license')``,
    either through ``|list``), or None."""
    while isinstance(node, nodes.Filter) and node.name in ("list", "unique", "sort") and node.node is not None:
        node = node.node
    mapped = isinstance(node, nodes.Filter) and node.name == "map" and node.node is not None
    if not (key_path(node) or (mapped and key_path(node.node))):
        return None
    refs = list(fact_refs(node))
    return refs[0] if len(refs) == 1 and bool(refs[0].mapped) == mapped else None


def _comparisons(tree: nodes.Node) -> Iterator[tuple[nodes.Const, str, FactRef]]:
    """``(constant, operator, profile key)`` for each string compared with a profile key by ``in``,
    ``not in``, ``==`` or ``!=`` (the string on either side of ``==`` and ``!=``)."""
    for compare in tree.find_all(nodes.Compare):
        left = compare.expr
        for operand in compare.ops:
            pairs = {"in": [(left, operand.expr)], "notin": [(left, operand.expr)],
                     "eq": [(left, operand.expr), (operand.expr, left)],
                     "ne": [(left, operand.expr), (operand.expr, left)]}.get(operand.op, [])
            for const, fact in pairs:
                if isinstance(const, nodes.Const) and isinstance(const.value, str) \
                        and (ref := _fact_of(fact)) is not None and ref.path[0] in Profile.model_fields:
                    yield const, operand.op, ref
            left = operand.expr


def _did_you_mean(value: str, allowed: tuple[str, ...]) -> str | None:
    """The allowed value a profile writer most likely meant by ``value``: the same but for case or
    punctuation (``eu``, ``llama-3.1``), a country's usual code (``GB``, ``DE``), or a close spelling."""
    def squash(text: str) -> str:
        return re.sub(r"[\s._-]", "", text.casefold())

    squashed = {squash(a): a for a in allowed}
    if squash(value) in squashed:
        return squashed[squash(value)]
    if _ALIASES.get(value.upper()) in allowed:
        return _ALIASES[value.upper()]
    folded = {a.casefold(): a for a in allowed}
    close = difflib.get_close_matches(value.casefold(), folded, n=1)
    return folded[close[0]] if close else None


_OPERATORS = {"in": "in", "notin": "not in", "eq": "==", "ne": "!="}


def _check_values(tree: nodes.Node, source: Source, what: str) -> Iterator[Problem]:
    """A string compared with a profile key of closed values that the key never holds: ``'eu' in
    jurisdictions`` is false for every profile, so the clause or text it guards never appears."""
    for const, op, ref in _comparisons(tree):
        allowed = allowed_values(ref)
        if allowed is None:
            continue
        line = source.first_line + const.lineno - 1
        always = f"this `{_OPERATORS[op]}` is {str(op in ('notin', 'ne')).lower()} for every profile"
        if const.value not in allowed:
            close = _did_you_mean(const.value, allowed)
            hint = f"; did you mean {close!r}?" if close else ""
            yield Problem(source.file, line, f"{what}: {const.value!r} is not a value of {ref.label()}, so {always}; "
                                             f"{ref.label()} takes only {', '.join(allowed)}{hint}")
        elif op in ("eq", "ne") and _is_list(ref):
            yield Problem(source.file, line, f"{what}: {ref.label()} is a list, so {always}: write {const.value!r} "
                                             f"{'in' if op == 'eq' else 'not in'} {ref.label()}")


def _known_names(extra: Iterable[str]) -> frozenset[str]:
    return frozenset(Profile.model_fields) | frozenset(environment().globals) | frozenset(extra)


def _check_names(tree: nodes.Node, source: Source, allowed: frozenset[str], what: str) -> Iterator[Problem]:
    """Unknown top-level names, and profile paths that do not exist."""
    if not isinstance(tree, nodes.Template):  # an applies_when expression
        tree = nodes.Template([nodes.Output([tree])], lineno=1).set_environment(environment())
    lines = {n.name: n.lineno for n in reversed(list(tree.find_all(nodes.Name)))}
    for name in sorted(meta.find_undeclared_variables(tree)):
        if name not in allowed:
            yield Problem(source.file, source.first_line + lines.get(name, 1) - 1,
                          f"{what}: unknown name {name!r} (not a profile key or a helper)")
    for ref in dict.fromkeys(fact_refs(tree)):
        if ref.path[0] in Profile.model_fields and (error := check_fact(ref)):
            yield Problem(source.file, source.first_line + ref.line - 1, f"{what}: {error}")
    yield from _check_values(tree, source, what)


def _guarded(check: Any) -> list[Problem]:
    try:
        return list(check())
    except ClauseError as err:
        return [Problem.from_error(err)]


def _check_text(text: str, source: Source, allowed: frozenset[str], what: str) -> list[Problem]:
    return _guarded(lambda: _check_names(parse_template(text, source), source, allowed, what))


def _check_expression(text: str, source: Source, what: str) -> list[Problem]:
    """An ``applies_when``-style expression: it parses and names only profile fields."""
    problems = _guarded(lambda: _check_names(parse_expression(text, source), source, _known_names(()), what))
    # the sandbox calls every expression applies_when; name the key that holds this one
    return [Problem(p.file, p.line, f"{what}: {p.message.removeprefix('applies_when: ')}")
            if not p.message.startswith(f"{what}: ") else p for p in problems]


def _check_applies_when(clause: Clause) -> list[Problem]:
    if clause.meta.applies_when is None:
        return []
    return _check_expression(clause.meta.applies_when, Source(clause.file, clause.line("applies_when")),
                             "applies_when")


def _check_source_conditions(clause: Clause) -> list[Problem]:
    problems = []
    for index, entry in enumerate(clause.meta.source_entries()):
        if entry.when is not None:
            source = Source(clause.file, clause.line("sources", index, "when"))
            problems += _check_expression(entry.when, source, f"sources[{index}].when")
    return problems


def _guard_strings(value: Any) -> Iterator[str]:
    if isinstance(value, dict):
        for v in value.values():
            yield from _guard_strings(v)
    elif isinstance(value, list):
        for v in value:
            yield from _guard_strings(v)
    elif isinstance(value, str) and ("{{" in value or "{%" in value):
        yield value


def check_quotes(item: Clause | Template) -> list[Problem]:
    """``sources: [“A, B”]`` is two sources, “A and B”, each with a stray quote: name the value."""
    return curly_quote_problems(item.meta.model_dump(exclude_defaults=True), item.file, item.line)


_HEADING = re.compile(r"^ {0,3}#{1,6}(?:[ \t].*)?$", re.MULTILINE)


_UNDERLINE = re.compile(r"^ {0,3}(?:=+|-+)[ \t]*$")
_RULE = re.compile(r"^ {0,3}([-*_])(?:[ \t]*\1){2,}[ \t]*$")
_ITEM_LINE = re.compile(r"^ *(?:[-*+]|\d{1,9}[.)])(?:[ \t]|$)")


def _underlines(body: str) -> Iterator[tuple[int, str]]:
    """``(line index, message)`` for each line of ``===`` or ``---`` that CommonMark reads as a setext
    heading's underline (right under a paragraph's text) or as a horizontal rule (``---``, ``***``,
    ``___``, ``- - -`` elsewhere).

    The Markdown document shows both as CommonMark does; the DOCX shows the line as text, and the HTML
    as text too (a heading's underline joins its paragraph) but for a rule after a blank line.
    """
    block = None  # what the line above belongs to: None (a blank line, or a rule), "p" (a paragraph), "item"
    paragraph: list[str] = []
    for index, line in enumerate(body.splitlines()):
        if not line.strip():
            block = None
        elif block == "p" and _UNDERLINE.match(line):
            yield index, (f"a heading ({' '.join(paragraph)[:60]!r}: this line of {line.strip()[0]!r}s under it "
                          "makes it one); a clause has none: the document adds its numbered heading from title, "
                          "and the HTML and DOCX would show both lines as text: remove this line")
            block = None
        elif _RULE.match(line):
            yield index, (f"a horizontal rule ({line.strip()!r}), which the DOCX would show as text; leave it "
                          "out: the document separates clauses by their numbered headings")
            block = None
        elif _ITEM_LINE.match(line):
            block = "item"
        elif block is None:
            block, paragraph = "p", [line.strip()]
        elif block == "p":
            paragraph.append(line.strip())


def _check_headings(clause: Clause) -> list[Problem]:
    """A Markdown heading in a body would break the numbered sections the document adds from ``title``:
    an ATX heading (``# ...``), a setext one (text underlined by ``===`` or ``---``), and the horizontal
    rule that ``---`` is elsewhere."""
    problems = [Problem(clause.file, clause.body_line + clause.body.count("\n", 0, m.start()),
                        f"body: a heading ({m.group().strip()!r}); a clause has none: the document adds its "
                        "numbered heading from title")
                for m in _HEADING.finditer(clause.body)]
    return problems + [Problem(clause.file, clause.body_line + index, f"body: {message}")
                       for index, message in _underlines(clause.body)]


# What the exporters do not render alike in Markdown, HTML and DOCX: shown as raw text, or differently.
_UNSUPPORTED = (
    (re.compile(r"^(?=[^\n]*\|)(?=[^\n]*---)[ |:\-]+$", re.MULTILINE),
     "a table, whose pipes the HTML and DOCX would show as text; write the rows as a list"),
    (re.compile(r"\[\^[^\]\s]+\]"),
     "a footnote, which the HTML and DOCX would show as text; put the note in the text or in sources"),
    (re.compile(r"^ {0,3}>", re.MULTILINE), "a block quote, whose '>' the DOCX would show as text; quote inline"),
)


def _check_unsupported(clause: Clause) -> list[Problem]:
    """Markdown beyond the clause subset (paragraphs, lists, bold, italic, links): the DOCX and HTML of the
    document would not show it as the Markdown does."""
    return [Problem(clause.file, clause.body_line + clause.body.count("\n", 0, m.start()),
                    f"body: {what} ({m.group().strip()[:40]!r})")
            for pattern, what in _UNSUPPORTED for m in pattern.finditer(clause.body)]


def check_clause(clause: Clause) -> list[Problem]:
    """Static checks of one clause: expression, rationale, body and guard parameter strings."""
    problems = _check_applies_when(clause) + _check_source_conditions(clause)
    problems += _check_text(clause.meta.rationale, Source(clause.file, clause.line("rationale")),
                            _known_names(_RATIONALE_NAMES), "rationale")
    problems += _check_text(clause.body, Source(clause.file, clause.body_line), _known_names(BODY_NAMES), "body")
    problems += _check_headings(clause) + _check_unsupported(clause)
    for index, guard in enumerate(clause.meta.guards):
        source = Source(clause.file, clause.line("guards", index))
        for text in _guard_strings(guard.params):
            problems += _check_text(text, source, _known_names(()), f"guards[{index}].params")
    return problems


def check_template(template: Template) -> list[Problem]:
    return _check_text(template.body, Source(template.file, template.body_line), _known_names(TEMPLATE_NAMES),
                       "template")


def _helper_ids(library: Library) -> dict[str, tuple[str, frozenset[str]]]:
    """For each helper that takes an id: what the id names, and the ids that exist."""
    clauses = ("clause", frozenset(library.clauses))
    return {"ref": clauses, "selected": clauses, "doc": ("document", frozenset(library.templates)),
            "licence": ("licence", known_licence_ids())}


def _unknown_helper_ids(text: str, source: Source, known: dict[str, tuple[str, frozenset[str]]],
                        what: str) -> Iterator[Problem]:
    """``ref('x')``, ``selected('x')``, ``doc('x')``, ``licence('x')`` naming an id that does not exist.

    Rendering the examples misses them: ``selected('renamed/id')`` is just false, and a ``ref`` inside it
    never runs, so a clause renamed without updating its references silently loses them.
    """
    try:
        tree = parse_template(text, source)
    except ClauseError:
        return  # a syntax error: check_clause reports it
    for call in tree.find_all(nodes.Call):
        name = call.node.name if isinstance(call.node, nodes.Name) else None
        arg = call.args[0] if call.args else None
        if name not in known or not isinstance(arg, nodes.Const) or not isinstance(arg.value, str):
            continue
        kind, ids = known[name]
        if arg.value not in ids:
            close = difflib.get_close_matches(arg.value, ids, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            yield Problem(source.file, source.first_line + call.lineno - 1,
                          f"{what}: {name}({arg.value!r}): no {kind} has id {arg.value!r}{hint}")


def unknown_helper_ids(library: Library) -> list[Problem]:
    """Every helper call in clause bodies, rationales and templates that names an unknown id."""
    known = _helper_ids(library)
    problems: list[Problem] = []
    for clause in library.clauses.values():
        problems += _unknown_helper_ids(clause.meta.rationale, Source(clause.file, clause.line("rationale")),
                                        known, "rationale")
        problems += _unknown_helper_ids(clause.body, Source(clause.file, clause.body_line), known, "body")
    for template in library.templates.values():
        problems += _unknown_helper_ids(template.body, Source(template.file, template.body_line), known, "template")
    return problems


def _examples_root() -> Path:
    """``examples/`` beside the generator package: the repository's own in a source tree, and
    ``clauseguard/examples/`` in an installed wheel (package data of clauseguard.generator)."""
    return Path(str(resources.files("clauseguard.generator"))).parent / "examples"


def example_profiles() -> list[Path]:
    """``examples/*/profile.yaml``, the example profiles that ship with clauseguard."""
    return sorted(_examples_root().glob("*/profile.yaml"))


def _no_examples() -> Problem:
    return Problem(str(_examples_root() / "*" / "profile.yaml"), 1,
                   "no example profile found, so no clause was rendered to check it (this clauseguard was "
                   "installed without them); pass --profiles PROFILE.yaml, once for each profile to render")


def _prepare(library: Library, profile: Profile) -> tuple[Selection, Numbering, list[dict[str, Any]]]:
    """What ``build`` computes before rendering: the selection, the numbering and the guards in use."""
    plain = profile.context(markdown=False)
    selection = select(library, {**plain, **base_globals(library)})
    numbering = number(library, selection)
    return selection, numbering, in_use(merge_guards(library, selection.selected, numbering, plain))


def _render_each(library: Library, profile: Profile, prepared: tuple[Selection, Numbering, list[dict[str, Any]]],
                 broken: bool) -> Iterator[ClauseError | SelectionError]:
    """Render each included clause body on its own, then each document whose clauses all rendered (its
    preamble may quote them); yield every error, where ``build`` stops at the first.

    With static problems (``broken``) the library may fail in ways that only follow from them (a clause
    placed in no document); those are skipped, as are the profiles for which nothing can be selected.
    """
    selection, numbering, guards = prepared
    context = profile.context()
    stamp = make_stamp(context, profile.sha256())
    for doc_id, placements in numbering.documents.items():
        doc_context = {**context, **clause_globals(library, selection, numbering, doc_id), "guards_in_use": guards}
        errors = []
        for clause in (library.clauses[p.clause_id] for section in placements for p in section):
            body = functools.partial(render_text, clause.body, clause.file, clause.body_line, doc_context, "body")
            if (err := _error_of(body, broken)) is not None:
                errors.append(err)
        if not errors:
            document = functools.partial(render_document, library.templates[doc_id], placements, doc_context,
                                         library, selection, stamp)
            errors += [err] if (err := _error_of(document, broken)) is not None else []
        yield from errors


def _error_of(call: Any, broken: bool) -> ClauseError | SelectionError | None:
    """The ClauseError or SelectionError ``call`` raises, or None; any other error is raised again, but
    when the library is ``broken`` (it can follow from the static problems)."""
    try:
        call()
    except (ClauseError, SelectionError) as err:
        return err
    except Exception:
        if not broken:
            raise  # a clean library that fails otherwise is a bug: show its traceback
    return None


def _at_profile(err: ClauseError | SelectionError, profile_path: Path) -> Problem:
    problem = Problem.from_error(err)  # type: ignore[arg-type]  # a SelectionError has .where and .message too
    return Problem(problem.file, problem.line, f"{problem.message} (rendering {profile_path})")


def _render_problems(library: Library, profile_path: Path, broken: bool = False) -> list[Problem]:
    """Every render-time problem of the library for one profile, each naming the profile."""
    try:
        profile = load_profile(profile_path)
    except ProfileError as err:
        return [Problem(str(profile_path), 1, f"example profile is invalid: {err}")]
    try:
        prepared = _prepare(library, profile)
    except (ClauseError, SelectionError) as err:
        return [_at_profile(err, profile_path)]
    except Exception:
        if not broken:
            raise
        return []  # nothing can be selected for this profile until the static problems are fixed
    problems = [_at_profile(err, profile_path) for err in _render_each(library, profile, prepared, broken)]
    return problems + _source_problems(library, profile, str(profile_path), prepared[0])


def _without_sources(library: Library, selection: Selection, label: str) -> Iterator[Problem]:
    for clause_id in selection.selected:
        if not selection.decisions[clause_id].sources:
            clause = library.clauses[clause_id]
            yield Problem(clause.file, clause.line("sources"), f"sources: no source applies for profile {label}")


def _single_jurisdictions(library: Library, profile: Profile, label: str) -> Iterator[tuple[str, dict[str, Any]]]:
    """The profile's context with each jurisdiction alone in place of its own list."""
    context = {**profile.context(), **base_globals(library)}
    for jurisdiction in typing.get_args(Jurisdiction):
        if profile.jurisdictions != [jurisdiction]:
            yield f"{label} with jurisdictions [{jurisdiction}]", {**context, "jurisdictions": [jurisdiction]}


def _source_problems(library: Library, profile: Profile, label: str, selection: Selection) -> list[Problem]:
    """Included clauses that cite nothing for the profile, or for a single-jurisdiction variant of it.

    One problem per clause (the first profile that shows it): a US-only or a ``[CA]`` product must not
    get a clause whose every source was conditioned away.
    """
    found = {p.file: p for p in _without_sources(library, selection, label)}
    for variant_label, context in _single_jurisdictions(library, profile, label):
        try:
            problems = list(_without_sources(library, select(library, context), variant_label))
        except (ClauseError, SelectionError) as err:
            problem = Problem.from_error(err)
            problems = [Problem(problem.file, problem.line, f"{problem.message} (selecting for {variant_label})")]
        for problem in problems:
            found.setdefault(problem.file, problem)
    return list(found.values())


def requires_loops(library: Library) -> list[Problem]:
    """Clauses whose ``requires`` lead back to themselves, one problem per loop, at its first ``requires``.

    Generating fails only for a profile whose selection depends on the loop; lint names every loop.
    """
    problems = []
    for cycle in requires_cycles(library):
        clause = library.clauses[cycle.path[0]]
        line = clause.line("requires", clause.meta.requires.index(cycle.path[1]))
        if len(cycle.path) == 2:
            message = f"requires: {clause.id} requires itself; remove it from its own requires"
        else:
            others = sorted(cycle.members - set(cycle.path))
            also = f" (also in the loop: {', '.join(others)})" if others else ""
            message = (f"requires: a loop, each clause requiring the next: {cycle.describe(library)}{also}; "
                       "all of them are included whenever one applies: remove one of these requires")
        problems.append(Problem(clause.file, line, message))
    return problems


def lint(clauses_dir: Path | str | None = None, *, profiles: Iterable[Path | str] | None = None,
         include_builtin: bool = True, notes: list[Problem] | None = None) -> list[Problem]:
    """Every problem found, sorted by file and line; empty when the library is clean.

    ``notes``, when given, is filled with what is worth knowing but is no problem: each built-in clause
    or template that the folder replaces, with the built-in version.
    """
    library, problems = scan_library(clauses_dir, include_builtin=include_builtin)
    if notes is not None:
        notes += sorted(override_notes(library), key=lambda p: (p.file, p.line))
    problems += unknown_ids(library, "conflicts") + requires_loops(library) + override_problems(library)
    if clauses_dir is not None:
        problems += unread_files(clauses_dir)
    for clause in library.clauses.values():
        problems += check_clause(clause) + check_quotes(clause)
    for template in library.templates.values():
        problems += check_template(template) + check_quotes(template)
    problems += unknown_helper_ids(library)
    paths = example_profiles() if profiles is None else [Path(p) for p in profiles]
    if profiles is None and not paths:
        problems.append(_no_examples())
    problems += _rendered(library, paths, {p.file for p in problems})
    return sorted(dict.fromkeys(problems), key=lambda p: (p.file, p.line, p.message))


def _rendered(library: Library, paths: list[Path], static: set[str]) -> list[Problem]:
    """The render problems of every profile, but those of ``static`` files (their problems are listed
    already, and rendering would only repeat them), each once: at the first profile that shows it."""
    found: dict[tuple[str, int, str], Problem] = {}
    for path in paths:
        for problem in _render_problems(library, path, broken=bool(static)):
            key = (problem.file, problem.line, problem.message.removesuffix(f" (rendering {path})"))
            if problem.file not in static:
                found.setdefault(key, problem)
    return list(found.values())
