"""An ``applies_when`` expression in words, for ``explain`` and ``report.json``.

The common shapes of the clause library read as sentences over the profile's key paths:

- ``'US' in jurisdictions`` -> ``jurisdictions includes US``
- ``'llama3.1' in models|map(attribute='license')`` -> ``an entry of models has license llama3.1``
- ``audience.minimum_age < 13`` -> ``audience.minimum_age is below 13``; ``models|length > 0`` -> ``the number
  of models is above 0``
- ``user_content.uploads`` -> ``user_content.uploads is true`` (a list: ``is not empty``; else ``is set``)
- ``and``, ``or``, ``not`` and parentheses; ``not`` is carried inwards (``not (a and b)`` reads as ``a is
  false or b is false``).

Any other shape (a filter such as ``select``, a test, an ``if`` expression) gives None: the caller shows the
expression as written.
"""

from __future__ import annotations

from typing import Any

from jinja2 import nodes

__all__ = ["in_words", "key_path", "mapped_attribute"]

_PHRASES = {"eq": "is", "ne": "is not", "lt": "is below", "lteq": "is at most", "gt": "is above",
            "gteq": "is at least"}
_OPPOSITE = {"eq": "ne", "ne": "eq", "lt": "gteq", "gteq": "lt", "lteq": "gt", "gt": "lteq", "in": "notin",
             "notin": "in"}


class _Unsaid(Exception):
    """A shape this module does not put into words."""


def in_words(expr: nodes.Expr, context: dict[str, Any]) -> str | None:
    """``expr`` as a sentence (``jurisdictions includes US and audience.minimum_age is below 13``), or None."""
    try:
        return _words(expr, context, False)[0]
    except _Unsaid:
        return None


def _words(node: nodes.Node, context: dict[str, Any], negate: bool) -> tuple[str, str | None]:
    """The words, and ``"and"``/``"or"`` when they join parts (so a caller can put them in parentheses)."""
    if isinstance(node, nodes.Not):
        return _words(node.node, context, not negate)
    if isinstance(node, nodes.And | nodes.Or):
        joiner = "and" if isinstance(node, nodes.And) != negate else "or"  # not (a and b) = not a or not b
        parts = []
        for child in (node.left, node.right):
            text, kind = _words(child, context, negate)
            parts.append(f"({text})" if kind and kind != joiner else text)
        return f" {joiner} ".join(parts), joiner
    if isinstance(node, nodes.Compare) and len(node.ops) == 1:
        op = node.ops[0].op
        return _compare(node.expr, _OPPOSITE[op] if negate else op, node.ops[0].expr), None
    return _truth(node, context, negate), None


def _compare(left: nodes.Node, op: str, right: nodes.Node) -> str:
    if op in ("in", "notin"):
        if isinstance(left, nodes.Const) and (mapped := _mapped(right)):
            path, attribute = mapped
            return f"{'an' if op == 'in' else 'no'} entry of {path} has {attribute} {_value(left)}"
        if isinstance(left, nodes.Const):
            return f"{_label(right)} {'includes' if op == 'in' else 'does not include'} {_value(left)}"
        if isinstance(right, nodes.List | nodes.Tuple):
            values = ", ".join(_value(item) for item in right.items)
            return f"{_label(left)} is {'one' if op == 'in' else 'none'} of {values}"
        raise _Unsaid
    if op not in _PHRASES or not isinstance(right, nodes.Const):
        raise _Unsaid
    return f"{_label(left)} {_PHRASES[op]} {_value(right)}"


def _truth(node: nodes.Node, context: dict[str, Any], negate: bool) -> str:
    """A key path read as true or false: a flag, a list (empty or not), or another value (set or not)."""
    path = _path(node)
    value: Any = context
    for part in path:
        value = value.get(part) if isinstance(value, dict) else None
    if isinstance(value, bool):
        return f"{'.'.join(path)} is {'false' if negate else 'true'}"
    if isinstance(value, list):
        return f"{'.'.join(path)} is {'empty' if negate else 'not empty'}"
    return f"{'.'.join(path)} is {'not set' if negate else 'set'}"


def key_path(node: nodes.Node) -> tuple[str, ...] | None:
    """``a.b['c']`` -> ``("a", "b", "c")``; None when the chain does not start at a name."""
    if isinstance(node, nodes.Name):
        return (node.name,)
    if isinstance(node, nodes.Getattr):
        base = key_path(node.node)
        return (*base, node.attr) if base else None
    if isinstance(node, nodes.Getitem) and isinstance(node.arg, nodes.Const) and isinstance(node.arg.value, str):
        base = key_path(node.node)
        return (*base, node.arg.value) if base else None
    return None


def mapped_attribute(node: nodes.Filter) -> str | None:
    """``attribute`` of ``models|map(attribute='license')``."""
    for kwarg in node.kwargs:
        if kwarg.key == "attribute" and isinstance(kwarg.value, nodes.Const):
            return str(kwarg.value.value)
    return None


def _path(node: nodes.Node) -> tuple[str, ...]:
    path = key_path(node)
    if path is None:
        raise _Unsaid
    return path


def _mapped(node: nodes.Node) -> tuple[str, str] | None:
    """``models|map(attribute='license')`` -> ``("models", "license")``."""
    if not (isinstance(node, nodes.Filter) and node.name == "map" and node.node is not None and not node.args
            and len(node.kwargs) == 1 and (attribute := mapped_attribute(node)) is not None):
        return None
    return ".".join(_path(node.node)), attribute


def _label(node: nodes.Node) -> str:
    """A key path, or ``the number of models`` for ``models|length``."""
    if isinstance(node, nodes.Filter) and node.name == "length" and node.node is not None and not node.args:
        return f"the number of {'.'.join(_path(node.node))}"
    return ".".join(_path(node))


def _value(node: nodes.Node) -> str:
    if not isinstance(node, nodes.Const):
        raise _Unsaid
    if isinstance(node.value, bool):
        return "true" if node.value else "false"
    return str(node.value)
