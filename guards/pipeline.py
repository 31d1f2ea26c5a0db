"""The pipeline: run the guards of a stage on a text, combine their verdicts, record the decision.

Decisions about content the pipeline cannot judge are explicit, never a pass: text over
``max_chars`` is blocked with a "too large to check" finding (raise ``max_chars`` or set it to None to
check anyway), and bytes that are not UTF-8 text are blocked with a finding saying so.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import AsyncIterable, Callable, Iterable, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from clauseguard.errors import GuardConfigError, UserError
from clauseguard.guards._base import INPUT_CATEGORIES, INPUT_SCORES, Context, Guard
from clauseguard.guards._combine import combine
from clauseguard.guards._params import Action, GuardSpec, Modality, Stage
from clauseguard.guards._registry import create
from clauseguard.guards._runner import arun_guard, run_guard
from clauseguard.guards._verdict import Finding, Verdict
from clauseguard.guards.config import load_guards, locate, mark_replaced_by, marks_last_message
from clauseguard.guards.sinks import DecisionSink, NullSink

if TYPE_CHECKING:
    from clauseguard.guards.streaming import StreamGuard

__all__ = ["DEFAULT_MAX_CHARS", "Pipeline"]

DEFAULT_MAX_CHARS = 1_000_000
REMEMBERED_REQUESTS = 4096  # requests whose input findings' categories wait for their output stage
REMEMBERED_SECONDS = 600.0  # and for how long at most


class _Inputs:
    """The categories of recent requests' input findings, and the classifiers' scores of their input, by user
    key and request id, for their output stage (a ``support`` guard adds helplines to the answer to a prompt
    flagged, or scored high enough, for self-harm). Bounded: the oldest
    request is forgotten first, and any after ten minutes, so that a request id a caller reuses (a
    conversation's) does not carry one prompt's flag to every later answer; keyed by user too, so that one
    user's flag never reaches another's answer under the same id."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        # (user key, request id) -> (until, categories found, highest score of each category)
        self._seen: OrderedDict[tuple[str, str], tuple[float, frozenset[str], dict[str, float]]] = OrderedDict()

    @staticmethod
    def _key(context: Context) -> tuple[str, str]:
        return context.user_key or "", context.request_id

    def remember(self, context: Context, categories: set[str], scores: dict[str, float]) -> None:
        key, now = self._key(context), time.monotonic()
        with self._lock:
            until, known, best = self._seen.get(key, (0.0, frozenset(), {}))
            if until <= now:
                known, best = frozenset(), {}
            merged = {c: max(best.get(c, 0.0), s) for c, s in {**best, **scores}.items()}
            self._seen[key] = (now + REMEMBERED_SECONDS, known | categories, merged)
            self._seen.move_to_end(key)
            while len(self._seen) > REMEMBERED_REQUESTS:
                self._seen.popitem(last=False)

    def context_for(self, context: Context) -> Context:
        """``context`` with its request's input categories and scores in ``metadata`` (unless the caller set them)."""
        with self._lock:
            until, found, scores = self._seen.get(self._key(context), (0.0, frozenset(), {}))
        if not (found or scores) or until <= time.monotonic() or INPUT_CATEGORIES in context.metadata:
            return context
        return replace(context, metadata={**context.metadata, INPUT_CATEGORIES: sorted(found),
                                          INPUT_SCORES: dict(sorted(scores.items()))})


class Pipeline:
    """Guards for the input and output stages of one product.

    ``Pipeline(guards)`` takes built guards or specs; ``Pipeline.from_yaml(path)`` reads guards.yaml.
    Guards of a stage run in file order; the first block stops the stage (later guards do not run).
    """

    def __init__(self, guards: Sequence[Guard | GuardSpec], *, sink: DecisionSink | None = None,
                 max_chars: int | None = DEFAULT_MAX_CHARS) -> None:
        built = tuple(g if isinstance(g, Guard) else create(g) for g in guards)
        found = mark_replaced_by([g.spec for g in built])
        if found is not None:  # guards.yaml is refused at load, naming its line; guards built in Python here
            raise GuardConfigError(marks_last_message(found[1]), where=f"guard {built[found[0]].spec.id!r}")
        self.guards: tuple[Guard, ...] = built
        self.sink: DecisionSink = sink if sink is not None else NullSink()
        self.max_chars = max_chars
        self._inputs = _Inputs() if any(g.spec.type == "support" for g in built) else None

    @classmethod
    def from_yaml(cls, path: str | Path, *, sink: DecisionSink | None = None,
                  max_chars: int | None = DEFAULT_MAX_CHARS) -> Pipeline:
        """Build the pipeline guards.yaml describes (raises GuardConfigError naming file and guard)."""
        specs = load_guards(path)
        check = getattr(sink, "check_guards", None)  # an AuditSink refuses a guards.yaml of another profile
        if callable(check):
            check(path)
        try:
            return cls(specs, sink=sink, max_chars=max_chars)
        except UserError as err:
            raise locate(err, path) from err

    def without(self, *types: str) -> Pipeline:
        """The same guards, record sink and size limit, less the guards of ``types``. The integrations
        check a chat's earlier messages with ``without("rate_limit")``: a request counts once, not once
        per message it carries, but what each message says is checked again (a client can forge it)."""
        return self.select(lambda g: g.spec.type not in types)

    def select(self, keep: Callable[[Guard], bool]) -> Pipeline:
        """The guards ``keep`` accepts, with the same record sink, size limit and memory of each request's
        input findings (what a ``support`` guard at the output stage reads), so that an integration may check
        the input through one selection and the output through another."""
        derived = Pipeline([g for g in self.guards if keep(g)], sink=self.sink, max_chars=self.max_chars)
        derived._inputs = self._inputs or derived._inputs
        return derived

    def stage_guards(self, stage: Stage | str, modality: Modality | str = Modality.TEXT) -> list[Guard]:
        stage, modality = Stage(stage), Modality(modality)
        return [g for g in self.guards if g.spec.stage is stage and g.spec.modality is modality]

    # -- sync ----------------------------------------------------------------------------------

    def check(self, content: str | bytes, *, stage: Stage | str, context: Context | None = None,
              modality: Modality | str = Modality.TEXT) -> Verdict:
        """Run the guards of ``stage`` and ``modality`` on ``content``."""
        context, content, early = self._prepare(content, stage, context, modality)
        if early is not None:
            return self._record(early, context, stage, 0.0, modality, content)
        started = time.perf_counter()
        verdicts: list[Verdict] = []
        current = content
        for guard in self.stage_guards(stage, modality):
            verdicts.append(run_guard(guard, current, context))
            if verdicts[-1].action is Action.BLOCK:
                break
            current = _next_input(current, verdicts[-1])
        return self._record(combine(current, verdicts), context, stage, time.perf_counter() - started,
                            modality, content)

    def check_input(self, text: str | bytes, context: Context | None = None) -> Verdict:
        return self.check(text, stage=Stage.INPUT, context=context)

    def check_output(self, text: str | bytes, context: Context | None = None) -> Verdict:
        return self.check(text, stage=Stage.OUTPUT, context=context)

    # -- async ---------------------------------------------------------------------------------

    async def acheck(self, content: str | bytes, *, stage: Stage | str, context: Context | None = None,
                     modality: Modality | str = Modality.TEXT) -> Verdict:
        context, content, early = self._prepare(content, stage, context, modality)
        if early is not None:
            return self._record(early, context, stage, 0.0, modality, content)
        started = time.perf_counter()
        verdicts: list[Verdict] = []
        current = content
        for guard in self.stage_guards(stage, modality):
            verdicts.append(await arun_guard(guard, current, context))
            if verdicts[-1].action is Action.BLOCK:
                break
            current = _next_input(current, verdicts[-1])
        return self._record(combine(current, verdicts), context, stage, time.perf_counter() - started,
                            modality, content)

    async def acheck_input(self, text: str | bytes, context: Context | None = None) -> Verdict:
        return await self.acheck(text, stage=Stage.INPUT, context=context)

    async def acheck_output(self, text: str | bytes, context: Context | None = None) -> Verdict:
        return await self.acheck(text, stage=Stage.OUTPUT, context=context)

    # -- streaming -----------------------------------------------------------------------------

    def stream_output(self, chunks: Iterable[str] | AsyncIterable[str],
                      context: Context | None = None) -> StreamGuard:
        """Guard a stream of output chunks; iterate (sync or async) the result for released text."""
        from clauseguard.guards.streaming import StreamGuard

        context = context or Context(stage=Stage.OUTPUT)
        return StreamGuard(self, chunks, self._inputs.context_for(context) if self._inputs else context)

    # -- internals -----------------------------------------------------------------------------

    def _prepare(self, content: str | bytes, stage: Stage | str, context: Context | None,
                 modality: Modality | str) -> tuple[Context, str | bytes, Verdict | None]:
        context = context or Context(stage=Stage(stage))
        if self._inputs is not None and Stage(stage) is Stage.OUTPUT:
            context = self._inputs.context_for(context)
        if isinstance(content, bytearray | memoryview):
            content = bytes(content)
        if Modality(modality) is Modality.TEXT and isinstance(content, bytes):
            try:
                content = content.decode("utf-8")
            except UnicodeDecodeError as err:
                return context, content, _refusal(f"content is not UTF-8 text ({err.reason} at byte "
                                                  f"{err.start}); not checked")
        if not isinstance(content, str | bytes):
            return context, b"", _refusal(f"content of type {type(content).__name__} cannot be checked")
        if isinstance(content, str) and self.max_chars is not None and len(content) > self.max_chars:
            return context, content, _refusal(f"content too large to check ({len(content)} > "
                                              f"{self.max_chars} characters)")
        return context, content, None

    def _record(self, verdict: Verdict, context: Context, stage: Stage | str, seconds: float,
                modality: Modality | str = Modality.TEXT, content: str | bytes | None = None) -> Verdict:
        if self._inputs is not None and Stage(stage) is Stage.INPUT:
            categories = {f.category for f in verdict.findings if f.category}
            scores = _scores(verdict)
            if categories or scores:
                self._inputs.remember(context, categories, scores)
        if isinstance(self.sink, NullSink):
            return verdict  # nothing will keep the record: do not build it
        image = _image_facts(verdict, content) if Modality(modality) is Modality.IMAGE else None
        self.sink.record({
            "time": datetime.now(UTC).isoformat(),
            "request_id": context.request_id,
            "stage": Stage(stage).value,
            "modality": Modality(modality).value,
            "allowed": verdict.allowed,
            "action": verdict.action.value,
            "findings": [f.to_dict() for f in verdict.findings],
            "metadata": dict(verdict.metadata),  # markers and image hashes; never content
            "elapsed_ms": round(seconds * 1000, 3),
            **({"image": image} if image is not None else {}),
        })
        return verdict


def _scores(verdict: Verdict) -> dict[str, float]:
    """The highest score of each category the classifiers gave a text (``scores/<guard id>`` in the verdict's
    metadata), below their thresholds too."""
    best: dict[str, float] = {}
    for key, value in verdict.metadata.items():
        if key.startswith("scores/") and isinstance(value, dict):
            for category, score in value.items():
                if isinstance(score, int | float) and not isinstance(score, bool):
                    best[str(category)] = max(best.get(str(category), 0.0), float(score))
    return best


def _image_facts(verdict: Verdict, content: str | bytes | None) -> dict[str, object]:
    """Hashes, size and format of a judged image, for the record — never its pixels."""
    facts = verdict.metadata.get("image")
    if isinstance(facts, dict) and facts:
        return dict(facts)
    if not isinstance(content, bytes):
        return {}
    from clauseguard.guards._images import load_image

    try:
        return load_image(content).describe()
    except Exception:  # whatever the decoder raises, the record still gets the hash
        import hashlib

        return {"sha256": hashlib.sha256(content).hexdigest(), "bytes": len(content), "decodable": False}


def _next_input(current: str | bytes, verdict: Verdict) -> str | bytes:
    """What the next guard judges. Text guards all judge the original text (their spans share one
    coordinate system and ``combine`` applies them together); image guards transform, so each one
    judges the previous one's output (the blur, then the marks) and the last output is the result."""
    if isinstance(current, bytes) and isinstance(verdict.output, bytes):
        return verdict.output
    return current


def _refusal(reason: str) -> Verdict:
    finding = Finding(guard_id="pipeline", category=None, score=1.0, message=reason, action=Action.BLOCK)
    return Verdict(allowed=False, action=Action.BLOCK, output=None, findings=(finding,), guard_id="pipeline")
