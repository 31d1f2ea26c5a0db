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
    assert "does not by itself take them out of our training data" in terms
    assert "Models already trained on\nthem are not retrained" in terms
    assert "only as needed to run" in _outputs()["terms-of-use"]


def test_b2b_operator_that_trains_is_a_controller_for_training() -> None:
    """Privacy Notice 1.1 said customer data is processed only on the customer's instructions, and 6.1 that
    the operator trains on it."""
    notice = _outputs(*B2B, *TRAINS)["privacy-notice"]
    assert "only on the\ncustomer's instructions" not in notice
    assert "That purpose is ours, not the customer's" in notice
    assert "(GDPR Art. 4(7))" in notice
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


# ---- second review: B2B training, opt-in erasure, promised disclaimers, helplines -------------------------


def _flat(text: str) -> str:
    """``text`` with its line breaks and runs of spaces made single spaces."""
    return " ".join(text.split())


def test_b2b_training_controller_rests_on_art_4_7_and_requests_go_to_the_operator() -> None:
    """Privacy Notice 1.1 made the B2B operator a controller for training under GDPR Art. 28(10), which applies
    only to a processor that infringes the GDPR, and sent every request to the customer first, training
    requests included."""
    notice = _flat(_outputs(*B2B, *TRAINS)["privacy-notice"])
    assert "28(10)" not in notice
    assert "so for that use we are a controller of the data (GDPR Art. 4(7)) and this notice applies to it" in notice
    assert "should contact the customer first about data we process on its instructions" in notice
    assert ("They can send requests about our use of their data for training, such as an objection to it or a "
            "request to erase it from our training data, to us directly at legal@acme-assist.example") in notice
    uk = _outputs(*B2B, *TRAINS, ("jurisdictions", ["UK"]))
    assert "28(10)" not in uk["privacy-notice"] and "(UK GDPR Art. 4(7))" in _flat(uk["privacy-notice"])


def test_b2b_opt_in_training_is_turned_on_by_the_customer_not_consented_to_by_its_users() -> None:
    """With consumer false and opt_in, 1.1 said the customer turns training on while 6.1 told the customer's end
    users that training was off "until you agree to it when the service asks you", on their consent."""
    notice = _flat(_outputs(*B2B, *OPT_IN)["privacy-notice"])
    assert "where the customer has turned training on for its account" in notice
    assert "We train on a business customer's data only if the customer turns this on." in notice
    assert "off until you agree" not in notice and "Our legal basis is your consent" not in notice
    assert "only if you have turned training on" not in notice and "such as for model training" not in notice
    assert ("our legal basis is our legitimate interest in developing and improving the service "
            "(GDPR Art. 6(1)(f))") in notice
    assert "You can object at any time, directly to us." in notice and "right to object under Article 21" in notice
    assert "The customer must tell its own users" in notice and "(GDPR Art. 13 and 14)" in notice
    assert ("only where the business customer has turned training on for its account. "
            "Basis: our legitimate interest") in notice
    assert "legitimate interests, such as IP logging and model training (Art. 21)" in notice
    consumer = _outputs(*OPT_IN)["privacy-notice"]  # consumers still consent
    assert "We train on your data only if you turn this on." in consumer


AUDIO_DOMAINS = (*AUDIO, ("domains", ["medical", "legal", "financial", "elections"]))
TEXT_DOMAINS = (*TEXT, ("domains", ["medical", "legal", "financial", "elections"]))
REMINDERS = ["Outputs about health carry a reminder of this.", "Outputs about legal topics carry a reminder of this.",
             "Outputs about financial topics carry a reminder of this.",
             "Outputs about elections carry a reminder of this."]


@pytest.mark.parametrize("reminder", REMINDERS)
def test_disclaimer_reminder_is_promised_only_where_a_guard_adds_it(reminder: str) -> None:
    """An audio-output product's AI Disclaimer said outputs "carry a reminder", but without text outputs
    guards.yaml holds no disclaimer guard."""
    text, audio = _outputs(*TEXT_DOMAINS), _outputs(*AUDIO_DOMAINS)
    assert "disclaimer" in _output_guards(text) and reminder in _flat(text["ai-disclaimer"])
    assert "disclaimer" not in _output_guards(audio) and reminder not in _flat(audio["ai-disclaimer"])
    why = {c["id"]: c["why"] for c in json.loads(audio["report.json"])["clauses"]}
    assert "the disclaimer does not promise one" in why["ai/professional-advice-medical"]


