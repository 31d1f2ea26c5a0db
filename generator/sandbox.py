"""The Jinja2 sandbox every clause body, rationale, template and ``applies_when`` runs in.

Clause files come from lawyers and from override folders we do not control, so templates must not
reach Python internals. Two fences: a static check of the parsed template refuses any attribute or
item that starts with ``_`` (``''.__class__``, ``cycler.__init__.__globals__``, ``attr('__x')``) before
anything runs, and the environment's ``is_safe_attribute`` refuses the same at render time. Both raise
:class:`~clauseguard.errors.SandboxError` naming the file and line. A text that would load another file
(``{% include %}``, ``{% import %}``, ``{% from %}``, ``{% extends %}``) is refused at the same check: a
clause refers to another with ``ref()`` and ``selected()``.

An ``applies_when`` (or a source's ``when``) is true or false, never undefined: a key below an optional
group the profile leaves out reads as not set (``operator.dmca_agent.phone`` is false without a
``dmca_agent``), and a name or key that does not exist (a typo) is a :class:`ClauseError` at its line.
"""

from __future__ import annotations

import difflib
import operator
import types
from collections.abc import Callable, Iterable, Iterator
from datetime import date
from typing import Any

from jinja2 import StrictUndefined, TemplateError, TemplateSyntaxError, nodes
from jinja2.exceptions import SecurityError
from jinja2.parser import Parser
from jinja2.sandbox import SandboxedEnvironment

from clauseguard.errors import ClauseError, SandboxError

__all__ = ["ClauseEnvironment", "Source", "compile_expression", "compile_template", "environment", "render"]

_MAX_REPEAT = 100_000  # longest string or list that `*` may build
_MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August", "September",
           "October", "November", "December")


def join_and(values: Iterable[Any], last: str = "and") -> str:
    """``['EU', 'US', 'UK']`` -> ``"EU, US and UK"``."""
    items = [str(v) for v in values]
    if len(items) <= 1:
        return "".join(items)
    return f"{', '.join(items[:-1])} {last} {items[-1]}"


def long_date(value: Any) -> str:
    """An ISO date (string or date) -> ``"1 December 2026"``."""
    try:
        day = value if isinstance(value, date) else date.fromisoformat(str(value))
    except ValueError as err:
        raise ClauseError(f"date filter: {value!r} is not an ISO date (YYYY-MM-DD)") from err
    return f"{day.day} {_MONTHS[day.month - 1]} {day.year}"


def _bounded_mul(left: Any, right: Any) -> Any:
    size = max(len(left) if isinstance(left, str | list | tuple) else 0,
               len(right) if isinstance(right, str | list | tuple) else 0)
    count = right if isinstance(right, int) else left if isinstance(left, int) else 0
    if size and isinstance(count, int) and size * count > _MAX_REPEAT:
        raise SecurityError(f"`*` would build more than {_MAX_REPEAT} items")
    return operator.mul(left, right)


class ClauseEnvironment(SandboxedEnvironment):
    """Sandbox with StrictUndefined that also refuses every attribute starting with ``_``."""

    intercepted_binops = frozenset({"*", "**"})

    def __init__(self) -> None:
        super().__init__(undefined=StrictUndefined, autoescape=False, keep_trailing_newline=True)
        self.filters["join_and"] = join_and
        self.filters["date"] = long_date
        self.globals.pop("lipsum", None)  # lawyers do not need it; one fewer object to poke at

    def is_safe_attribute(self, obj: Any, attr: str, value: Any) -> bool:
        if attr.startswith("_"):
            return False
        return super().is_safe_attribute(obj, attr, value)

    def call_binop(self, context: Any, operator_: str, left: Any, right: Any) -> Any:
        if operator_ == "*":
            return _bounded_mul(left, right)
        if operator_ == "**" and isinstance(right, int) and right > 64:
            raise SecurityError("`**` exponent above 64 refused")
        return super().call_binop(context, operator_, left, right)


class _ConditionEnvironment(ClauseEnvironment):
    """For ``applies_when`` and ``sources[].when``: below a value that is not set, every key is not set.

    ``operator.dmca_agent.phone`` is then false for a profile without a ``dmca_agent``, as a lawyer
    reads it, instead of an error; a key that does not exist below a value that is set stays undefined,
    and StrictUndefined makes that an error. Clause bodies keep the plain environment: a body printing
    a key of a group that is not set is an error, not the word "None".
    """

    def getattr(self, obj: Any, attribute: str) -> Any:
        return None if obj is None else super().getattr(obj, attribute)

    def getitem(self, obj: Any, argument: Any) -> Any:
        return None if obj is None else super().getitem(obj, argument)


_ENV: ClauseEnvironment | None = None
_CONDITION_ENV: ClauseEnvironment | None = None


