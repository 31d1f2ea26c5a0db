"""The server's client address: every X-Forwarded-For line counts, not the first one alone."""

from __future__ import annotations

import pytest
from starlette.requests import Request

from clauseguard.guards.records.pseudonym import Pseudonymizer, PseudonymKey
from clauseguard.guards.server.client import pseudonymous_ip, pseudonymous_ip_group
from clauseguard.guards.server.settings import ServerSettings

PROXIES = ServerSettings(trusted_proxies=("10.0.0.0/8",)).proxy_networks()
PSEUDONYMS = Pseudonymizer((PseudonymKey("k1", b"k" * 32),))


def _request(*lines: str, peer: str = "10.0.0.1") -> Request:
    headers = [(b"x-forwarded-for", line.encode()) for line in lines]
    return Request({"type": "http", "method": "GET", "path": "/", "headers": headers, "client": (peer, 1234)})


@pytest.mark.parametrize("spoof", ["6.6.6.6", "7.7.7.7", "6.6.6.6, 8.8.8.8"])
def test_a_client_line_before_the_proxys_own_line_does_not_choose_the_key(spoof: str) -> None:
    """A proxy that adds a header line of its own (HAProxy's ``option forwardfor``) leaves the client's line
    first: reading only the first line, the client chose its address, and so its rate-limit key."""
    real = pseudonymous_ip(_request("198.51.100.7"), PROXIES, PSEUDONYMS)
    assert real == PSEUDONYMS.ip("198.51.100.7")
    assert pseudonymous_ip(_request(spoof, "198.51.100.7"), PROXIES, PSEUDONYMS) == real
    assert pseudonymous_ip_group(_request(spoof, "198.51.100.7"), PROXIES, PSEUDONYMS) == (
        pseudonymous_ip_group(_request("198.51.100.7"), PROXIES, PSEUDONYMS))


@pytest.mark.parametrize(("lines", "peer", "address"), [
    ((), "10.0.0.1", "10.0.0.1"),
    (("198.51.100.7, 10.0.0.9",), "10.0.0.1", "198.51.100.7"),  # one line, as before
    (("198.51.100.7", "10.0.0.9"), "10.0.0.1", "198.51.100.7"),  # proxies' lines are skipped as hops are
    (("6.6.6.6", "198.51.100.7"), "203.0.113.9", "203.0.113.9"),  # an untrusted peer: no line is believed
])
def test_the_lines_are_read_as_one_list_of_hops(lines: tuple[str, ...], peer: str, address: str) -> None:
    assert pseudonymous_ip(_request(*lines, peer=peer), PROXIES, PSEUDONYMS) == PSEUDONYMS.ip(address)
