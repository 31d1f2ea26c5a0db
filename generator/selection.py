"""Which clauses apply to a profile, and why, in words.

Every clause gets a :class:`Decision`: included because its ``applies_when`` is true (or it has
none), included because another included clause ``requires`` it, or left out because its
``applies_when`` is false. ``why`` quotes the rendered rationale (for a clause left out, its condition in
words, see :mod:`~clauseguard.generator.conditions`) and the profile facts the expression looked at, so
``report.json`` and ``clauseguard explain`` can show them.

An included clause's decision also carries the sources that apply to the profile: a source with a
``when`` expression is kept only when it holds, so a US-only product does not cite EU law.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from jinja2 import nodes

from clauseguard.errors import ClauseError, SelectionError
from clauseguard.generator.conditions import in_words, key_path, mapped_attribute
from clauseguard.generator.library import Clause, Library
from clauseguard.generator.sandbox import Source, compile_expression, compile_template, parse_expression, render

__all__ = ["Decision", "FactRef", "RequiresCycle", "Selection", "applicable_sources", "describe", "fact_refs",
           "requires_cycles", "select", "source_condition"]


@dataclass(frozen=True)
class FactRef:
    """A profile fact an expression reads: ``("modalities", "outputs")``, or ``models`` mapped to ``license``."""

    path: tuple[str, ...]
    mapped: str | None = None  # `models|map(attribute='license')`
    line: int = field(default=1, compare=False)  # line in the expression or template text

    def label(self) -> str:
        dotted = ".".join(self.path)
        return f"{dotted}[].{self.mapped}" if self.mapped else dotted



def fact_refs(node: nodes.Node) -> Iterator[FactRef]:
    """Every profile path an expression reads, outermost chains only, in source order."""
    if isinstance(node, nodes.Filter) and node.name == "map" and node.node is not None:
        path = key_path(node.node)
        attribute = mapped_attribute(node)
        if path and attribute:
            yield FactRef(path, attribute, node.lineno)
            return
    path = key_path(node)
    if path:
        yield FactRef(path, None, node.lineno)
        return
    for child in node.iter_child_nodes():
        yield from fact_refs(child)


def _value(context: dict[str, Any], ref: FactRef) -> Any:
    value: Any = context
    for part in ref.path:
        value = value.get(part) if isinstance(value, dict) else None
    if ref.mapped and isinstance(value, list):
        return [item.get(ref.mapped) if isinstance(item, dict) else None for item in value]
    return value


def describe(value: Any) -> str:
    """A profile value as a profile writer would read it: lists in brackets, true/false, 'not set'."""
    if value is None:
        return "not set"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return f"'{value}'"
    if isinstance(value, list):
        return "[" + ", ".join(describe(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {describe(v)}" for k, v in value.items()) + "}"
    return str(value)


@dataclass(frozen=True)
class Decision:
    id: str
    included: bool
    reason: str  # "applies", "always", "required", "excluded"
    why: str
    facts: tuple[str, ...] = ()
    required_by: tuple[str, ...] = ()
    sources: tuple[str, ...] = ()  # the clause's sources that apply to the profile (included clauses)


@dataclass(frozen=True)
class Selection:
    decisions: dict[str, Decision]

    @property
    def selected(self) -> tuple[str, ...]:
        return tuple(sorted(i for i, d in self.decisions.items() if d.included))

    def is_selected(self, clause_id: str) -> bool:
        decision = self.decisions.get(clause_id)
        return bool(decision and decision.included)


@cache
def _expression(text: str, file: str, line: int) -> tuple[Callable[..., Any], tuple[FactRef, ...], nodes.Expr]:
    source = Source(file, line)
    tree = parse_expression(text, source)
    refs = tuple(dict.fromkeys(fact_refs(tree)))
    return compile_expression(text, source), refs, tree


@cache
def _rationale_template(text: str, file: str, line: int) -> Any:
    return compile_template(text, Source(file, line))


def _facts(clause: Clause, context: dict[str, Any]) -> tuple[bool, tuple[str, ...]]:
    expr = clause.meta.applies_when
    if expr is None:
        return True, ()
    func, refs, _ = _expression(expr, clause.file, clause.line("applies_when"))
    result = bool(func(**context))
    return result, tuple(f"{ref.label()} = {describe(_value(context, ref))}" for ref in refs)


def _excluded_why(clause: Clause, context: dict[str, Any], facts: tuple[str, ...]) -> str:
    """``Left out: it applies only when jurisdictions includes US (applies_when: 'US' in jurisdictions).
    Profile: jurisdictions = ['EU'].``; a condition :func:`in_words` cannot say is quoted as written."""
    expr = clause.meta.applies_when or ""
    tree = _expression(expr, clause.file, clause.line("applies_when"))[2]
    words = in_words(tree, context)
    why = (f"Left out: it applies only when {words} (applies_when: {expr})." if words
           else f"Left out: its applies_when is false: {expr}.")
    return f"{why} Profile: {'; '.join(facts)}." if facts else why


def _relabel(err: ClauseError, what: str) -> ClauseError:
    """The sandbox names every expression ``applies_when``; say which source's ``when`` it was."""
    return type(err)(f"{what}: {err.message.removeprefix('applies_when: ')}", where=err.where)


