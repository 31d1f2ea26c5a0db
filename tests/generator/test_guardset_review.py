"""The generated guard set, from reviews: guards.yaml was byte-identical for users from 13 and from 18; no S11
message named a helpline; a rate-limited user was told "Blocked under sections 3.2 (Fraud, scams and spam)";
a clause's own keyword terms pulled in every shipped list, cited to that clause."""

from __future__ import annotations

import json
import re

import pytest
import yaml

from clauseguard.generator.build import render_outputs
from clauseguard.generator.guardset import (
    MINOR_IMAGE_THRESHOLD,
    MINOR_THRESHOLD,
    for_minors,
    retry_after,
    self_harm_support,
)
from clauseguard.generator.library import load_library
from clauseguard.generator.profile import parse_profile
from clauseguard.guards import Action, Context, GuardSpec
from clauseguard.guards.config import parse_guards
from clauseguard.guards.decorator import block_message
from clauseguard.guards.pipeline import Pipeline
from clauseguard.guards.rate_limit import RateLimitGuard
from tests.conftest import PROFILES, ROOT

HOMEWORK = (ROOT / "examples" / "homework-helper" / "profile.yaml").read_text(encoding="utf-8")
IMAGES = (PROFILES / "image-space.yaml").read_text(encoding="utf-8")


def _age(text: str, age: int) -> str:
    if "minimum_age:" in text:
        return re.sub(r"minimum_age: \d+", f"minimum_age: {age}", text)
    return f"{text}audience: {{minimum_age: {age}, consumer: true}}\n"


def _files(text: str, **options) -> dict[str, bytes]:
    return render_outputs(parse_profile(text), formats=("md",), **options)


def _guards(text: str, **options) -> list[dict]:
    return yaml.safe_load(_files(text, **options)["guards.yaml"])["guards"]


def _without_stamp(files: dict[str, bytes]) -> str:
    return re.sub(r"profile_sha256: \w+", "", files["guards.yaml"].decode())


# -- minors: stricter guards ----------------------------------------------------------------------------------


@pytest.mark.parametrize("text", [HOMEWORK, IMAGES])
def test_a_product_for_minors_gets_stricter_guards_than_one_for_adults(text: str) -> None:
    """guards.yaml was the same at minimum_age 13 and 18, though the example says under-18 users switch on
    "stricter content guards"."""
    assert _without_stamp(_files(_age(text, 13))) != _without_stamp(_files(_age(text, 18)))


def test_minors_lower_the_classifier_thresholds_of_child_abuse_self_harm_and_sexual_content() -> None:
    guards = _guards(_age(HOMEWORK, 13))
    classifiers = [g for g in guards if g["type"] == "classifier"]
    by_category = {}
    for guard in classifiers:
        for cat in ("S4", "S11", "S12"):
            if cat in guard["params"]["categories"]:
                assert guard["params"]["thresholds"][cat] == MINOR_THRESHOLD, (guard["id"], cat)
                by_category.setdefault(cat, []).append(guard["stage"])
        assert set(guard["params"].get("thresholds", {})) <= {"S4", "S11", "S12"}  # no other category changed
    assert sorted(by_category["S12"]) == ["input", "output"] and sorted(by_category["S4"]) == ["input", "output"]
    assert sorted(by_category["S11"]) == ["input", "output"]


@pytest.mark.parametrize(("category", "clause"), [("S4", "content/child-sexual-abuse"), ("S11", "content/self-harm"),
                                                  ("S12", "content/sexual-content")])
def test_each_stricter_threshold_cites_the_clause_of_its_category(category: str, clause: str) -> None:
    files = _files(_age(HOMEWORK, 13))
    selected = {c["id"] for c in json.loads(files["report.json"])["clauses"]}
    stricter = [g for g in yaml.safe_load(files["guards.yaml"])["guards"]
                if category in g["params"].get("thresholds", {})]
    assert stricter
    for guard in stricter:
        cited = guard["category_clauses"].get(category, guard["clauses"])
        assert clause in cited and set(cited) <= selected, guard["id"]


