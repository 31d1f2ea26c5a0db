"""Bearer-token dependencies: ``Depends(require(Role.MODERATOR))`` guards a route.

No token or a wrong one is a 401 and a token of too low a role a 403; either way the route body
never runs, so a refused request sees no data. Verification (scrypt) runs in a worker thread, and
guessing is throttled (:func:`~.throttle.verify_token`): a token whose id no active token has is refused
without a check and costs its client's ``login`` bucket; a wrong secret for a real id costs that id's
bucket and the client's, a 429 with ``Retry-After`` after a few; the same wrong token again is refused
without another check. A valid token is not throttled unless wrong secrets were sent for its id lately.
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
