"""The clause library: clause and template files, parsed and validated, with an override layer.

Built-in clauses and templates are read through ``importlib.resources`` so they are found inside an
installed wheel. A lawyer's override folder (``--clauses DIR``) is layered on top: a clause with the
same id replaces the built-in one, a new id adds a clause, and ``DIR/templates/*.md`` replace or add
templates; ``Library.overrides`` lists the folder's files with the built-in each replaced, for
:mod:`clauseguard.generator.overrides` to check. Every error names the file and the line.

``scan_library`` collects every problem (for ``clauseguard lint``); ``load_library`` raises the first.
"""

from __future__ import annotations

import difflib
import hashlib
import os
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag, ValidationError, field_validator, model_validator

from clauseguard._yaml import YamlError, decode, format_loc, line_of, load_yaml
from clauseguard.errors import ClauseError
from clauseguard.guards import PARAMS, GuardSpec
from clauseguard.guards._params import defaults_of_the_type

__all__ = [
    "Clause",
    "ClauseMeta",
    "GuardEntry",
    "Library",
    "Override",
    "Problem",
    "SourceEntry",
    "Template",
    "TemplateMeta",
    "load_library",
    "parse_clause",
    "parse_template",
    "scan_library",
    "unread_files",
]

_SEMVER = r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(-[0-9A-Za-z.-]+)?(\+[0-9A-Za-z.-]+)?$"
_SEGMENT = r"[a-z0-9][a-z0-9.+_-]*"
_ID = rf"^{_SEGMENT}(/{_SEGMENT})*$"
_NAME = r"^[a-z0-9][a-z0-9-]*$"  # a document or section id


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class GuardEntry(_Strict):
    """A guard as a clause declares it: a GuardSpec without id, clauses and message."""

    type: str
    stage: str = "input"
    modality: str = "text"
    on_fail: str = "block"
    params: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _defaults_of_the_type(cls, data: Any) -> Any:
        """A key left out is the type's only choice where it has one, as in guards.yaml (an image_mark
        guard needs no ``stage: output``, ``modality: image``, ``on_fail: label``)."""
        return defaults_of_the_type(data)

    def spec(self, **extra: Any) -> GuardSpec:
        """Validate as a full GuardSpec (raises pydantic ValidationError)."""
        return GuardSpec(id=extra.pop("id", "check"), **self.model_dump(), **extra)


class SourceEntry(_Strict):
    """A source shown only when ``when`` (a Jinja2 expression over the profile) holds.

    A US-only product's documents should not cite EU law: ``{text: "GDPR Art. 6", when: "'EU' in
    jurisdictions"}`` is printed only for profiles with EU users. ``when: null`` means always.
    """

    text: str = Field(min_length=1)
    when: str | None = Field(default=None, min_length=1)


# A source is a plain string or a mapping; the tags below appear in validation error locations only.
_PLAIN, _MAPPING = "<source text>", "<source mapping>"
SourceItem = Annotated[
    Annotated[str, Tag(_PLAIN)] | Annotated[SourceEntry, Tag(_MAPPING)],
    Discriminator(lambda v: _PLAIN if isinstance(v, str) else _MAPPING),
]


class ClauseMeta(_Strict):
    """The front matter of a clause file (docs/lawyers/clause-format.md)."""

    id: str = Field(pattern=_ID)
    title: str = Field(min_length=1)
    version: str = Field(pattern=_SEMVER, description="semantic version MAJOR.MINOR.PATCH")
    documents: list[str] = Field(min_length=1)
    section: str | dict[str, str]
    order: int = 100
    applies_when: str | None = None
    rationale: str = Field(min_length=1)
    requires: list[str] = Field(default_factory=list)
    conflicts: list[str] = Field(default_factory=list)
    sources: list[SourceItem] = Field(min_length=1)
    guards: list[GuardEntry] = Field(default_factory=list)
    license: str = Field(min_length=1)

    @field_validator("sources")
    @classmethod
    def _non_empty_sources(cls, v: list[str | SourceEntry]) -> list[str | SourceEntry]:
        if any(not (s if isinstance(s, str) else s.text).strip() for s in v):
            raise ValueError("a source is empty")
        return v

    def source_entries(self) -> list[SourceEntry]:
        """Every source as a :class:`SourceEntry`; a plain string is one that always applies."""
        return [SourceEntry(text=s) if isinstance(s, str) else s for s in self.sources]

    def section_for(self, document: str) -> str | None:
        """The section id this clause goes in within ``document`` (None when the mapping lacks it)."""
        return self.section if isinstance(self.section, str) else self.section.get(document)


