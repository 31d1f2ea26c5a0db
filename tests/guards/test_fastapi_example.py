"""examples/fastapi_app.py: its rate limit is keyed to the client, not to what the client writes in a header."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
LIMITED = "Blocked under section 3.6"  # the demo rate limit has no message of its own: the default


@pytest.fixture
def client(monkeypatch: pytest.MonkeyPatch) -> Any:
    testclient = pytest.importorskip("fastapi.testclient", reason="the example needs the [server] extra")
    monkeypatch.delenv("CLAUSEGUARD_GUARDS", raising=False)
    monkeypatch.syspath_prepend(str(ROOT))
    sys.modules.pop("examples.fastapi_app", None)  # a fresh pipeline, so a fresh rate limit
    app = importlib.import_module("examples.fastapi_app").app
    return testclient.TestClient(app, client=("192.0.2.10", 50000))


def _limited(client: Any, headers: dict[str, str]) -> bool:
    answer = client.post("/chat", json={"message": "hi"}, headers=headers).json()["answer"]
    return not answer.endswith("[AI-generated]")


@pytest.mark.parametrize(("proxies", "forged"), [
    ("", "10.1.0.{}"),  # no trusted proxy: the header is ignored
    ("192.0.2.0/24", "10.1.0.{}, 198.51.100.7"),  # a trusted proxy appends the real client
])
def test_rotating_x_forwarded_for_does_not_escape_the_rate_limit(client: Any, monkeypatch: pytest.MonkeyPatch,
                                                                 proxies: str, forged: str) -> None:
    monkeypatch.setenv("CLAUSEGUARD_TRUSTED_PROXIES", proxies)
    limited = [_limited(client, {"x-forwarded-for": forged.format(i)}) for i in range(40)]
    assert limited[:30] == [False] * 30 and all(limited[31:])
