"""Which clauses apply, pulled in by ``requires``, refused by ``conflicts``, and why, in words."""

from __future__ import annotations

import pytest

from clauseguard.errors import ClauseError, SelectionError
from clauseguard.generator.library import load_library, scan_library
from clauseguard.generator.selection import describe, requires_cycles, select

EU_TEXT = {"jurisdictions": ["EU", "US"], "modalities": {"inputs": ["text"], "outputs": ["text"]},
           "data": {"logs_ip_addresses": True, "ip_retention_days": 30}, "domains": [],
           "models": [{"name": "Llama", "license": "llama3.1"}], "product": {"name": "P"}}
US_IMAGE = {**EU_TEXT, "jurisdictions": ["US"], "modalities": {"inputs": ["text"], "outputs": ["image"]},
            "data": {"logs_ip_addresses": False, "ip_retention_days": 30}, "models": []}

# (applies_when, context, included, part of why)
APPLIES = [
    (None, EU_TEXT, True, "It applies to every product."),
    ("'EU' in jurisdictions", EU_TEXT, True, "jurisdictions = ['EU', 'US']"),
    ("'EU' in jurisdictions", US_IMAGE, False, "Left out: it applies only when jurisdictions includes EU "
     "(applies_when: 'EU' in jurisdictions). Profile: jurisdictions = ['US']."),
    ("'image' in modalities.outputs and 'EU' in jurisdictions", US_IMAGE, False,
     "modalities.outputs = ['image']; jurisdictions = ['US']"),
    ("data.logs_ip_addresses", EU_TEXT, True, "data.logs_ip_addresses = true"),
    ("data.ip_retention_days > 14", EU_TEXT, True, "data.ip_retention_days = 30"),
    ("'llama3.1' in models|map(attribute='license')", EU_TEXT, True, "models[].license = ['llama3.1']"),
    ("'llama3.1' in models|map(attribute='license')", US_IMAGE, False, "models[].license = []"),
    ("domains|length == 0", EU_TEXT, True, "domains = []"),
]


@pytest.mark.parametrize(("expr", "context", "included", "why"), APPLIES)
def test_applies_when_decides_and_why_quotes_the_facts(clause_dir, expr, context, included, why) -> None:
    meta = {"rationale": "Because {{ product.name }} needs it."}
    if expr is not None:
        meta["applies_when"] = expr
    library = load_library(clause_dir({"t/clause": meta}), include_builtin=False)
    decision = select(library, context).decisions["t/clause"]
    assert decision.included is included
    assert why in decision.why
    if included:
        assert decision.why.startswith("Because P needs it.")


def test_requires_pulls_in_transitively_and_says_by_whom(clause_dir) -> None:
    folder = clause_dir({
        "t/a": {"applies_when": "'EU' in jurisdictions", "requires": ["t/b"]},
        "t/b": {"applies_when": "false", "requires": ["t/c"]},
        "t/c": {"applies_when": "false"},
        "t/d": {"applies_when": "false"},
    })
    selection = select(load_library(folder, include_builtin=False), EU_TEXT)
    assert selection.selected == ("t/a", "t/b", "t/c")
    assert selection.decisions["t/b"].why.startswith("Required by t/a.")
    assert selection.decisions["t/c"].required_by == ("t/b",)
    assert selection.decisions["t/d"].reason == "excluded"


def test_required_clause_is_not_pulled_in_when_requirer_is_out(clause_dir) -> None:
    folder = clause_dir({"t/a": {"applies_when": "false", "requires": ["t/b"]}, "t/b": {"applies_when": "false"}})
    assert select(load_library(folder, include_builtin=False), EU_TEXT).selected == ()


def test_conflict_of_two_selected_clauses_names_both_files(clause_dir) -> None:
    folder = clause_dir({"t/a": {"conflicts": ["t/b"]}, "t/b": {}})
    with pytest.raises(SelectionError) as info:
        select(load_library(folder, include_builtin=False), EU_TEXT)
    assert str(folder / "t/a.md") in str(info.value) and str(folder / "t/b.md") in str(info.value)