def test_no_automated_decisions_names_only_the_output_checks_that_run() -> None:
    """The privacy notice said the checks can "hold back or change an output" for a product with no output
    guard."""
    assert ("Our automated safety checks can refuse a request, hold back or change an output, or flag it for "
            "review") in _flat(_outputs(*TEXT)["privacy-notice"])
    audio = _flat(_outputs(*AUDIO)["privacy-notice"])
    assert "Our automated safety checks can refuse a request or flag it for review" in audio
    assert "an output" not in audio.split("Our automated safety checks")[1].split(".")[0]


def test_opt_in_withdrawal_or_erasure_deletes_the_training_data() -> None:
    """With consent as the basis, withdrawing it or deleting the account only left the data "out of later
    training runs" and "does not take them out of our training data" (GDPR Art. 17(1)(b) requires erasure)."""
    out = _outputs(*OPT_IN)
    notice, terms = _flat(out["privacy-notice"]), _flat(out["terms-of-use"])
    assert ("we will delete content of yours that is already in our training data, as far as we can identify it "
            "(GDPR Art. 17(1)(b)). We do the same if you close your account or ask us to erase your data.") in notice
    assert ("or until you withdraw your consent to training, close your account or ask us to erase it, when we "
            "delete it from them") in notice
    assert "left out of later training runs" not in notice
    assert "does not take them out of our training data" not in terms
    assert ("The permission to train on those ends when you withdraw your consent, close your account or ask us to "
            "erase them, and we then delete them from our training data") in terms


def test_opt_out_objection_then_erasure_request_deletes_the_training_data() -> None:
    """After an objection we do not weigh, an erasure request must be honoured (GDPR Art. 17(1)(c)); the notice
    and terms said the data stayed in the training data."""
    out = _outputs(*TRAINS)
    notice, terms = _flat(out["privacy-notice"]), _flat(out["terms-of-use"])
    assert "if you also ask us to erase it, we delete it from our training data (GDPR Art. 17(1)(c))" in notice
    assert "left out of later training runs, and deleted from them if you also ask us to erase it" in notice
    assert "and delete them from our training data if you also ask us to erase them" in terms


IMAGES = (("modalities.outputs", ["image"]),)


def test_self_harm_helpline_sentence_names_someone() -> None:
    """With image outputs and no US, UK or EU users the policy said "These people can help." and named nobody."""
    policy = _flat(_outputs(*IMAGES, ("jurisdictions", ["CA"]))["acceptable-use-policy"])
    assert "These people can help." not in policy
    assert "you are welcome to talk about it. Local crisis lines can help. If you are in immediate danger" in policy
    assert "These people can help. In the US, call or text 988" in _flat(_outputs(*IMAGES)["acceptable-use-policy"])


@pytest.mark.parametrize("where", [["UK"], ["EU"]])
def test_self_harm_clause_names_samaritans_for_the_uk_and_ireland(where: list[str]) -> None:
    """The clause said "In the UK, call Samaritans" (and nothing for Ireland with EU users) while the generated
    guard messages say "In the UK and Ireland, call Samaritans on 116 123."."""
    policy = _flat(_outputs(("jurisdictions", where))["acceptable-use-policy"])
    assert "In the UK and Ireland, call Samaritans on 116 123." in policy
    assert ("In the EU, call 112 in an emergency." in policy) == (where == ["EU"])


# ---- sensitive information in a business-to-business product -----------------------------------------------

def test_b2b_sensitive_information_rests_on_the_customers_condition_not_a_consent_never_asked() -> None:
    """A B2B API told its customers' patients "Our legal basis is your explicit consent, which we ask for in the
    service": it asks them nothing, and processes their data on the customer's instructions (GDPR Art. 28(3)(a))."""
    medical = (("domains", ["medical"]),)
    b2b = _flat(_outputs(*medical, *B2B)["privacy-notice"])
    assert "which we ask for in the service" not in b2b
    assert "that business decides why it is processed and must have a condition of GDPR Art. 9(2)" in b2b
    assert "Art. 9(2)(h)" in b2b and "Art. 28(3)(a)" in b2b
    trains = _flat(_outputs(*medical, *B2B, ("data.trains_on_user_data", True))["privacy-notice"])
    assert "We do not use sensitive information to train our models." in trains
    consumer = _flat(_outputs(*medical)["privacy-notice"])
    assert "Our legal basis is your explicit consent (GDPR Art. 9(2)(a)), which we ask for in the service" in consumer
