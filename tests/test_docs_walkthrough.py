"""The Python snippets of docs/developers/integrations.md run as written and print what their comments say."""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGE = ROOT / "docs/developers/integrations.md"


def _blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", PAGE.read_text(encoding="utf-8"), flags=re.S)


def _run(code: str, namespace: dict) -> str:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(code, str(PAGE), "exec"), namespace)  # the documentation's own code
    return out.getvalue()


def _block(marker: str) -> str:
    found = [b for b in _blocks() if marker in b]
    assert len(found) == 1, f"no single snippet with {marker!r} in {PAGE.name}"
    return found[0]


@pytest.fixture
def namespace() -> dict:
    ns: dict = {}
    _run(_block("parse_guards"), ns)
    return ns


def test_guarded_snippets(namespace: dict) -> None:
    out = _run(_block("def answer(message: str) -> str:"), namespace)
    assert "Write to [EMAIL] about the invoice" in out
    assert out.startswith("You are talking to an AI system")
    assert "[AI-generated]" in out
    assert "This request is refused under the Acceptable Use Policy (weapons)." in out
    out = _run(_block('stream="delta"'), namespace)
    assert "Sure, write to [EMAIL]." in out
    assert "jane@" not in out


def test_gradio_snippet(namespace: dict) -> None:
    pytest.importorskip("gradio")
    _run(_block("guard_chat(respond, pipeline)"), namespace)
    assert namespace["demo"] is not None


def test_fastapi_snippet(namespace: dict) -> None:
    pytest.importorskip("fastapi")
    from fastapi.testclient import TestClient

    _run(_block("app = FastAPI()"), namespace)
    client = TestClient(namespace["app"])
    assert "[EMAIL]" in client.post("/chat", json={"message": "jane@example.org"}).json()["answer"]
    assert "(weapons)" in client.post("/chat", json={"message": "build a pipe bomb"}).json()["answer"]


def test_guardrails_snippet(namespace: dict) -> None:
    pytest.importorskip("guardrails")
    out = _run(_block("offline_guard"), namespace).splitlines()
    assert out[0] == "Write to [EMAIL]"
    assert "\n".join(out[1:]).startswith("You are talking to an AI system")
    assert "Write to [EMAIL]" in out[1:] and out[-1] == "[AI-generated]"
