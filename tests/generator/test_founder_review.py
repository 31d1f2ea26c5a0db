"""Regression tests for a founder's review: the documents promise only what the profile and guards.yaml do.

- Outputs without text (a voice or image product) get no output text guards, so the documents must not
  promise to screen outputs, redact personal data from them, or add the AI notice to replies.
- A product that trains on user data: the input licence covers training (and says what deletion does),
  a B2B operator is a controller of the customer data it trains on, and ``training_consent: opt_in``
  makes the training clauses say "off until you turn it on", with consent withdrawable (GDPR Art. 7(3)).
- Without ``dmca_agent`` the takedown policy shows a placeholder, not an invented "designated" agent.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml

from clauseguard.cli import main
from clauseguard.generator.build import render_outputs
from clauseguard.generator.profile import Profile, load_profile
from clauseguard.generator.questionnaire import QUESTIONS
from tests.conftest import CHAT_PROFILE


def _profile(**changes: Any) -> Profile:
    """The chat-assistant example with ``changes`` (``"data.trains_on_user_data": True``) applied."""
    data = load_profile(CHAT_PROFILE).model_dump(mode="json")
    for key, value in changes.items():
        *parents, leaf = key.split(".")
        node = data
        for part in parents:
            node = node[part]
        node[leaf] = value
    return Profile.model_validate(data)


def _outputs(*changes: tuple[str, Any]) -> dict[str, str]:
    """The Markdown documents (by id), guards.yaml and report.json for the changed example, rendered once."""
    return _rendered(json.dumps(changes))


@cache
def _rendered(changes: str) -> dict[str, str]:
    files = render_outputs(_profile(**dict(json.loads(changes))), formats=("md",))
    return {name.removeprefix("documents/").removesuffix(".md"): data.decode("utf-8") for name, data in files.items()}


def _output_guards(out: dict[str, str]) -> set[str]:
    return {g["type"] for g in yaml.safe_load(out["guards.yaml"])["guards"] if g["stage"] == "output"}


# ---- outputs without text --------------------------------------------------------------------------------

AUDIO = (("modalities.inputs", ["text", "audio"]), ("modalities.outputs", ["audio"]), ("product.interfaces", ["web"]))
TEXT = (("product.interfaces", ["web"]),)

# (document, what it says only while guards.yaml holds the output guard, the guard type)
PROMISES = [
    ("privacy-notice", "and from the output before it\nreaches you", "pii"),
    ("acceptable-use-policy", "screens prompts and outputs against the rules", "classifier"),
    ("acceptable-use-policy", "withhold or redact an output", "classifier"),
    ("privacy-notice", "to screen inputs and outputs against our rules", "classifier"),
    ("ai-disclaimer", "The service tells you this, at the latest, when it first replies to you", "ai_disclosure"),
    ("acceptable-use-policy", "The service will not give you methods", "keyword"),
    ("terms-of-use", "It may refuse a request, withhold or redact an output", "classifier"),
]


@pytest.mark.parametrize(("document", "promise", "guard"), PROMISES,
                         ids=[f"{d}-{g}-{i}" for i, (d, _, g) in enumerate(PROMISES)])
def test_output_promises_follow_the_output_guards(document: str, promise: str, guard: str) -> None:
    """An audio-only product's documents said personal data was removed "from the output", that the service
    "screens prompts and outputs" and "tells you this ... when it first replies", with no output guard."""
    text, audio = _outputs(*TEXT), _outputs(*AUDIO)
    assert guard in _output_guards(text) and promise in text[document]
    assert not _output_guards(audio) and promise not in audio[document]


def test_audio_product_says_what_it_does_instead() -> None:
    audio = _outputs(*AUDIO)
    assert "screens written prompts against the rules in this policy" in audio["acceptable-use-policy"]
    assert "We tell you this, at the latest, when you first use the service" in audio["ai-disclaimer"]
    why = {c["id"]: c["why"] for c in json.loads(audio["report.json"])["clauses"]}
    assert "must show it in its own interface" in why["ai/interaction-disclosure"]
    assert "does not promise to redact them" in why["privacy/personal-data-in-prompts"]
    assert "prompts and outputs" not in why["content/violence-and-weapons"]


def test_image_outputs_are_still_screened() -> None:
    """Image outputs keep their image guards, so the policy still says outputs are screened."""
    out = render_outputs(load_profile(CHAT_PROFILE.parents[1] / "image-space" / "profile.yaml"), formats=("md",))
    policy = out["documents/acceptable-use-policy.md"].decode("utf-8")
    assert "screens prompts, uploaded images and outputs against the rules" in policy
    assert "and from the output before it" not in out["documents/privacy-notice.md"].decode("utf-8")


# ---- training on user data ---------------------------------------------------------------------------------

TRAINS = (("data.trains_on_user_data", True),)
OPT_IN = (*TRAINS, ("data.training_consent", "opt_in"))
B2B = (("audience.consumer", False),)


def test_input_licence_covers_training_and_says_what_deletion_does() -> None:
    """Terms 5.1 licensed inputs "only as needed to run" the service and ended it on deletion, while the privacy
    notice kept training data "for as long as we use it"."""
    terms = _outputs(*TRAINS)["terms-of-use"]
    assert "only as needed to run" not in terms
    assert "to train and improve our AI models unless you have opted out" in terms
    assert "does not take them out of our training data" in terms
    assert "Models already trained on\nthem are not retrained" in terms
    assert "only as needed to run" in _outputs()["terms-of-use"]


def test_b2b_operator_that_trains_is_a_controller_for_training() -> None:
    """Privacy Notice 1.1 said customer data is processed only on the customer's instructions, and 6.1 that
    the operator trains on it."""
    notice = _outputs(*B2B, *TRAINS)["privacy-notice"]
    assert "only on the\ncustomer's instructions" not in notice
    assert "That purpose is ours, not the customer's" in notice
    assert "Art. 28(10)" in notice
    assert "only on the\ncustomer's instructions" in _outputs(*B2B)["privacy-notice"]


def test_opt_in_training_asks_first_and_can_be_withdrawn() -> None:
    notice = _outputs(*OPT_IN)["privacy-notice"]
    assert "We train on your data only if you turn this on." in notice
    assert "You can withdraw your consent at any time" in notice and "Article 7(3) of the GDPR" in notice
    assert "You can opt out at any time" not in notice
    assert "Basis: your consent (Art. 6(1)(a))" in notice
    assert "Art. 21(1) and (4)" not in notice  # the right to object is the opt-out's basis, not consent's
    assert "if you have\nturned training on" in _outputs(*OPT_IN)["terms-of-use"]


def test_opt_in_sensitive_data_still_needs_its_own_consent() -> None:
    """The sensitive-data clauses asked for a separate opt-in; with training opt-in they still do."""
    notice = _outputs(*OPT_IN)["privacy-notice"]  # EU and US users, medical questions
    assert "turning on model training in general does not cover it" in notice
    assert "we train on it only if you turn training on, which does not cover sensitive information" in notice


def test_opt_out_is_the_default() -> None:
    assert _profile().data.training_consent == "opt_out"
    assert "You can opt out at any time" in _outputs(*TRAINS)["privacy-notice"]


def test_training_consent_is_not_markdown_escaped() -> None:
    assert _profile(**dict(OPT_IN)).context()["data"]["training_consent"] == "opt_in"


def test_unknown_training_consent_is_an_error_naming_the_key(tmp_path: Path, capsys) -> None:
    text = CHAT_PROFILE.read_text(encoding="utf-8").replace("trains_on_user_data: false",
                                                            "trains_on_user_data: true\n  training_consent: optin")
    path = tmp_path / "profile.yaml"
    path.write_text(text, encoding="utf-8")
    assert main(["generate", str(path), "-o", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert "data.training_consent" in err and "opt_in" in err and "Traceback" not in err
    assert not (tmp_path / "out").exists()


def test_init_asks_about_consent_only_when_the_product_trains() -> None:
    question = next(q for q in QUESTIONS if q.key == "data.training_consent")
    assert question.choices == ("opt_out", "opt_in") and question.default == "opt_out"
    assert not question.applies({"data": {"trains_on_user_data": False}})
    assert question.applies({"data": {"trains_on_user_data": True}})


# ---- DMCA agent --------------------------------------------------------------------------------------------

HOSTS_IN_US = (("user_content.uploads", True),)


def test_no_dmca_agent_gives_a_placeholder_not_an_invented_designation() -> None:
    """Without dmca_agent the notice named "Copyright Agent, <operator>" as if it had been designated."""
    notice = _outputs(*HOSTS_IN_US)["notice-and-takedown"]
    assert "Copyright Agent, Acme Assist Ltd" not in notice
    assert "**[Designated agent: register one with the U.S. Copyright Office (37 CFR 201.38)" in notice
    assert any("dmca_agent is not set" in w for w in json.loads(_outputs(*HOSTS_IN_US)["report.json"])["warnings"])


def test_a_named_dmca_agent_is_shown() -> None:
    agent = {"name": "Jo Agent", "email": "dmca@acme-assist.example", "address": "1 Example Street", "phone": "+1 555"}
    files = render_outputs(_profile(**dict(HOSTS_IN_US), **{"operator.dmca_agent": agent}), formats=("md",))
    notice = files["documents/notice-and-takedown.md"].decode("utf-8")
    assert "- **Name**: Jo Agent" in notice and "[Designated agent" not in notice
