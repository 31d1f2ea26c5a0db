"""The output pii guard leaves the operator's own published contacts in a reply (a review: the generated
guard redacted "write to dsa@acme-assist.example", the address the generated documents tell users to use)."""

from __future__ import annotations

import yaml

from clauseguard.generator.build import render_outputs
from clauseguard.generator.guardset import published_contacts
from clauseguard.guards import Context
from clauseguard.guards.config import parse_guards
from clauseguard.guards.pipeline import Pipeline


def _guards(profile) -> list[dict]:
    files = render_outputs(profile("chat"), formats=("md",))
    return yaml.safe_load(files["guards.yaml"])["guards"]


def test_the_output_pii_guard_allows_the_published_contacts(profile) -> None:
    guards = _guards(profile)
    output = [g for g in guards if g["type"] == "pii" and g["stage"] == "output"]
    assert len(output) == 1  # the clauses' entries still merge into one guard
    assert output[0]["params"]["allow"] == ["dsa@acme-assist.example", "legal@acme-assist.example"]
    assert all("allow" not in g["params"] or g["params"]["allow"] == []
               for g in guards if g["type"] == "pii" and g["stage"] == "input")


def test_a_reply_keeps_the_operator_s_address_and_redacts_others(profile) -> None:
    # The output pii guard alone: the classifier's S2 head scores this sentence at its threshold (0.49 with
    # the previous heads, 0.50 with these; "report illegal content" reads like the crimes head's topic), so
    # the whole pipeline would make this a test of a borderline score, not of the allow list.
    pii = [g for g in _guards(profile) if g["type"] == "pii" and g["stage"] == "output"]
    pipeline = Pipeline(parse_guards(yaml.safe_dump({"guards": pii})))
    text = "To report illegal content, write to DSA@acme-assist.example or ask jane.doe@corp.com."
    out = pipeline.check_output(text, Context()).output
    assert "DSA@acme-assist.example" in out and "jane.doe@corp.com" not in out


def test_published_contacts_are_those_the_profile_sets() -> None:
    operator = {"contact_email": "legal@x.example", "dpo_email": None, "dsa_contact_email": "",
                "dmca_agent": {"email": "dmca@x.example", "phone": "+1 415 555 0100"}}
    assert published_contacts({"operator": operator}) == ["legal@x.example", "dmca@x.example", "+1 415 555 0100"]
    assert published_contacts({"operator": {"contact_email": "a@x.example", "dmca_agent": None}}) == ["a@x.example"]