def test_minors_make_the_image_guards_block_from_a_lower_score() -> None:
    nsfw = {g["stage"]: g for g in _guards(_age(IMAGES, 13)) if g["type"] == "image_nsfw"}
    assert set(nsfw) == {"input", "output"}
    assert all(g["on_fail"] == "block" and g["params"]["threshold"] == MINOR_IMAGE_THRESHOLD for g in nsfw.values())
    assert all(g["clauses"] for g in nsfw.values())


def test_minors_turn_a_blurring_or_flagging_image_guard_into_a_block() -> None:
    minors = {"audience": {"minimum_age": 16}}
    params = {"backend": "opennsfw", "threshold": 0.8}
    assert for_minors("image_nsfw", "redact", params, minors) == ("block", {**params, "threshold": 0.5})
    assert for_minors("image_nsfw", "flag", {**params, "threshold": 0.3}, minors) == ("block", {**params,
                                                                                               "threshold": 0.3})


@pytest.mark.parametrize(("params", "thresholds"), [
    ({"categories": ["S1", "S12"]}, {"S12": 0.35}),
    ({"categories": ["S11"], "thresholds": {"S11": 0.2}}, {"S11": 0.2}),  # a lower one of the clause's stays
    ({"categories": [], "thresholds": {"default": 0.6}}, {"default": 0.6, "S4": 0.35, "S11": 0.35, "S12": 0.35}),
    ({"categories": ["S1"]}, {}),
    ({"backends": ["lexical"], "categories": []}, {}),  # profanity only: no S4, S11 or S12 to score
])
def test_minors_thresholds_only_for_the_categories_a_classifier_scores(params: dict, thresholds: dict) -> None:
    full = GuardSpec(id="c", type="classifier", params=params).typed_params().model_dump(mode="json")
    on_fail, stricter = for_minors("classifier", "flag", full, {"audience": {"minimum_age": 13}})
    assert on_fail == "flag" and stricter["thresholds"] == thresholds
    GuardSpec(id="c", type="classifier", params=stricter)  # still valid


@pytest.mark.parametrize("type_", ["classifier", "image_nsfw", "keyword"])
def test_an_adult_product_s_guards_are_as_the_clauses_wrote_them(type_: str) -> None:
    params = GuardSpec(id="g", type=type_, modality="image" if type_ == "image_nsfw" else "text",
                       params={"categories": ["S12"]} if type_ != "image_nsfw" else {}).typed_params()
    dumped = params.model_dump(mode="json")
    assert for_minors(type_, "redact", dumped, {"audience": {"minimum_age": 18}}) == ("redact", dumped)


def test_an_adult_product_has_no_stricter_thresholds() -> None:
    for guard in _guards(_age(HOMEWORK, 18)) + _guards(_age(IMAGES, 18)):
        assert "thresholds" not in guard["params"] or guard["params"]["thresholds"] == {}
        if guard["type"] == "image_nsfw":
            assert guard["params"]["threshold"] == 0.8  # the clauses' own


def test_the_homework_helper_example_says_what_its_guards_do() -> None:
    assert "stricter content guards" in HOMEWORK
    assert any(g["params"].get("thresholds") for g in _guards(HOMEWORK))


# -- S11: where to find help -----------------------------------------------------------------------------------


@pytest.mark.parametrize(("jurisdictions", "named", "not_named"), [
    (["US"], ["988"], ["116 123", "112"]),
    (["UK"], ["Samaritans on 116 123"], ["988", "112"]),
    (["EU"], ["112", "116 123"], ["988"]),  # Ireland is in the EU: Samaritans answer there too
    (["US", "UK", "EU"], ["988", "116 123", "112"], []),
    (["JP"], [], ["988", "116 123", "112"]),
])
def test_self_harm_support_names_the_helplines_of_the_jurisdictions(jurisdictions: list[str], named: list[str],
                                                                    not_named: list[str]) -> None:
    text = self_harm_support({"jurisdictions": jurisdictions})
    assert text.endswith("If you are in immediate danger, call your local emergency number.")
    assert all(n in text for n in named) and not any(n in text for n in not_named)


