"""LiteLLM's Generic Guardrail API: ``POST /beta/litellm_basic_guardrail_api``.

A LiteLLM proxy configured with ``guardrail: generic_guardrail_api`` and ``api_base`` pointing here
sends the texts (and images) it extracted from a request (``input_type: request`` -> our input stage)
or from a response (``response`` -> our output stage). The answer is one of LiteLLM's three actions:

* ``BLOCKED`` with ``blocked_reason`` (the findings' messages, which quote the terms) when any text or
  image is blocked; a guard that failed or timed out is reported as the default block message, its
  error kept in the audit record;
* ``GUARDRAIL_INTERVENED`` with every text (and image) in order, changed where a guard redacted,
  labelled or added a disclaimer;
* ``NONE`` when nothing changed.

Every text goes through the stage's guards; ``rate_limit`` counts the call once, on the last text (the
new message; the earlier ones are the conversation so far, checked again since a client can forge it).
Tool calls are judged too, as the transformers and Gradio wrappers judge them: the ``arguments`` of each
of ``tool_calls`` (a response's: what the model asks a tool to do, at the output stage; a request's: the
assistant's earlier calls in the conversation, at the input stage), and every ``description`` in
``tools`` (the tool definitions the model is given, at the input stage), without ``rate_limit`` and
without the labels and notices the guards add around a text. A tool call or description that a guard
blocks blocks the call; a changed description (redacted) is sent back in ``tools``. LiteLLM takes no
changed ``tool_calls`` back, so a response's tool call whose arguments a guard would change is blocked (the
arguments would reach the tool unredacted). A request's earlier call, which only reaches the model, is
redacted instead: the conversation comes back in ``structured_messages`` (which LiteLLM writes over the
request's messages, in place of ``texts``) with the redacted texts and arguments written in; where one of
them cannot be found there, the call is blocked. Fields LiteLLM adds later are accepted and not judged. The end user is
``request_data.user_api_key_end_user_id`` (else the key's user id), pseudonymised like every user key.
The turn (how many answers the conversation holds, which decides the first-turn AI notice) is read from
``structured_messages``, which LiteLLM sends with a request only: it is remembered by
``litellm_call_id`` (the last 10,000 calls, for an hour) and reused for that call's response. A response
whose request this process did not judge (no call id, or another worker judged the request) counts as
a first turn, so the notice is shown rather than left out.
When a guardrail API key is configured, the request must carry it (LiteLLM ``headers:`` config) as
``Authorization: Bearer <key>`` or ``x-api-key``.
"""

from __future__ import annotations

import base64
import copy
import hmac
import json
import threading
import time
from collections import OrderedDict
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Request
from pydantic import BaseModel, ConfigDict, Field, field_validator
from starlette.concurrency import run_in_threadpool

from clauseguard.guards._params import Action, Modality, Stage
from clauseguard.guards._runner import GuardFailure
from clauseguard.guards._verdict import Verdict
from clauseguard.guards.decorator import DEFAULT_BLOCK_MESSAGE
from clauseguard.guards.pipeline import Pipeline
from clauseguard.guards.server.check import decode_image
from clauseguard.guards.server.models import REQUEST_ID_PATTERN, UnicodeText, unicode_text
from clauseguard.guards.server.state import ServerState, get_state, request_context

__all__ = ["GuardrailRequest", "GuardrailResponse", "router"]

router = APIRouter(tags=["litellm"])

PATH = "/beta/litellm_basic_guardrail_api"
_USER_KEYS = ("user_api_key_end_user_id", "user_api_key_user_id")  # the end user, else the key's user
CALL_ID_MAX_LENGTH = 190  # + "." + the text's number fits audit_log.request_id (200)


class GuardrailRequest(BaseModel):
    """LiteLLM's request body (fields as its documentation names them; unknown ones are kept)."""

    model_config = ConfigDict(extra="allow")

    texts: list[UnicodeText] = Field(default_factory=list)
    images: list[str] | None = None
    tools: list[dict[str, Any]] | None = None
    tool_calls: list[dict[str, Any]] | None = None
    structured_messages: list[dict[str, Any]] | None = None
    request_data: dict[str, Any] = Field(default_factory=dict)
    input_type: Literal["request", "response"]
    # the audit records' request ids are "<call id>.<text number>", at most 200 characters in the store: a
    # longer id would be refused by the database after the verdict was sent, so it is refused here (422)
    litellm_call_id: str | None = Field(default=None, max_length=CALL_ID_MAX_LENGTH, pattern=REQUEST_ID_PATTERN)
    litellm_trace_id: str | None = Field(default=None, max_length=256)
    additional_provider_specific_params: dict[str, Any] = Field(default_factory=dict)

    @field_validator("request_data")
    @classmethod
    def _user_is_text(cls, data: dict[str, Any]) -> dict[str, Any]:
        for key in _USER_KEYS:
            if isinstance(data.get(key), str):
                try:
                    unicode_text(data[key])
                except ValueError as err:
                    raise ValueError(f"{key}: {err}") from err
        return data