def source_condition(clause: Clause, index: int) -> Callable[..., Any] | None:
    """The compiled ``when`` of ``sources[index]`` (None: always applies); errors name file:line."""
    when = clause.meta.source_entries()[index].when
    if when is None:
        return None
    what = f"sources[{index}].when"
    try:
        func, _, _ = _expression(when, clause.file, clause.line("sources", index, "when"))
    except ClauseError as err:
        raise _relabel(err, what) from err

    def evaluate(**context: Any) -> bool:
        try:
            return bool(func(**context))
        except ClauseError as err:
            raise _relabel(err, what) from err

    return evaluate


def applicable_sources(clause: Clause, context: dict[str, Any]) -> tuple[str, ...]:
    """The texts of the sources whose ``when`` holds for ``context`` (plain strings always do)."""
    kept = []
    for index, entry in enumerate(clause.meta.source_entries()):
        condition = source_condition(clause, index)
        if condition is None or condition(**context):
            kept.append(entry.text)
    return tuple(kept)


def _rationale(clause: Clause, context: dict[str, Any]) -> str:
    source = Source(clause.file, clause.line("rationale"))
    template = _rationale_template(clause.meta.rationale, clause.file, source.first_line)
    return " ".join(render(template, context, source, "rationale").split())


def _decide(clause: Clause, context: dict[str, Any]) -> Decision:
    applies, facts = _facts(clause, context)
    if not applies:
        return Decision(clause.id, False, "excluded", _excluded_why(clause, context, facts), facts)
    rationale = _rationale(clause, context)
    sources = applicable_sources(clause, context)
    if not facts:
        return Decision(clause.id, True, "always", f"{rationale} (It applies to every product.)", sources=sources)
    return Decision(clause.id, True, "applies", f"{rationale} (Profile: {'; '.join(facts)}.)", facts,
                    sources=sources)


def _pull_required(library: Library, decisions: dict[str, Decision], context: dict[str, Any]) -> None:
    """Include, transitively, every clause an included clause requires."""
    queue = sorted(i for i, d in decisions.items() if d.included)
    while queue:
        clause = library.clauses[queue.pop(0)]
        for other in clause.meta.requires:
            if other == clause.id:
                continue  # a clause that requires itself pulls in nothing (lint reports it)
            current = decisions[other]
            if current.included and current.reason != "required":
                continue
            by = tuple(sorted({*current.required_by, clause.id}))
            rationale = _rationale(library.clauses[other], context)
            why = f"Required by {', '.join(by)}. {rationale}"
            sources = applicable_sources(library.clauses[other], context)
            decisions[other] = Decision(other, True, "required", why, current.facts, by, sources)
            if not current.included:
                queue.append(other)


def _check_requires_known(library: Library) -> None:
    for clause in sorted(library.clauses.values(), key=lambda c: c.id):
        for index, other in enumerate(clause.meta.requires):
            if other not in library.clauses:
                raise SelectionError(f"{clause.id} requires {other!r}, which no clause file defines",
                                     where=f"{clause.file}:{clause.line('requires', index)}")


