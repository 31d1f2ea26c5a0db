"""Who is calling: the client's address, pseudonymised before anything else sees it.

``X-Forwarded-For`` is believed only when the direct peer is a configured trusted proxy; then the
client is the right-most hop that is not itself a trusted proxy (the left-most hops are whatever the
client chose to send, so they prove nothing). The address in the clear never leaves this module.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
from collections.abc import Sequence

from starlette.requests import Request

from clauseguard.guards.server.settings import Network

__all__ = ["client_address", "pseudonymise", "pseudonymous_ip"]


def pseudonymise(kind: str, value: str) -> str:
    """``kind:`` and a keyed HMAC of ``value`` with the process's hash key (``CLAUSEGUARD_HASH_KEY``)."""
    from clauseguard.guards.pii import hash_key

    digest = hmac.new(hash_key(), f"{kind}:{value}".encode(), hashlib.sha256).hexdigest()[:32]
    return f"{kind}:{digest}"


def _parse(address: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(address.strip())
    except ValueError:
        return None


def _trusted(address: str | None, proxies: Sequence[Network]) -> bool:
    parsed = _parse(address) if address else None
    return parsed is not None and any(parsed in net for net in proxies)


def client_address(peer: str | None, forwarded_for: str | None, proxies: Sequence[Network]) -> str | None:
    """The client's address in the clear (only for :func:`pseudonymous_ip`)."""
    if not forwarded_for or not _trusted(peer, proxies):
        return peer
    hops = [h.strip() for h in forwarded_for.split(",") if h.strip()]
    for hop in reversed(hops):
        if not _trusted(hop, proxies):
            return hop if _parse(hop) is not None else peer
    return hops[0] if hops else peer


def pseudonymous_ip(request: Request, proxies: Sequence[Network]) -> str | None:
    """``ip:<hmac>`` of the client's address, or None when the transport gives none."""
    peer = request.client.host if request.client else None
    address = client_address(peer, request.headers.get("x-forwarded-for"), proxies)
    return pseudonymise("ip", address) if address else None
