"""Every example profile validates, says what it is, and its samples file is well formed (text, stage, unique ids)."""

from __future__ import annotations

import html
import io
import json
import re
from pathlib import Path

import docx
import pytest

from clauseguard.generator.build import render_outputs
from clauseguard.generator.profile import load_profile

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
PROFILES = sorted(EXAMPLES.glob("*/profile.yaml"))
SAMPLES = sorted(EXAMPLES.glob("*/samples.jsonl"))


def test_the_examples_are_found() -> None:
    names = {p.parent.name for p in PROFILES}
    assert {"chat-assistant", "image-space", "medical-api", "homework-helper"} <= names


@pytest.mark.parametrize("path", PROFILES, ids=lambda p: p.parent.name)
def test_example_profile_validates(path: Path) -> None:
    profile = load_profile(path)
    assert profile.product.name
    assert path.read_text(encoding="utf-8").startswith("# "), "start each example with a comment saying what it is"


@pytest.mark.parametrize(
    ("example", "facts"),
    [
        ("image-space", {"licence": ["creativeml-openrail-m"], "outputs": ["image"], "realistic_people": True}),
        ("medical-api", {"licence": ["gemma"], "domains": ["medical"], "jurisdictions": ["US"]}),
        ("homework-helper", {"minimum_age": 13, "domains": ["education"], "jurisdictions": ["US", "EU"]}),
    ],
)
def test_example_describes_its_product(example: str, facts: dict) -> None:
    profile = load_profile(EXAMPLES / example / "profile.yaml")
    got = {
        "licence": [m.license for m in profile.models],
        "outputs": profile.modalities.outputs,
        "jurisdictions": profile.jurisdictions,
        "domains": profile.domains,
        "minimum_age": profile.audience.minimum_age,
        "realistic_people": profile.features.realistic_people,
    }
    assert {k: got[k] for k in facts} == facts


@pytest.mark.parametrize("path", SAMPLES, ids=lambda p: p.parent.name)
def test_samples_are_text_and_stage(path: Path) -> None:
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    assert len(rows) >= 5
    assert all({"text", "stage"} <= set(r) and r["stage"] in {"input", "output"} and r["text"] for r in rows)
    ids = [r["id"] for r in rows if "id" in r]
    assert len(ids) == len(set(ids)), "sample ids must be unique"


def _html_headings(page: str) -> list[str]:
    """Section and clause headings of a generated page, as "3.2 Title"."""
    found = re.findall(r'<h[23]><span class="num">([^<]+)</span>([^<]+)</h[23]>', page)
    return [f"{number} {html.unescape(title).strip()}" for number, title in found]


@pytest.mark.parametrize("path", PROFILES, ids=lambda p: p.parent.name)
def test_example_exports_agree(path: Path) -> None:
    """The HTML and DOCX of each generated document carry the same numbered headings, in order."""
    files = render_outputs(load_profile(path), formats=("html", "docx"))
    pages = {name.removesuffix(".html"): data for name, data in files.items() if name.endswith(".html")}
    assert pages, "no document generated"
    for stem, page in pages.items():
        word = docx.Document(io.BytesIO(files[f"{stem}.docx"]))
        headings = [p.text for p in word.paragraphs if p.style.name in ("Heading 1", "Heading 2")]
        assert headings and headings == _html_headings(page.decode("utf-8")), stem