class GuardrailResponse(BaseModel):
    action: Literal["BLOCKED", "NONE", "GUARDRAIL_INTERVENED"]
    blocked_reason: str | None = None
    texts: list[str] | None = None
    images: list[str] | None = None
    tools: list[dict[str, Any]] | None = None
    structured_messages: list[dict[str, Any]] | None = None


def _authorise(request: Request, state: ServerState) -> None:
    expected = state.settings.guardrail_api_key
    if expected is None:
        return
    auth = request.headers.get("authorization", "")
    given = auth[7:] if auth.lower().startswith("bearer ") else request.headers.get("x-api-key", "")
    if not hmac.compare_digest(given.encode(), expected.encode()):
        raise HTTPException(401, detail="missing or wrong guardrail API key",
                            headers={"WWW-Authenticate": "Bearer"})


def _user(request_data: dict[str, Any]) -> str | None:
    for key in _USER_KEYS:
        value = request_data.get(key)
        if isinstance(value, str | int) and str(value):
            return str(value)
    return None


def _turn(messages: list[dict[str, Any]] | None) -> int:
    return sum(1 for m in messages or () if isinstance(m, dict) and m.get("role") == "assistant")


class _CallTurns:
    """The turn of each call whose request was judged here, by ``litellm_call_id``, for its response (LiteLLM
    sends the conversation with the request only). Bounded: the newest ``max_calls`` calls, each for
    ``ttl_s`` seconds; a streamed response is judged more than once, so a turn is kept, not taken, once read."""

    def __init__(self, *, max_calls: int = 10_000, ttl_s: float = 3600.0) -> None:
        self.max_calls, self.ttl_s = max_calls, ttl_s
        self._turns: OrderedDict[str, tuple[float, int]] = OrderedDict()
        self._lock = threading.Lock()

    def remember(self, call_id: str, turn: int) -> None:
        with self._lock:
            self._turns[call_id] = (time.monotonic() + self.ttl_s, turn)
            self._turns.move_to_end(call_id)
            while len(self._turns) > self.max_calls:
                self._turns.popitem(last=False)

    def get(self, call_id: str) -> int | None:
        with self._lock:
            found = self._turns.get(call_id)
            if found is None or found[0] < time.monotonic():
                self._turns.pop(call_id, None)
                return None
            return found[1]


def _call_turns(request: Request) -> _CallTurns:
    """This app's remembered turns (made on the event loop, before any worker thread reads them)."""
    turns = getattr(request.app.state, "litellm_turns", None)
    if turns is None:
        turns = request.app.state.litellm_turns = _CallTurns()
    return turns


def _body_turn(body: GuardrailRequest, turns: _CallTurns) -> int:
    """The conversation's turn: counted in a request's messages (and remembered for its response); for a
    response, the turn of its request, else 0 (the first turn: the AI notice is shown, not skipped)."""
    if body.structured_messages is not None or body.input_type == "request":
        turn = _turn(body.structured_messages)
        if body.input_type == "request" and body.litellm_call_id:
            turns.remember(body.litellm_call_id, turn)
        return turn
    known = turns.get(body.litellm_call_id) if body.litellm_call_id else None
    return known if known is not None else 0


def _reason(verdict: Verdict, *, blocked_instead: bool = False) -> str:
    """The findings' user-facing messages; a guard's failure (its exception's text) is not one. For a change
    that blocks instead (``blocked_instead``), "Redacted under ..." (the generated verb) reads "Blocked under ..."."""
    shown = [f for f in verdict.findings if f.message and not isinstance(f, GuardFailure)]
    messages = [f.message for f in shown if f.action is Action.BLOCK] or [f.message for f in shown]
    if blocked_instead:
        messages = ["Blocked" + m[len("Redacted"):] if m.startswith("Redacted ") else m for m in messages]
    return "; ".join(dict.fromkeys(messages)) or DEFAULT_BLOCK_MESSAGE


