"""The support guard: the answer to a prompt flagged for self-harm carries the helplines.

The AUP's self-harm clause promised that the service "will point you to people who can help", but the
input classifier only flags such a prompt (so that people can talk about it) and its message, with the
helplines, went to the moderators' records: the person who wrote it never saw any."""

from __future__ import annotations

import asyncio
from dataclasses import replace

import pytest

from clauseguard.guards import Action, Context, GuardSpec, Pipeline, Stage
from clauseguard.guards.decorator import guarded

HELP = "If you are struggling, people can help. In the US, call or text 988."
FLAG = GuardSpec(id="in-kw", type="keyword", stage="input", on_fail="flag", params={"terms": {"S11": ["hopeless"]}})
SUPPORT = GuardSpec(id="out-support", type="support", stage="output", on_fail="disclaim",
                    params={"categories": ["S11"], "text": HELP})
LABEL = GuardSpec(id="out-label", type="ai_disclosure", stage="output", on_fail="label",
                  params={"notice": "", "label": "AI-generated"})
ANSWER = "I'm sorry you feel this way. Would you like to talk about what happened today?"


def test_the_answer_to_a_flagged_prompt_carries_the_helplines_before_the_label() -> None:
    pipeline = Pipeline([FLAG, SUPPORT, LABEL])
    context = Context()
    assert pipeline.check_input("I feel hopeless", context).action is Action.FLAG
    out = pipeline.check_output(ANSWER, replace(context, stage=Stage.OUTPUT))
    assert out.output == f"{ANSWER}\n\n{HELP}\n\n[AI-generated]"
    assert [(f.guard_id, f.category, f.action) for f in out.findings if f.guard_id == "out-support"] == [
        ("out-support", "S11", Action.DISCLAIM)]


def test_other_requests_and_unflagged_prompts_get_nothing() -> None:
    pipeline = Pipeline([FLAG, SUPPORT])
    context = Context()
    pipeline.check_input("I feel hopeless", context)
    assert pipeline.check_output(ANSWER, Context()).output == ANSWER  # another request
    calm = Context()
    pipeline.check_input("What is the capital of Peru?", calm)
    assert pipeline.check_output(ANSWER, calm).output == ANSWER


def test_a_stream_gets_the_helplines_at_its_end() -> None:
    pipeline = Pipeline([FLAG, SUPPORT])
    context = Context()
    pipeline.check_input("so hopeless", context)
    stream = pipeline.stream_output([ANSWER[:20], ANSWER[20:]], context)
    assert "".join(stream) == f"{ANSWER}\n\n{HELP}"
    assert stream.verdict.action is Action.DISCLAIM


def test_guarded_functions_show_it_sync_and_async() -> None:
    pipeline = Pipeline([FLAG, SUPPORT])

    @guarded(pipeline)
    def answer(prompt: str) -> str:
        return ANSWER

    @guarded(pipeline)
    async def aanswer(prompt: str) -> str:
        return ANSWER

    assert answer("everything is hopeless").endswith(HELP)
    assert asyncio.run(aanswer("everything is hopeless")).endswith(HELP)
    assert answer("hello") == ANSWER


def test_a_pipeline_less_some_guards_shares_what_it_remembers() -> None:
    """Integrations check a chat's history through ``pipeline.without("rate_limit")``."""
    pipeline = Pipeline([FLAG, SUPPORT])
    context = Context()
    pipeline.without("rate_limit").check_input("hopeless", context)
    assert pipeline.check_output(ANSWER, context).output.endswith(HELP)


def test_a_service_that_checks_output_elsewhere_passes_the_categories_itself() -> None:
    pipeline = Pipeline([SUPPORT])
    context = Context(metadata={"input_categories": ["S11"]})
    assert pipeline.check_output(ANSWER, context).output.endswith(HELP)


@pytest.mark.parametrize(("change", "message"), [
    ({"params": {"categories": ["S11"], "text": "  "}}, "text is empty"),
    ({"params": {"categories": [], "text": HELP}}, "categories"),
    ({"stage": "input"}, "stage"),
])
def test_bad_support_specs_are_refused(change: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):  # pydantic's ValidationError; guards.yaml names the line
        GuardSpec(**{**SUPPORT.model_dump(), **change})


def test_a_request_id_reused_by_another_user_or_much_later_carries_no_flag(monkeypatch: pytest.MonkeyPatch) -> None:
    """Over HTTP the caller chooses the request id: Alice's flagged prompt under "conv-1" put the helplines on
    Bob's answer under the same id, and on every later answer in that conversation."""
    import clauseguard.guards.pipeline as mod

    pipeline = Pipeline([FLAG, SUPPORT])
    pipeline.check_input("hopeless", Context(user_key="alice", request_id="conv-1"))
    assert not pipeline.check_output(ANSWER, Context(user_key="bob", request_id="conv-1")).output.endswith(HELP)
    assert pipeline.check_output(ANSWER, Context(user_key="alice", request_id="conv-1")).output.endswith(HELP)
    now = mod.time.monotonic()
    monkeypatch.setattr(mod.time, "monotonic", lambda: now + mod.REMEMBERED_SECONDS + 1)
    assert pipeline.check_output(ANSWER, Context(user_key="alice", request_id="conv-1")).output == ANSWER


class _Scores:
    """A classifier backend scoring S11 by a table (0 for other texts)."""

    name = "fake"
    categories = frozenset({"S11"})

    def __init__(self, table: dict[str, float]) -> None:
        self.table = table

    def score(self, texts: list[str]) -> list[dict[str, float]]:
        return [{"S11": self.table.get(t, 0.0)} for t in texts]


@pytest.mark.parametrize(("min_score", "helped"), [(0.35, [True, False]), (None, [False, False])])
def test_min_score_reaches_a_prompt_the_classifier_scored_just_under_its_flag(
        monkeypatch: pytest.MonkeyPatch, min_score: float | None, helped: list[bool]) -> None:
    """Plain statements of suicidal thoughts ("Lately I keep thinking about ending my life.") score 0.47-0.49 on
    the S11 head, under the flag's 0.5, so they got no helplines; a superfluous helpline costs less."""
    import clauseguard.guards.classifier as mod

    backend = _Scores({"thinking about ending it": 0.47, "this traffic is killing me": 0.03})
    monkeypatch.setattr(mod, "build_backend", lambda name, params: backend)
    support = SUPPORT.model_copy(update={"params": {**SUPPORT.params, "min_score": min_score}})
    pipeline = Pipeline([GuardSpec(id="clf", type="classifier", stage="input", on_fail="flag",
                                   params={"backends": ["embedding"], "categories": ["S11"]}), support])
    for prompt, expected in zip(["thinking about ending it", "this traffic is killing me"], helped, strict=True):
        context = Context()
        assert pipeline.check_input(prompt, context).action is Action.ALLOW  # no flag either way
        assert pipeline.check_output(ANSWER, context).output.endswith(HELP) is expected
