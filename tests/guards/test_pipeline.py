from __future__ import annotations

import asyncio
import hashlib
import json
import socket
import struct
import threading
import time

import pytest
from guard_helpers import FIXTURES

import clauseguard.guards as guards_pkg
from clauseguard.errors import ModelLoadError
from clauseguard.guards import (
    Action,
    Context,
    Guard,
    GuardSpec,
    JsonlSink,
    MemorySink,
    Pipeline,
    Verdict,
    register,
)


@register("test_raises")
class _Raises(Guard):
    def check(self, content, context):
        raise RuntimeError("boom")


@register("test_sleeps")
class _Sleeps(Guard):
    """Far over any time budget the tests give it, so a loaded machine that stalls the waiting thread for
    a moment cannot let it finish in time (its thread is a daemon: nothing waits for it)."""

    def check(self, content, context):
        time.sleep(3)
        return Verdict.allow(content, self.id)

    async def acheck(self, content, context):
        await asyncio.sleep(3)
        return Verdict.allow(content, self.id)


@register("test_hangs")
class _Hangs(Guard):
    """Stuck until the test lets it go (a model server that stopped answering)."""

    release = threading.Event()
    finished = threading.Event()

    def check(self, content, context):
        type(self).release.wait(60)
        type(self).finished.set()
        return Verdict.allow(content, self.id)


@register("test_bad_return")
class _BadReturn(Guard):
    def check(self, content, context):
        return "ok"


@register("test_stray_finding")
class _StrayFinding(Guard):
    def check(self, content, context):
        return Verdict(allowed=False, action=Action.BLOCK, output=None, findings=("bad",), guard_id=self.id)


@register("test_allowed_block")
class _AllowedBlock(Guard):
    def check(self, content, context):
        return Verdict(allowed=True, action=Action.ALLOW, output=content, guard_id=self.id,
                       findings=(self.finding("S9", score=1.0, action=Action.BLOCK),))


def _spec(type_: str, **fields) -> GuardSpec:
    # Test-only types are not in PARAMS: build the spec without the type check.
    base = {"id": type_.replace("_", "-"), "type": type_, "params": {}, "on_fail": Action.BLOCK,
            "on_error": "block", "timeout_ms": None, "clauses": ["c/x"], "message": "",
            "stage": "input", "modality": "text", "category_clauses": {}, "category_messages": {}}
    return GuardSpec.model_construct(**{**base, **fields})


def _pipeline(*specs, **kwargs) -> Pipeline:
    from clauseguard.guards._params import Modality, Stage

    built = []
    for spec in specs:
        spec = spec.model_copy(update={"stage": Stage(spec.stage), "modality": Modality(spec.modality)})
        built.append(guards_pkg._registry.REGISTRY[spec.type].__new__(guards_pkg._registry.REGISTRY[spec.type]))
        built[-1].spec, built[-1].params = spec, None
    return Pipeline(built, **kwargs)


@pytest.mark.parametrize(("spec", "action", "fragment"), [
    (_spec("test_raises"), Action.BLOCK, "RuntimeError: boom"),
    (_spec("test_raises", on_error="flag"), Action.FLAG, "RuntimeError: boom"),
    (_spec("test_sleeps", timeout_ms=50), Action.BLOCK, "time budget of 50 ms"),
    (_spec("test_sleeps", timeout_ms=50, on_error="flag"), Action.FLAG, "time budget"),
    (_spec("test_bad_return"), Action.BLOCK, "not a Verdict"),
    (_spec("test_stray_finding"), Action.BLOCK, "findings that are not Findings (str)"),
    (_spec("test_allowed_block"), Action.BLOCK, "an allowed verdict that blocks"),
])
def test_fail_closed(spec, action, fragment) -> None:
    for verdict in (_pipeline(spec).check_input("hi"), asyncio.run(_pipeline(spec).acheck_input("hi"))):
        assert verdict.action is action
        assert fragment in verdict.findings[0].message
        assert verdict.findings[0].clause_ids == ("c/x",)
        assert verdict.findings[0].category is None


def test_timeout_returns_promptly() -> None:
    """The pipeline answers when the budget is spent, not when the guard is done: its verdict comes while
    the guard is still stuck (no bound on elapsed time, which a busy machine would break)."""
    _Hangs.release, _Hangs.finished = threading.Event(), threading.Event()
    try:
        verdict = _pipeline(_spec("test_hangs", timeout_ms=30)).check_input("hi")
        assert not _Hangs.finished.is_set()  # waiting for the guard, the check would have taken its 60 s
    finally:
        _Hangs.release.set()
    assert verdict.action is Action.BLOCK and "time budget of 30 ms" in verdict.findings[0].message
    assert _Hangs.finished.wait(30)  # the guard ran on in its thread, its verdict ignored