def _judge(state: ServerState, body: GuardrailRequest, request: Request, turns: _CallTurns) -> GuardrailResponse:
    stage = Stage.INPUT if body.input_type == "request" else Stage.OUTPUT
    user = _user(body.request_data)
    earlier = state.pipeline.without("rate_limit")  # one call counts once, not once per text
    turn = _body_turn(body, turns)
    texts: list[str] = []
    # The call's own text (a request's new prompt, the last; a response's answer, the first) is judged under
    # the call id itself, the others under "<call id>.<n>": a support guard then finds, for the response,
    # the categories of its request's new prompt, not those of the conversation's first message.
    own = len(body.texts) - 1 if stage is Stage.INPUT else 0
    for i, text in enumerate(body.texts):
        rid = (body.litellm_call_id if i == own else f"{body.litellm_call_id}.{i}") if body.litellm_call_id else None
        context = request_context(request, state, stage=stage, user_key=user, turn=turn, request_id=rid)
        pipeline = state.pipeline if i == len(body.texts) - 1 else earlier  # the last text is the new one
        verdict = pipeline.check(text, stage=stage, context=context)
        if not verdict.allowed:
            return GuardrailResponse(action="BLOCKED", blocked_reason=_reason(verdict))
        texts.append(verdict.output if isinstance(verdict.output, str) else text)
    tools, calls, blocked = _judge_tools(_ToolJudge(state, earlier, body, request, user, turn), stage)
    if blocked is not None:
        return GuardrailResponse(action="BLOCKED", blocked_reason=blocked)
    messages = None
    if calls:
        messages = _written_back(body, texts, calls)
        if messages is None:
            return GuardrailResponse(action="BLOCKED", blocked_reason=_unwritable(calls))
    images, blocked = _judge_images(state, body, request, stage, user)
    if blocked is not None:
        return GuardrailResponse(action="BLOCKED", blocked_reason=blocked)
    if texts == body.texts and images == list(body.images or ()) and tools == body.tools and not calls:
        return GuardrailResponse(action="NONE")
    return GuardrailResponse(action="GUARDRAIL_INTERVENED", texts=texts, images=images if body.images else None,
                             tools=tools if tools != body.tools else None, structured_messages=messages)


class _ToolJudge:
    """Checks the text of tool calls and tool definitions, each a pipeline check (and decision record) whose
    request id numbers on after the texts', without the labels and notices the guards add around a text."""

    def __init__(self, state: ServerState, pipeline: Pipeline, body: GuardrailRequest, request: Request,
                 user: str | None, turn: int) -> None:
        self.state, self.pipeline, self.body, self.request = state, pipeline, body, request
        self.user, self.turn, self.number = user, turn, len(body.texts)

    def check(self, text: str, stage: Stage) -> tuple[str, Verdict]:
        """``text`` as the guards of ``stage`` let it through (as given, when blocked), and their verdict."""
        rid = f"{self.body.litellm_call_id}.{self.number}" if self.body.litellm_call_id else None
        self.number += 1
        context = request_context(self.request, self.state, stage=stage, user_key=self.user, turn=self.turn,
                                  request_id=rid)
        verdict = self.pipeline.check(text, stage=stage, context=context)
        if not verdict.allowed:
            return text, verdict
        out = verdict.output if isinstance(verdict.output, str) else text
        return out[len(verdict.prefix):len(out) - len(verdict.suffix)], verdict


def _arguments(call: Any) -> str | None:
    """A tool call's arguments as text (OpenAI's ``function.arguments``; a mapping written as JSON)."""
    if not isinstance(call, dict):
        return None
    function = call.get("function") if isinstance(call.get("function"), dict) else call
    args = function.get("arguments", function.get("input"))
    if args is None or isinstance(args, str):
        return args
    return json.dumps(args, ensure_ascii=False)


_Redacted = list[tuple[dict[str, Any], str, Verdict]]  # an earlier tool call, its redacted arguments, the verdict


def _judge_tools(judge: _ToolJudge, stage: Stage) -> tuple[list[dict[str, Any]] | None, _Redacted, str | None]:
    """The tool definitions to pass on (descriptions redacted) and a request's earlier tool calls whose arguments
    the guards redacted, or the reason to block: a blocked tool call or description, or a response's tool call
    whose arguments the guards would change (LiteLLM takes no tool call back: it would reach the tool as it is)."""
    redacted: _Redacted = []
    for call in judge.body.tool_calls or ():
        args = _arguments(call)
        if args is None:
            continue
        checked, verdict = judge.check(args, stage)
        if not verdict.allowed:
            return None, [], _reason(verdict)
        if checked != args and stage is Stage.OUTPUT:
            return None, [], (f"{_reason(verdict, blocked_instead=True)} (in a tool call's arguments, which LiteLLM "
                              "cannot take back changed: the call is blocked rather than reaching the tool unredacted)")
        if checked != args:
            redacted.append((call, checked, verdict))
    tools = judge.body.tools
    if not tools:
        return tools, redacted, None
    checked_tools = [_descriptions(tool, judge) for tool in tools]
    for _, refused in checked_tools:
        if refused is not None:
            return None, [], _reason(refused)
    return [tool for tool, _ in checked_tools], redacted, None


