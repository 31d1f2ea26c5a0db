"""Streaming output: release text chunk by chunk, never before every output guard has seen it.

Each incremental guard keeps a scan position (the released offset) and judges only the text after it,
plus a look-behind of its own ``stream_lookbehind`` characters for context (``stream_hold`` unless it
says more: the keyword guard looks further back for a request word before a weapon's name), begun at
a word's start; findings that start in the look-behind were already judged and are skipped. The
pipeline holds back the last ``max(stream_hold)`` characters, enough for the longest term spelled out
with separators, so a term split across chunks is seen whole before any of it is released. Should a
finding still start inside text already released (an obfuscation longer than the hold), the stream
blocks: it cannot take the text back, so it fails closed. Holds and look-behinds count the characters
that show (white space and characters that fold to nothing come free), and a value redacted up to the
held tail waits until it ends, so a long secret is never released half-redacted. A guard with
``stream_hold = None`` needs the whole text: nothing is released until the end; one with
``stream_lookbehind = WHOLE_TEXT`` reads all of it each time. A stream left early is recorded as such.
A guard with a ``stream_step`` (the classifier, which runs a model)
judges the stream again only once it has grown by that many characters, and nothing it has not judged is
released: its hold counts back from the end of what it judged. ``stream_final`` guards (labels, disclaimers) run
once on the whole text; the first-turn notice, which depends on no text, is emitted before the first
chunk. The held tail waits for the final guards: one that fails or runs out of time blocks the
stream, as it blocks ``check_output``, and the tail is never released.

A caller that gets the chunks one at a time (several texts streamed side by side, as a chat's
messages) pushes them instead of iterating: :meth:`StreamGuard.begin`, :meth:`~StreamGuard.feed` for
each chunk, then :meth:`~StreamGuard.end` (``abegin``, ``afeed``, ``aend`` in async code); each returns
the pieces released, and :attr:`~StreamGuard.verdict` is set by ``end`` (or by :meth:`~StreamGuard.abandon`,
for a stream left before its end).
"""

from __future__ import annotations

import unicodedata
from collections.abc import AsyncIterable, AsyncIterator, Iterable, Iterator
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from clauseguard.guards._base import REFUSALS, TEXT_OFFSET, WHOLE_TEXT, Context, Guard, apply_replacements
from clauseguard.guards._combine import DISCLAIMERS, addenda
from clauseguard.guards._params import Action, Stage
from clauseguard.guards._refusals import READ_CHARS, refusal_spans
from clauseguard.guards._runner import arun_guard, run_guard
from clauseguard.guards._verdict import Finding, Verdict, strongest

if TYPE_CHECKING:
    from clauseguard.guards.pipeline import Pipeline

__all__ = ["StreamGuard"]

_EVERYTHING = -1  # a hold meaning "until the end"