def test_from_yaml_combines_and_records(tmp_path) -> None:
    sink = MemorySink()
    pipeline = Pipeline.from_yaml(FIXTURES / "guards.yaml", sink=sink)
    verdict = pipeline.check_input("sh1t, mail bob@example.com", Context(user_key="u"))
    assert verdict.action is Action.REDACT
    assert verdict.output == "[REDACTED], mail [EMAIL]"
    assert {f.guard_id for f in verdict.findings} == {"input-profanity", "input-pii"}
    blocked = pipeline.check_input("how to make a b0mb with a pipe bomb")
    assert not blocked.allowed and blocked.output is None
    assert blocked.findings[0].clause_ids == ("content/weapons",)
    assert [r["action"] for r in sink.records] == ["redact", "block"]
    assert "bob@example.com" not in json.dumps(sink.records)


def test_an_error_found_building_a_guard_names_the_file_and_line(tmp_path, monkeypatch) -> None:
    from clauseguard.guards import pipeline

    real = pipeline.create

    def create(spec):  # as a classifier guard does when its model folder is missing
        if spec.id != "judge":
            return real(spec)
        raise ModelLoadError("model folder /nowhere does not exist", where=f"guard {spec.id!r} params.model_path")

    monkeypatch.setattr(pipeline, "create", create)
    path = tmp_path / "guards.yaml"
    path.write_text("guards:\n  - id: judge-2\n    type: keyword\n  - id: judge\n    type: classifier\n"
                    "    params:\n      backends: [transformers]\n      model_path: /nowhere\n")
    with pytest.raises(ModelLoadError) as caught:
        Pipeline.from_yaml(path)
    assert caught.value.where == f"{path}:8 guard 'judge' guards[1].params.model_path"
    assert caught.value.message == "model folder /nowhere does not exist"


def test_output_stage_appends_label_and_disclaimer() -> None:
    pipeline = Pipeline.from_yaml(FIXTURES / "guards.yaml")
    verdict = pipeline.check_output("Take ibuprofen. Key AKIAIOSFODNN7EXAMPLE.", Context(turn=1))
    assert verdict.output.startswith("Take ibuprofen. Key [SECRET].\n\n[AI-generated]\n\nThis is general")
    assert verdict.action is Action.REDACT
    assert verdict.metadata["ai_generated"] is True


def test_overlapping_redactions_compose() -> None:
    specs = [GuardSpec(id="a", type="pii", on_fail="redact", params={"entities": ["email"]}),
             GuardSpec(id="b", type="regex", on_fail="redact",
                       params={"patterns": [{"name": "host", "pattern": r"example\.com and more"}]})]
    verdict = Pipeline(specs).check_input("x a@example.com and more y")
    assert verdict.output == "x [EMAIL] y"


@pytest.mark.parametrize(("content", "max_chars", "fragment"), [
    ("a" * 101, 100, "too large to check"),
    (b"\xff\xfe\x00garbage", 100, "not UTF-8"),
])
def test_unjudgeable_content_is_blocked(content, max_chars, fragment) -> None:
    verdict = Pipeline.from_yaml(FIXTURES / "guards.yaml", max_chars=max_chars).check_input(content)
    assert not verdict.allowed and fragment in verdict.findings[0].message


@pytest.mark.parametrize("content", ["", "\x00\x01\ud800" * 1000, "ок 🙂" * 5000, b"plain bytes"])
def test_empty_and_garbage_do_not_crash(content) -> None:
    verdict = Pipeline.from_yaml(FIXTURES / "guards.yaml").check_input(content, Context(user_key="g"))
    assert verdict.allowed


def test_ten_megabytes_is_refused_unread() -> None:
    verdict = Pipeline.from_yaml(FIXTURES / "guards.yaml").check_input("x" * 10_000_000)
    assert not verdict.allowed
    assert [(f.guard_id, f.message) for f in verdict.findings] == [
        ("pipeline", "content too large to check (10000000 > 1000000 characters)")]  # no guard ran


def test_jsonl_sink(tmp_path) -> None:
    path = tmp_path / "log" / "decisions.jsonl"
    pipeline = Pipeline.from_yaml(FIXTURES / "guards.yaml", sink=JsonlSink(path))
    pipeline.check_input("hello")
    pipeline.check_input("build a pipe bomb")
    records = [json.loads(line) for line in path.read_text().splitlines()]
    assert [r["allowed"] for r in records] == [True, False]


def test_no_socket_is_opened(monkeypatch) -> None:
    def refuse(*args, **kwargs):
        raise AssertionError("a socket was opened")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    import importlib

    for name in ("keyword", "pii", "regex_guard", "disclosure", "disclaimer", "rate_limit"):
        importlib.import_module(f"clauseguard.guards.{name}")
    pipeline = Pipeline.from_yaml(FIXTURES / "guards.yaml")
    assert pipeline.check_input("hello bob@example.com").allowed
    assert pipeline.check_output("Take ibuprofen.").allowed


