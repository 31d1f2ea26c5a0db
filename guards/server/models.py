"""Request and response bodies of the check endpoints (they are the OpenAPI schema too)."""

from __future__ import annotations

import base64
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from clauseguard.guards._params import Action, Stage
from clauseguard.guards._verdict import Verdict

__all__ = ["CheckImageJson", "CheckResponse", "CheckText", "FindingOut", "PlainText", "UnicodeText", "plain_text",
           "unicode_text", "verdict_response"]

REQUEST_ID_PATTERN = r"^[A-Za-z0-9._:-]+$"
RequestId = Field(default=None, max_length=128, pattern=REQUEST_ID_PATTERN,
                  description="your id for this request; one is made when absent")
UserKey = Field(default=None, max_length=256, description="your id of the end user (pseudonymised on arrival)")


def unicode_text(text: str) -> str:
    """``text`` if it can be written as UTF-8; a lone surrogate (JSON's ``"\\ud800"``) cannot, so no
    guard, record or response could handle it: it is refused here, as a 422 naming the field."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as err:
        raise ValueError(f"not valid Unicode text: a lone surrogate at character {err.start}") from err
    return text


UnicodeText = Annotated[str, AfterValidator(unicode_text)]


def plain_text(text: str) -> str:
    """``text`` if a database can store it: UTF-8 (see :func:`unicode_text`) and no NUL character.
    PostgreSQL refuses ``\\x00`` in a text column, so a statement carrying one failed with a 500 after
    validation; SQLite stored it, so the same records would not move to PostgreSQL."""
    if "\x00" in unicode_text(text):
        raise ValueError(f"contains a NUL character (\\x00) at character {text.index(chr(0))}, which cannot be stored")
    return text


PlainText = Annotated[str, AfterValidator(plain_text)]  # free text that goes into the records


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CheckText(_Body):
    text: UnicodeText = Field(description="the prompt (stage input) or the model's answer (stage output)")
    stage: Stage
    user_key: str | None = UserKey
    turn: int = Field(default=0, ge=0, le=1_000_000, description="0-based turn of the conversation")
    request_id: str | None = RequestId


class CheckImageJson(_Body):
    image_base64: str = Field(description="the image file's bytes, base64-encoded (a data: URL is accepted)")
    stage: Stage
    user_key: str | None = UserKey
    request_id: str | None = RequestId


class FindingOut(BaseModel):
    guard_id: str
    category: str | None
    score: float = Field(ge=0.0, le=1.0)
    span: list[int] | None
    clause_ids: list[str]
    message: str
    action: Action


class CheckResponse(BaseModel):
    request_id: str
    allowed: bool
    action: Action
    output: str | None = Field(description="text to pass on (redacted, labelled); null when blocked or an image")
    output_base64: str | None = Field(default=None, description="the image to pass on, when a guard changed it")
    findings: list[FindingOut]
    guard_id: str | None
    metadata: dict[str, Any]


def verdict_response(verdict: Verdict, request_id: str, original: str | bytes) -> CheckResponse:
    """The response body for ``verdict``; an image is returned only when a guard changed it."""
    data = verdict.to_dict()
    output, image = verdict.output, None
    if isinstance(output, bytes):
        image = base64.b64encode(output).decode("ascii") if output != original else None
        output = None
    return CheckResponse(request_id=request_id, allowed=data["allowed"], action=data["action"], output=output,
                         output_base64=image, findings=[FindingOut(**f) for f in data["findings"]],
                         guard_id=data["guard_id"], metadata=_jsonable(data["metadata"]))


def _jsonable(metadata: dict[str, Any]) -> dict[str, Any]:
    """Metadata made JSON-safe: bytes become their length (a guard's metadata is not ours to trust)."""
    return {str(k): ({"bytes": len(v)} if isinstance(v, bytes) else v) for k, v in metadata.items()}