class SectionMeta(_Strict):
    id: str = Field(pattern=_NAME)
    title: str = Field(min_length=1)


class TemplateMeta(_Strict):
    """The front matter of a template file."""

    id: str = Field(pattern=_NAME)
    title: str = Field(min_length=1)
    version: str = Field(pattern=_SEMVER)
    order: int = 100
    sections: list[SectionMeta] = Field(min_length=1)
    license: str = Field(min_length=1)

    @field_validator("sections")
    @classmethod
    def _unique_sections(cls, v: list[SectionMeta]) -> list[SectionMeta]:
        ids = [s.id for s in v]
        dupes = sorted({i for i in ids if ids.count(i) > 1})
        if dupes:
            raise ValueError(f"section ids listed twice: {dupes}")
        return v


@dataclass(frozen=True)
class _Parsed:
    file: str
    body: str
    body_line: int  # file line of the body's first line
    sha256: str
    lines: dict[tuple, int]  # front-matter key path -> file line

    def line(self, *loc: str | int) -> int:
        return line_of(self.lines, tuple(loc)) or 1


@dataclass(frozen=True)
class Clause(_Parsed):
    meta: ClauseMeta = field(default=None)  # type: ignore[assignment]
    layer: str = "built-in"

    @property
    def id(self) -> str:
        return self.meta.id


@dataclass(frozen=True)
class Template(_Parsed):
    meta: TemplateMeta = field(default=None)  # type: ignore[assignment]
    layer: str = "built-in"

    @property
    def id(self) -> str:
        return self.meta.id


@dataclass(frozen=True)
class Problem:
    """One lint finding: ``file:line: message``."""

    file: str
    line: int
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.message}"

    @classmethod
    def from_error(cls, err: ClauseError) -> Problem:
        file, _, line = (err.where or "?").rpartition(":")
        if not line.isdigit():
            return cls(err.where or "?", 1, err.message)
        return cls(file, int(line), err.message)


@dataclass(frozen=True)
class Override:
    """A clause or template of the override folder: its path there (``core/arbitration.md``,
    ``templates/ai-disclaimer.md``) and the built-in one its id replaced (None for a new id)."""

    item: Clause | Template
    path: str
    builtin: Clause | Template | None = None


@dataclass
class Library:
    clauses: dict[str, Clause]
    templates: dict[str, Template]
    overrides: list[Override] = field(default_factory=list)  # every file read from the override folder

    def documents(self) -> list[Template]:
        """Templates in document order."""
        return sorted(self.templates.values(), key=lambda t: (t.meta.order, t.id))


def split_front_matter(text: str, file: str) -> tuple[str, str, int]:
    """``(yaml_text, body, body_line)``; the front matter sits between two ``---`` lines at the top."""
    lines = text.splitlines(keepends=True)
    if not lines or lines[0].rstrip() != "---":
        raise ClauseError("missing front matter: the file must start with a line '---'", where=f"{file}:1")
    for index, line in enumerate(lines[1:], start=1):
        if line.rstrip() == "---":
            return "".join(lines[1:index]), "".join(lines[index + 1:]), index + 2
    raise ClauseError("front matter is not closed: add a line '---' after it", where=f"{file}:1")


_SEMVER_MESSAGE = "must be a semantic version MAJOR.MINOR.PATCH, e.g. 1.0.0"
_PATTERN_MESSAGES = {
    _SEMVER: _SEMVER_MESSAGE,
    _ID: "expected lowercase letters, digits and '-', with '/' between a folder and a name (e.g. core/feedback)",
    _NAME: "expected lowercase letters, digits and '-' (e.g. terms-of-use)",
}


