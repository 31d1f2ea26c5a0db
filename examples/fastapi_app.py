"""A small FastAPI app guarded by clauseguard: one JSON endpoint and one streaming endpoint.

    pip install 'clauseguard[server]'
    uvicorn examples.fastapi_app:app            # demo guards; CLAUSEGUARD_GUARDS=legal/guards.yaml for yours
    curl -s localhost:8000/chat -H 'content-type: application/json' -d '{"message": "hello"}'

Rate limits are keyed to the client's address: the peer's, unless the peer is a reverse proxy you
name in ``CLAUSEGUARD_TRUSTED_PROXIES`` (e.g. ``10.0.0.0/8``); then the right-most ``X-Forwarded-For``
hop that proxy did not add. Without it the header is ignored: a client could write anything there.

The model is a stand-in that echoes. Blocks answer 200 with the block message (the terms' own words);
``raise_on_block=True`` with an exception handler would turn them into 4xx responses instead.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator

from fastapi import FastAPI, Request
from fastapi.responses import StreamingResponse
from pydantic import BaseModel

from clauseguard.guards import Context, Pipeline, parse_guards
from clauseguard.guards.decorator import guarded
from clauseguard.guards.gradio import client_ip, user_key

DEMO_GUARDS = """
- {id: weapons-in, type: keyword, stage: input, params: {categories: [S9]},
   message: "This request is refused under the Acceptable Use Policy (weapons)."}
- {id: rate-limit, type: rate_limit, stage: input, params: {capacity: 30, refill_per_second: 0.5}}
- {id: pii-out, type: pii, stage: output, on_fail: redact}
- {id: ai-disclosure, type: ai_disclosure, stage: output, on_fail: label}
"""

path = os.environ.get("CLAUSEGUARD_GUARDS")
pipeline = Pipeline.from_yaml(path) if path else Pipeline(parse_guards(DEMO_GUARDS, "demo"))
app = FastAPI(title="Guarded API")


class Ask(BaseModel):
    message: str


def context(message: str, request: Request) -> Context:
    """The same pseudonymous key as the Gradio helper (X-Forwarded-For believed only from trusted proxies)."""
    return Context(user_key=user_key(request), ip=client_ip(request))


@guarded(pipeline, context_from=context)
async def answer(message: str, request: Request) -> str:
    return f"You wrote: {message}"


@guarded(pipeline, context_from=context, stream="delta")
async def answer_stream(message: str, request: Request) -> AsyncIterator[str]:
    for word in f"You wrote: {message}".split():
        await asyncio.sleep(0.01)
        yield word + " "


@app.post("/chat")
async def chat(ask: Ask, request: Request) -> dict[str, str]:
    return {"answer": await answer(ask.message, request)}


@app.post("/chat/stream")
async def chat_stream(ask: Ask, request: Request) -> StreamingResponse:
    return StreamingResponse(answer_stream(ask.message, request), media_type="text/plain")
