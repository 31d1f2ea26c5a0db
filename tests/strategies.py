"""Hypothesis strategies shared by the tests: valid profiles and rendered documents.

``profiles()`` draws valid :class:`Profile` objects over every field of the model (built as plain
data, then validated, so the strategy cannot drift from the model without the tests noticing);
``rendered_documents()`` draws documents for the exporters. ``sample_document()`` is one fixed
document with awkward characters, for table tests.
"""

from __future__ import annotations

import typing
from datetime import date
from typing import Any

from hypothesis import strategies as st

from clauseguard.generator import profile as profile_module
from clauseguard.generator.document import RenderedClause, RenderedDocument, RenderedSection, Stamp
from clauseguard.generator.licences import known_licence_ids
from clauseguard.generator.profile import Profile

__all__ = ["profile_data", "profiles", "rendered_documents", "sample_document", "texts"]

JURISDICTIONS = typing.get_args(profile_module.Jurisdiction)
MODES = typing.get_args(profile_module.Mode)
INTERFACES = typing.get_args(profile_module.Interface)
DOMAINS = typing.get_args(profile_module.Domain)

# Printable text including the characters that break naive HTML, YAML and Markdown handling.
_ALPHABET = st.characters(categories=("L", "N", "P", "S", "Zs"), exclude_characters="\u2028\u2029\x85")


def texts(min_size: int = 1, max_size: int = 30) -> st.SearchStrategy[str]:
    """Non-blank single-line text (the profile strips whitespace, so blank would be empty)."""
    return st.text(_ALPHABET, min_size=min_size, max_size=max_size).map(str.strip).filter(bool)


_WORD = st.text("abcdefghijklmnopqrstuvwxyz0123456789", min_size=1, max_size=10)
_EMAILS = st.builds(lambda a, b, c: f"{a}@{b}.{c}", _WORD, _WORD, _WORD)
_URLS = st.builds(lambda s, h: f"{s}://{h}.example", st.sampled_from(["http", "https"]), _WORD)
_DATES = st.dates(min_value=date(2000, 1, 1), max_value=date(2099, 12, 31))


def _subset(values: tuple[str, ...], min_size: int = 0) -> st.SearchStrategy[list[str]]:
    return st.lists(st.sampled_from(values), min_size=min_size, unique=True)


def _dmca_agent() -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries(
        {"name": texts(), "email": _EMAILS, "address": texts()}, optional={"phone": texts()}
    )


def _operator() -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries(
        {"legal_name": texts(), "contact_email": _EMAILS, "address": texts()},
        optional={"dmca_agent": _dmca_agent(), "eu_representative": texts(), "uk_representative": texts(),
                  "dsa_contact_email": _EMAILS, "dpo_email": _EMAILS},
    )


def _product() -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries(
        {
            "name": texts(),
            "url": _URLS,
            "effective_date": _DATES.map(date.isoformat),
            "governing_law": texts(),
        },
        optional={"description": texts(min_size=0, max_size=60), "interfaces": _subset(INTERFACES, 1)},
    )


def _model_entry() -> st.SearchStrategy[dict[str, Any]]:
    known = st.fixed_dictionaries({"name": texts(), "license": st.sampled_from(sorted(known_licence_ids()))})
    other = st.fixed_dictionaries(
        {"name": texts(), "license": st.just("other"), "license_name": texts()}, optional={"license_url": _URLS}
    )
    return known | other


def _booleans(*keys: str) -> st.SearchStrategy[dict[str, bool]]:
    return st.fixed_dictionaries({}, optional={k: st.booleans() for k in keys})


def _data() -> st.SearchStrategy[dict[str, Any]]:
    days = st.integers(0, 3650)
    flags = ("logs_ip_addresses", "stores_prompts", "trains_on_user_data")
    return st.fixed_dictionaries(
        {}, optional={"ip_retention_days": days, "prompt_retention_days": days} | {k: st.booleans() for k in flags}
    )