class StreamGuard:
    """Iterate it (``for`` or ``async for``) to get the released text; then read :attr:`verdict`."""

    def __init__(self, pipeline: Pipeline, chunks: Iterable[str] | AsyncIterable[str],
                 context: Context | None = None) -> None:
        self.pipeline = pipeline
        self.chunks = chunks
        self.context = context or Context(stage=Stage.OUTPUT)
        guards = pipeline.stage_guards(Stage.OUTPUT)
        self._incremental = [g for g in guards if not g.stream_final]
        self._final = [g for g in guards if g.stream_final]
        holds = [g.stream_hold for g in self._incremental]
        self.hold = _EVERYTHING if None in holds else max((h or 0 for h in holds), default=0)
        self.text = ""
        self.released = 0
        self._judged = [0] * len(self._incremental)  # how far each guard has judged the text (for stream_step)
        self.findings: list[Finding] = []
        self._seen: set[tuple[str, str | None, tuple[int, int] | None, str]] = set()
        self._redacted: list[tuple[int, int]] = []  # spans released as their replacement
        self.blocked = False
        self.verdict: Verdict | None = None
        self._out: list[str] = []
        self._prefix = ""
        self._metadata: dict[str, Any] = {}  # the final guards' metadata, for the verdict
        self._refusals: tuple[int, tuple[tuple[int, int], ...]] | None = None  # (characters read, spans)

    # -- sync ----------------------------------------------------------------------------------

    def __iter__(self) -> Iterator[str]:
        if isinstance(self.chunks, AsyncIterable) and not isinstance(self.chunks, Iterable):
            raise TypeError("an async chunk source needs `async for`")
        try:
            yield from self.begin()
            for chunk in () if self.blocked else self.chunks:
                yield from self.feed(chunk)
                if self.blocked:
                    break
            yield from self.end()
        finally:
            self.abandon()

    def begin(self) -> list[str]:
        """Push mode: what to show before any chunk (the first-turn notice)."""
        return list(self._emit(self._start([run_guard(g, "", self.context) for g in self._final])))

    def feed(self, chunk: str) -> list[str]:
        """Push mode: the pieces ``chunk`` releases (none once blocked); after :meth:`end`, a RuntimeError."""
        self._not_ended()
        if self.blocked:
            return []
        self.text += _text(chunk)
        return list(self._emit(self._advance(final=False)))

    def end(self) -> list[str]:
        """Push mode: the held tail and the final guards' additions, once they pass; sets :attr:`verdict`."""
        self._not_ended()
        tail = [] if self.blocked else self._advance(final=True)
        if not self.blocked:  # the final guards may block too: the tail waits for them
            tail += self._finish([run_guard(g, self.text, self.context) for g in self._final])
        self._conclude()
        return [] if self.blocked else list(self._emit(tail))

    # -- async ---------------------------------------------------------------------------------

    async def __aiter__(self) -> AsyncIterator[str]:
        # In worker threads like every other check: a final guard may run a model (a topic disclaimer).
        try:
            for piece in await self.abegin():
                yield piece
            async for chunk in _aiter(() if self.blocked else self.chunks):
                for piece in await self.afeed(chunk):
                    yield piece
                if self.blocked:
                    break
            for piece in await self.aend():
                yield piece
        finally:
            self.abandon()

    def abandon(self) -> None:
        """A stream left before its end (the reader stopped, the chunk source raised; in push mode, call it
        when no :meth:`end` will come): what was shown is recorded with the findings so far, marked
        ``stream_incomplete``; the held tail is never released. Nothing happens once the stream has ended."""
        if self.verdict is None:
            self._metadata = {**self._metadata, "stream_incomplete": True}
            self._conclude()

    async def abegin(self) -> list[str]:
        return list(self._emit(self._start([await arun_guard(g, "", self.context) for g in self._final])))

    async def afeed(self, chunk: str) -> list[str]:
        self._not_ended()
        if self.blocked:
            return []
        self.text += _text(chunk)
        return list(self._emit(await self._aadvance(final=False)))

    async def aend(self) -> list[str]:
        self._not_ended()
        tail = [] if self.blocked else await self._aadvance(final=True)
        if not self.blocked:  # the final guards may block too: the tail waits for them
            tail += self._finish([await arun_guard(g, self.text, self.context) for g in self._final])
        self._conclude()
        return [] if self.blocked else list(self._emit(tail))

    # -- steps ---------------------------------------------------------------------------------

    def _not_ended(self) -> None:
        """Its verdict is recorded and its label added at the end: text after it would be shown past them."""
        if self.verdict is not None:
            raise RuntimeError("the stream has ended: nothing can be fed or ended after end()")

    def _emit(self, pieces: list[str]) -> Iterator[str]:
        yield from (p for p in pieces if p)

    def _start(self, verdicts: list[Verdict]) -> list[str]:
        """The first-turn notice (and any other prefix that depends on no text), from the final guards'
        ``verdicts`` on the empty text.

        A final guard that fails here blocks the stream: the notice it owes cannot be left out.
        """
        failed = next((v for v in verdicts if not v.allowed), None)
        if failed is not None:
            self.findings.extend(failed.findings)
            self.blocked = True
            return []
        self._prefix = "".join(v.prefix for v in verdicts)
        self._out.append(self._prefix)
        return [self._prefix]

    def _safe_end(self, final: bool) -> int:
        if final:
            return len(self.text)
        if self.hold == _EVERYTHING:
            return self.released
        return max(self.released, _back(self.text, len(self.text), self.hold))

    def _too_large(self) -> bool:
        limit = self.pipeline.max_chars
        if limit is not None and len(self.text) > limit:
            self._block(Finding(guard_id="pipeline", category=None, score=1.0, action=Action.BLOCK,
                                message=f"stream too large to check (over {limit} characters)"))
            return True
        return False

    def _window(self, guard: Guard) -> int:
        """Where the guard's look-behind starts: ``behind`` characters that show before the released
        offset (a term's letters can be kept apart by any number of zero-width characters, a request word
        from a weapon's name by any run of spaces: both fold away), then moved back (at most as far again)
        to a word's start, since a window that cuts a word finds in its tail what the text does not hold
        ("2.3.4.5" of "v1.2.3.4.5" is an IP address), and a finding starting in released text blocks."""
        if guard.stream_lookbehind == WHOLE_TEXT:
            return 0
        behind = (guard.stream_hold if guard.stream_lookbehind is None else guard.stream_lookbehind) or 0
        start = _back(self.text, self.released, behind)
        for i in range(start, max(0, start - behind) - 1, -1):
            if i == 0 or self.text[i - 1].isspace():
                return i
        return start

    def _due(self, final: bool) -> tuple[int, list[tuple[Guard, int, int]]]:
        """How far text may be released, and the guards to run now with where each one's text and window
        start. A guard with a ``stream_step`` whose text has not grown by that much since it last judged it
        is not run: the release stops its hold before the end of what it judged."""
        safe = self._safe_end(final)
        due = []
        for i, guard in enumerate(self._incremental):
            if not final and guard.stream_step and _shown(self.text, self._judged[i]) < guard.stream_step:
                safe = min(safe, max(self.released, _back(self.text, self._judged[i], guard.stream_hold or 0)))
            else:
                due.append(i)
        if safe <= self.released and not final:
            return safe, []
        run = []
        for i in due:
            self._judged[i] = len(self.text)
            keep = self._window(self._incremental[i])
            run.append((self._incremental[i], _word_before(self.text, keep), keep))
        return safe, run

    def _advance(self, *, final: bool) -> list[str]:
        if self._too_large():
            return []
        safe, due = self._due(final)
        if safe <= self.released and not final:
            return []
        verdicts = [(start, keep, run_guard(guard, self.text[start:], self._at(start))) for guard, start, keep in due]
        return self._release(verdicts, safe, final)

    async def _aadvance(self, *, final: bool) -> list[str]:
        if self._too_large():
            return []
        safe, due = self._due(final)
        if safe <= self.released and not final:
            return []
        verdicts = [(start, keep, await arun_guard(guard, self.text[start:], self._at(start)))
                    for guard, start, keep in due]
        return self._release(verdicts, safe, final)

    def _at(self, start: int) -> Context:
        """The context of a guard given the text from ``start`` on: where that text starts in the answer,
        and the refusal clauses of the answer so far, which an output guard leaves out (guards/_refusals.py):
        a window cannot tell whether the answer opened with a refusal, nor count its refusals."""
        if not start:
            return self.context
        read = min(len(self.text), READ_CHARS)  # the spans change only while the answer is shorter
        if self._refusals is None or self._refusals[0] != read:
            self._refusals = (read, tuple(refusal_spans(self.text)))
        return replace(self.context, metadata={**self.context.metadata, TEXT_OFFSET: start,
                                               REFUSALS: self._refusals[1]})

    def _release(self, verdicts: list[tuple[int, int, Verdict]], safe: int, final: bool) -> list[str]:
        """``verdicts``: where each guard's text starts, where its window starts (the word before is read
        only as context: a pattern may look behind a word, and "3 415-555-2671" holds no phone number
        where "415-555-2671" does; what starts in that word is not taken), and its verdict."""
        accepted: list[Finding] = []
        for offset, keep, verdict in verdicts:
            if not verdict.allowed and not any(f.action is Action.BLOCK for f in verdict.findings):
                # A guard's own verdict blocks, though no finding says so (a custom guard's): it blocks.
                return self._block(Finding(guard_id=verdict.guard_id or "stream", category=None, score=1.0,
                                           action=Action.BLOCK, message="the guard blocked the text"))
            for f in verdict.findings:
                f = _shift(f, offset)
                if f.span is not None and f.span[0] < keep:
                    continue  # in the word read as context only
                key = (f.guard_id, f.category, f.span, f.message)
                if key in self._seen:
                    continue
                if f.span is None or f.span[0] >= safe:
                    if f.span is None and (f.action is Action.BLOCK or not verdict.allowed):
                        return self._block(f)
                    if f.span is None:
                        self._seen.add(key)
                        self.findings.append(f)
                    continue  # deferred: judged again with more text
                if f.span[0] < self.released:
                    if f.action is Action.REDACT and _within(f.span, self._redacted):
                        continue  # the look-behind began inside a value released redacted: its tail
                    if f.action in (Action.BLOCK, Action.REDACT):
                        return self._block(f)  # it reaches into released text: fail closed
                    continue
                if f.action is Action.BLOCK:
                    return self._block(f)
                accepted.append(f)
        if not final:  # a value redacted up to the held tail may go on ("-----BEGIN ... KEY-----" and more):
            # it waits, and the text before it is released, until it ends with a whole hold after it.
            # Released as "[SECRET]" at once, its rest fell outside every later window and was shown.
            # A stepped guard (the classifier) may stop the release short of the hold: a value that crosses
            # that point waits too, or its start was shown unredacted and its end then blocked the stream.
            edge = min(safe, _back(self.text, len(self.text), self.hold))
            cut = min((f.span[0] for f in accepted if f.replacement is not None and f.span[1] > edge), default=None)
            while cut is not None:  # and whatever else overlaps what waits
                safe = min(safe, cut)
                later = min((f.span[0] for f in accepted if f.span[0] < cut < f.span[1]), default=None)
                cut = later
            accepted = [f for f in accepted if f.span[1] <= safe or (f.replacement is None and f.span[0] < safe)]
        for f in accepted:
            safe = max(safe, f.span[1]) if f.span and f.replacement is not None else safe
        for f in accepted:
            self._seen.add((f.guard_id, f.category, f.span, f.message))
            self.findings.append(f)
            if f.span is not None and f.replacement is not None:
                self._redacted.append(f.span)
        piece = apply_replacements(self.text[self.released:safe],
                                   [_shift(f, -self.released) for f in accepted])
        self.released = safe
        self._out.append(piece)
        return [piece]

    def _block(self, finding: Finding) -> list[str]:
        self.findings.append(finding)
        self.blocked = True
        return []

    def _finish(self, verdicts: list[Verdict]) -> list[str]:
        """Suffixes of the final guards (and a text-dependent prefix, which can only come last now).

        A final guard that blocks (it failed or ran out of time) blocks the stream, as it blocks
        ``check_output``: a disclaimer that could not be decided is not silently left out.
        """
        for verdict in verdicts:
            self.findings.extend(verdict.findings)
            if not verdict.allowed:
                self.blocked = True
                return []
            self._metadata = {**self._metadata, **verdict.metadata}
        parts, disclaimers = addenda(verdicts)  # one disclaimer per topic, as check_output adds
        self._metadata.pop(DISCLAIMERS, None)  # a guard's own list may name one addenda dropped (shown already)
        if disclaimers:
            self._metadata[DISCLAIMERS] = disclaimers
        pieces = []
        for prefix, suffix in parts:
            late_prefix = prefix if prefix and prefix not in self._prefix else ""
            pieces.append(("\n\n" + late_prefix.strip() if late_prefix else "") + suffix)
        self._out.extend(pieces)
        return pieces

    def _conclude(self) -> None:
        metadata = self._metadata
        if strongest([f.action for f in self.findings]) is Action.BLOCK:
            self.blocked = True  # a block finding never comes with output: fail closed, not ValueError
        if self.blocked:
            self.verdict = Verdict(allowed=False, action=Action.BLOCK, output=None,
                                   findings=tuple(self.findings), metadata=metadata)
        else:
            action = strongest([f.action for f in self.findings])
            self.verdict = Verdict(allowed=True, action=action, output="".join(self._out),
                                   findings=tuple(self.findings), metadata=metadata)
        self.pipeline._record(self.verdict, self.context, Stage.OUTPUT, 0.0)


