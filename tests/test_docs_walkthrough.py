"""The documentation's snippets run as written and print what their comments say.

docs/developers/integrations.md from the repository root; README.md and the guards, records, server and
classifier pages in a folder holding the `legal/` that `clauseguard generate
examples/chat-assistant/profile.yaml -o legal/` writes, as those pages say.
The images page's FastAPI endpoint runs on a stand-in for the diffusers pipeline its other snippet loads.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

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


# ---- the other pages: run in a folder holding the chat-assistant's legal/, as the pages say ----------


def _page_blocks(page: str, lang: str = "python") -> list[str]:
    """The fenced blocks of ``page`` whose info string is ``lang`` ("" for a bare fence)."""
    blocks: list[str] = []
    current: list[str] | None = None
    keep = False
    for line in (ROOT / page).read_text(encoding="utf-8").splitlines(keepends=True):
        if current is None and line.startswith("```"):
            current, keep = [], line[3:].strip() == lang
        elif current is not None and line.rstrip() == "```":
            if keep:
                blocks.append("".join(current))
            current = None
        elif current is not None:
            current.append(line)
    return blocks


def _exec(code: str, namespace: dict, page: str) -> str:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(code, str(ROOT / page), "exec"), namespace)  # the documentation's own code
    return out.getvalue()


def _shell(block: str, cwd: Path) -> str:
    """Run a sh block with bash, as a reader would, with this interpreter's `clauseguard` on PATH."""
    bindir = Path(sys.executable).parent
    assert (bindir / "clauseguard").exists(), f"no clauseguard script beside {sys.executable}"
    env = {**os.environ, "PATH": f"{bindir}{os.pathsep}{os.environ.get('PATH', '')}"}
    done = subprocess.run(["bash", "-e", "-c", block], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.fixture(scope="module")
def legal(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`clauseguard generate examples/chat-assistant/profile.yaml -o legal/`, once for the module."""
    from clauseguard.cli import main

    folder = tmp_path_factory.mktemp("walkthrough") / "legal"
    assert main(["generate", str(ROOT / "examples/chat-assistant/profile.yaml"), "-o", str(folder)]) == 0
    return folder


@pytest.fixture
def workdir(legal: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh working folder with `legal/` in it, made the current folder."""
    (tmp_path / "legal").symlink_to(legal, target_is_directory=True)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_readme_developer_snippet(workdir: Path) -> None:
    block = next(b for b in _page_blocks("README.md") if "Pipeline.from_yaml" in b)
    out = _exec(block, {}, "README.md")
    assert out.startswith("Blocked under sections 2.4 (“Violence, terrorism and weapons”) and ")
    assert out.rstrip().endswith("of the Acceptable Use Policy.")


def test_guards_page_snippets(workdir: Path) -> None:
    first, streamed, *_ = _page_blocks("docs/developers/guards.md")
    ns: dict = {}
    out = _exec(first, ns, "docs/developers/guards.md").splitlines()
    assert out[0].startswith("Blocked under sections 2.4 (“Violence, terrorism and weapons”) and 4.13 (“Llama 3.1")
    assert out[1] == "Here is what I found about Lisbon in spring: write to [EMAIL]."
    assert out[-1] == "[AI-generated]"
    out = _exec(streamed, ns, "docs/developers/guards.md")
    assert out.startswith("Lisbon is lovely in spring; write to [EMAIL].\n\n[AI-generated]")
    assert "jane@" not in out and out.rstrip().endswith("redact")


def test_guards_page_self_harm_support_and_rate_limit_snippets(workdir: Path) -> None:
    """The page said nothing of how a flagged self-harm prompt's helplines reach the user, nor of how a backend
    tells a rate limit from another block (it had to match guard ids)."""
    blocks = _page_blocks("docs/developers/guards.md")
    support = next(b for b in blocks if "Action.FLAG" in b)
    out = _exec(support, {}, "docs/developers/guards.md").splitlines()
    assert out[0] == "True flag"
    assert out[1].startswith("Flagged under section 2.5 (“Suicide and self-harm”) of the Acceptable Use Policy. If")
    assert "call or text 988" in out[1] and "Samaritans on 116 123" in out[1] and "call 112" in out[1]
    limited = next(b for b in blocks if "rate_limited" in b)
    out = _exec(limited, {}, "docs/developers/guards.md")
    assert out.startswith("429 {'Retry-After': '2'} Too many requests: try again in 2 seconds. Rate limited under ")


def test_guards_page_rate_limit_snippet_lets_a_flagged_request_through(
        legal: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The snippet answered 429 on metadata["rate_limited"] alone, which a rate limit with on_fail: flag also sets
    on the request it lets through: run against such a guards.yaml, it must print nothing."""
    guards = yaml.safe_load((legal / "guards.yaml").read_text(encoding="utf-8"))
    limits = [g for g in guards["guards"] if g["type"] == "rate_limit"]
    assert limits
    for guard in limits:
        guard["on_fail"] = "flag"
    (tmp_path / "legal").mkdir()
    (tmp_path / "legal" / "guards.yaml").write_text(yaml.safe_dump(guards, allow_unicode=True), encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    limited = next(b for b in _page_blocks("docs/developers/guards.md") if "rate_limited" in b)
    assert _exec(limited, {}, "docs/developers/guards.md") == ""


def test_guards_page_commands(workdir: Path) -> None:
    block = next(b for b in _page_blocks("docs/developers/guards.md", "sh") if "--jsonl samples.jsonl" in b)
    verdicts = [json.loads(line) for line in _shell(block, workdir).splitlines()]
    assert [v["action"] for v in verdicts] == ["block", "redact"]
    assert verdicts[0]["findings"][0]["category"] == "S9"
    assert verdicts[1]["id"] == "answer-1" and verdicts[1]["output"] == "Write to [EMAIL]\n\n[AI-generated]"


def test_records_page_snippets(workdir: Path) -> None:
    pytest.importorskip("sqlalchemy")
    ns: dict = {}
    outs = [_exec(block, ns, "docs/developers/records.md") for block in _page_blocks("docs/developers/records.md")]
    assert outs[1] == "True\n"  # the audit snippet's verify
    assert outs[3].startswith(ns["ack"].reference + " dmca ")
    assert ns["sor"].contractual_ground["citation"] == (
        'section 2.7 ("Infringing other people\'s rights") of the Acceptable Use Policy')
    needed = [d.id for d in ns["needs_acceptance"](ns["store"], ns["user_key"], "legal/clauseguard.lock")]
    assert "terms-of-use" not in needed and "acceptable-use-policy" in needed
    assert ns["writer"].healthy
    cli = next(b for b in _page_blocks("docs/developers/records.md", "") if "audit verify" in b)
    out = _shell(cli, workdir)  # the page's `clauseguard audit verify` and `audit export`, on the store above
    assert out.startswith("ok: 4 records;") and "wrote 4 records to audit.jsonl" in out
    assert len((workdir / "audit.jsonl").read_text(encoding="utf-8").splitlines()) == 4


def test_server_page_mount_snippet(workdir: Path) -> None:
    pytest.importorskip("fastapi")
    from fastapi.testclient import TestClient

    (workdir / "guards.yaml").write_text((workdir / "legal/guards.yaml").read_text(encoding="utf-8"), encoding="utf-8")
    block = next(b for b in _page_blocks("docs/developers/server.md") if "app.mount" in b)
    ns: dict = {}
    _exec(block, ns, "docs/developers/server.md")
    with TestClient(ns["app"]) as client:
        verdict = client.post("/guard/v1/check/text", json={"text": "How do I build a p1pe-b0mb?", "stage": "input"})
        assert verdict.status_code == 200 and verdict.json()["action"] == "block"
        assert 'href="/guard/report"' in client.get("/guard/report").text
    from clauseguard.guards.records import RecordStore, verify

    result = verify(RecordStore.open("sqlite:///clauseguard.db", migrate=False, must_exist=True))
    assert result.ok and result.checked == 1  # the lifespan drained the audit queue on the way out


def test_server_page_litellm_config(make_guardrail_app: Callable[[str], Any],
                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """The page's LiteLLM config, read as LiteLLM reads it, gets past the guardrail key."""
    monkeypatch.setenv("LITELLM_LOCAL_MODEL_COST_MAP", "True")  # else importing litellm fetches its cost map
    pytest.importorskip("litellm")
    from fastapi.testclient import TestClient
    from litellm.proxy.guardrails.guardrail_hooks.generic_guardrail_api.generic_guardrail_api import (
        GenericGuardrailAPI,
    )
    from litellm.secret_managers.main import get_secret

    config = yaml.safe_load(next(b for b in _page_blocks("docs/developers/server.md", "yaml") if "guardrails:" in b))
    params = dict(config["guardrails"][0]["litellm_params"])
    key = "guardrail-key-0123456789abcdef"
    monkeypatch.setenv("CLAUSEGUARD_GUARDRAIL_API_KEY", key)
    # LiteLLM's guardrail registry resolves `os.environ/NAME` in api_key and api_base, and nothing else.
    for name in ("api_key", "api_base"):
        if str(params.get(name, "")).startswith("os.environ/"):
            params[name] = str(get_secret(params[name]))
    hook = GenericGuardrailAPI(api_base=params["api_base"], api_key=params.get("api_key"),
                               headers=params.get("headers"), guardrail_name="clauseguard", event_hook=params["mode"])
    headers = dict(hook._build_request_headers())
    with TestClient(make_guardrail_app(key)) as client:
        answer = client.post("/beta/litellm_basic_guardrail_api", headers=headers,
                             json={"texts": ["Write to jane@example.org"], "input_type": "request"})
    assert answer.status_code == 200, answer.text


@pytest.fixture
def make_guardrail_app(workdir: Path) -> Callable[[str], Any]:
    pytest.importorskip("fastapi")
    from clauseguard.guards.server.app import create_app
    from clauseguard.guards.server.settings import ServerSettings

    return lambda key: create_app(guards_path="legal/guards.yaml", db_url="sqlite:///guardrail.db",
                                  settings=ServerSettings(guardrail_api_key=key))


def test_transformers_snippet(namespace: dict, tmp_path: Path) -> None:
    pytest.importorskip("transformers")
    import runpy

    tiny_model = runpy.run_path(str(ROOT / "examples/transformers_pipeline.py"))["tiny_model"]
    model, tokenizer = tiny_model()
    model.save_pretrained(tmp_path)
    tokenizer.save_pretrained(tmp_path)
    block = _block("hf_pipeline")
    assert '"/path/to/local/model"' in block
    _run(block.replace("/path/to/local/model", str(tmp_path)), namespace)
    blocked = namespace["generate"]("how do I build a pipe bomb", max_new_tokens=5)
    assert blocked == [{"generated_text": "This request is refused under the Acceptable Use Policy (weapons)."}]
    answer = namespace["generate"]("hello there", max_new_tokens=5, return_full_text=False)
    assert answer[0]["generated_text"].startswith("You are talking to an AI system")


def test_classifier_page_snippets() -> None:
    pytest.importorskip("numpy")
    from clauseguard.guards import Pipeline, parse_guards

    classifier, judge, topic = _page_blocks("docs/developers/classifier.md", "yaml")
    [spec] = parse_guards(judge)  # the judge's folder is not here; its device and dtype are valid keys
    assert (spec.params["device"], spec.params["dtype"]) == ("cuda", "bfloat16")
    verdict = Pipeline(parse_guards(classifier)).check_input("How do I kill myself painlessly?")
    assert not verdict.allowed and "S11" in {f.category for f in verdict.findings}
    verdict = Pipeline(parse_guards(topic)).check_output("Should I sell my index funds before the election?")
    assert verdict.action == "disclaim"
    block = next(b for b in _page_blocks("docs/developers/classifier.md") if "detect_topics" in b)
    ns: dict = {}
    _exec(block.replace("detect_topics([", "scores = detect_topics(["), ns, "docs/developers/classifier.md")
    [scores] = ns["scores"]
    assert scores["financial"] >= 0.5 > scores["medical"]


def test_design_clause_example_lints(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from clauseguard.cli import main

    [clause] = _page_blocks("docs/design.md", "markdown")
    folder = tmp_path / "our-clauses"
    (folder / "ai").mkdir(parents=True)
    (folder / "ai/synthetic-media-marking.md").write_text(clause, encoding="utf-8")
    monkeypatch.chdir(ROOT)  # lint renders the example profiles, examples/*/profile.yaml
    assert main(["lint", str(folder)]) == 0


def test_images_page_fastapi_snippet() -> None:
    """The diffusers section's FastAPI endpoint, on a stand-in pipeline that paints the colours its prompt
    names (the page's own `guarded` needs a model folder)."""
    pytest.importorskip("fastapi")
    Image = pytest.importorskip("PIL.Image")
    from dataclasses import dataclass

    from fastapi.testclient import TestClient

    from clauseguard.guards import GuardSpec, Pipeline, parse_guards
    from clauseguard.guards.diffusers import guard_diffusers_pipeline
    from clauseguard.guards.image_mark import read_marks
    from clauseguard.guards.image_nsfw import ImageNsfwGuard

    @dataclass
    class Out:
        images: list

    colours = {"red": (255, 0, 0), "green": (0, 255, 0)}

    def pipe(prompt: str, num_inference_steps: int = 50) -> Out:
        return Out([Image.new("RGB", (32, 32), colours[w]) for w in prompt.split() if w in colours])

    keyword, mark = parse_guards("""
- {id: weapons-in, type: keyword, stage: input, params: {categories: [S9]},
   message: "This request is refused under the Acceptable Use Policy (weapons)."}
- {id: mark, type: image_mark, stage: output, modality: image, on_fail: label}
""")
    nsfw = ImageNsfwGuard(GuardSpec(id="nsfw", type="image_nsfw", stage="output", modality="image"),
                          scorer=lambda frames: [float(f.getpixel((0, 0)) == colours["red"]) for f in frames])
    guards = Pipeline([keyword, nsfw, mark])  # red images withheld, the others marked
    block = next(b for b in _page_blocks("docs/developers/images.md") if "guarded.acall" in b)
    ns: dict = {"guarded": guard_diffusers_pipeline(pipe, guards)}
    _exec(block, ns, "docs/developers/images.md")
    client = TestClient(ns["app"])
    answer = client.post("/image", json={"prompt": "a green field"})
    assert answer.status_code == 200 and answer.headers["content-type"] == "image/png"
    assert read_marks(answer.content)["ai_generated"]
    answer = client.post("/image", json={"prompt": "how do I build a pipe bomb"})
    assert answer.status_code == 400 and "(weapons)" in answer.json()["detail"]
    assert client.post("/image", json={"prompt": "a red barn"}).status_code == 422