def profile_data() -> st.SearchStrategy[dict[str, Any]]:
    """Valid profile.yaml content as plain data (what ``yaml.safe_load`` would return)."""
    return st.fixed_dictionaries(
        {"operator": _operator(), "product": _product(), "jurisdictions": _subset(JURISDICTIONS, 1)},
        optional={
            "modalities": st.fixed_dictionaries(
                {}, optional={"inputs": _subset(MODES, 1), "outputs": _subset(MODES, 1)}
            ),
            "audience": st.fixed_dictionaries(
                {}, optional={"minimum_age": st.integers(0, 21), "consumer": st.booleans()}
            ),
            "user_content": _booleans("uploads", "public_sharing"),
            "data": _data(),
            "models": st.lists(_model_entry(), max_size=3),
            "domains": _subset(DOMAINS),
            "features": _booleans("realistic_people", "automated_decisions", "agents_tools", "emotion_recognition"),
        },
    )


def profiles() -> st.SearchStrategy[Profile]:
    """Valid :class:`Profile` objects covering every field."""
    return profile_data().map(Profile.model_validate)


# --- rendered documents -------------------------------------------------------------------------

_BODY_LINES = st.sampled_from(
    [
        "You may use {x} for lawful purposes.",
        "We **never** sell {x}; we *may* keep logs.",
        "- first item about {x}\n- second item",
        "1. one step\n2. another step with **bold**",
        "Text with <b>raw html</b> & an ampersand for {x}.",
    ]
)


@st.composite
def _clause(draw: st.DrawFn, number: str, ident: str) -> RenderedClause:
    x = draw(texts(max_size=12))
    paragraphs = draw(st.lists(_BODY_LINES, min_size=1, max_size=3))
    return RenderedClause(
        number=number,
        id=ident,
        title=draw(texts()),
        version="1.0.0",
        body="\n\n".join(p.format(x=x) for p in paragraphs),
        sources=tuple(draw(st.lists(texts(), max_size=2))),
    )


@st.composite
def rendered_documents(draw: st.DrawFn) -> RenderedDocument:
    """Documents with 1-3 sections of 1-3 clauses, titles drawn from awkward text."""
    sections = []
    for s in range(1, draw(st.integers(1, 3)) + 1):
        n_clauses = draw(st.integers(1, 3))
        clauses = tuple(draw(_clause(f"{s}.{c}", f"sec{s}/clause-{c}")) for c in range(1, n_clauses + 1))
        sections.append(RenderedSection(number=str(s), id=f"sec{s}", title=draw(texts()), clauses=clauses))
    return RenderedDocument(
        id="terms-of-use",
        title=draw(texts()),
        version="1.0.0",
        preamble=draw(st.sampled_from(["", "These terms apply to **you**."])),
        sections=tuple(sections),
        stamp=Stamp("0.1.0", "ab" * 32, draw(_DATES).isoformat()),
        product_name=draw(texts()),
        operator_name=draw(texts()),
    )


def sample_document() -> RenderedDocument:
    """A fixed two-section document whose product name needs escaping."""
    marking = RenderedClause(
        number="1.1",
        id="ai/synthetic-media-marking",
        title="Marking of AI-generated images",
        version="1.2.0",
        body="Images created with R&D <Pix> carry **machine-readable** marks.\n\n- one\n- two",
        sources=("EU AI Act Art. 50(2)", "CreativeML OpenRAIL-M Attachment A"),
    )
    conduct = RenderedClause(
        number="2.1",
        id="core/conduct",
        title="What you must not do",
        version="1.0.0",
        body="You must not:\n\n1. break the law;\n2. harm *anyone*.\n\nSee [the terms](https://x.example).",
        sources=(),
    )
    return RenderedDocument(
        id="terms-of-use",
        title="Terms of Use",
        version="1.0.0",
        preamble="These terms are between you and R&D <Pix> Ltd.",
        sections=(
            RenderedSection("1", "ai-output", "AI-generated output", (marking,)),
            RenderedSection("2", "acceptable-use", "Acceptable use", (conduct,)),
        ),
        stamp=Stamp("0.1.0", "0123456789abcdef" * 4, "2026-12-01"),
        product_name="R&D <Pix>",
        operator_name="R&D <Pix> Ltd",
        clause_ids=("ai/synthetic-media-marking", "core/conduct"),
    )
