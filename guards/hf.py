"""transformers: guard a ``text-generation`` pipeline, keeping its call signature and output shape.

``generate = guard_text_generation(pipeline("text-generation", model=...), guards)`` then
``generate(prompt, max_new_tokens=50)`` as before. Each prompt goes through the input stage first; a
blocked prompt is never given to the model, a redacted one is given redacted. Of a chat, the last user
message (with none, the last message not the assistant's) goes through the whole input stage, once per
call; every other message not the assistant's (user, system, developer, tool) through its content guards
only, without ``rate_limit``: they were counted when they were sent, but a client can forge history, so
what they say is checked again. A chat of the assistant's messages only still counts as one request. A
message sent with the request (after it, as a tool's result) that blocks refuses the request; an earlier
one that blocks is left out of what the model gets, with
the assistant's answers to it, rather than refusing the request: a chat that keeps its blocked message
in the history would otherwise be refused for good. The assistant's messages go through the output
stage (a forged answer steers the model as well as a prompt does), then through the input stage without
``rate_limit`` (a client can write an injection as an "assistant" turn), both stages' redactions kept: one
that blocks is left out with its exchange, so roles still alternate; one after the last user message,
which the model would go on with, refuses the request. A message's content of None (a tool call's) is
no text, not a block; its tool calls are still checked. Each generated text then goes through the output
stage: with ``return_full_text`` (the pipeline's default) only the new text after the prompt is checked
and changed, and the prompt is kept in front of it (a first-turn notice or a block message, which opens
the answer, starts a paragraph of its own after the prompt); for chats, the assistant's new message is. A blocked
text is replaced by the block message (``raise_on_block=True`` raises :class:`GuardBlocked`); a blocked
prompt is answered in the shape the model's answer would have had (a string for new text only, as many
sequences as ``num_return_sequences``).
``return_tensors`` is refused: token ids cannot be checked. So is a ``streamer``: it gets the tokens
before any guard sees them; :meth:`GuardedTextGeneration.stream` streams through the output guards
instead. transformers is imported only by ``stream``: the caller built the pipeline.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from functools import cache
from typing import Any

from clauseguard.errors import GuardConfigError
from clauseguard.guards._base import Context
from clauseguard.guards._params import Stage
from clauseguard.guards._verdict import Verdict
from clauseguard.guards.decorator import GuardBlocked, block_message
from clauseguard.guards.pipeline import Pipeline

__all__ = ["GuardedTextGeneration", "guard_text_generation"]

Chat = list[dict[str, Any]]
Prompt = str | Chat


def guard_text_generation(hf_pipeline: Any, guard_pipeline: Pipeline, *,
                          raise_on_block: bool = False) -> GuardedTextGeneration:
    """``hf_pipeline`` (a transformers text-generation pipeline) with its prompts and texts guarded."""
    return GuardedTextGeneration(hf_pipeline, guard_pipeline, raise_on_block=raise_on_block)


def _is_chat(value: Any) -> bool:
    return isinstance(value, Sequence) and not isinstance(value, str) and bool(value) and all(
        isinstance(m, Mapping) and "role" in m for m in value)


@dataclass
class _Item:
    """One prompt of a call: as given, as sent to the model (maybe redacted), or the block answer."""

    sent: Prompt
    blocked: Verdict | None = None


# Options of a text-generation call whose text reaches the model: prepended to the prompt, or rendered into
# it by the chat template.
_PROMPT_OPTIONS = ("prefix", "documents", "tools")
# Fields of a chat message that are not text shown to the model (what the chat template renders besides).
_NOT_SHOWN = frozenset({"role", "name", "content", "tool_call_id", "id", "type"})


def _shown_fields(message: Mapping[str, Any]) -> dict[str, Any]:
    """A message's fields besides its content that a chat template may render (tool calls, reasoning)."""
    return {k: v for k, v in message.items() if k not in _NOT_SHOWN and v is not None}


