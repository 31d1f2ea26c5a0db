"""The model-licence registry and the clauses that pass each licence's restrictions and notices on.

Licences require their use restrictions to reach users item by item (CreativeML OpenRAIL-M §III.4(a),
Gemma Terms of Use §3.1(1)); a dropped item is a licence breach, so these tests count the items
against the licence texts and follow them through a real build into the documents and report.json.
"""

from __future__ import annotations

import json
import re
from functools import cache
from pathlib import Path

import pytest

from clauseguard.generator.build import render_outputs
from clauseguard.generator.library import Clause, parse_clause
from clauseguard.generator.licences import known_licence_ids, licence_registry
from clauseguard.generator.profile import load_profile
from clauseguard.generator.sandbox import Source, compile_expression

ROOT = Path(__file__).resolve().parents[2]
LICENCES = ROOT / "clauses" / "licences"
IMAGE_SPACE = ROOT / "examples" / "image-space" / "profile.yaml"
SECTION = "model-licence-restrictions"

# Every restricted use of every licence, as the licence numbers it, in licence order.
CREATIVEML_ITEMS = [f"item {n}" for n in range(1, 12)]
BIGSCIENCE_ITEMS = [f"item ({c})" for c in "abcdefghijklm"]
LLAMA_ITEMS = (
    [f"item 1(a)({r})" for r in ("i", "ii", "iii", "iv", "v", "vi")]
    + [f"item 1({c})" for c in "bcdefg"]
    + [f"item 2({c})" for c in "abcdef"]
    + [f"item 3({c})" for c in "abcdef"]
    + ["item 4"]
)
GEMMA_ITEMS = (
    ["item 1"]
    + [f"item 2(a)({r})" for r in ("i", "ii", "iii", "iv")]
    + ["item 2(b)", "item 2(c)(i)", "item 2(c)(ii)", "item 2(d)"]
    + [f"item 2(e)({r})" for r in ("i", "ii", "iii", "iv", "v", "vi", "vii", "viii")]
    + [f"item 3({c})" for c in "abcdef"]
    + ["item 4"]
)
RESTRICTIONS = {
    # licence id: (source prefix naming the list, items in licence order)
    "creativeml-openrail-m": ("CreativeML OpenRAIL-M, Attachment A, ", CREATIVEML_ITEMS),
    "openrail++": ("CreativeML Open RAIL++-M, Attachment A, ", CREATIVEML_ITEMS),
    "bigscience-openrail-m": ("BigScience OpenRAIL-M, Attachment A, ", BIGSCIENCE_ITEMS),
    "llama3.1": ("Llama 3.1 Acceptable Use Policy, Prohibited Uses, ", LLAMA_ITEMS),
    "gemma": ("Gemma Prohibited Use Policy, ", GEMMA_ITEMS),
}


@cache
def licence_clauses() -> tuple[Clause, ...]:
    """Every clause file under clauses/licences/, parsed by the library's own parser."""
    files = sorted(LICENCES.rglob("*.md"))
    return tuple(parse_clause(f.read_bytes(), str(f.relative_to(ROOT))) for f in files)


def restriction_clauses(licence_id: str) -> list[Clause]:
    """The licence's clauses in the acceptable-use policy's restriction section, in `order`."""
    found = [c for c in licence_clauses() if c.id.startswith(f"licences/{licence_id}/")
             and c.meta.section_for("acceptable-use-policy") == SECTION]
    return sorted(found, key=lambda c: c.meta.order)


def items_cited(clause: Clause, prefix: str) -> list[str]:
    return [s.removeprefix(prefix) for s in clause.meta.sources if s.startswith(prefix)]


def applies(clause: Clause, licences: list[str]) -> bool:
    """Evaluate ``applies_when`` for a profile whose models carry exactly these licences."""
    models = [{"name": f"model {i}", "license": lid, "license_name": None, "license_url": None}
              for i, lid in enumerate(licences)]
    expression = compile_expression(clause.meta.applies_when or "true", Source(clause.file))
    return bool(expression(models=models))


def test_registry_loads_with_every_licence_the_profile_accepts() -> None:
    assert known_licence_ids() == {"creativeml-openrail-m", "bigscience-openrail-m", "openrail++", "llama3.1",
                                   "gemma", "apache-2.0", "mit"}


@pytest.mark.parametrize("licence_id", sorted(licence_registry()))
def test_every_licence_has_name_url_and_duties(licence_id: str) -> None:
    facts = licence_registry()[licence_id]
    assert facts["name"].strip()
    assert facts["url"].startswith("https://")
    assert all(u.startswith("https://") for u in facts["text_urls"])
    assert isinstance(facts["use_restrictions_pass_through"], bool)
    assert facts["pass_through_section"].strip()
    assert facts["hosted_service_counts_as_distribution"] in (True, False, None)
    assert facts["duties"], "each licence lists at least one attribution or notice duty"
    assert all(d["section"] and d["duty"] and d["hosted_service"] in (True, False, "unclear") for d in facts["duties"])


def per_licence_clauses() -> list[Clause]:
    """Clauses in a licence's own folder (licences/<id>/...)."""
    return [c for c in licence_clauses() if c.id.count("/") == 2]