def test_conflict_is_fine_when_only_one_applies(clause_dir) -> None:
    folder = clause_dir({"t/a": {"conflicts": ["t/b"]}, "t/b": {"applies_when": "'UK' in jurisdictions"}})
    assert select(load_library(folder, include_builtin=False), EU_TEXT).selected == ("t/a",)


def test_requires_of_an_unknown_id_is_a_selection_error(clause_dir) -> None:
    folder = clause_dir({"t/a": {"requires": ["t/missing"]}})
    library, _ = scan_library(folder, include_builtin=False)  # load_library would refuse it already
    with pytest.raises(SelectionError, match="t/missing") as info:
        select(library, EU_TEXT)
    lines = (folder / "t/a.md").read_text().splitlines()
    assert info.value.where == f"{folder / 't/a.md'}:{lines.index('- t/missing') + 1}"


LOOP = {"t/a": {"applies_when": "'UK' in jurisdictions", "requires": ["t/b"]},
        "t/b": {"applies_when": "'UK' in jurisdictions", "requires": ["t/c"]},
        "t/c": {"applies_when": "'UK' in jurisdictions", "requires": ["t/a"]},
        "t/d": {"applies_when": "false", "requires": ["t/d"]}}


def test_requires_cycles_finds_each_loop_once(clause_dir) -> None:
    cycles = requires_cycles(load_library(clause_dir(LOOP), include_builtin=False))
    assert [(c.path, c.members) for c in cycles] == [
        (("t/a", "t/b", "t/c", "t/a"), {"t/a", "t/b", "t/c"}), (("t/d", "t/d"), {"t/d"})]


@pytest.mark.parametrize(("changes", "selected"), [
    ({}, ()),  # no clause of the loop applies: it changes nothing
    ({t: {"applies_when": "'EU' in jurisdictions"} for t in ("t/a", "t/b", "t/c")}, ("t/a", "t/b", "t/c")),
    ({"t/d": {"applies_when": "true"}}, ("t/d",)),  # requiring itself pulls in nothing
])
def test_a_requires_loop_that_decides_nothing_is_accepted(clause_dir, changes, selected) -> None:
    clauses = {cid: {**meta, **changes.get(cid, {})} for cid, meta in LOOP.items()}
    selection = select(load_library(clause_dir(clauses), include_builtin=False), EU_TEXT)
    assert selection.selected == selected
    assert all(d.required_by == () for d in selection.decisions.values())


@pytest.mark.parametrize("changes", [
    {"t/a": {"applies_when": "'EU' in jurisdictions"}},  # t/b, t/c pulled in round the loop
    {"t/e": {"requires": ["t/c"]}},  # a clause outside pulls the loop in
])
def test_a_requires_loop_that_decides_the_selection_is_an_error(clause_dir, changes) -> None:
    clauses = {cid: {**LOOP.get(cid, {}), **meta} for cid, meta in {**LOOP, **changes}.items()}
    folder = clause_dir(clauses)
    with pytest.raises(SelectionError) as info:
        select(load_library(folder, include_builtin=False), EU_TEXT)
    message = info.value.message
    assert "go round in a loop" in message
    for cid in ("t/a", "t/b", "t/c"):
        assert f"{cid} ({folder / cid}.md)" in message
    assert info.value.where.startswith(str(folder))


def test_applies_when_naming_an_undefined_value_fails_with_the_file(clause_dir) -> None:
    folder = clause_dir({"t/a": {"applies_when": "features.realistic_people"}})
    with pytest.raises(ClauseError) as info:
        select(load_library(folder, include_builtin=False), EU_TEXT)
    assert str(folder / "t/a.md") in info.value.where


