"""Who is calling: the client's address, pseudonymised before anything else sees it.

``X-Forwarded-For`` is believed only when the direct peer is a configured trusted proxy; then the
client is the right-most hop that is not itself a trusted proxy (the left-most hops are whatever the
client chose to send, so they prove nothing). The address in the clear never leaves this module: it
is pseudonymised with the records' :class:`Pseudonymizer` (keyed HMAC, rotating keys).
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Sequence

from starlette.requests import Request

from clauseguard.guards._forwarded import Network, client_address, parse_address
from clauseguard.guards.records.pseudonym import ENV_KEYS, Pseudonymizer, PseudonymKey

__all__ = ["PROCESS_KID", "client_address", "lasts_past_this_process", "over_https", "process_pseudonymizer",
           "pseudonymous_ip", "pseudonymous_ip_group"]

PROCESS_KID = "process"  # the id of the random key drawn when CLAUSEGUARD_PSEUDONYM_KEYS is not set

log = logging.getLogger("clauseguard.guards.server")


def _address(request: Request, proxies: Sequence[Network]) -> str | None:
    peer = request.client.host if request.client else None
    # every X-Forwarded-For line, in order: a proxy may add its own line after the client's
    forwarded = ", ".join(request.headers.getlist("x-forwarded-for")) or None
    address = client_address(peer, forwarded, proxies)
    return address if address and parse_address(address) is not None else None


def pseudonymous_ip(request: Request, proxies: Sequence[Network], pseudonymizer: Pseudonymizer) -> str | None:
    """The pseudonym of the client's address, or None when the transport gives no IP address."""
    address = _address(request, proxies)
    return pseudonymizer.ip(address) if address else None


def pseudonymous_ip_group(request: Request, proxies: Sequence[Network], pseudonymizer: Pseudonymizer) -> str | None:
    """The pseudonym of the network a rate limit counts the client by: its IPv4 address, or the /64 of its
    IPv6 address (a host or home is usually given a /64 whole, and can take a new address in it for each
    request). None when the transport gives no IP address."""
    from clauseguard.guards.rate_limit import ip_bucket

    address = _address(request, proxies)
    return pseudonymizer.ip(ip_bucket(address).partition("/")[0]) if address else None


def over_https(request: Request, proxies: Sequence[Network]) -> bool:
    """Whether the client reached us over https: the request's own scheme, or, from a trusted proxy
    that terminated TLS, its ``X-Forwarded-Proto`` (uvicorn's proxy-header handling is off, so the
    scheme alone says http behind every proxy). A client that forges ``https`` over plain http only
    gets cookies its browser will not send back over http."""
    if request.url.scheme == "https":
        return True
    peer = parse_address(request.client.host) if request.client else None
    if peer is None or not any(peer in net for net in proxies):
        return False
    hops = request.headers.get("x-forwarded-proto", "").lower().split(",")
    return "https" in (hop.strip() for hop in hops)


def process_pseudonymizer() -> Pseudonymizer:
    """Keys from ``CLAUSEGUARD_PSEUDONYM_KEYS``; without them a random key for this process (logged).

    With a random key, pseudonyms still never reveal an address, but they cannot be linked across
    restarts (rate limits and look-ups by address then start afresh).
    """
    pseudonymizer = Pseudonymizer.from_env()
    if pseudonymizer.keys:
        return pseudonymizer
    log.warning("%s is not set: pseudonyms use a random key that lasts only as long as this process", ENV_KEYS)
    return Pseudonymizer((PseudonymKey(PROCESS_KID, secrets.token_bytes(32)),))


def lasts_past_this_process(pseudonymizer: Pseudonymizer) -> bool:
    """Whether pseudonyms made now are found again after a restart and by the other workers (the keys
    come from ``CLAUSEGUARD_PSEUDONYM_KEYS``, not this process's random key)."""
    return pseudonymizer.keys[0].kid != PROCESS_KID
