"""Admin routes: create, list and revoke moderator and admin tokens (admin role only)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Response
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from clauseguard.guards.server.auth import require
from clauseguard.guards.server.models import PlainText
from clauseguard.guards.server.state import ServerState, get_state
from clauseguard.guards.server.tokens import Principal, Role, TokenInfo

__all__ = ["router"]

router = APIRouter(prefix="/v1/admin", tags=["admin"],
                   responses={401: {"description": "no valid token"}, 403: {"description": "not an admin"}})

Admin = Annotated[Principal, Depends(require(Role.ADMIN))]
State = Annotated[ServerState, Depends(get_state)]


class NewToken(BaseModel):
    model_config = ConfigDict(extra="forbid")
    role: Role
    label: PlainText = Field(default="", max_length=200, description="whose token this is, for the list")


class TokenOut(BaseModel):
    id: str
    role: Role
    label: str
    created_at: datetime
    revoked_at: datetime | None


class CreatedToken(TokenOut):
    token: str = Field(description="the token itself: shown this once, stored only as a hash")


def _out(info: TokenInfo) -> TokenOut:
    return TokenOut(id=info.id, role=info.role, label=info.label, created_at=info.created_at,
                    revoked_at=info.revoked_at)


@router.post("/tokens", response_model=CreatedToken, status_code=201)
async def create_token(body: NewToken, admin: Admin, state: State) -> CreatedToken:
    token, info = await run_in_threadpool(state.tokens.create, body.role, body.label)
    return CreatedToken(token=token, **_out(info).model_dump())


@router.get("/tokens", response_model=list[TokenOut])
async def list_tokens(admin: Admin, state: State) -> list[TokenOut]:
    return [_out(i) for i in await run_in_threadpool(state.tokens.list)]


@router.delete("/tokens/{token_id}", status_code=204, responses={404: {"description": "no such active token"}})
async def revoke_token(token_id: str, admin: Admin, state: State) -> Response:
    if not await run_in_threadpool(state.tokens.revoke, token_id):
        raise HTTPException(404, detail="no active token with that id")
    return Response(status_code=204)
