from __future__ import annotations

import pytest

from clauseguard.guards import Action, Finding, Verdict


@pytest.mark.parametrize("score", [0, 0.0, 0.5, 1, 1.0])
def test_score_in_range_is_accepted(score: float) -> None:
    assert Finding(guard_id="g", category="S1", score=score).score == score


@pytest.mark.parametrize("score", [-0.0001, 1.0001, -1, 2, float("nan"), "0.5", None])
def test_score_out_of_range_is_rejected(score: object) -> None:
    with pytest.raises(ValueError, match="score"):
        Finding(guard_id="g", category="S1", score=score)  # type: ignore[arg-type]


@pytest.mark.parametrize(("category", "ok"), [("S1", True), ("pii", True), (None, True), ("S99", False)])
def test_category_is_canonical(category: str | None, ok: bool) -> None:
    if ok:
        assert Finding(guard_id="g", category=category, score=1).category == category
    else:
        with pytest.raises(ValueError, match="category"):
            Finding(guard_id="g", category=category, score=1)


@pytest.mark.parametrize("span", [(3, 2), (-1, 2)])
def test_bad_span_is_rejected(span: tuple[int, int]) -> None:
    with pytest.raises(ValueError, match="span"):
        Finding(guard_id="g", category="S1", score=1, span=span)


def test_verdict_is_frozen_and_consistent() -> None:
    verdict = Verdict(allowed=True, action="flag", output="x", metadata={"a": 1})
    assert verdict.action is Action.FLAG
    with pytest.raises(AttributeError):
        verdict.allowed = False  # type: ignore[misc]
    with pytest.raises(TypeError):
        verdict.metadata["b"] = 2  # type: ignore[index]
    with pytest.raises(ValueError, match="contradicts"):
        Verdict(allowed=True, action="block", output=None)


def test_to_dict_leaves_out_replacement() -> None:
    f = Finding(guard_id="g", category="pii", score=1, span=(0, 3), replacement="[EMAIL:abc]")
    assert "replacement" not in f.to_dict()
    assert Verdict(allowed=True, action="allow", output=b"\x00\x01").to_dict()["output"] == {"bytes": 2}


@pytest.mark.parametrize("timeout_ms", [None, 5000])
def test_a_guard_raising_timeout_error_fails_closed_as_an_error(timeout_ms: float | None) -> None:
    """Async, a TimeoutError of the guard's own (its model server's, say) was taken for the time budget's:
    with no timeout_ms that crashed formatting None, and with one it blamed a budget not spent."""
    import asyncio

    from clauseguard.guards import Context, GuardSpec, create
    from clauseguard.guards._runner import arun_guard, run_guard

    guard = create(GuardSpec(id="kw", type="keyword", timeout_ms=timeout_ms, clauses=["content/weapons"]))

    def check(content: object, context: object) -> Verdict:
        raise TimeoutError("the model server did not answer")

    guard.check = check  # type: ignore[method-assign]
    for verdict in (run_guard(guard, "hi", Context()), asyncio.run(arun_guard(guard, "hi", Context()))):
        assert verdict.action is Action.BLOCK and verdict.findings[0].clause_ids == ("content/weapons",)
        assert verdict.findings[0].message == "guard 'kw' failed: TimeoutError: the model server did not answer"
