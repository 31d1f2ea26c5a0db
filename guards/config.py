"""Loading guards.yaml into :class:`GuardSpec` objects, with errors that name file, line, guard and key.

Two forms are accepted: the mapping the generator writes ``{clauseguard_version, profile_sha256,
guards: [...]}`` and a bare list of guards. Nothing is silently dropped: an unknown top-level key,
an empty guard list, a bad parameter or a regex that does not compile is a :class:`GuardConfigError`.
So is an ``image_mark`` guard placed before an output image guard that can replace the image (an
``image_nsfw`` that blurs, a guard type of one's own): the blur is a new file, without the marks.
"""

from __future__ import annotations

import difflib
import os
import re
import reprlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from clauseguard import __version__
from clauseguard._yaml import YamlError, decode, format_loc, line_of, load_yaml
from clauseguard.errors import GuardConfigError, UserError
from clauseguard.guards._params import PARAMS, Action, GuardSpec

__all__ = ["TOP_LEVEL_KEYS", "load_guards", "locate", "parse_guards"]

TOP_LEVEL_KEYS = frozenset({"clauseguard_version", "profile_sha256", "guards"})

Loc = tuple[str | int, ...]


def load_guards(path: str | Path) -> list[GuardSpec]:
    """Read and validate a guards.yaml file.

    Read from a file, a guard differs from one built in Python in three ways: its clause ids must be
    in the ``clauseguard.lock`` beside the file, when there is one; a blocking guard with neither clauses
    nor message blocks with "Blocked by guard <id>."; and a relative ``model_path`` is read from the
    file's folder, not the working directory.
    """
    path = Path(path)
    text = _read(path)
    specs, lines, base = _parse(text, str(path))
    _check_clauses(specs, base, lines, path)
    return [_relative_model_path(spec, path.parent) for spec in specs]


def _read(path: Path) -> str:
    try:
        return decode(path.read_bytes())
    except OSError as err:
        raise GuardConfigError(f"cannot read guards file: {err}", where=str(path)) from err
    except YamlError as err:  # not UTF-8: the line of the first byte that is not, and what to do
        raise GuardConfigError(str(err), where=f"{path}:{err.line}" if err.line else str(path)) from err


def parse_guards(text: str, filename: str = "<string>") -> list[GuardSpec]:
    """Validate guards.yaml text; ``filename`` is used in error messages only."""
    return _parse(text, filename)[0]


def _parse(text: str, filename: str) -> tuple[list[GuardSpec], dict[Loc, int], Loc]:
    """The specs of guards.yaml text, the line of each key, and where the guard list is."""
    try:
        data, lines = load_yaml(text, filename)
    except YamlError as err:
        where = f"{filename}:{err.line}" if err.line else filename
        raise GuardConfigError(str(err), where=where) from err
    try:
        entries, base = _entries(data, lines, filename)
        specs = [_spec(entry, (*base, i), lines, filename) for i, entry in enumerate(entries)]
        _check_unique_ids(specs, base, lines, filename)
        _check_marks_last(specs, base, lines, filename)
    except GuardConfigError as err:
        newer = _newer_writer(data)
        if newer is None:
            raise
        raise GuardConfigError(f"{err.message} (the file was written by clauseguard {newer}, newer than this "
                               f"clauseguard {__version__}: upgrade clauseguard to run it)", where=err.where) from err
    return specs, lines, base


LOCK = "clauseguard.lock"


def _locked_clauses(lock: Path) -> set[str] | None:
    """The clause ids ``clauseguard.lock`` lists, or None when there is no lock."""
    if not lock.is_file():
        return None
    try:
        data, _ = load_yaml(decode(lock.read_bytes()), str(lock))
        ids = {c["id"] for c in data["clauses"]}
    except (OSError, YamlError, TypeError, KeyError) as err:
        raise GuardConfigError(f"cannot read the clause ids of {LOCK} beside the guards file: {err}",
                               where=str(lock)) from err
    if not all(isinstance(i, str) for i in ids):
        raise GuardConfigError(f"{LOCK} lists a clause id that is not text", where=str(lock))
    return ids