def _walk(value: Any, guards: Pipeline, context: Context, stage: Stage) -> tuple[Any, Verdict | None]:
    """``value`` with every string in it (in dicts and lists, keys aside) as the ``stage`` guards let it
    through, without their labels and notices; and the first verdict that blocks, if any."""
    if isinstance(value, str):
        verdict = guards.check(value, stage=stage, context=context)
        if not verdict.allowed:
            return value, verdict
        text = verdict.output if isinstance(verdict.output, str) else value
        return text[len(verdict.prefix):len(text) - len(verdict.suffix)], None
    if isinstance(value, Mapping):
        out: dict[Any, Any] = {}
        for key, item in value.items():
            out[key], refused = _walk(item, guards, context, stage)
            if refused is not None:
                return value, refused
        return out, None
    if isinstance(value, list | tuple):
        items = []
        for item in value:
            checked, refused = _walk(item, guards, context, stage)
            if refused is not None:
                return value, refused
            items.append(checked)
        return type(value)(items), None
    return value, None


class GuardedTextGeneration:
    """Callable like the wrapped pipeline; other attributes (``model``, ``tokenizer``) pass through."""

    def __init__(self, hf_pipeline: Any, guard_pipeline: Pipeline, *, raise_on_block: bool = False) -> None:
        self.hf_pipeline = hf_pipeline
        self.guards = guard_pipeline
        self.raise_on_block = raise_on_block
        self._history_guards = guard_pipeline.without("rate_limit")

    def __getattr__(self, name: str) -> Any:
        if "hf_pipeline" not in vars(self):  # a copy or unpickling asks before __init__'s attributes exist
            raise AttributeError(name)
        return getattr(self.hf_pipeline, name)

    def __call__(self, text_inputs: Prompt | list[Prompt], *, guard_context: Context | None = None,
                 **kwargs: Any) -> Any:
        self._refuse_unchecked(kwargs)
        full = self._full_text(kwargs)
        single = isinstance(text_inputs, str) or _is_chat(text_inputs)
        prompts: list[Prompt] = [text_inputs] if single else list(text_inputs)  # type: ignore[list-item]
        context = guard_context or Context()
        kwargs, refused = self._checked_options(kwargs, replace(context, stage=Stage.INPUT))
        items = [_Item(sent=p, blocked=refused) if refused is not None
                 else self._check_prompt(p, replace(context, stage=Stage.INPUT)) for p in prompts]
        todo = [it for it in items if it.blocked is None]
        generated: list[Any] = []
        if todo:
            sent = [it.sent for it in todo]
            out = self.hf_pipeline(sent[0] if len(sent) == 1 else sent, **kwargs)
            generated = [out] if len(sent) == 1 else list(out)
        results = iter(generated)
        count = self._sequences(kwargs)
        outputs = [self._blocked_result(it, full, count) if it.blocked is not None
                   else self._check_result(it, next(results), full, replace(context, stage=Stage.OUTPUT))
                   for it in items]
        return outputs[0] if single else outputs

    def stream(self, prompt: Prompt, *, guard_context: Context | None = None, **kwargs: Any) -> Iterator[str]:
        """Generate for one prompt, yielding the new text in pieces as the output guards release them.

        The model runs in a thread feeding a ``TextIteratorStreamer``, read only through the pipeline's
        :meth:`~Pipeline.stream_output`. A blocked prompt yields its block message; a stream blocked
        midway stops the model and ends with the block message."""
        self._refuse_unchecked(kwargs)
        if not (isinstance(prompt, str) or _is_chat(prompt)):
            raise GuardConfigError("stream takes one prompt: a string or a chat", where="guard_text_generation")
        context = guard_context or Context()
        kwargs, refused = self._checked_options(kwargs, replace(context, stage=Stage.INPUT))
        item = _Item(sent=prompt, blocked=refused) if refused is not None else self._check_prompt(
            prompt, replace(context, stage=Stage.INPUT))
        if item.blocked is not None:
            yield block_message(item.blocked)
            return
        streamer, thread, failure = self._start_generation(item.sent, kwargs)
        stream = self.guards.stream_output(_chunks(streamer, thread, failure), replace(context, stage=Stage.OUTPUT))
        last = ""
        try:
            for last in stream:
                yield last
        finally:
            streamer.cancelled.set()  # a block, an error or a caller that stopped reading: stop the model
            thread.join()
        if stream.blocked and stream.verdict is not None:
            message = block_message(self._blocked(stream.verdict, Stage.OUTPUT))
            yield ("\n\n" if last and not last.endswith("\n") else "") + message

    def _start_generation(self, sent: Prompt, kwargs: Mapping[str, Any]) -> tuple[Any, threading.Thread,
                                                                                   list[BaseException]]:
        streamer = _streamer_class()(self.hf_pipeline.tokenizer, skip_prompt=True, skip_special_tokens=True)
        failure: list[BaseException] = []

        def generate() -> None:
            try:
                self.hf_pipeline(sent, **kwargs, streamer=streamer)
            except _Cancelled:
                pass
            except BaseException as err:  # handed to the reader, which raises it
                failure.append(err)
            finally:
                streamer.on_finalized_text("", stream_end=True)  # the reader never waits forever

        thread = threading.Thread(target=generate, name="guarded-generation", daemon=True)
        thread.start()
        return streamer, thread, failure

    # -- input ---------------------------------------------------------------------------------

    def _check_prompt(self, prompt: Prompt, context: Context) -> _Item:
        if isinstance(prompt, str):
            verdict = self.guards.check_input(prompt, context)
            return _Item(sent=verdict.output if verdict.allowed else prompt,  # type: ignore[arg-type]
                         blocked=None if verdict.allowed else self._blocked(verdict, Stage.INPUT))
        if not _is_chat(prompt):
            raise GuardConfigError(f"cannot guard a prompt of type {type(prompt).__name__}; "
                                   "give a string or a chat (a list of {role, content})")
        messages: Chat = [dict(m) for m in prompt]
        users = [i for i, m in enumerate(messages) if m.get("role") == "user"]
        # Every message not the assistant's reaches the model as a prompt: a system, developer or tool
        # message is checked as a user message is (a client can forge any of them).
        said = [i for i, m in enumerate(messages) if m.get("role") != "assistant"]
        request = users[-1] if users else (said[-1] if said else -1)
        if request < 0:  # only the assistant's messages: the call still counts as one request
            verdict = self.guards.check_input("", context)
            if not verdict.allowed:
                return _Item(sent=prompt, blocked=self._blocked(verdict, Stage.INPUT))
        left_out: set[int] = set()
        # The newest message first, so a request blocked by its history still counts for the rate limit.
        for i in [request, *(j for j in said if j != request)] if request >= 0 else []:
            guards = self.guards if i == request else self._history_guards
            content = messages[i].get("content")  # None (or none): no text, as a tool call's message has
            verdict = guards.check_input("" if content is None else content, context)
            if verdict.allowed:  # then what else of it the chat template shows (tool calls, reasoning)
                if content is not None:
                    messages[i]["content"] = verdict.output
                others, refused = _walk(_shown_fields(messages[i]), self._history_guards, context, Stage.INPUT)
                messages[i].update(others)
                verdict = refused or verdict
            if verdict.allowed:
                continue
            if i >= request:  # the new request, or a message sent with it (a tool's result)
                return _Item(sent=prompt, blocked=self._blocked(verdict, Stage.INPUT))
            left_out.add(i)  # an earlier message that blocks is left out, with the answers to it (module doc)
            j = i + 1
            while j < len(messages) and messages[j].get("role") == "assistant":
                left_out.add(j)
                j += 1
        for i, message in enumerate(messages):  # a forged answer steers the model as well as a prompt does
            if message.get("role") != "assistant" or i in left_out:
                continue
            verdict = self._checked_answer(messages[i], context)
            if verdict is None:
                continue
            if i > request:  # an answer begun for the model to go on with: the prompt
                return _Item(sent=prompt, blocked=self._blocked(verdict, Stage.INPUT))
            left_out.update(j for j in _exchange(messages, i) if messages[j].get("role") != "system")
        return _Item(sent=[m for i, m in enumerate(messages) if i not in left_out])

    def _checked_answer(self, message: dict[str, Any], context: Context) -> Verdict | None:
        """An earlier answer of the assistant, changed in place as the guards let it through, or the verdict
        that blocks it. Its content goes through the output stage (its redactions kept, no label or notice
        added again), then through the input stage: a client writes any "assistant" turn it likes, an
        injection in it included (as ``guard_chat`` checks a Gradio history). Its tool calls and reasoning
        go through the input stage. A content of None (a tool call's message) is no text, not a block."""
        content = message.get("content")
        for stage in (Stage.OUTPUT, Stage.INPUT):
            content, refused = _walk(content, self._history_guards, context, stage)
            if refused is not None:
                return refused
        others, refused = _walk(_shown_fields(message), self._history_guards, context, Stage.INPUT)
        if refused is not None:
            return refused
        if content is not None:
            message["content"] = content
        message.update(others)
        return None

    # -- output --------------------------------------------------------------------------------

    def _check_result(self, item: _Item, result: Any, full: bool, context: Context) -> list[dict[str, Any]]:
        return [self._check_sequence(item.sent, dict(seq), full, context) for seq in result]

    def _check_sequence(self, sent: Prompt, seq: dict[str, Any], full: bool, context: Context) -> dict[str, Any]:
        text = seq.get("generated_text")
        if isinstance(text, list):  # a chat: the last message is the new one
            last = dict(text[-1])
            # its reasoning and tool calls (a response template parses them out) are shown too
            others, refused = _walk(_shown_fields(last), self.guards, context, Stage.OUTPUT)
            if refused is not None:
                last = {"role": last.get("role", "assistant"),
                        "content": block_message(self._blocked(refused, Stage.OUTPUT))}
            else:
                last |= others
                if last.get("content") is not None:  # a tool call's None stays None, not "None"
                    last["content"] = self._checked_text(str(last["content"]), context)
            seq["generated_text"] = [*text[:-1], last]
        elif isinstance(text, str):
            head = sent if full and isinstance(sent, str) and text.startswith(sent) else ""
            answer, opens_with_ours = self._checked_output(text[len(head):], context)
            # a notice or block message opens the answer on its own paragraph, not glued to the prompt's end
            seq["generated_text"] = head + (_paragraph_break(head) if opens_with_ours else "") + answer
        else:
            raise GuardConfigError("the pipeline returned no generated_text to check; "
                                   "guard_text_generation needs text output")
        return seq

    def _checked_text(self, text: str, context: Context) -> str:
        return self._checked_output(text, context)[0]

    def _checked_output(self, text: str, context: Context) -> tuple[str, bool]:
        """``text`` as the output guards let it through, or the block message; and whether it opens with
        text of ours (a notice, or the block message) rather than the model's."""
        verdict = self.guards.check_output(text, context)
        if verdict.allowed:
            return str(verdict.output), bool(verdict.prefix)
        return block_message(self._blocked(verdict, Stage.OUTPUT)), True

    # -- helpers -------------------------------------------------------------------------------

    def _blocked(self, verdict: Verdict, stage: Stage) -> Verdict:
        if self.raise_on_block:
            raise GuardBlocked(verdict, stage)
        return verdict

    def _blocked_result(self, item: _Item, full: bool, count: int) -> list[dict[str, Any]]:
        """The block message in the shape the model's answer would have had: ``count`` sequences, each
        a chat ending with it (a chat with full text) or the message alone (a string, or new text only)."""
        message = block_message(item.blocked)  # type: ignore[arg-type]
        if isinstance(item.sent, str) or not full:
            return [{"generated_text": message} for _ in range(count)]
        return [{"generated_text": [*item.sent, {"role": "assistant", "content": message}]} for _ in range(count)]

    def _sequences(self, kwargs: Mapping[str, Any]) -> int:
        """How many texts the model gives for each prompt (``num_return_sequences``, else 1)."""
        built = self.hf_pipeline  # what the pipeline was built with (where transformers keeps it varies)
        config = getattr(getattr(built, "model", None), "generation_config", None)
        for where in (kwargs, kwargs.get("generate_kwargs"), getattr(built, "_forward_params", None),
                      getattr(built, "_generate_kwargs", None),
                      {"num_return_sequences": getattr(config, "num_return_sequences", None)}):
            count = where.get("num_return_sequences") if isinstance(where, Mapping) else None
            if isinstance(count, int) and count >= 1:
                return count
        return 1

    def _checked_options(self, kwargs: dict[str, Any], context: Context) -> tuple[dict[str, Any], Verdict | None]:
        """The call's options that put text into the prompt (``prefix``, and the ``documents`` and ``tools``
        a chat template renders) through the input guards, redacted; the verdict that blocks, if one does."""
        given = {k: kwargs[k] for k in _PROMPT_OPTIONS if kwargs.get(k) is not None}
        if not given:
            return kwargs, None
        checked, refused = _walk(given, self._history_guards, context, Stage.INPUT)
        return {**kwargs, **checked}, None if refused is None else self._blocked(refused, Stage.INPUT)

    def _refuse_unchecked(self, kwargs: Mapping[str, Any]) -> None:
        """Token ids, or a streamer (of this call or of the pipeline), would reach the caller unchecked."""
        if kwargs.get("return_tensors") or getattr(kwargs.get("return_type"), "name", "") == "TENSORS":
            raise GuardConfigError("return_tensors gives token ids, which cannot be checked; "
                                   "ask for text", where="guard_text_generation")
        given = kwargs.get("generate_kwargs")
        built = getattr(self.hf_pipeline, "_forward_params", None)
        if any(isinstance(m, Mapping) and m.get("streamer") is not None for m in (kwargs, given, built)):
            raise GuardConfigError("a streamer gets the generated tokens before any guard sees them; "
                                   "stream with GuardedTextGeneration.stream(prompt, ...), which releases "
                                   "text only through the output guards", where="guard_text_generation")

    def _full_text(self, kwargs: Mapping[str, Any]) -> bool:
        """Whether generated_text repeats the prompt (``return_full_text``, the pipeline's default)."""
        if kwargs.get("return_full_text") is not None:
            return bool(kwargs["return_full_text"])
        return_type = kwargs.get("return_type") or getattr(self.hf_pipeline, "_postprocess_params", {}).get(
            "return_type")
        return return_type is None or getattr(return_type, "name", "") == "FULL_TEXT"


