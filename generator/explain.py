"""``clauseguard explain``: for each clause, IN or OUT for a profile, and why, in words.

An included clause also lists the sources that apply to this profile (those whose ``when`` holds), the
same ones the documents and ``report.json`` print.
"""

from __future__ import annotations

import difflib
from pathlib import Path

from clauseguard.errors import UserError
from clauseguard.generator.library import load_library
from clauseguard.generator.profile import load_profile
from clauseguard.generator.render import base_globals
from clauseguard.generator.selection import Decision, select

__all__ = ["explain", "format_decision"]


def format_decision(decision: Decision) -> str:
    """``IN   core/agreement`` then the reason and, for an included clause, its sources, indented."""
    mark = "IN " if decision.included else "OUT"
    text = f"{mark}  {decision.id}\n     {decision.why}"
    if decision.included:
        text += f"\n     Sources: {'; '.join(decision.sources) or 'none apply to this profile'}"
    return text


def explain(profile_path: Path | str, clause_id: str | None = None, *,
            clauses_dir: Path | str | None = None, include_builtin: bool = True) -> str:
    """The decisions for every clause (or one), included ones first, each sorted by id."""
    profile = load_profile(profile_path)
    library = load_library(clauses_dir, include_builtin=include_builtin)
    selection = select(library, {**profile.context(markdown=False), **base_globals(library)})  # as build() does
    decisions = selection.decisions
    if clause_id is not None:
        if clause_id not in decisions:
            close = difflib.get_close_matches(clause_id, decisions, n=1)
            hint = f"did you mean {close[0]!r}? " if close else ""
            raise UserError(f"no clause has id {clause_id!r}; {hint}see `clauseguard catalogue`")
        return format_decision(decisions[clause_id]) + "\n"
    ordered = sorted(decisions.values(), key=lambda d: (not d.included, d.id))
    included = sum(d.included for d in ordered)
    header = f"{included} of {len(ordered)} clauses apply to {profile.product.name}.\n"
    return header + "\n".join(format_decision(d) for d in ordered) + "\n"