def _check_clauses(specs: list[GuardSpec], base: Loc, lines: dict[Loc, int], path: Path) -> None:
    """Every clause a guard cites is one of the documents': in the ``clauseguard.lock`` beside guards.yaml.
    A typo ("content/violence-and-weapon") cited a clause that does not exist in every decision. Without a
    lock nothing is checked: a guards.yaml of your own may cite the clauses of your own folder."""
    known = _locked_clauses(path.parent / LOCK)
    if known is None:
        return
    for i, spec in enumerate(specs):
        cited = [((*base, i, "clauses", j), c) for j, c in enumerate(spec.clauses)]
        cited += [((*base, i, "category_clauses", cat, j), c)
                  for cat, ids in spec.category_clauses.items() for j, c in enumerate(ids)]
        for loc, clause in cited:
            if clause not in known:
                close = difflib.get_close_matches(clause, sorted(known), n=1)
                hint = f"; did you mean {close[0]!r}?" if close else ""
                raise GuardConfigError(f"clause {clause!r} is not in the {LOCK} beside this file (the clauses "
                                       f"your documents were generated from){hint}",
                                       where=_where(str(path), lines, loc, spec.id))


def _relative_model_path(spec: GuardSpec, folder: Path) -> GuardSpec:
    """``spec`` with a relative ``params.model_path`` read from ``folder`` (guards.yaml's)."""
    model_path = spec.params.get("model_path")
    if not isinstance(model_path, str) or not model_path or Path(model_path).expanduser().is_absolute():
        return spec
    return spec.model_copy(update={"params": {**spec.params, "model_path": os.path.abspath(folder / model_path)}})


def _version(text: str) -> tuple[int, ...]:
    found = re.match(r"\d+(?:\.\d+)*", text.strip())
    return tuple(int(part) for part in found.group().split(".")) if found else ()


def _newer_writer(data: Any) -> str | None:
    """The ``clauseguard_version`` that wrote ``data`` when it is newer than this clauseguard: a key, type
    or parameter this one refuses may be one that version added."""
    written = data.get("clauseguard_version") if isinstance(data, dict) else None
    if isinstance(written, str) and _version(written) > _version(__version__):
        return written
    return None


def _where(filename: str, lines: dict[Loc, int], loc: Loc, guard_id: str | None = None) -> str:
    line = line_of(lines, loc)
    place = f"{filename}:{line}" if line else filename
    guard = f" guard {guard_id!r}" if guard_id else ""
    return f"{place}{guard} {format_loc(loc)}"


def _entries(data: Any, lines: dict[Loc, int], filename: str) -> tuple[list[Any], Loc]:
    if isinstance(data, list):
        entries, base = data, ()
    elif isinstance(data, dict):
        unknown = sorted(set(data) - TOP_LEVEL_KEYS)
        if unknown:
            raise GuardConfigError(f"unknown top-level key(s) {unknown}; expected {sorted(TOP_LEVEL_KEYS)}",
                                   where=_where(filename, lines, (unknown[0],)))
        for key in ("clauseguard_version", "profile_sha256"):
            if key in data and not isinstance(data[key], str):
                raise GuardConfigError(f"{key} must be a string, not {data[key]!r} (quote it)",
                                       where=_where(filename, lines, (key,)))
        entries, base = data.get("guards"), ("guards",)
        if not isinstance(entries, list):
            raise GuardConfigError("'guards' must be a list of guards",
                                   where=_where(filename, lines, ("guards",)))
    else:
        found = "nothing (the file is empty)" if data is None else reprlib.repr(data)
        raise GuardConfigError(f"expected a list of guards or a mapping with a 'guards' list, found {found}",
                               where=filename)
    if not entries:
        raise GuardConfigError("the guard list is empty", where=_where(filename, lines, base))
    return entries, base


def _spec(entry: Any, loc: Loc, lines: dict[Loc, int], filename: str) -> GuardSpec:
    if not isinstance(entry, dict):
        raise GuardConfigError("each guard must be a mapping", where=_where(filename, lines, loc))
    guard_id = entry.get("id") if isinstance(entry.get("id"), str) else None
    type_name = entry.get("type")
    if isinstance(type_name, str) and type_name not in PARAMS:
        raise GuardConfigError(f"unknown guard type {type_name!r}; known: {sorted(PARAMS)}",
                               where=_where(filename, lines, (*loc, "type"), guard_id))
    if isinstance(type_name, str) and isinstance(entry.get("params", {}), dict):
        _validate(lambda: PARAMS[type_name].model_validate(entry.get("params", {})),
                  (*loc, "params"), lines, filename, guard_id)
    spec = _validate(lambda: GuardSpec.model_validate(entry), loc, lines, filename, guard_id,
                     across=lambda: _misfit(entry))
    if (spec.on_fail is Action.BLOCK and spec.type != "rate_limit"  # that one says when to try again
            and not (spec.clauses or spec.message or spec.category_messages)):
        # nothing to tell the user: an empty message would be shown, citing no clause
        spec = spec.model_copy(update={"message": f"Blocked by guard {spec.id}."})
    return spec


