"""POST /v1/check/text and /v1/check/image: run the pipeline, answer with the verdict.

Checks run in a worker thread (guards and the audit write are blocking), so the event loop keeps
serving. Every decision is recorded by the pipeline's sink (metrics, then the audit log). A stage and
modality that no guard of guards.yaml checks is a 422 naming them, never an ``allow`` of content nobody
checked (as ``clauseguard check`` and ``eval`` refuse it).
"""

from __future__ import annotations

import base64
import binascii
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool

from clauseguard.guards._params import Modality, Stage
from clauseguard.guards.server.models import CheckImageJson, CheckResponse, CheckText, verdict_response
from clauseguard.guards.server.state import ServerState, get_state, request_context

__all__ = ["decode_image", "require_guards", "router"]

router = APIRouter(prefix="/v1/check", tags=["check"])

State = Annotated[ServerState, Depends(get_state)]


def require_guards(state: ServerState, stage: Stage | str, modality: Modality) -> None:
    """A 422 when no guard checks ``modality`` at ``stage``: the content would be allowed unchecked, and an
    ``allow`` (and its audit record) would say it was checked."""
    if state.pipeline.stage_guards(stage, modality):
        return
    stage, kind = Stage(stage).value, modality.value
    other = [s.value for s in Stage if state.pipeline.stage_guards(s, modality)]
    hint = f"its {kind} guards run at stage {other[0]}" if other else f"it has no {kind} guard"
    raise HTTPException(422, detail=f"no {kind} guard of guards.yaml runs at stage {stage}, so every {kind} would "
                                    f"be allowed unchecked ({hint}); nothing was checked or recorded")


@router.post("/text", response_model=CheckResponse)
async def check_text(body: CheckText, request: Request, state: State) -> CheckResponse:
    """Run the guards of ``stage`` on a text: the verdict, its findings and the clauses they enforce."""
    require_guards(state, body.stage, Modality.TEXT)
    context = request_context(request, state, stage=body.stage, user_key=body.user_key, turn=body.turn,
                              request_id=body.request_id)
    verdict = await run_in_threadpool(state.pipeline.check, body.text, stage=body.stage, context=context)
    return verdict_response(verdict, context.request_id, body.text)


def decode_image(data: str) -> bytes:
    """Bytes of a base64 image or ``data:`` URL; a 422 naming the problem otherwise."""
    if data.startswith("data:"):
        _, _, data = data.partition(",")
    try:
        raw = base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError) as err:
        raise HTTPException(422, detail=f"image is not valid base64: {err}") from err
    if not raw:
        raise HTTPException(422, detail="image is empty")
    return raw


def _image_schema() -> dict[str, Any]:
    schema = CheckImageJson.model_json_schema(ref_template="#/components/schemas/{model}")
    schema.pop("$defs", None)
    multipart = {"type": "object", "required": ["file", "stage"], "properties": {
        "file": {"type": "string", "format": "binary"},
        "stage": {"$ref": "#/components/schemas/Stage"},
        "user_key": {"type": "string", "maxLength": 256},
        "request_id": schema["properties"]["request_id"],
    }}
    return {"requestBody": {"required": True, "content": {
        "application/json": {"schema": schema}, "multipart/form-data": {"schema": multipart}}}}


async def _image_body(request: Request) -> tuple[CheckImageJson, bytes]:
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind == "multipart/form-data":
        form = await request.form(max_files=1, max_fields=8)
        upload = form.get("file")
        if upload is None or isinstance(upload, str):
            raise HTTPException(422, detail="missing field(s): file (an image upload)")
        raw = await upload.read()
        fields = {k: v for k, v in form.items() if k != "file" and isinstance(v, str)}
        body = _validated({**fields, "image_base64": "AA=="})
        if not raw:
            raise HTTPException(422, detail="image is empty")
        return body, raw
    if kind == "application/json":
        try:
            payload = await request.json()
        except ValueError as err:
            raise HTTPException(400, detail="malformed JSON body") from err
        body = _validated(payload)
        return body, decode_image(body.image_base64)
    raise HTTPException(415, detail="send multipart/form-data (field 'file') or application/json (image_base64)")


def _validated(payload: Any) -> CheckImageJson:
    try:
        return CheckImageJson.model_validate(payload)
    except ValidationError as err:
        raise RequestValidationError(err.errors(include_input=False)) from err


@router.post("/image", response_model=CheckResponse, openapi_extra=_image_schema(),
             responses={413: {"description": "image over the size limit"}, 415: {"description": "wrong type"},
                        422: {"description": "a bad field, or no image guard runs at the stage"}})
async def check_image(request: Request, state: State) -> CheckResponse:
    """Run the image guards of ``stage`` on an uploaded image (multipart) or a base64 one (JSON)."""
    body, raw = await _image_body(request)
    require_guards(state, body.stage, Modality.IMAGE)
    context = request_context(request, state, stage=body.stage, user_key=body.user_key,
                              request_id=body.request_id)
    verdict = await run_in_threadpool(state.pipeline.check, raw, stage=body.stage, context=context,
                                      modality=Modality.IMAGE)
    return verdict_response(verdict, context.request_id, raw)
