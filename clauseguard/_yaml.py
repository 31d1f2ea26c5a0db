"""YAML loading that remembers where each key is, so errors can name the line.

``load_yaml(text, filename)`` returns the data and a map from key paths (tuples of keys and list
indices) to 1-based line numbers. Duplicate keys are an error (PyYAML silently keeps the last one).

Aliases (``*name``) are kept as shared references, never copied, so loading nested aliases is cheap;
but whatever later walks the data (validation, an error message, a hash) meets every copy. A caller
that walks it can pass ``max_values`` to refuse a file whose aliases stand for more values than that.
"""

from __future__ import annotations

from typing import Any

import yaml

__all__ = ["YamlError", "decode", "format_loc", "line_of", "load_yaml"]

Path_ = tuple[str | int, ...]


class YamlError(ValueError):
    """Invalid YAML; ``line`` is 1-based or None."""

    def __init__(self, message: str, line: int | None) -> None:
        super().__init__(message)
        self.line = line


def decode(data: bytes) -> str:
    """UTF-8 text; a byte-order mark (Notepad writes one) is dropped. A :class:`YamlError` says what the
    file is saved as instead, and the line of the first byte that cannot be read."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise YamlError("the file is saved as UTF-16: save it as UTF-8", 1)
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        line = data[:err.start].count(b"\n") + 1
        raise YamlError(f"not UTF-8 text: byte 0x{data[err.start]:02x} cannot be read (the file is in another "
                        "encoding, such as Windows-1252): save it as UTF-8", line) from err


# What YAML 1.1 makes of an unquoted key that is not text: `on`, `off`, `yes` and `no` are booleans.
_KEY_KINDS = {"bool": "true or false", "int": "a number", "float": "a number", "null": "empty (null)",
              "timestamp": "a date", "binary": "binary data"}


def _check_key_is_text(key_node: yaml.ScalarNode) -> None:
    """Refuse a key that would be built as a boolean, number, date or null, at its own line: later, the
    data's key path (``[1]`` for ``on``) would no longer match a line or a schema key."""
    kind = key_node.tag.rpartition(":")[2]
    if key_node.tag.startswith("tag:yaml.org,2002:") and kind in _KEY_KINDS:
        raise YamlError(f"the key {key_node.value!r} is read as {_KEY_KINDS[kind]}, not as a name: put it in "
                        f"quotes ('{key_node.value}': ...)", key_node.start_mark.line + 1)


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
            _check_key_is_text(key_node)
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


def _expanded(node: yaml.Node, sizes: dict[int, int]) -> int:
    """How many values ``node`` holds with every alias in it copied out (each node counted once)."""
    if id(node) not in sizes:
        children = [n for pair in node.value for n in pair] if isinstance(node, yaml.MappingNode) else \
            node.value if isinstance(node, yaml.SequenceNode) else []
        sizes[id(node)] = 1 + sum(_expanded(child, sizes) for child in children)
    return sizes[id(node)]


def _check_size(node: yaml.Node, max_values: int) -> None:
    """Refuse aliases that expand to more than ``max_values`` values, naming the key that holds the most."""
    sizes: dict[int, int] = {}
    if _expanded(node, sizes) <= max_values:
        return
    path: Path_ = ()
    line = node.start_mark.line + 1
    while isinstance(node, yaml.MappingNode):  # down to the key under which the values multiply
        key, value = max(node.value, key=lambda pair: sizes[id(pair[1])])
        if sizes[id(value)] <= max_values:
            break
        path, line, node = (*path, key.value), key.start_mark.line + 1, value
    raise YamlError(f"{format_loc(path)}: its aliases (*name) stand for more than {max_values} values once "
                    "copied out; write the values out instead of nesting aliases", line)


def load_yaml(text: str, filename: str = "<string>", *, max_values: int | None = None) -> tuple[Any, dict[Path_, int]]:
    """Parse one YAML document; return ``(data, lines)``. Raises :class:`YamlError`.

    The text is parsed once (with libyaml when PyYAML has it): the node tree gives the lines, and the
    same tree is then constructed into Python data with the safe constructor. ``max_values`` refuses
    aliases that stand for more values than that (see the module docstring).
    """
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
        lines: dict[Path_, int] = {}
        data = None
        if node is not None:
            _walk(node, (), lines, set())  # each node once: ten nested aliases would be 10^9 paths
            if max_values is not None:
                _check_size(node, max_values)
            data = loader.construct_document(node)
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark or err.context_mark
        line = mark.line + 1 if mark else None
        problem = err.problem or str(err)
        raise YamlError(f"invalid YAML: {problem}", line) from err
    except yaml.reader.ReaderError as err:  # a character YAML does not allow: named, at its line
        line = text.count("\n", 0, err.position) + 1 if isinstance(err.position, int) else None
        code = err.character if isinstance(err.character, int) else ord(str(err.character)[:1] or "\0")
        raise YamlError(f"contains a control character U+{code:04X} (often pasted from a word processor); "
                        "remove it", line) from err
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
