"""The client's address behind proxies, with the standard library alone (the server and Gradio share it).

``X-Forwarded-For`` is believed only when the direct peer is a trusted proxy; then the client is the
right-most hop that is not itself a trusted proxy (the left-most hops are whatever the client chose to
send, so they prove nothing).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence

__all__ = ["Network", "client_address", "parse_address"]

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_address(address: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(address.strip())
    except ValueError:
        return None


def _trusted(address: str | None, proxies: Sequence[Network]) -> bool:
    parsed = parse_address(address) if address else None
    return parsed is not None and any(parsed in net for net in proxies)


def client_address(peer: str | None, forwarded_for: str | None, proxies: Sequence[Network]) -> str | None:
    """The client's address in the clear: ``peer``, or behind trusted ``proxies`` the right-most
    forwarded hop that is not one of them."""
    if not forwarded_for or not _trusted(peer, proxies):
        return peer
    hops = [h.strip() for h in forwarded_for.split(",") if h.strip()]
    for hop in reversed(hops):
        if not _trusted(hop, proxies):
            return hop if parse_address(hop) is not None else peer
    return hops[0] if hops else peer