def _unwritable(calls: _Redacted) -> str:
    return (f"{_reason(calls[0][2], blocked_instead=True)} (in an earlier tool call's arguments, which could not "
            "be written back redacted into the conversation: the request is blocked rather than passed on unredacted)")


def _written_back(body: GuardrailRequest, texts: list[str], calls: _Redacted) -> list[dict[str, Any]] | None:
    """``structured_messages`` with the changed texts and the redacted arguments of earlier tool calls written in
    (LiteLLM puts these rows in place of the request's messages, and then reads no ``texts``); None when a
    changed text or call is not found there as LiteLLM sent it, or a call's arguments are not a string."""
    rows = copy.deepcopy(body.structured_messages or [])
    changed = {old: new for old, new in zip(body.texts, texts, strict=True) if old != new}
    found: set[str] = set()
    placed = [False] * len(calls)
    for row in rows:
        if not isinstance(row, dict):
            continue
        content = row.get("content")
        if isinstance(content, str) and content in changed:
            found.add(content)
            row["content"] = changed[content]
        for part in content if isinstance(content, list) else ():
            if isinstance(part, dict) and isinstance(part.get("text"), str) and part["text"] in changed:
                found.add(part["text"])
                part["text"] = changed[part["text"]]
        row_calls = row.get("tool_calls")
        for i, call in enumerate(row_calls if isinstance(row_calls, list) else ()):
            for n, (original, args, _) in enumerate(calls):
                if call == original and (written := _with_arguments(call, args)) is not None:
                    row_calls[i], placed[n] = written, True
    return rows if found == set(changed) and all(placed) else None


def _with_arguments(call: dict[str, Any], args: str) -> dict[str, Any] | None:
    """A copy of an OpenAI tool call with ``function.arguments`` (a string) replaced, else None."""
    function = call.get("function")
    if not isinstance(function, dict) or not isinstance(function.get("arguments"), str):
        return None
    return {**call, "function": {**function, "arguments": args}}


def _descriptions(value: Any, judge: _ToolJudge) -> tuple[Any, Verdict | None]:
    """``value`` (a tool definition) with each ``description`` in it as the input guards let it through."""
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for key, item in value.items():
            if key == "description" and isinstance(item, str):
                out[key], verdict = judge.check(item, Stage.INPUT)
                refused = None if verdict.allowed else verdict
            else:
                out[key], refused = _descriptions(item, judge)
            if refused is not None:
                return value, refused
        return out, None
    if isinstance(value, list):
        items = []
        for item in value:
            checked, refused = _descriptions(item, judge)
            if refused is not None:
                return value, refused
            items.append(checked)
        return items, None
    return value, None


def _judge_images(state: ServerState, body: GuardrailRequest, request: Request, stage: Stage,
                  user: str | None) -> tuple[list[str], str | None]:
    """The images to pass on, or the reason to block. Without image guards, images pass untouched."""
    given = list(body.images or ())
    if not given or not state.pipeline.stage_guards(stage, Modality.IMAGE):
        return given, None
    images: list[str] = []
    for image in given:
        if image.startswith(("http://", "https://")):
            return [], "an image given by URL cannot be checked (send the image data)"
        raw = decode_image(image)
        context = request_context(request, state, stage=stage, user_key=user)
        verdict = state.pipeline.check(raw, stage=stage, context=context, modality=Modality.IMAGE)
        if not verdict.allowed:
            return [], _reason(verdict)
        changed = isinstance(verdict.output, bytes) and verdict.output != raw
        images.append(base64.b64encode(verdict.output).decode("ascii") if changed else image)  # type: ignore[arg-type]
    return images, None


@router.post(PATH, response_model=GuardrailResponse, response_model_exclude_none=True,
             responses={401: {"description": "missing or wrong guardrail API key"}})
async def litellm_guardrail(body: GuardrailRequest, request: Request,
                            state: Annotated[ServerState, Depends(get_state)]) -> GuardrailResponse:
    """Judge what a LiteLLM proxy extracted from a request or a response."""
    _authorise(request, state)
    return await run_in_threadpool(_judge, state, body, request, _call_turns(request))