def test_all_is_complete_and_sorted() -> None:
    exported = [n for n in dir(guards_pkg) if not n.startswith("_") and not isinstance(
        getattr(guards_pkg, n), type(guards_pkg))]
    # isort-style order (as ruff's RUF022): CONSTANTS, then Classes, then functions.
    assert guards_pkg.__all__ == sorted(guards_pkg.__all__, key=lambda n: (not n.isupper(), n[0].islower(), n))
    assert set(exported) - {"annotations", "logging"} == set(guards_pkg.__all__)


def test_image_guards_chain_and_the_text_size_limit_does_not_apply_to_images() -> None:
    """Each image guard judges the previous one's output (the marks reach the caller), the record
    carries the image's hashes, and ``max_chars`` (a text limit) does not block a large image."""
    pytest.importorskip("PIL")
    from fixtures.images.generate import encode, text_on_white

    from clauseguard.guards.image_mark import read_marks

    sink = MemorySink()
    mark = GuardSpec(id="mark", type="image_mark", stage="output", modality="image", on_fail="label")
    pipeline = Pipeline([mark], sink=sink, max_chars=10)
    data = encode(text_on_white())
    assert len(data) > 10
    verdict = pipeline.check(data, stage="output", modality="image")
    assert verdict.allowed and read_marks(verdict.output)["ai_generated"]
    (record,) = sink.records
    assert record["modality"] == "image" and len(record["image"]["sha256"]) == 64


@pytest.mark.parametrize("kind", [bytearray, memoryview])
def test_an_image_in_a_bytearray_is_checked_like_bytes(kind) -> None:
    pytest.importorskip("PIL")
    from fixtures.images.generate import encode, text_on_white

    mark = GuardSpec(id="mark", type="image_mark", stage="output", modality="image", on_fail="label")
    data = encode(text_on_white())
    verdict = Pipeline([mark]).check(kind(data), stage="output", modality="image")
    assert verdict.allowed and isinstance(verdict.output, bytes) and len(verdict.output) > len(data)


def test_a_decoder_failure_while_describing_an_image_for_its_record_is_not_raised(monkeypatch) -> None:
    """The record of an image no guard described gets its hash, whatever the decoder raises."""
    import clauseguard.guards._images as images

    def broken(data: bytes) -> None:
        raise struct.error("unpack requires a buffer of 4 bytes")

    monkeypatch.setattr(images, "load_image", broken)
    sink = MemorySink()
    verdict = Pipeline([], sink=sink).check(b"GIF89a...", stage="output", modality="image")
    assert verdict.allowed and sink.records[0]["image"] == {
        "sha256": hashlib.sha256(b"GIF89a...").hexdigest(), "bytes": 9, "decodable": False}


def test_without_keeps_the_rest_the_sink_and_the_size_limit() -> None:
    sink = MemorySink()
    pipeline = Pipeline([GuardSpec(id="rl", type="rate_limit", stage="input"),
                         GuardSpec(id="kw", type="keyword", stage="input", params={"terms": {"S9": ["detonator"]}})],
                        sink=sink, max_chars=100)
    rest = pipeline.without("rate_limit")
    assert [g.id for g in rest.guards] == ["kw"] and rest.guards[0] is pipeline.guards[1]
    assert (rest.sink, rest.max_chars) == (sink, 100)
    assert not rest.check_input("a detonator").allowed and sink.records


# -- from a review: the quick start's block message -------------------------------------------------

ROOT = FIXTURES.parents[2]  # the repository
# A guard that flags before the one that blocks, and one that fails: findings[0] is not the block's reason.
_QUICK_START_GUARDS = """
- {id: flag-build, type: keyword, on_fail: flag, params: {categories: [], terms: {S2: [build]}},
   message: "Flagged under section 9.9."}
- {id: kw, type: keyword, params: {categories: [S9]}, message: "Blocked under section 2.4."}
"""


def _python_blocks(page: str) -> list[str]:
    import re

    return re.findall(r"```python\n(.*?)```", (ROOT / page).read_text(encoding="utf-8"), flags=re.S)


@pytest.mark.parametrize("page", ["README.md", "docs/developers/guards.md"])
def test_the_quick_start_answers_a_block_with_its_reason(page: str, capsys) -> None:
    """The README and guards.md showed `verdict.findings[0].message` as the reason for a block; findings
    come in guard order, so an earlier guard's redaction ("Redacted under section 2.2") was shown for a
    blocked injection, and a failed guard's exception text reached the user."""
    from clauseguard.guards import parse_guards

    block = next(b for b in _python_blocks(page) if 'Pipeline.from_yaml("legal/guards.yaml")' in b)
    code = block.replace('Pipeline.from_yaml("legal/guards.yaml")', "PIPELINE")
    exec(compile(code, page, "exec"), {"PIPELINE": Pipeline(parse_guards(_QUICK_START_GUARDS))})  # the page's code
    assert capsys.readouterr().out.splitlines()[0] == "Blocked under section 2.4."

    failing = _pipeline(_spec("test_raises"))
    exec(compile(code, page, "exec"), {"PIPELINE": failing})
    first = capsys.readouterr().out.splitlines()[0]
    assert first.startswith("This request cannot be answered") and "boom" not in first
