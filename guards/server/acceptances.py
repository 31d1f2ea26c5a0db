"""Acceptance routes: record that a user accepted the current documents, and ask what is still needed.

Versions come from clauseguard.lock (``--lock``): a document must be accepted again whenever its
content hash changes. The user is the operator's account id, pseudonymised on arrival (and looked up
under every pseudonym key, so key rotation loses no acceptance); the client's address is stored only
as a pseudonym. These routes are for the operator's backend, like the check routes. They answer 409
without ``--lock`` and 503 without ``CLAUSEGUARD_PSEUDONYM_KEYS``: a process's random key would make
every acceptance unfindable after a restart and by the other workers.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Request
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from clauseguard.guards.server.client import ENV_KEYS, lasts_past_this_process, pseudonymous_ip
from clauseguard.guards.server.state import ServerState, get_state

__all__ = ["router"]

router = APIRouter(prefix="/v1/acceptances", tags=["acceptances"],
                   responses={409: {"description": "the server has no clauseguard.lock (start it with --lock)"},
                              503: {"description": f"{ENV_KEYS} is not set: acceptances could not be found "
                                                   "again after a restart or by another worker"}})

State = Annotated[ServerState, Depends(get_state)]


class AcceptanceBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    user_key: str = Field(min_length=1, max_length=256, description="your account id of the user")
    document_ids: list[str] = Field(min_length=1, max_length=20, description="documents accepted, e.g. terms-of-use")
    channel: str = Field(default="api", pattern=r"^[a-z][a-z0-9_-]{0,19}$")


class DocumentOut(BaseModel):
    id: str
    version: str
    sha256: str


class AcceptanceOut(DocumentOut):
    accepted_at: datetime


class Needed(BaseModel):
    documents: list[DocumentOut] = Field(description="documents whose current text the user has not accepted")


def _lock(state: ServerState) -> object:
    if state.lock_path is None:
        raise HTTPException(409, detail="acceptances need document versions: start the server with --lock")
    return state.lock_path


def _ready(state: ServerState) -> None:
    """Refuse (409, 503) what these routes cannot do right as the server is set up.

    Users are found by their pseudonym: with this process's random key, an acceptance recorded now
    would not be found after a restart or by another worker (the user asked again, the evidence no
    longer linked to them), so nothing is recorded or answered until the key is configured.
    """
    _lock(state)
    if not lasts_past_this_process(state.pseudonymizer):
        raise HTTPException(503, detail=f"acceptances need a lasting pseudonym key: set {ENV_KEYS} (the same for "
                                        "every worker) and restart; with the random key of one process a user's "
                                        "acceptance is lost at the next restart and unknown to the other workers")


def _record(state: ServerState, body: AcceptanceBody, ip_key: str | None) -> list[AcceptanceOut]:
    from clauseguard.guards.records.acceptances import record_acceptance

    subject = state.pseudonymizer.user(body.user_key)
    rows = [record_acceptance(state.records, subject, doc, lock=_lock(state), report=state.report_path,  # type: ignore[arg-type]
                              channel=body.channel, ip_key=ip_key) for doc in dict.fromkeys(body.document_ids)]
    return [AcceptanceOut(id=r.document_id, version=r.version, sha256=r.sha256, accepted_at=r.accepted_at)
            for r in rows]


@router.post("", response_model=list[AcceptanceOut], status_code=201)
async def accept(body: AcceptanceBody, request: Request, state: State) -> list[AcceptanceOut]:
    """Record that the user accepted the current version of each document (idempotent per text)."""
    _ready(state)
    ip_key = pseudonymous_ip(request, state.proxies, state.pseudonymizer)
    return await run_in_threadpool(_record, state, body, ip_key)


def _needed(state: ServerState, user: str) -> Needed:
    from clauseguard.guards.records.acceptances import needs_acceptance

    docs = needs_acceptance(state.records, state.pseudonymizer.user_candidates(user), _lock(state),  # type: ignore[arg-type]
                            report=state.report_path)
    return Needed(documents=[DocumentOut(id=d.id, version=d.version, sha256=d.sha256) for d in docs])


class NeededBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    user_key: str = Field(min_length=1, max_length=256, description="your account id of the user")


@router.post("/needed", response_model=Needed)
async def needed_for(body: NeededBody, state: State) -> Needed:
    """Documents the user must (re-)accept before using the service; the account id travels in the body,
    so it stays out of URLs and access logs."""
    _ready(state)
    return await run_in_threadpool(_needed, state, body.user_key)


@router.get("/{user}/needed", response_model=Needed)
async def needed(user: str, state: State) -> Needed:
    """Documents the user must (re-)accept before using the service. The account id is part of the URL,
    so proxies and access logs record it: prefer ``POST /v1/acceptances/needed``."""
    _ready(state)
    return await run_in_threadpool(_needed, state, user[:256])
