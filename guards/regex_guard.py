"""Regex guard: the user's own patterns, each search bounded by ``params.timeout_ms``.

User patterns may backtrack catastrophically (``(a+)+$``). The stdlib ``re`` cannot be interrupted
(it holds the GIL), so patterns run on the ``regex`` package, whose ``timeout`` stops a match; a
pattern that runs out of time fails the guard closed (block, or flag with ``on_error: flag``).
"""

from __future__ import annotations

import time
from typing import Any

from clauseguard.errors import GuardConfigError, GuardError
from clauseguard.guards._base import WHOLE_TEXT, Context, Guard
from clauseguard.guards._params import Action, GuardSpec, RegexParams
from clauseguard.guards._registry import register
from clauseguard.guards._verdict import Finding, Verdict

__all__ = ["RegexGuard"]


def _regex_module() -> Any:
    try:
        import regex
    except ImportError as err:  # pragma: no cover - regex is a core dependency
        raise GuardConfigError("the regex guard needs the 'regex' package: pip install regex") from err
    return regex


@register("regex")
class RegexGuard(Guard):
    """Blocks, redacts or flags what the user's patterns match."""

    params: RegexParams
    stream_hold = 1024  # held back while streaming: a match this long is redacted whole, not in pieces
    # A pattern may match any length ("<internal>.*?</internal>") or look behind itself ("(?<!not )kill"): in a
    # stream the guard reads the whole text each time, so a match that begins in released text is seen (and
    # blocks, since it cannot be taken back). Cheap beside a model guard, and bounded by the pipeline's max_chars.
    stream_lookbehind = WHOLE_TEXT

    def __init__(self, spec: GuardSpec) -> None:
        super().__init__(spec)
        self._regex = _regex_module()
        self._compiled = []
        for p in self.params.patterns:
            try:
                flags = self._regex.IGNORECASE if p.ignore_case else 0
                self._compiled.append((p, self._regex.compile(p.pattern, flags | self._regex.VERSION0)))
            except self._regex.error as err:
                raise GuardConfigError(f"pattern {p.name!r} does not compile: {err}",
                                       where=f"guard {spec.id!r} params.patterns") from err

    def check(self, content: str | bytes, context: Context) -> Verdict:
        if not isinstance(content, str):
            return Verdict.allow(content, self.id)
        deadline = time.monotonic() + self.params.timeout_ms / 1000.0
        findings: list[Finding] = []
        redact = self.spec.on_fail is Action.REDACT
        for pattern, compiled in self._compiled:
            try:
                for m in compiled.finditer(content, timeout=max(0.0, deadline - time.monotonic())):
                    if m.end() > m.start():
                        findings.append(self.finding(pattern.category, score=1.0, span=m.span(),
                                                     replacement=f"[{pattern.name.upper()}]" if redact else None))
            except TimeoutError as err:
                raise GuardError(f"pattern {pattern.name!r} exceeded the time budget of "
                                 f"{self.params.timeout_ms:g} ms") from err
        return self.verdict(content, findings)