def _misfit(entry: dict[str, Any]) -> str | None:
    """The key that GuardSpec's check across fields refused (pydantic places it at the guard, not at a
    key): a stage, modality or on_fail the guard's type does not take, or a disclaimer on the prompt."""
    model = PARAMS.get(entry["type"]) if isinstance(entry.get("type"), str) else None
    if model is None:
        return None
    for key, allowed in (("stage", model.STAGES), ("modality", model.MODALITIES), ("on_fail", model.ACTIONS)):
        value = entry.get(key, GuardSpec.model_fields[key].default)
        if getattr(value, "value", value) not in allowed:
            return key
    return "stage" if entry.get("on_fail") == "disclaim" else None


def _validate(build: Any, loc: Loc, lines: dict[Loc, int], filename: str, guard_id: str | None,
              across: Any = None) -> Any:
    """``build()``; its first ValidationError placed at its key (a check across fields, which pydantic
    places nowhere, at the key ``across()`` names)."""
    try:
        return build()
    except ValidationError as err:
        first = err.errors()[0]
        key = loc + tuple(first["loc"])
        if not first["loc"] and across is not None and (field := across()) is not None:
            key = (*key, field)
        message = first["msg"].removeprefix("Value error, ")
        if len(err.errors()) > 1:
            message += f" (and {len(err.errors()) - 1} more)"
        raise GuardConfigError(message, where=_where(filename, lines, key, guard_id)) from err


def _check_unique_ids(specs: list[GuardSpec], base: Loc, lines: dict[Loc, int], filename: str) -> None:
    seen: set[str] = set()
    for i, spec in enumerate(specs):
        if spec.id in seen:
            raise GuardConfigError(f"duplicate guard id {spec.id!r}",
                                   where=_where(filename, lines, (*base, i, "id"), spec.id))
        seen.add(spec.id)


# Output image guards that never change an image's bytes (image_nsfw, but when it blurs); a type of one's
# own may.
_KEEP_IMAGES = frozenset({"image_mark", "ai_disclosure", "image_nsfw"})


def _replaces_images(spec: GuardSpec) -> bool:
    return spec.type not in _KEEP_IMAGES or (spec.type == "image_nsfw" and spec.on_fail.value == "redact")


def mark_replaced_by(specs: Sequence[GuardSpec]) -> tuple[int, GuardSpec] | None:
    """The first ``image_mark`` among ``specs`` followed by an output image guard that can replace the
    image it marked, as (its index, that later guard); None when the order is sound. Image guards run in
    file order, each on the previous one's output: an image_nsfw that blurs after image_mark would
    release a fresh, unmarked PNG. Refused rather than reordered, so that the file reads as it runs."""
    images = [(i, s) for i, s in enumerate(specs) if s.stage.value == "output" and s.modality.value == "image"]
    for i, spec in images:
        later = next((s for j, s in images if j > i and _replaces_images(s)), None)
        if spec.type == "image_mark" and later is not None:
            return i, later
    return None


def marks_last_message(later: GuardSpec) -> str:
    return (f"image_mark comes before guard {later.id!r} ({later.type}, on_fail: {later.on_fail.value}), "
            "which can replace the image it marked (a blurred image is a new file, without the marks): "
            "put image_mark last among the output image guards")


def _check_marks_last(specs: list[GuardSpec], base: Loc, lines: dict[Loc, int], filename: str) -> None:
    found = mark_replaced_by(specs)
    if found is not None:
        i, later = found
        raise GuardConfigError(marks_last_message(later), where=_where(filename, lines, (*base, i), specs[i].id))


def locate(err: UserError, path: str | Path) -> UserError:
    """``err``, raised while building a guard read from ``path`` and placed as ``guard 'id' key``, placed
    at the file and line of that key instead (a model folder that is missing is found only when the guard
    is built, after the file was read). Errors placed otherwise come back unchanged."""
    where = err.where or ""
    if not where.startswith("guard "):
        return err
    try:
        data, lines = load_yaml(decode(Path(path).read_bytes()), str(path))
        entries, base = _entries(data, lines, str(path))
    except (OSError, YamlError, UserError):
        return err
    for i, entry in enumerate(entries):
        guard_id = entry.get("id") if isinstance(entry, dict) else None
        if isinstance(guard_id, str) and (where == f"guard {guard_id!r}" or where.startswith(f"guard {guard_id!r} ")):
            key = tuple(int(part[1:-1]) if part.startswith("[") else part
                        for part in re.findall(r"\[\d+\]|[^.\[\]]+", where[len(f"guard {guard_id!r}"):].strip()))
            return type(err)(err.message, where=_where(str(path), lines, (*base, i, *key), guard_id))
    return err