def test_every_s11_message_of_the_generated_guards_names_the_helplines() -> None:
    """The AUP promises "it will point you to people who can help", but the S11 input classifier only said
    "Flagged under section 2.7 ..." and the output guards "Blocked under ...": no guard named a helpline."""
    guards = _guards(HOMEWORK)
    support = self_harm_support({"jurisdictions": ["US", "EU"]})
    s11 = [g for g in guards if "S11" in g["params"].get("categories", []) and g["type"] != "support"]
    assert {(g["stage"], g["on_fail"]) for g in s11} >= {("input", "flag"), ("output", "block")}
    for guard in s11:
        assert guard["category_messages"]["S11"].endswith(support), guard["id"]
        assert "call or text 988" in support and "call 112" in support
        assert re.match(r"(Blocked|Flagged) under section", guard["category_messages"]["S11"])
    assert all("988" not in g["message"] for g in guards)  # other categories keep their own message


def test_a_flagged_self_harm_prompt_gives_the_developer_the_helplines_to_show() -> None:
    pipeline = Pipeline(parse_guards(_files(HOMEWORK)["guards.yaml"].decode()))
    verdict = pipeline.check_input("I feel so hopeless, I keep thinking everyone would be better off without me",
                                   Context(user_key="u"))
    assert verdict.allowed and verdict.action is Action.FLAG
    support = [f.message for f in verdict.findings if f.category == "S11" and f.action is Action.FLAG]
    assert support and "988" in support[0] and "112" in support[0]


def test_the_answer_to_a_flagged_self_harm_prompt_carries_the_helplines() -> None:
    """The flag's message reached the records, not the person: the generated output ``support`` guard adds
    the same helplines (the clause's text, for the profile's jurisdictions) to the answer."""
    guards = _guards(HOMEWORK)
    (support,) = [g for g in guards if g["type"] == "support"]
    assert (support["stage"], support["clauses"]) == ("output", ["content/self-harm"])
    assert support["params"]["text"] == self_harm_support({"jurisdictions": ["US", "EU"]})  # one wording
    pipeline = Pipeline(parse_guards(_files(HOMEWORK)["guards.yaml"].decode()))
    context = Context(user_key="u")
    pipeline.check_input("I feel so hopeless, I keep thinking everyone would be better off without me", context)
    answer = pipeline.check_output("I'm sorry you feel this way. What has been happening?", context).output
    assert support["params"]["text"] in answer and answer.index("988") < answer.index("[AI-generated]")
    calm = Context(user_key="u")
    pipeline.check_input("What is photosynthesis?", calm)
    assert "988" not in pipeline.check_output("Plants turn light into sugar.", calm).output
    # for adults, scored 0.41 on S11, under the flag's 0.5: no flag, but the helplines (min_score 0.35)
    assert support["params"]["min_score"] == 0.35
    adults = Pipeline(parse_guards(_files(_age(HOMEWORK, 18))["guards.yaml"].decode()))
    quiet = Context(user_key="u")
    assert adults.check_input("I've been feeling empty lately and don't see the point.", quiet).action is Action.ALLOW
    assert "988" in adults.check_output("I'm sorry. What has been happening?", quiet).output


@pytest.mark.parametrize("jurisdictions", [["US"], ["UK"], ["EU", "UK"], ["CA"], ["US", "UK", "EU"]])
def test_the_support_text_is_the_helplines_of_the_guard_messages(jurisdictions: list[str]) -> None:
    """The clause writes the support guard's text, the generator the S11 messages' helplines: the same words."""
    profile = re.sub(r"(?m)^jurisdictions: .*$", f"jurisdictions: [{', '.join(jurisdictions)}]", HOMEWORK)
    (support,) = [g for g in _guards(profile) if g["type"] == "support"]
    assert support["params"]["text"] == self_harm_support({"jurisdictions": jurisdictions})


# -- rate limits -----------------------------------------------------------------------------------------------


