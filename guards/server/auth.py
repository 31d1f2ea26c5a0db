"""Bearer-token dependencies: ``Depends(require(Role.MODERATOR))`` guards a route.

No token or a wrong one is a 401 and a token of too low a role a 403; either way the route body
never runs, so a refused request sees no data. Verification (scrypt) runs in a worker thread, and
made-up tokens are throttled per client (:func:`~.throttle.verify_token`): the same wrong token again
is refused without another check, and a client that sent a wrong one gets a 429 with ``Retry-After``
after a few more.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from clauseguard.guards.server.state import ServerState, get_state
from clauseguard.guards.server.throttle import verify_token
from clauseguard.guards.server.tokens import Principal, Role

__all__ = ["require"]

_bearer = HTTPBearer(auto_error=False, description="a moderator or admin token (cg_<id>_<secret>)")


def require(role: Role) -> Callable[..., Awaitable[Principal]]:
    """A dependency that yields the caller's :class:`Principal` when it holds at least ``role``."""

    async def dependency(request: Request, state: Annotated[ServerState, Depends(get_state)],
                         credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
                         ) -> Principal:
        if credentials is None or not credentials.credentials:
            raise HTTPException(401, detail="a bearer token is required", headers={"WWW-Authenticate": "Bearer"})
        principal = await verify_token(request, state, credentials.credentials)
        if principal is None:
            raise HTTPException(401, detail="invalid or revoked token", headers={"WWW-Authenticate": "Bearer"})
        if not principal.may(role):
            raise HTTPException(403, detail=f"this needs the {role.value} role")
        request.state.principal = principal
        return principal

    return dependency