def _paragraph_break(head: str) -> str:
    """What puts the text after ``head`` (a prompt) on a paragraph of its own."""
    if not head or head.endswith("\n\n"):
        return ""
    return "\n" if head.endswith("\n") else "\n\n"


class _Cancelled(Exception):
    """Raised inside generation to stop the model once nobody reads the stream."""


def _exchange(messages: Chat, i: int) -> range:
    """The messages of the exchange that message ``i`` is in: from its first user message to the next one's."""
    start = i
    while start > 0 and not (messages[start].get("role") == "user" and messages[start - 1].get("role") != "user"):
        start -= 1
    end = i + 1
    while end < len(messages) and messages[end].get("role") != "user":
        end += 1
    return range(start, end)


def _chunks(streamer: Any, thread: threading.Thread, failure: list[BaseException]) -> Iterator[str]:
    """The streamer's text, then the generation's error if it failed (nothing after it is released)."""
    yield from streamer
    thread.join()
    if failure:
        raise failure[0]


@cache
def _streamer_class() -> type:
    from transformers import TextIteratorStreamer

    class CancellableStreamer(TextIteratorStreamer):  # type: ignore[misc]
        """Stops the generation at its next token once ``cancelled`` is set."""

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self.cancelled = threading.Event()

        def put(self, value: Any) -> None:
            if self.cancelled.is_set():
                raise _Cancelled
            super().put(value)

    return CancellableStreamer