@pytest.mark.parametrize(("value", "text"), [
    (None, "not set"), (True, "true"), (False, "false"), ("EU", "'EU'"), (["EU", "US"], "['EU', 'US']"),
    (30, "30"), ({"uploads": True}, "{uploads: true}"),
])
def test_describe_reads_like_the_profile(value, text) -> None:
    assert describe(value) == text


def test_chat_example_over_fixture_library(fixture_library, profile) -> None:
    p = profile("chat")
    from clauseguard.generator.render import base_globals

    selection = select(fixture_library, {**p.context(), **base_globals(fixture_library)})
    included = {i for i, d in selection.decisions.items() if d.included}
    assert {"ai/interaction-disclosure", "privacy/ip-addresses", "licences/llama3.1/notice"} <= included
    assert {"ai/output-marking", "jurisdictions/dmca-agent"}.isdisjoint(included)


# ---- a condition in words (explain, report.json) -------------------------------------------------------

CONTEXT = {**EU_TEXT, "user_content": {"uploads": False, "public_sharing": False}, "audience": {"minimum_age": 18},
           "operator": {"dmca_agent": None}, "features": {"automated_decisions": False}}


@pytest.mark.parametrize(("expr", "words"), [
    ("'US' in jurisdictions and audience.minimum_age < 13",
     "jurisdictions includes US and audience.minimum_age is below 13"),
    ("'US' not in jurisdictions", "jurisdictions does not include US"),
    ("'llama3.1' in models|map(attribute='license')", "an entry of models has license llama3.1"),
    ("models|length > 0", "the number of models is above 0"),
    ("audience.minimum_age >= 13", "audience.minimum_age is at least 13"),
    ("data.ip_retention_days <= 30 or data.ip_retention_days == 0",
     "data.ip_retention_days is at most 30 or data.ip_retention_days is 0"),
    ("user_content.uploads", "user_content.uploads is true"),
    ("not user_content.uploads", "user_content.uploads is false"),
    ("domains", "domains is not empty"),
    ("operator.dmca_agent", "operator.dmca_agent is set"),
    ("not operator.dmca_agent", "operator.dmca_agent is not set"),
    ("jurisdictions[0] in ['EU', 'UK']", None),  # an item lookup: said as written
    ("'EU' in jurisdictions and (user_content.uploads or user_content.public_sharing)",
     "jurisdictions includes EU and (user_content.uploads is true or user_content.public_sharing is true)"),
    ("('EU' in jurisdictions and audience.minimum_age < 16) or 'UK' in jurisdictions",
     "(jurisdictions includes EU and audience.minimum_age is below 16) or jurisdictions includes UK"),
    ("not ('EU' in jurisdictions and user_content.public_sharing)",  # not (a and b): not a, or not b
     "jurisdictions does not include EU or user_content.public_sharing is false"),
    ("not features.automated_decisions and ('EU' in jurisdictions or 'UK' in jurisdictions)",
     "features.automated_decisions is false and (jurisdictions includes EU or jurisdictions includes UK)"),
    ("audience.minimum_age in [13, 16]", "audience.minimum_age is one of 13, 16"),
    ("jurisdictions|reject('in', ['EU', 'UK', 'US'])|list", None),
    ("true", None),
])
def test_conditions_in_words(expr: str, words: str | None) -> None:
    """explain printed a clause left out as raw Jinja ("applies_when is false: 'US' in jurisdictions and
    audience.minimum_age < 13"), though it says it explains in words."""
    from clauseguard.generator.conditions import in_words
    from clauseguard.generator.sandbox import Source, parse_expression

    assert in_words(parse_expression(expr, Source("t.md", 1)), CONTEXT) == words


def test_a_condition_without_words_is_quoted_as_written(clause_dir) -> None:
    expr = "jurisdictions|reject('in', ['EU', 'US'])|list"
    library = load_library(clause_dir({"t/clause": {"applies_when": expr}}), include_builtin=False)
    why = select(library, EU_TEXT).decisions["t/clause"].why
    assert why == f"Left out: its applies_when is false: {expr}. Profile: jurisdictions = ['EU', 'US']."