def _check_conflicts(library: Library, selection: Selection) -> None:
    for clause_id in selection.selected:
        clause = library.clauses[clause_id]
        for other in clause.meta.conflicts:
            if selection.is_selected(other):
                raise SelectionError(
                    f"{clause_id} ({clause.file}) conflicts with {other} ({library.clauses[other].file}), "
                    "and the profile includes both; change the profile or one clause's applies_when",
                    where=f"{clause.file}:{clause.line('conflicts')}")


@dataclass(frozen=True)
class RequiresCycle:
    """Clauses that require each other: ``path`` is one loop through them, first id again at its end."""

    path: tuple[str, ...]
    members: frozenset[str]  # every clause of the loop (a longer path may pass through more of them)

    def describe(self, library: Library) -> str:
        """``x/a (file) -> x/b (file) -> x/a``."""
        return " -> ".join([*(f"{i} ({library.clauses[i].file})" for i in self.path[:-1]), self.path[-1]])


def _requires_graph(library: Library) -> dict[str, tuple[str, ...]]:
    return {cid: tuple(o for o in c.meta.requires if o in library.clauses) for cid, c in library.clauses.items()}


def _reachable(graph: dict[str, tuple[str, ...]], start: str) -> set[str]:
    seen: set[str] = set()
    stack = list(graph[start])
    while stack:
        node = stack.pop()
        if node not in seen:
            seen.add(node)
            stack.extend(graph[node])
    return seen


def _shortest_loop(graph: dict[str, tuple[str, ...]], start: str, members: set[str]) -> tuple[str, ...]:
    queue, seen = deque([(start,)]), {start}
    while queue:
        path = queue.popleft()
        for node in graph[path[-1]]:
            if node == start:
                return (*path, start)
            if node in members and node not in seen:
                seen.add(node)
                queue.append((*path, node))
    raise AssertionError(f"{start} is in no loop")  # members are the clauses that reach start back


def requires_cycles(library: Library) -> list[RequiresCycle]:
    """Each group of clauses whose ``requires`` lead back to themselves, once, by its first id."""
    graph = _requires_graph(library)
    reach = {cid: _reachable(graph, cid) for cid in graph}
    cycles, done = [], set()
    for cid in sorted(graph):
        if cid in done or cid not in reach[cid]:
            continue
        members = {o for o in reach[cid] if cid in reach[o]}
        done |= members
        cycles.append(RequiresCycle(_shortest_loop(graph, cid, members), frozenset(members)))
    return cycles


def _check_cycles(library: Library, decisions: dict[str, Decision]) -> None:
    """A clause included only because another clause of its ``requires`` loop pulled it in is an error.

    The loop then overrides that clause's ``applies_when``: whenever one clause of it applies, all are
    included. A loop none of whose clauses is included, or whose clauses all apply anyway, changes nothing.
    """
    for cycle in requires_cycles(library):
        for cid in sorted(cycle.members):
            decision = decisions[cid]
            by = [b for b in decision.required_by if b in cycle.members and b != cid]
            if decision.reason == "required" and by:
                requirer = library.clauses[by[0]]
                raise SelectionError(
                    f"{cid} is included only because {by[0]} requires it, and their requires go round in a loop: "
                    f"{cycle.describe(library)}; so each clause of the loop is included whenever one applies, "
                    "whatever its applies_when says. Remove one of these requires",
                    where=f"{requirer.file}:{requirer.line('requires', requirer.meta.requires.index(cid))}")


def select(library: Library, context: dict[str, Any]) -> Selection:
    """Decide every clause of ``library`` for a profile context (``Profile.context()``)."""
    _check_requires_known(library)
    decisions = {cid: _decide(library.clauses[cid], context) for cid in sorted(library.clauses)}
    _pull_required(library, decisions, context)
    _check_cycles(library, decisions)
    selection = Selection(decisions)
    _check_conflicts(library, selection)
    return selection