def _not_text(value: Any) -> str:
    """Why a value YAML did not read as text: ``title: No`` is false, ``version: 1.0`` a number."""
    if value is None:
        return "is empty: write the text after the colon"
    if isinstance(value, bool | int | float):
        shown = str(value).lower() if isinstance(value, bool) else value
        return f"expected text, but YAML reads this value as {shown}: put it in quotes"
    return f"expected text, not a {'list' if isinstance(value, list) else 'mapping'}"


def _curly_quoted(value: Any, loc: tuple[str | int, ...]) -> Iterator[tuple[str | int, ...]]:
    """Paths of front-matter strings that start with “ or ‘ or end with ”: quotes YAML kept as text."""
    if isinstance(value, dict):
        for key, item in value.items():
            if key not in ("applies_when", "when"):  # expressions: the sandbox names a curly quote in them
                yield from _curly_quoted(item, (*loc, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _curly_quoted(item, (*loc, index))
    elif isinstance(value, str) and value.strip() and (value.strip()[0] in "“‘" or value.strip()[-1] == "”"):
        yield loc


def curly_quote_problems(meta: Any, file: str, line: Callable[..., int]) -> list[Problem]:
    """A problem for each front-matter string of ``meta`` that starts or ends with a curly quote, at
    ``line(*loc)``: ``sources: [“A, B”]`` is two sources, each with a stray quote."""
    return [Problem(file, line(*loc), f"{format_loc(loc)}: starts or ends with a curly quote, which YAML keeps "
                    "as text (and a list splits at each comma): type straight quotes \" or '")
            for loc in _curly_quoted(meta, ())]


def _validation_error(err: ValidationError, file: str, lines: dict, what: str, meta: Any = None) -> ClauseError:
    """The first problem of a clause's or template's header, counting the others; ``problems`` on the error
    holds each of them at its own line, for lint to list them all at once (with the values that start or
    end with a curly quote, which a valid header's lint names too)."""
    found: list[Problem] = []
    split: set[int] = set()  # sources YAML split at a ':' or ',': one problem each, with the hint
    for e in err.errors():
        index = e["loc"][1] if len(e["loc"]) > 1 and e["loc"][0] == "sources" else None
        read_as = _split_citation(meta, index)
        if read_as is None:
            found.append(_header_problem(e, file, lines, what))
        elif index not in split:
            split.add(index)
            found.append(Problem(file, line_of(lines, ("sources", index)) or 1,
                                 f"sources[{index}]: {_NOT_A_SOURCE}; YAML reads this one as {read_as} {_SPLIT_HINT}"))
    if meta is not None:
        found += curly_quote_problems(meta, file, lambda *loc: line_of(lines, loc) or 1)
        found.sort(key=lambda p: p.line)
    more = f" (and {len(found) - 1} more)" if len(found) > 1 else ""
    error = ClauseError(f"{found[0].message}{more}", where=f"{file}:{found[0].line}")
    error.problems = found  # type: ignore[attr-defined]
    return error


_NOT_A_SOURCE = "a source is a string or a mapping {text: ..., when: ...}"
_SPLIT_HINT = "(a ':' or ',' in unquoted text: put the citation in double quotes)"


def _split_citation(meta: Any, index: Any) -> str | None:
    """What YAML made of ``sources[index]`` when it looks like a citation split at a ':' or ',', else None.

    ``- UK GDPR Art. 13: information to be provided`` is a mapping of one unknown key;
    ``[Cal. Civ. Code §§1798.105, 1798.106]`` is two sources, the second the number 1798.106; ``- [A, B]``
    is a list.
    """
    sources = meta.get("sources") if isinstance(meta, dict) else None
    if not isinstance(index, int) or not isinstance(sources, list) or not 0 <= index < len(sources):
        return None
    value = sources[index]
    if isinstance(value, dict) and len(value) == 1 and next(iter(value)) not in SourceEntry.model_fields:
        key, item = next(iter(value.items()))
        return f"the key {key!r} with the value {item!r}"
    if isinstance(value, list):
        return f"the list {value!r}"
    if isinstance(value, int | float) and not isinstance(value, bool):
        return f"the number {value!r}"
    return None


def _header_problem(first: Any, file: str, lines: dict, what: str) -> Problem:
    loc = tuple(p for p in first["loc"] if p not in (_PLAIN, _MAPPING))
    line = line_of(lines, loc) or 1
    msg = first["msg"].removeprefix("Value error, ")
    if _MAPPING in first["loc"] and first["type"] == "model_type":
        msg = _NOT_A_SOURCE
    elif first["type"] == "extra_forbidden":
        msg = f"unknown key (not part of the {what} format; see docs/lawyers/clause-format.md)"
    elif first["type"] == "missing":
        msg = "required key is missing"
    elif first["type"] == "string_type" and loc == ("version",) and first["input"] is not None:
        msg = _SEMVER_MESSAGE
    elif first["type"] == "string_type":
        msg = _not_text(first["input"])
    elif first["type"] == "string_pattern_mismatch":
        msg = f"{_PATTERN_MESSAGES.get(first['ctx']['pattern'], msg)}, not {first['input']!r}"
    elif first["type"] == "too_short" and loc == ("sources",):
        msg = "every clause must cite at least one statute, regulation or licence section"
    elif first["type"] == "too_short":
        msg = "the list is empty: give at least one"
    return Problem(file, line, f"{format_loc(loc)}: {msg}")


def _decode(data: bytes, file: str) -> str:
    """UTF-8 text (see :func:`clauseguard._yaml.decode`); an error names the file and the bad byte's line."""
    try:
        return decode(data)
    except YamlError as err:
        raise ClauseError(str(err), where=f"{file}:{err.line}") from err


_CURLY_QUOTES = "“”‘’"


def _curly_hint(yaml_text: str, line: int | None) -> str:
    """A hint when the line YAML stopped at has curly quotes (pasted from a word processor)."""
    lines = yaml_text.splitlines()
    if line and line <= len(lines) and any(q in lines[line - 1] for q in _CURLY_QUOTES):
        return " (curly quotes “ ” ‘ ’ are not quotes in YAML: type straight quotes \" or ')"
    return ""


def _tab_hint(yaml_text: str, line: int | None) -> str:
    """A hint when the line YAML stopped at starts with a tab, which YAML does not take as indentation."""
    lines = yaml_text.splitlines()
    if line and line <= len(lines) and lines[line - 1].lstrip(" ").startswith("\t"):
        return " (the line is indented with a tab: YAML indents with spaces only)"
    return ""


_QUOTED_START = re.compile(r"""^\s*([\w-]+):\s*(?:'[^']*'|"[^"]*")\s*[^\s#].*$""")


def _quoted_start_hint(yaml_text: str, line: int | None) -> str:
    """A hint when the value on the line YAML stopped at starts with a quoted string and goes on after it
    (``applies_when: 'CA' in jurisdictions``): YAML takes the quotes as the whole value."""
    lines = yaml_text.splitlines()
    m = _QUOTED_START.match(lines[line - 1]) if line and line <= len(lines) else None
    if m is None:
        return ""
    value = lines[line - 1].split(":", 1)[1].strip()
    quote = "'" if '"' in value else '"'
    return (f" (a value that starts with a quote must be quoted whole: {m.group(1)}: "
            f"{quote}{value}{quote})")


_OPENS_SINGLE = re.compile(r"(?:^|[:\-\[{,])\s*'")  # a value that starts with '


def _unclosed_quote_hint(yaml_text: str, line: int | None, offset: int) -> str:
    """A hint naming the line that opens a quote it does not close, when YAML stopped later.

    A quoted value may run over several lines, so YAML reads on to the next quote and reports a
    confusing error lines further down (``title: "Governing law`` fails at the sources).
    """
    for number, text in enumerate(yaml_text.splitlines()[:(line or 0) - 1], start=1):
        doubles = len(re.findall(r'(?<!\\)"', text))
        singles = text.count("'")
        if doubles % 2 or (singles % 2 and '"' not in text and _OPENS_SINGLE.search(text)):
            return f" (line {number + offset} opens a quote that it does not close: end the value with the same quote)"
    return ""


def _parse(data: bytes, file: str, model: type[BaseModel], what: str) -> tuple[Any, dict[str, Any]]:
    text = _decode(data, file)
    yaml_text, body, body_line = split_front_matter(text, file)
    try:
        meta, raw_lines = load_yaml(yaml_text, file)
    except YamlError as err:
        hint = (_curly_hint(yaml_text, err.line) or _tab_hint(yaml_text, err.line)
                or _quoted_start_hint(yaml_text, err.line) or _unclosed_quote_hint(yaml_text, err.line, 1))
        raise ClauseError(f"{err}{hint}", where=f"{file}:{(err.line or 0) + 1}") from err
    lines = {loc: line + 1 for loc, line in raw_lines.items()}
    if not isinstance(meta, dict):
        raise ClauseError(f"front matter must be a mapping of keys ({what})", where=f"{file}:2")
    try:
        parsed = model.model_validate(meta)
    except ValidationError as err:
        raise _validation_error(err, file, lines, what, meta) from err
    common = {"file": file, "body": body, "body_line": body_line,
              "sha256": hashlib.sha256(data).hexdigest(), "lines": lines}
    return parsed, common


def parse_clause(data: bytes, file: str, layer: str = "built-in") -> Clause:
    """Parse one clause file. Raises :class:`ClauseError` naming file and line."""
    meta, common = _parse(data, file, ClauseMeta, "clause")
    clause = Clause(meta=meta, layer=layer, **common)
    _check_guards(clause)
    return clause


def _params_problem(entry: GuardEntry) -> tuple[tuple[str | int, ...], str] | None:
    """The first problem of a guard's ``params`` as ``(path under params, message)``; None when they are fine.

    Checked apart from the rest of the entry, so a misspelt parameter is named as one, with the
    parameters its type takes, rather than as an unexplained key of the guard.
    """
    model = PARAMS.get(entry.type)
    if model is None:
        return None  # entry.spec() names the unknown type
    try:
        model.model_validate(entry.params)
    except ValidationError as err:
        first = err.errors()[0]
        loc = tuple(first["loc"])
        if first["type"] != "extra_forbidden":
            return loc, first["msg"].removeprefix("Value error, ")
        close = difflib.get_close_matches(str(loc[0]), model.model_fields, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        return loc, f"unknown parameter; {entry.type} guards take: {', '.join(model.model_fields) or 'none'}{hint}"
    return None


def _check_guards(clause: Clause) -> None:
    """Each guard entry must be a valid GuardSpec once id, clauses and message are filled in."""
    for index, entry in enumerate(clause.meta.guards):
        if (problem := _params_problem(entry)) is not None:
            loc, msg = problem
            raise ClauseError(f"guards[{index}] ({entry.type}): {format_loc(('params', *loc))}: {msg}",
                              where=f"{clause.file}:{clause.line('guards', index, 'params', *loc)}")
        try:
            entry.spec()
        except ValidationError as err:
            first = err.errors()[0]
            loc = ".".join(str(p) for p in first["loc"])
            msg = first["msg"].removeprefix("Value error, ")
            raise ClauseError(f"guards[{index}] ({entry.type}): {loc + ': ' if loc else ''}{msg}",
                              where=f"{clause.file}:{clause.line('guards', index)}") from err


def parse_template(data: bytes, file: str, layer: str = "built-in") -> Template:
    """Parse one template file. Raises :class:`ClauseError` naming file and line."""
    meta, common = _parse(data, file, TemplateMeta, "template")
    return Template(meta=meta, layer=layer, **common)


_NOT_CLAUSES = ("readme.md", "license.md")


def _walk(root: Traversable, prefix: str) -> Iterator[tuple[Traversable, str]]:
    """Every ``.md`` file under ``root`` except README and LICENSE files, with a display path, sorted."""
    for child in sorted(root.iterdir(), key=lambda c: c.name):
        name = f"{prefix}/{child.name}"
        if child.is_dir():
            if child.name.startswith((".", "_")):
                continue
            yield from _walk(child, name)
        elif child.name.endswith(".md") and child.name.lower() not in _NOT_CLAUSES:
            yield child, name


@dataclass
class _Layer:
    name: str
    clauses: list[tuple[Traversable, str]]
    templates: list[tuple[Traversable, str]]
    root: str = ""  # the override folder as the display paths start with it


def _builtin_layer(include_clauses: bool) -> _Layer:
    clauses = list(_walk(resources.files("clauseguard.clauses"), "clauses")) if include_clauses else []
    templates = list(_walk(resources.files("clauseguard.templates"), "templates"))
    return _Layer("built-in", clauses, templates)


def _override_layer(folder: Path) -> _Layer:
    if not folder.is_dir():
        raise ClauseError("clause folder not found (or not a folder)", where=str(folder))
    prefix = str(folder).rstrip("/")
    files = list(_walk(folder, prefix))
    templates_prefix = f"{prefix}/templates/"
    clauses = [(f, n) for f, n in files if not n.startswith(templates_prefix)]
    templates = [(f, n) for f, n in files if n.startswith(templates_prefix) and n.count("/") == prefix.count("/") + 2]
    return _Layer("override", clauses, templates, prefix)


_NOT_READ_QUIETLY = ("readme", "license", "licence", "__init__.py")


def _files(root: Path, prefix: str) -> Iterator[str]:
    """Every file ``_walk`` looks in (hidden files and ``.``/``_`` folders skipped), as display paths."""
    for child in sorted(root.iterdir(), key=lambda c: c.name):
        name = f"{prefix}/{child.name}"
        if child.is_dir() and not child.name.startswith((".", "_")):
            yield from _files(child, name)
        elif child.is_file() and not child.name.startswith("."):
            yield name


def unread_files(folder: Path | str) -> list[Problem]:
    """Files in an override folder that are neither clauses nor templates, nor README or LICENSE files.

    The generator leaves them out without a word, so a clause saved as ``feedback.MD`` or
    ``feedback.md.txt``, or a template in ``templates/old/``, would be missing from the documents; lint
    names them.
    """
    layer = _override_layer(Path(folder))
    read = {name for _, name in layer.clauses + layer.templates}
    templates = f"{str(folder).rstrip('/')}/templates/"
    problems = []
    for name in _files(Path(folder), str(folder).rstrip("/")):
        base = name.rpartition("/")[2].lower()
        if name in read or base.startswith(_NOT_READ_QUIETLY) or name.endswith("/licences/registry.yaml"):
            continue  # a copy of the whole built-in folder lints clean
        if name.startswith(templates) and name.endswith(".md"):
            why = "not read: a template must sit directly in templates/, not in a folder inside it"
        else:
            why = "not read: only files ending in .md are clauses (put other files in a folder starting with _)"
        problems.append(Problem(name, 1, why))
    return problems


def _add(items: dict[str, Any], seen: dict[str, str], item: Any, problems: list[Problem]) -> bool:
    """Add ``item``; a second file with the same id in the same layer is a problem (and is not added)."""
    if item.id in seen:
        problems.append(Problem(item.file, item.line("id"),
                                f"id {item.id!r} is already used by {seen[item.id]}"))
        return False
    seen[item.id] = item.file
    items[item.id] = item
    return True


def _read_layer(layer: _Layer, library: Library, problems: list[Problem]) -> None:
    for files, parse, target in (
        (layer.clauses, parse_clause, library.clauses),
        (layer.templates, parse_template, library.templates),
    ):
        seen: dict[str, str] = {}
        for resource, name in files:
            try:
                item = parse(_read(resource, name), name, layer.name)
            except ClauseError as err:  # every problem of a header, each at its line
                problems += getattr(err, "problems", None) or [Problem.from_error(err)]
                continue
            replaced = target.get(item.id) if item.id not in seen else None  # from the layer below
            if _add(target, seen, item, problems) and layer.root:
                library.overrides.append(Override(item, name.removeprefix(f"{layer.root}/"), replaced))


def _read(resource: Traversable, name: str) -> bytes:
    """The bytes of a clause or template file; one that cannot be read (a link to a file moved away, no
    permission) is a :class:`ClauseError` naming it."""
    try:
        return resource.read_bytes()
    except OSError as err:
        reason = err.strerror or str(err)
        if isinstance(resource, Path) and resource.is_symlink() and not resource.exists():
            reason += f" (it is a link to {os.readlink(resource)}, which is not there)"
        raise ClauseError(f"cannot read: {reason}", where=f"{name}:1") from err


def _layers(clauses_dir: Path | str | None, include_builtin: bool) -> list[_Layer]:
    layers = [_builtin_layer(include_builtin)]
    if clauses_dir is not None:
        layers.append(_override_layer(Path(clauses_dir)))
    return layers


def unknown_ids(library: Library, key: str) -> list[Problem]:
    """Ids listed under ``key`` (``requires`` or ``conflicts``) that no clause has."""
    problems = []
    for clause in sorted(library.clauses.values(), key=lambda c: c.id):
        for index, other in enumerate(getattr(clause.meta, key)):
            if other not in library.clauses:
                problems.append(Problem(clause.file, clause.line(key, index), f"{key}: no clause has id {other!r}"))
    return problems


def cross_check(library: Library) -> list[Problem]:
    """Documents and sections named by clauses exist; ``requires`` names known clauses.

    An unknown id under ``conflicts`` cannot change any output, so only ``lint`` reports it.
    """
    problems: list[Problem] = []
    for clause in sorted(library.clauses.values(), key=lambda c: c.id):
        problems += _check_placement(clause, library)
    return problems + unknown_ids(library, "requires")


def _check_placement(clause: Clause, library: Library) -> list[Problem]:
    problems = []
    meta = clause.meta
    for index, doc in enumerate(meta.documents):
        template = library.templates.get(doc)
        if template is None:
            problems.append(Problem(clause.file, clause.line("documents", index),
                                    f"documents: unknown document {doc!r}; known: {sorted(library.templates)}"))
            continue
        section = meta.section_for(doc)
        sections = [s.id for s in template.meta.sections]
        if section is None:
            problems.append(Problem(clause.file, clause.line("section"), f"section: no section given for {doc!r}"))
        elif section not in sections:
            problems.append(Problem(clause.file, clause.line("section"),
                                    f"section: {doc!r} has no section {section!r}; its sections: {sections}"))
    if isinstance(meta.section, dict):
        for doc in sorted(set(meta.section) - set(meta.documents)):
            problems.append(Problem(clause.file, clause.line("section", doc),
                                    f"section: {doc!r} is not one of this clause's documents"))
    return problems


def scan_library(
    clauses_dir: Path | str | None = None, *, include_builtin: bool = True
) -> tuple[Library, list[Problem]]:
    """Load every layer, collecting problems instead of stopping at the first."""
    library = Library(clauses={}, templates={})
    problems: list[Problem] = []
    for layer in _layers(clauses_dir, include_builtin):
        _read_layer(layer, library, problems)
    problems += cross_check(library)
    return library, problems


def load_library(clauses_dir: Path | str | None = None, *, include_builtin: bool = True) -> Library:
    """The library, or a :class:`ClauseError` for its first problem (naming file and line).

    ``include_builtin=False`` leaves out the built-in clauses (not the templates): tests and lawyers
    who want a library made only of their own folder use it.
    """
    signature = _signature(clauses_dir, include_builtin)
    if signature is not None and signature in _LOADED:
        return _LOADED[signature]
    library, problems = scan_library(clauses_dir, include_builtin=include_builtin)
    if problems:
        first = problems[0]
        more = f" (and {len(problems) - 1} more; run `clauseguard lint`)" if len(problems) > 1 else ""
        raise ClauseError(f"{first.message}{more}", where=f"{first.file}:{first.line}")
    if signature is not None:
        _LOADED.clear()  # keep one library: a long-running process (the server) reloads after an edit
        _LOADED[signature] = library
    return library


# A loaded library, keyed by the names, sizes and modification times of every file it was read from,
# so a process that generates many times (a server, a benchmark) parses the clauses once, and an edited
# clause is picked up at the next call. Callers must not mutate the Library they get.
_LOADED: dict[tuple, Library] = {}


def _signature(clauses_dir: Path | str | None, include_builtin: bool) -> tuple | None:
    roots = [resources.files("clauseguard.clauses"), resources.files("clauseguard.templates")]
    paths = [Path(str(root)) for root in roots if isinstance(root, Path)]
    if len(paths) != len(roots):
        return None  # not on a file system (a zip): no cheap signature, no cache
    if clauses_dir is not None:
        paths.append(Path(clauses_dir))
    try:
        files = sorted(
            (str(f), st.st_mtime_ns, st.st_size)
            for root in paths for f in root.rglob("*") if f.suffix in (".md", ".yaml")
            for st in (f.stat(),)
        )
    except OSError:
        return None
    return (str(clauses_dir), include_builtin, tuple(files))
