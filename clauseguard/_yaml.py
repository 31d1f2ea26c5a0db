"""YAML loading that remembers where each key is, so errors can name the line.

``load_yaml(text, filename)`` returns the data and a map from key paths (tuples of keys and list
indices) to 1-based line numbers. Duplicate keys are an error (PyYAML silently keeps the last one).
"""

from __future__ import annotations

from typing import Any

import yaml

__all__ = ["YamlError", "format_loc", "line_of", "load_yaml"]

Path_ = tuple[str | int, ...]


class YamlError(ValueError):
    """Invalid YAML; ``line`` is 1-based or None."""

    def __init__(self, message: str, line: int | None) -> None:
        super().__init__(message)
        self.line = line


def _walk(node: yaml.Node, path: Path_, lines: dict[Path_, int], walked: set[int]) -> None:
    lines.setdefault(path, node.start_mark.line + 1)
    if id(node) in walked:  # an alias of a node walked already: its keys are checked, its lines known
        return
    walked.add(id(node))
    if isinstance(node, yaml.MappingNode):
        seen: set[str] = set()
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                raise YamlError("keys must be plain names, not a list or a mapping", key_node.start_mark.line + 1)
            key = key_node.value
            if key in seen:
                raise YamlError(f"duplicate key {format_loc((*path, key))!r}", key_node.start_mark.line + 1)
            seen.add(key)
            lines[(*path, key)] = key_node.start_mark.line + 1
            _walk(value_node, (*path, key), lines, walked)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _walk(item, (*path, index), lines, walked)


_FastLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _BadScalar(Exception):
    """A node whose value the safe constructor rejected (``2026-13-45`` as a date, say)."""

    def __init__(self, node: yaml.Node, err: Exception) -> None:
        super().__init__(str(err))
        self.node = node


class _Loader(_FastLoader):  # type: ignore[misc, valid-type]
    """The fast loader, but a ValueError or TypeError while building a value names its node."""

    def construct_object(self, node: yaml.Node, deep: bool = False) -> Any:
        try:
            return super().construct_object(node, deep=deep)
        except (ValueError, TypeError) as err:
            raise _BadScalar(node, err) from err


def load_yaml(text: str, filename: str = "<string>") -> tuple[Any, dict[Path_, int]]:
    """Parse one YAML document; return ``(data, lines)``. Raises :class:`YamlError`.

    The text is parsed once (with libyaml when PyYAML has it): the node tree gives the lines, and the
    same tree is then constructed into Python data with the safe constructor.
    """
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
        lines: dict[Path_, int] = {}
        data = None
        if node is not None:
            _walk(node, (), lines, set())  # each node once: ten nested aliases would be 10^9 paths
            data = loader.construct_document(node)
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark or err.context_mark
        line = mark.line + 1 if mark else None
        problem = err.problem or str(err)
        raise YamlError(f"invalid YAML: {problem}", line) from err
    except yaml.YAMLError as err:
        raise YamlError(f"invalid YAML: {err}", None) from err
    except _BadScalar as err:
        raise YamlError(_bad_value_message(err), err.node.start_mark.line + 1) from err.__cause__
    finally:
        loader.dispose()
    return data, lines


def _bad_value_message(err: _BadScalar) -> str:
    value = getattr(err.node, "value", "")
    shown = f" {value!r}" if isinstance(value, str) else ""
    if err.node.tag == "tag:yaml.org,2002:timestamp":
        return f"invalid date{shown}: {err} (expected a real date, YYYY-MM-DD)"
    return f"invalid value{shown}: {err}"


def format_loc(loc: Path_) -> str:
    """``("models", 0, "license")`` -> ``"models[0].license"``."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out or "(top level)"


def line_of(lines: dict[Path_, int], loc: Path_) -> int | None:
    """The line of ``loc``, or of its nearest ancestor that has one."""
    loc = tuple(loc)
    while loc:
        if loc in lines:
            return lines[loc]
        loc = loc[:-1]
    return lines.get(())