def environment() -> ClauseEnvironment:
    """The one shared environment (filters and policies never change after creation)."""
    global _ENV
    if _ENV is None:
        _ENV = ClauseEnvironment()
    return _ENV


def _condition_environment() -> ClauseEnvironment:
    global _CONDITION_ENV
    if _CONDITION_ENV is None:
        _CONDITION_ENV = _ConditionEnvironment()
    return _CONDITION_ENV


class Source:
    """Where a piece of template text comes from: ``file`` and the file line of its first line."""

    def __init__(self, file: str, first_line: int = 1) -> None:
        self.file = file
        self.first_line = first_line

    def where(self, line: int | None = None) -> str:
        """``file:line`` for a 1-based line of the template text (None: its first line)."""
        return f"{self.file}:{self.first_line + (line or 1) - 1}"


def _private_names(tree: nodes.Node) -> Iterable[tuple[str, int]]:
    """Attributes, items and ``attr()`` filter arguments starting with ``_``, with their lines."""
    kinds = (nodes.Getattr, nodes.Getitem, nodes.Filter)
    # find_all() yields descendants only: an expression that *is* `x.__class__` has it at the root.
    for node in ([tree] if isinstance(tree, kinds) else []) + list(tree.find_all(kinds)):
        name: Any = None
        if isinstance(node, nodes.Getattr):
            name = node.attr
        elif isinstance(node, nodes.Getitem) and isinstance(node.arg, nodes.Const):
            name = node.arg.value
        elif isinstance(node, nodes.Filter) and node.name == "attr" and node.args:
            arg = node.args[0]
            name = arg.value if isinstance(arg, nodes.Const) else None
        if isinstance(name, str) and name.startswith("_"):
            yield name, node.lineno


def _unknown_filters_and_tests(tree: nodes.Node) -> Iterable[tuple[str, str, list[str], int]]:
    """``(kind, name, known names, line)`` for every filter or test the environment does not have."""
    env = environment()
    kinds: dict[type[nodes.Node], tuple[str, dict[str, Any]]] = {
        nodes.Filter: ("filter", env.filters), nodes.Test: ("test", env.tests)}
    for node in ([tree] if type(tree) in kinds else []) + list(tree.find_all(tuple(kinds))):
        kind, known = kinds[type(node)]
        if node.name not in known:  # type: ignore[attr-defined]
            yield kind, node.name, sorted(known), node.lineno  # type: ignore[attr-defined]


_LOADING_TAGS: dict[type[nodes.Node], str] = {
    nodes.Include: "include", nodes.Import: "import", nodes.FromImport: "from", nodes.Extends: "extends"}


def _loading_tags(tree: nodes.Node) -> Iterable[tuple[str, int]]:
    """``{% include %}``, ``{% import %}``, ``{% from %}`` and ``{% extends %}`` tags, with their lines."""
    for node in tree.find_all(tuple(_LOADING_TAGS)):
        yield _LOADING_TAGS[type(node)], node.lineno


def check_tree(tree: nodes.Node, source: Source) -> None:
    """Refuse tags that load other files, private attributes and unknown filters or tests before anything
    is rendered."""
    for tag, line in _loading_tags(tree):
        raise ClauseError(f"{{% {tag} %}}: a clause cannot include other files; use ref('id') to refer to another "
                          "clause (and selected('id') to test whether it is included)", where=source.where(line))
    for name, line in _private_names(tree):
        raise SandboxError(f"access to {name!r} is not allowed (attributes starting with '_' are refused)",
                           where=source.where(line))
    for kind, name, known, line in _unknown_filters_and_tests(tree):
        close = difflib.get_close_matches(name, known, n=1)
        hint = f"did you mean {close[0]!r}?" if close else f"known {kind}s: {', '.join(known)}"
        raise ClauseError(f"unknown {kind} {name!r}; {hint}", where=source.where(line))


_CURLY_QUOTES = "“”‘’"


def _syntax_message(err: TemplateSyntaxError) -> str:
    """Jinja's message, with a hint when it stopped at a curly quote pasted from a word processor."""
    message = err.message or ""
    if any(q in message for q in _CURLY_QUOTES):
        message += " (curly quotes are not quotes here: type straight quotes ' or \")"
    return message


_BLOCK_TAGS = frozenset({"if", "for", "macro", "call", "filter", "with", "block", "set", "autoescape"})


def _tags(text: str) -> Iterator[tuple[int, str, bool]]:
    """``(line, name, is_assignment)`` of every ``{% name ... %}`` tag in ``text``."""
    opened: tuple[int, str] | None = None
    assigns = False
    for line, kind, value in environment().lex(text):
        if kind == "block_begin":
            opened, assigns = None, False
        elif kind == "name" and opened is None:
            opened = (line, value)
        elif kind == "operator" and value == "=":
            assigns = True
        elif kind == "block_end" and opened is not None:
            yield (*opened, assigns)


