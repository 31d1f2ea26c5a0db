"""Any valid profile generates, deterministically, and its outputs are consistent with each other."""

from __future__ import annotations

import json

from hypothesis import HealthCheck, given, settings

from clauseguard.generator.build import render_outputs
from clauseguard.generator.profile import Profile
from clauseguard.guards.config import parse_guards
from tests.strategies import profiles


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(profiles())
def test_any_valid_profile_generates_the_same_bytes_twice(profile: Profile) -> None:
    first = render_outputs(profile, formats=("md", "html"))
    assert first == render_outputs(profile, formats=("md", "html"))

    report = json.loads(first["report.json"])
    assert report["profile_sha256"] == profile.sha256()
    for document in report["documents"]:
        assert first[document["path"]].startswith(b"# ")
        assert b"not legal advice" in first[document["path"]]
    selected = {c["id"] for c in report["clauses"]}
    guards = parse_guards(first["guards.yaml"].decode(), "guards.yaml")
    for guard in guards:
        assert guard.clauses and set(guard.clauses) <= selected, guard.id
        assert guard.message
    if "EU" not in profile.jurisdictions:
        assert not any(c.startswith("jurisdictions/dsa-") for c in selected)