@pytest.mark.parametrize("clause", per_licence_clauses(), ids=lambda c: c.id)
def test_licence_clause_applies_when_names_its_licence(clause: Clause) -> None:
    folder = clause.id.split("/")[1]
    other = "mit" if folder != "mit" else "apache-2.0"
    assert folder in known_licence_ids()
    assert f"'{folder}'" in (clause.meta.applies_when or "")
    assert applies(clause, [folder])
    assert not applies(clause, [other])


@pytest.mark.parametrize("licence_id", sorted(RESTRICTIONS))
def test_every_restricted_use_is_its_own_clause_in_licence_order(licence_id: str) -> None:
    prefix, expected = RESTRICTIONS[licence_id]
    clauses = restriction_clauses(licence_id)
    cited = [items_cited(c, prefix) for c in clauses]
    assert all(len(items) == 1 for items in cited), "each clause passes on exactly one item"
    assert [items[0] for items in cited] == expected
    assert licence_registry()[licence_id]["use_restrictions"]["count"] == len(expected)
    assert len({c.meta.order for c in clauses}) == len(clauses)


def test_creativeml_openrail_m_has_exactly_eleven_restrictions() -> None:
    clauses = restriction_clauses("creativeml-openrail-m")
    numbers = {int(m.group(1)) for c in clauses for s in c.meta.sources
               if (m := re.fullmatch(r"CreativeML OpenRAIL-M, Attachment A, item (\d+)", s))}
    assert len(clauses) == 11
    assert numbers == set(range(1, 12))
    assert all("CreativeML OpenRAIL-M §III.5" in c.meta.sources for c in clauses)


def test_llama_acceptable_use_policy_has_all_twenty_five_items() -> None:
    assert len(LLAMA_ITEMS) == 25
    assert len(restriction_clauses("llama3.1")) == 25


@pytest.mark.parametrize(
    ("clause_id", "guard_type", "category"),
    [
        ("licences/creativeml-openrail-m/restriction-02", "keyword", "S4"),
        ("licences/creativeml-openrail-m/restriction-04", "pii", None),
        ("licences/creativeml-openrail-m/restriction-10", "disclaimer", None),
        ("licences/bigscience-openrail-m/restriction-e", "ai_disclosure", None),
        ("licences/llama3.1/aup-3e", "ai_disclosure", None),
        ("licences/llama3.1/aup-2e", "keyword", "S11"),
        ("licences/gemma/prohibited-use-4", "keyword", "S12"),
    ],
)
def test_enforceable_items_name_their_guard(clause_id: str, guard_type: str, category: str | None) -> None:
    clause = next(c for c in licence_clauses() if c.id == clause_id)
    guards = [g for g in clause.meta.guards if g.type == guard_type]
    assert guards
    if category:
        assert any(category in g.params.get("categories", []) for g in guards)


def test_incorporation_clause_follows_the_registry_pass_through_flag() -> None:
    clause = next(c for c in licence_clauses() if c.id == "licences/use-restrictions-incorporation")
    registry = licence_registry()
    got = {lid: applies(clause, [lid]) for lid in registry}
    assert got == {lid: facts["use_restrictions_pass_through"] for lid, facts in registry.items()}
    assert not applies(clause, [])


@cache
def image_space_outputs() -> dict[str, bytes]:
    return render_outputs(load_profile(IMAGE_SPACE), formats=["md"])


def test_image_space_policy_contains_all_eleven_restrictions() -> None:
    policy = image_space_outputs()["documents/acceptable-use-policy.md"].decode("utf-8")
    section = policy.split("Restrictions passed on from model licences", 1)[1]
    headings = re.findall(r"^### \d+\.\d+ (CreativeML OpenRAIL-M: .+)$", section, flags=re.MULTILINE)
    assert headings == [c.meta.title for c in restriction_clauses("creativeml-openrail-m")]
    assert len(headings) == 11


def test_image_space_report_traces_each_restriction_to_the_licence() -> None:
    report = json.loads(image_space_outputs()["report.json"])
    entries = {c["id"]: c for c in report["clauses"] if c["id"].startswith("licences/creativeml-openrail-m/restr")}
    assert len(entries) == 11
    for n, clause_id in enumerate(sorted(entries), start=1):
        entry = entries[clause_id]
        assert f"CreativeML OpenRAIL-M, Attachment A, item {n}" in entry["sources"]
        assert "acceptable-use-policy" in entry["sections"]
        assert any("creativeml-openrail-m" in fact for fact in entry["facts"])
        assert "CreativeML OpenRAIL-M" in entry["why"]
    traced = {c for g in report["guards"] for c in g["clauses"]}
    assert "licences/creativeml-openrail-m/restriction-02" in traced


def test_image_space_terms_incorporate_the_restrictions() -> None:
    report = json.loads(image_space_outputs()["report.json"])
    ids = {c["id"] for c in report["clauses"]}
    assert {"licences/use-restrictions-incorporation", "licences/models-list",
            "licences/creativeml-openrail-m/notice", "licences/creativeml-openrail-m/pass-through"} <= ids
    assert not any(i.startswith(("licences/llama3.1/", "licences/gemma/")) for i in ids)