def _unclosed_tag(text: str) -> tuple[str, int] | None:
    """The innermost ``if``, ``for`` … that ``text`` opens and never closes, with its line."""
    stack: list[tuple[str, int]] = []
    try:
        for line, name, assigns in _tags(text):
            if name in _BLOCK_TAGS and not (name == "set" and assigns):  # {% set x = 1 %} needs no endset
                stack.append((name, line))
            elif name.startswith("end") and stack and stack[-1][0] == name[3:]:
                stack.pop()
    except TemplateSyntaxError:
        return None
    return stack[-1] if stack else None


def parse_template(text: str, source: Source) -> nodes.Template:
    """Parse and statically check template text; syntax errors name the file line.

    A block left open (an ``{% if %}`` without ``{% endif %}``) is named at the line that opens it:
    Jinja itself can only say it reached the end of the text.
    """
    try:
        tree = environment().parse(text, filename=source.file)
    except TemplateSyntaxError as err:
        message, line = _syntax_message(err), err.lineno
        unclosed = _unclosed_tag(text) if message.startswith("Unexpected end of template") else None
        if unclosed is not None:
            name, line = unclosed
            message = f"{{% {name} %}} is never closed: add {{% end{name} %}} where it should end ({message})"
        raise ClauseError(f"template syntax error: {message}", where=source.where(line)) from err
    check_tree(tree, source)
    return tree


def parse_expression(text: str, source: Source) -> nodes.Expr:
    """Parse an ``applies_when`` expression (the whole text must be one expression)."""
    env = environment()
    try:
        parser = Parser(env, text, state="variable")
        expr = parser.parse_expression()
        if not parser.stream.eos:
            raise TemplateSyntaxError("unexpected text after the expression", parser.stream.current.lineno)
    except TemplateSyntaxError as err:
        raise ClauseError(f"applies_when: syntax error: {_syntax_message(err)}", where=source.where()) from err
    check_tree(expr, source)
    return expr


def compile_template(text: str, source: Source) -> Any:
    """A compiled :class:`jinja2.Template` for clause or template text."""
    env = environment()
    tree = parse_template(text, source)
    try:
        code = env.compile(tree, filename=source.file)
    except TemplateSyntaxError as err:  # TemplateAssertionError: an unknown filter or test, say
        raise ClauseError(f"template error: {err.message}", where=source.where(err.lineno)) from err
    return env.template_class.from_code(env, code, env.make_globals(None))


def compile_expression(text: str, source: Source) -> Callable[..., bool]:
    """A callable evaluating ``applies_when`` over keyword arguments to True or False; errors name the file.

    The truth value is taken inside the guard: an undefined result (``data.logs_ip_adresses``, a typo)
    raises only when it is tested, and must become a :class:`ClauseError` at the file line too.
    """
    parse_expression(text, source)
    try:
        func = _condition_environment().compile_expression(text, undefined_to_none=False)
    except TemplateSyntaxError as err:  # parsed already, so an unknown filter or test
        raise ClauseError(f"applies_when: {err.message}", where=source.where()) from err

    def evaluate(**context: Any) -> bool:
        return _guarded(lambda: bool(func(**context)), source, None, "applies_when")

    return evaluate


def _template_line(err: BaseException, filename: str) -> int | None:
    """The template line where ``err`` was raised (Jinja rewrites frames to template lines)."""
    line = None
    tb: types.TracebackType | None = err.__traceback__
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == filename:
            line = tb.tb_lineno
        tb = tb.tb_next
    return line


def _guarded(call: Callable[[], Any], source: Source, filename: str | None, what: str) -> Any:
    """Run ``call``; turn sandbox, undefined-name and our own errors into ones naming the file line."""
    try:
        return call()
    except SecurityError as err:
        line = _template_line(err, filename) if filename else None
        raise SandboxError(f"{what}: refused by the sandbox: {err}", where=source.where(line)) from err
    except ClauseError as err:
        if err.where:
            raise
        line = _template_line(err, filename) if filename else None
        raise type(err)(f"{what}: {err.message}", where=source.where(line)) from err
    except TemplateError as err:
        line = _template_line(err, filename) if filename else None
        raise ClauseError(f"{what}: {err.message or err}", where=source.where(line)) from err
    except (TypeError, ValueError, ArithmeticError, LookupError) as err:
        line = _template_line(err, filename) if filename else None
        raise ClauseError(f"{what}: {type(err).__name__}: {err}", where=source.where(line)) from err
    except RecursionError as err:  # a macro that calls itself
        line = _template_line(err, filename) if filename else None
        raise ClauseError(f"{what}: recursion too deep (does a macro call itself?)", where=source.where(line)) from err


def render(template: Any, context: dict[str, Any], source: Source, what: str = "body") -> str:
    """Render a compiled template; every failure is a :class:`ClauseError` naming file and line."""
    return _guarded(lambda: template.render(context), source, source.file, what)
