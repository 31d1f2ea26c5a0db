"""GET /healthz (database reachable, audit log being written, guards loaded) and GET /metrics."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError
from starlette.concurrency import run_in_threadpool

from clauseguard.guards.server.metrics import CONTENT_TYPE
from clauseguard.guards.server.state import ServerState, get_state

__all__ = ["router"]

router = APIRouter(tags=["operations"])

State = Annotated[ServerState, Depends(get_state)]


class Health(BaseModel):
    status: str
    database: str
    guards: int
    documents: int
    audit: str = Field(description="ok; failing (commits are being retried); or external (a custom sink)")
    audit_pending: int = Field(description="audit records queued and not yet committed")


def _database_ok(state: ServerState) -> bool:
    try:
        with state.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except SQLAlchemyError:
        return False
    return True


@router.get("/healthz", response_model=Health, responses={503: {"model": Health, "description": "not ready"}})
async def healthz(state: State) -> JSONResponse:
    """Ready when the database answers, audit commits succeed and at least one guard is loaded."""
    db_ok = await run_in_threadpool(_database_ok, state)
    guards = len(state.pipeline.guards)
    writer = state.audit_writer
    audit = "external" if writer is None else ("ok" if writer.healthy else "failing")
    ok = db_ok and guards > 0 and audit != "failing"
    body = Health(status="ok" if ok else "unavailable", database="ok" if db_ok else "unreachable",
                  guards=guards, documents=len(state.documents), audit=audit,
                  audit_pending=0 if writer is None else writer.pending)
    return JSONResponse(body.model_dump(), status_code=200 if ok else 503)


@router.get("/metrics", response_class=Response, responses={200: {"content": {CONTENT_TYPE: {}}}})
async def metrics(state: State) -> Response:
    """Request counts by endpoint and status, verdict counts by action, guard latency histogram."""
    return Response(state.metrics.render(), media_type=CONTENT_TYPE)