def test_the_generated_rate_limit_message_says_to_wait_and_for_how_long(profile) -> None:
    """A rate-limited user was told "Blocked under sections 3.2 (“Fraud, scams and spam”), 3.6 ..." and not
    when to try again; the verdict had no machine-readable mark of a rate limit."""
    files = render_outputs(profile("chat"), formats=("md",))
    pipeline = Pipeline(parse_guards(files["guards.yaml"].decode()))
    limit = next(g for g in pipeline.guards if isinstance(g, RateLimitGuard))
    assert limit.spec.message.startswith("Too many requests: try again in 2 seconds. Rate limited under section")
    for _ in range(limit.params.capacity):
        assert pipeline.check_input("What's the weather in Lisbon?", Context(user_key="alice")).allowed
    verdict = pipeline.check_input("What's the weather in Lisbon?", Context(user_key="alice"))
    assert block_message(verdict).startswith("Too many requests: try again in 2 seconds.")
    assert verdict.metadata["rate_limited"] is True and verdict.metadata["retry_after"] == 2


@pytest.mark.parametrize("refill", [0.5, 1.0, 1 / 3, 7.0, 0.001])
def test_the_generator_and_the_guard_agree_on_the_wait(refill: float) -> None:
    guard = RateLimitGuard(GuardSpec(id="rl", type="rate_limit", params={"refill_per_second": refill}))
    assert retry_after(refill) == guard.retry_after


def test_a_wait_of_one_second_is_singular(clause_dir, profile) -> None:
    folder = clause_dir({"t/a": {"guards": [{"type": "rate_limit", "params": {"refill_per_second": 1.0}}]}})
    guards = _guards_of(folder, profile)
    assert guards[0]["message"].startswith("Too many requests: try again in 1 second. Rate limited under section 1.")


# -- keyword terms of a clause's own ---------------------------------------------------------------------------


def _guards_of(folder, profile) -> list[dict]:
    files = render_outputs(profile("us-minimal"), library=load_library(folder, include_builtin=False),
                           formats=("md",))
    return yaml.safe_load(files["guards.yaml"])["guards"]


def test_a_clause_s_own_terms_cite_only_that_clause(clause_dir, profile) -> None:
    """``{terms: {S9: [crossbow]}}`` in the violence clause got every shipped list, so the merged input guard
    blocked profanity citing the violence clause; and its terms, merged with another clause's S9 list, cited
    that clause too."""
    folder = clause_dir({
        "t/violence": {"guards": [{"type": "keyword", "params": {"terms": {"S9": ["crossbow"]}}},
                                  {"type": "keyword", "params": {"categories": ["S1", "S9"]}}]},
        "t/licence": {"guards": [{"type": "keyword", "params": {"categories": ["S9"]}}]},
        "t/hate": {"guards": [{"type": "keyword", "params": {"terms": {"S10": ["grumpkin"]}}}]},
    })
    guards = _guards_of(folder, profile)
    pipeline = Pipeline(parse_guards(yaml.safe_dump({"guards": guards})))
    assert pipeline.check_input("this shit is great", Context()).allowed
    crossbow = pipeline.check_input("sell me a crossbow", Context()).findings
    assert [(f.category, f.clause_ids) for f in crossbow] == [("S9", ("t/violence",))]
    assert pipeline.check_input("you grumpkin", Context()).findings[0].clause_ids == ("t/hate",)
    bomb = pipeline.check_input("how do I build a pipe bomb", Context()).findings[0]
    assert bomb.clause_ids == ("t/licence", "t/violence")  # the shipped lists still merge into one guard
    shipped = [g for g in guards if not g["params"].get("terms")]
    assert len(shipped) == 1 and shipped[0]["params"]["categories"] == ["S1", "S9"]


def test_two_clauses_own_terms_of_one_category_stay_apart(clause_dir, profile) -> None:
    folder = clause_dir({
        "t/a": {"guards": [{"type": "keyword", "params": {"terms": {"S9": ["crossbow"]}}}]},
        "t/b": {"guards": [{"type": "keyword", "params": {"terms": {"S9": ["longbow"]}}}]},
    })
    guards = _guards_of(folder, profile)
    assert [(g["clauses"], g["params"]["terms"]) for g in guards] == [
        (["t/a"], {"S9": ["crossbow"]}), (["t/b"], {"S9": ["longbow"]})]
