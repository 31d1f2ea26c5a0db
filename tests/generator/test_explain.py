"""``explain``: every clause IN or OUT, with why; included ones first."""

from __future__ import annotations

import pytest

from clauseguard.errors import UserError
from clauseguard.generator.explain import explain
from tests.conftest import CHAT_PROFILE, LIBRARY, PROFILES


def test_all_clauses_included_first() -> None:
    text = explain(CHAT_PROFILE, clauses_dir=LIBRARY, include_builtin=False)
    lines = text.splitlines()
    assert lines[0] == "11 of 14 clauses apply to Acme Assist."
    marks = [line[:3] for line in lines[1:] if not line.startswith(" ")]
    assert marks == ["IN "] * 11 + ["OUT"] * 3
    assert sum(line.startswith("     Sources: ") for line in lines) == 11


@pytest.mark.parametrize(("profile", "clause", "expected"), [
    (PROFILES / "image-space.yaml", "jurisdictions/reporting-channel",
     "IN   jurisdictions/reporting-channel\n     People need a way to report content on Pixel Forge. "
     "(Profile: user_content.public_sharing = true.)\n     Sources: DSA Art. 16\n"),
    (PROFILES / "us-minimal.yaml", "privacy/ip-addresses",
     "OUT  privacy/ip-addresses\n     Left out: it applies only when data.logs_ip_addresses is true "
     "(applies_when: data.logs_ip_addresses). Profile: data.logs_ip_addresses = false.\n"),
    (PROFILES / "uploads-no-agent.yaml", "jurisdictions/reporting-channel",
     "IN   jurisdictions/reporting-channel\n     Required by jurisdictions/dmca-agent. "
     "People need a way to report content on Uploader.\n     Sources: DSA Art. 16\n"),
])
def test_one_clause(profile, clause: str, expected: str) -> None:
    assert explain(profile, clause, clauses_dir=LIBRARY, include_builtin=False) == expected


def test_unknown_clause() -> None:
    with pytest.raises(UserError, match="no clause has id 'nope/nope'; see") as info:
        explain(CHAT_PROFILE, "nope/nope", clauses_dir=LIBRARY, include_builtin=False)
    assert "did you mean" not in str(info.value)


def test_a_misspelt_clause_id_gets_the_nearest_one() -> None:
    with pytest.raises(UserError, match=r"no clause has id 'core/agrement'; did you mean 'core/agreement'\?"):
        explain(CHAT_PROFILE, "core/agrement", clauses_dir=LIBRARY, include_builtin=False)