def _shift(f: Finding, offset: int) -> Finding:
    if f.span is None or offset == 0:
        return f
    return Finding(guard_id=f.guard_id, category=f.category, score=f.score,
                   span=(f.span[0] + offset, f.span[1] + offset), clause_ids=f.clause_ids,
                   message=f.message, action=f.action, replacement=f.replacement)


def _text(chunk: object) -> str:
    if not isinstance(chunk, str):  # an OpenAI stream's last delta.content is None
        raise TypeError(f"a stream chunk must be str, not {type(chunk).__name__} (leave out empty deltas)")
    return chunk


def _counts(ch: str) -> bool:
    """Whether ``ch`` shows: not white space, nor a character that folds to nothing (format characters
    such as zero-width ones and the soft hyphen, combining marks, controls)."""
    return not ch.isspace() and unicodedata.category(ch) not in _FOLDED


_FOLDED = frozenset({"Cf", "Mn", "Me", "Cc"})


def _back(text: str, end: int, n: int) -> int:
    """The offset before ``end`` from which ``text`` holds ``n`` characters that show (0 when it holds fewer)."""
    i = end
    while n > 0 and i > 0:
        i -= 1
        n -= _counts(text[i])
    return i


def _shown(text: str, start: int) -> int:
    """How many characters that show ``text`` holds from ``start`` on."""
    return sum(map(_counts, text[start:]))


def _within(span: tuple[int, int], spans: list[tuple[int, int]]) -> bool:
    return any(start <= span[0] and span[1] <= end for start, end in spans)


async def _aiter(chunks: Iterable[str] | AsyncIterable[str]) -> AsyncIterator[str]:
    if isinstance(chunks, AsyncIterable):
        async for chunk in chunks:
            yield chunk
    else:
        for chunk in chunks:
            yield chunk


_WORD_BEFORE_MAX = 64  # characters of the word before a window read at most (a long one is no context)


def _word_before(text: str, i: int) -> int:
    """The start of the word before offset ``i`` and the spaces between (``i`` at the text's start); a word
    longer than _WORD_BEFORE_MAX is not read to its start."""
    j = i
    while j > 0 and text[j - 1].isspace():
        j -= 1
    stop = max(0, j - _WORD_BEFORE_MAX)
    while j > stop and not text[j - 1].isspace():
        j -= 1
    return j
