"""guardrails-ai: every clauseguard text guard as a guardrails ``Validator``.

``Guard().use(clauseguard_validator("keyword", terms={"S9": ["detonator"]}))`` or
``Guard().use(ClauseguardValidator(spec))`` with a :class:`GuardSpec` from guards.yaml. Each guard type
is registered as ``clauseguard/<type>`` (and ``clauseguard/guard`` takes any spec). Results map as:

- block: ``FailResult`` whose ``fix_value`` is the user-facing block message;
- redact, label, disclaim: ``FailResult`` whose ``fix_value`` is the changed text; ``on_fail="fix"``
  applies it and is the default of guards that change text (``exception`` is the default of the
  others). A pass cannot carry the change: guardrails' default (async) validator service drops a
  ``PassResult.value_override``;
- flag or nothing found: ``PassResult``.

:class:`PipelineValidator` fixes changes (``on_fail="fix"``) and reports a block as a failed
validation with nothing to fix it with: ``validation_passed`` False, ``validated_output`` None, the
block message as the failure reason. Streams (``guard(llm, stream=True)``) through any of these
validators are judged whole and come out in one piece when the stream ends: guardrails judges streams
sentence by sentence and gives a validator no way to hold text back, so the notice and label would be
added to every sentence and a term or an address cut by a sentence end would pass. Streaming needs
``on_fail="fix"``; without it guardrails passes each chunk on unjudged, so it is refused. Streaming
through an ``AsyncGuard`` is refused too, whatever ``on_fail`` says: it never makes the final call that
releases the gathered text (stream with a sync ``Guard``, ``@guarded`` or ``Pipeline.stream_output``).

Offline: importing this module sets ``LITELLM_LOCAL_MODEL_COST_MAP=True`` (litellm would otherwise
fetch its price list) and switches guardrails' hub telemetry off in the loaded settings. guardrails
reloads ``~/.guardrailsrc`` whenever a ``Guard`` is built, so also write ``enable_metrics=false``
there (``guardrails configure --disable-metrics``), or build guards with :func:`offline_guard`.
The validation metadata may carry ``user_key``, ``ip``, ``turn`` and ``request_id`` for the context.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from contextvars import ContextVar
from typing import Any, ClassVar

from clauseguard.errors import GuardConfigError
from clauseguard.guards._base import Context
from clauseguard.guards._params import PARAMS, Action, GuardSpec
from clauseguard.guards._verdict import Verdict
from clauseguard.guards.decorator import block_message
from clauseguard.guards.pipeline import Pipeline
from clauseguard.guards.sinks import DecisionSink

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")  # before guardrails imports litellm

try:
    import guardrails
    from guardrails import OnFailAction, Validator, register_validator
    from guardrails.classes.validation.validation_result import ErrorSpan, FailResult, PassResult
    from guardrails.settings import settings as _settings
except ImportError as err:  # pragma: no cover - depends on the installation
    raise GuardConfigError("the guardrails integration needs guardrails-ai: "
                           "pip install 'clauseguard[guardrails]'") from err

__all__ = ["VALIDATORS", "ClauseguardValidator", "PipelineValidator", "clauseguard_validator", "offline_guard"]

_settings.rc.enable_metrics = False
_settings.rc.use_remote_inferencing = False

_CONTEXT_KEYS = ("user_key", "ip", "turn", "request_id")


def _context(metadata: Mapping[str, Any]) -> Context:
    return Context(**{k: metadata[k] for k in _CONTEXT_KEYS if metadata.get(k) is not None})


_CHANGES_TEXT = frozenset({Action.REDACT, Action.LABEL, Action.DISCLAIM})


def _default_on_fail(spec: GuardSpec) -> OnFailAction:
    return OnFailAction.FIX if spec.on_fail in _CHANGES_TEXT else OnFailAction.EXCEPTION


# The chunks each stream has gathered so far, by validator: each thread and asyncio task has its own.
_GATHERED: ContextVar[Mapping[int, list[str]] | None] = ContextVar("clauseguard_guardrails_gathered", default=None)


class _WholeStream(Validator):
    """Streams judged whole: the chunks are gathered and the text is judged once, at the end.

    guardrails judges a stream sentence by sentence and gives a validator no way to hold text back
    and release it later. Judged so, guards that add text (the AI notice and label, disclaimers) would
    add it to every sentence, and a guard would never see a term or an address cut by a sentence end
    ("d.e.t.o.n.a.t.o.r", "jane.doe@example.org"), nor the text after the last sentence end, which
    guardrails leaves in the validator for the next stream. So the answer comes out whole when the
    stream ends. That final call happens only in guardrails' fix path (some validator with
    ``on_fail="fix"``); in the other path each raw chunk is passed on before any validator has judged
    it, so streaming there is refused.

    guardrails keeps the gathered chunks on the validator, which one ``Guard`` shares between all its
    calls: two streams at once (two users of a web app) would be gathered, and answered, together.
    Here they are kept per thread and per asyncio task.
    """

    @property
    def accumulated_chunks(self) -> list[str]:
        return list((_GATHERED.get() or {}).get(id(self), ()))  # a copy: never shared with another stream

    @accumulated_chunks.setter
    def accumulated_chunks(self, chunks: list[str]) -> None:
        _GATHERED.set({**(_GATHERED.get() or {}), id(self): list(chunks)})  # a new map: each task's stays its own

    def _chunking_function(self, chunk: str) -> list[str]:
        return []  # never enough: wait for guardrails' final ("remainder") call

    def validate_stream(self, chunk: Any, metadata: dict[str, Any], **kwargs: Any) -> Any:
        if "remainder" not in kwargs:  # guardrails makes no final call: the stream would never be released
            raise GuardConfigError(_no_final_call(self), where="guardrails")
        result = super().validate_stream(chunk, metadata, **kwargs)
        if isinstance(result, FailResult) and result.fix_value is None:
            result.fix_value = result.error_message  # a stream must yield text: the block message
        return result


def _no_final_call(validator: Validator) -> str:
    """Why a stream through ``validator`` is refused. guardrails' sync ``Guard`` makes the final call only
    with ``on_fail="fix"``; its ``AsyncGuard`` never does, whatever ``on_fail`` says."""
    if getattr(validator, "on_fail_descriptor", None) == OnFailAction.FIX:
        return (f"streaming through {validator.rail_alias} with guardrails' AsyncGuard is not supported: "
                "AsyncGuard never makes the final call that releases a stream judged whole; stream with a "
                "sync guardrails Guard (on_fail='fix'), or without guardrails through clauseguard's @guarded "
                "or Pipeline.stream_output, or validate the whole answer with AsyncGuard without stream=True")
    return (f"streaming through {validator.rail_alias} needs on_fail='fix' (without it guardrails passes "
            "each chunk on before it is checked) and a sync guardrails Guard (AsyncGuard streaming is not "
            "supported)")


@register_validator(name="clauseguard/guard", data_type="string")
class ClauseguardValidator(_WholeStream):
    """One clauseguard guard, built from its spec, run fail-closed as in a pipeline."""

    guard_type: ClassVar[str | None] = None  # fixed by the per-type subclasses

    def __init__(self, spec: GuardSpec | Mapping[str, Any], *, on_fail: Any = None,
                 sink: DecisionSink | None = None, **kwargs: Any) -> None:
        self.spec = _as_spec(spec, self.guard_type)
        super().__init__(on_fail=on_fail or _default_on_fail(self.spec),
                         spec=self.spec.model_dump(mode="json"), **kwargs)
        self.pipeline = Pipeline([self.spec], sink=sink)

    def _validate(self, value: Any, metadata: dict[str, Any]) -> PassResult | FailResult:
        verdict = self.pipeline.check(value, stage=self.spec.stage, context=_context(metadata or {}))
        result = _result(value, verdict)
        if not verdict.allowed:
            result.fix_value = None  # a block is no fix: with on_fail="fix", guardrails reported it as passed
        return result


@register_validator(name="clauseguard/pipeline", data_type="string")
class PipelineValidator(_WholeStream):
    """A whole stage of a :class:`Pipeline` (or guards.yaml) as one validator.

    Prefer it to several per-guard validators that change text: guardrails merges several fixes of
    one value with a text diff, which can drop one of them (a label beside a redaction).

    Redactions, labels and disclaimers are fixes (``on_fail="fix"``, the default). A block is a failed
    validation without a fix: ``validation_passed`` is False, ``validated_output`` None and the block
    message is the failure reason (``validation_summaries``), as guardrails reports any validator
    whose failure it cannot fix; in a stream, whose chunks must be text, the block message is yielded.
    """

    def __init__(self, pipeline: Pipeline | str | os.PathLike[str], *, stage: str = "output",
                 on_fail: Any = None, **kwargs: Any) -> None:
        self.pipeline = pipeline if isinstance(pipeline, Pipeline) else Pipeline.from_yaml(pipeline)
        self.stage = stage
        super().__init__(on_fail=on_fail or OnFailAction.FIX, stage=stage, **kwargs)

    def _validate(self, value: Any, metadata: dict[str, Any]) -> PassResult | FailResult:
        verdict = self.pipeline.check(value, stage=self.stage, context=_context(metadata or {}))
        result = _result(value, verdict)
        if not verdict.allowed:
            result.fix_value = None  # nothing to fix it with: guardrails reports it as failed
        return result


def _as_spec(spec: GuardSpec | Mapping[str, Any], guard_type: str | None) -> GuardSpec:
    if not isinstance(spec, GuardSpec):
        fields = dict(spec)
        fields.setdefault("type", guard_type)
        fields.setdefault("id", f"guardrails-{str(fields['type']).replace('_', '-')}")
        fields.setdefault("stage", "output")
        spec = GuardSpec.model_validate(fields)
    if guard_type is not None and spec.type != guard_type:
        raise GuardConfigError(f"a clauseguard/{guard_type} validator cannot run a {spec.type!r} guard",
                               where=f"guard {spec.id!r} type")
    return spec


def _result(value: Any, verdict: Verdict) -> PassResult | FailResult:
    spans = [ErrorSpan(start=f.span[0], end=f.span[1], reason=f.message or str(f.category))
             for f in verdict.findings if f.span is not None]
    reasons = "; ".join(dict.fromkeys(f.message or str(f.category) for f in verdict.findings))
    if not verdict.allowed:
        return FailResult(error_message=block_message(verdict), fix_value=block_message(verdict),
                          error_spans=spans or None)
    if verdict.output != value:
        return FailResult(error_message=reasons or verdict.action.value, fix_value=verdict.output,
                          error_spans=spans or None)
    return PassResult()


def _subclass(type_name: str) -> type[ClauseguardValidator]:
    name = "Clauseguard" + "".join(part.capitalize() for part in type_name.split("_")) + "Validator"
    cls = type(name, (ClauseguardValidator,), {"guard_type": type_name, "__module__": __name__,
                                               "__doc__": f"The clauseguard {type_name!r} guard."})
    return register_validator(name=f"clauseguard/{type_name}", data_type="string")(cls)


# One validator class per text guard type (image guards judge bytes, not strings).
VALIDATORS: dict[str, type[ClauseguardValidator]] = {
    t: _subclass(t) for t, params in PARAMS.items() if "text" in params.MODALITIES
}


def clauseguard_validator(type_name: str, *, on_fail: Any = None, action: str | None = None,
                          stage: str = "output", sink: DecisionSink | None = None,
                          spec_fields: Mapping[str, Any] | None = None, **params: Any) -> ClauseguardValidator:
    """A validator for one guard of ``type_name``; keyword arguments are its params.

    ``action`` is the guard's own ``on_fail`` (block, redact, ...); ``on_fail`` is guardrails'.
    ``spec_fields`` sets other spec fields (``id``, ``message``, ``clauses``, ``timeout_ms``).
    """
    cls = VALIDATORS.get(type_name)
    if cls is None:
        raise GuardConfigError(f"no guardrails validator for guard type {type_name!r}; "
                               f"known: {sorted(VALIDATORS)}")
    allowed = PARAMS[type_name].ACTIONS
    fields: dict[str, Any] = {"stage": stage, "params": params, **(spec_fields or {})}
    fields["on_fail"] = action or ("block" if "block" in allowed else sorted(allowed)[0])
    return cls(fields, on_fail=on_fail, sink=sink)


def offline_guard(*validators: Validator, on: str = "output") -> Any:
    """A ``guardrails.Guard`` using ``validators``, with hub telemetry off whatever ~/.guardrailsrc says."""
    guard = guardrails.Guard().use(*validators, on=on)
    guard.configure(allow_metrics_collection=False)
    return guard

