"""``clauseguard init``: questions as data, answers from a file, a script or a terminal; atomic writes."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import click
import pytest
import yaml
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from jinja2 import meta
from jinja2.sandbox import SandboxedEnvironment

from clauseguard import __version__
from clauseguard.errors import ProfileError, UserError
from clauseguard.generator.profile import Profile, load_profile
from clauseguard.generator.questionnaire import QUESTIONS, Question, click_ask, collect_answers, run_init
from tests.strategies import profile_data

REQUIRED = {
    "operator.legal_name": "Pix Labs Ltd",
    "operator.contact_email": "legal@pix.example",
    "operator.address": "1 Main St, Dublin",
    "product.name": "Pix <beta> & co",
    "product.url": "https://pix.example",
    "product.effective_date": "2026-12-01",
    "product.governing_law": "Ireland",
    "jurisdictions": ["EU", "US"],
}


def _write(tmp_path: Path, name: str, data: Any) -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(data) if name.endswith(".json") else yaml.safe_dump(data), encoding="utf-8")
    return path


def _nest(flat: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in flat.items():
        *parents, leaf = key.split(".")
        node = out
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value
    return out


def _script(answers: dict[str, Any], asked: list[str]):  # type: ignore[no-untyped-def]
    """An ``ask`` that answers from a dict (or takes the default) and records what was asked."""

    def ask(question: Question, default: Any) -> Any:
        asked.append(question.key)
        return answers.get(question.key, default)

    return ask


@pytest.mark.parametrize(
    ("name", "data"),
    [("answers.yaml", REQUIRED), ("answers.yaml", _nest(REQUIRED)), ("answers.json", REQUIRED)],
)
def test_answers_file_and_yes_give_a_valid_profile(tmp_path: Path, name: str, data: dict[str, Any]) -> None:
    out = tmp_path / "profile.yaml"
    profile = run_init(out, answers=_write(tmp_path, name, data), yes=True)
    assert profile.product.name == "Pix <beta> & co"
    assert profile.jurisdictions == ["EU", "US"]
    assert (profile.audience.minimum_age, profile.product.interfaces) == (18, ["web"])
    assert load_profile(out) == profile
    assert out.read_text().startswith(f"# Risk profile written by `clauseguard init` (clauseguard {__version__}).")


@pytest.mark.parametrize("missing", ["operator.legal_name", "product.governing_law", "jurisdictions"])
def test_yes_without_a_required_answer_names_the_key(tmp_path: Path, missing: str) -> None:
    answers = _write(tmp_path, "a.yaml", {k: v for k, v in REQUIRED.items() if k != missing})
    with pytest.raises(ProfileError, match=f"'{missing}'"):
        run_init(tmp_path / "profile.yaml", answers=answers, yes=True)
    assert not (tmp_path / "profile.yaml").exists()


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"operator.contact_email": "not-an-email"}, "operator.contact_email: 'not-an-email' is not an email"),
        ({"audience.minimum_age": 40}, "audience.minimum_age: minimum age must be between 0 and 21"),
        ({"jurisdictions": ["EU", "Mars"]}, "jurisdictions: Mars not among"),
        ({"user_content.uploads": "perhaps"}, "user_content.uploads: expected yes or no"),
        ({"product.effective_date": "1 Dec"}, "product.effective_date: expected a date"),
        # date.fromisoformat read 20270301 (a number) and '2027-W09-1' (a week) as dates; the profile does not
        ({"product.effective_date": 20270301}, "product.effective_date: expected a date written YYYY-MM-DD"),
        ({"product.effective_date": "2027-W09-1"}, "product.effective_date: expected a date written YYYY-MM-DD"),
        ({"product.colour": "red"}, r"a.yaml:\d+: product.colour: unknown key"),
        ({"models": [{"name": "M", "license": "nope"}]}, r"models\[0\].license: unknown licence 'nope'"),
    ],
)
def test_bad_answers_are_profile_errors_naming_the_key(tmp_path: Path, extra: dict, message: str) -> None:
    answers = _write(tmp_path, "a.yaml", REQUIRED | extra)
    with pytest.raises(ProfileError, match=message):
        run_init(tmp_path / "profile.yaml", answers=answers, yes=True)
    assert not (tmp_path / "profile.yaml").exists()


ANSWERS_HEAD = """\
operator: {legal_name: Acme Ltd, contact_email: a@acme.example, address: 1 Main St}
product: {name: Acme, url: https://acme.example, governing_law: Ireland, effective_date: 2026-01-01}
jurisdictions: [EU]
"""


@pytest.mark.parametrize(
    ("tail", "where", "message"),
    [
        ("models: [{name: X, license: llama9}]\n", 4, "models[0].license: unknown licence 'llama9'"),
        ("models:\n  - name: X\n    license: mit\n    bogus: 1\n", 7, "models[0].bogus: unknown key"),
        ("audience:\n  minimum_age: 30\n", 5, "audience.minimum_age: minimum age must be between 0 and 21"),
        ("audience.minimum_age: 30\n", 4, "audience.minimum_age: minimum age must be between 0 and 21"),
        ("user_content: {uploads: perhaps}\n", 4, "user_content.uploads: expected yes or no"),
        ("extra: 2026-13-45\n", 4, "cannot read answers: invalid date '2026-13-45'"),
    ],
)
def test_answers_errors_name_the_answers_file_and_line(tmp_path: Path, tail: str, where: int, message: str) -> None:
    """The profile is never written on error, so its lines would point nowhere: name the answers file."""
    answers = tmp_path / "ans.yaml"
    answers.write_text(ANSWERS_HEAD + tail, encoding="utf-8")
    with pytest.raises(ProfileError) as info:
        run_init(tmp_path / "p1.yaml", answers=answers, yes=True)
    assert f"{answers}:{where}: " in str(info.value) and message in str(info.value)
    assert "p1.yaml" not in str(info.value) and not (tmp_path / "p1.yaml").exists()


def test_missing_required_answer_names_the_answers_file(tmp_path: Path) -> None:
    answers = _write(tmp_path, "a.yaml", {"product.name": "X"})
    with pytest.raises(ProfileError, match=r"'operator\.legal_name'") as info:
        run_init(tmp_path / "p1.yaml", answers=answers, yes=True)
    assert info.value.where == str(answers)


@pytest.mark.parametrize(
    ("text", "message"),
    [("[1, 2]", "answers must be a mapping"), ("a: [", "cannot read answers")],
)
def test_unreadable_answers_file(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "a.yaml"
    path.write_text(text)
    with pytest.raises(ProfileError, match=message):
        run_init(tmp_path / "profile.yaml", answers=path, yes=True)


@pytest.mark.parametrize(
    ("tail", "where", "message"),
    [
        ("audience:\n  minimum_age: 13\naudience.minimum_age: 18\n", 6,
         "duplicate key 'audience.minimum_age', given on line 5 as `audience: minimum_age:` and again on line 6 as "
         "`audience.minimum_age:`"),
        ("audience.minimum_age: 18\naudience:\n  minimum_age: 13\n", 6,
         "duplicate key 'audience.minimum_age', given on line 4 as `audience.minimum_age:` and again on line 6 as "
         "`audience: minimum_age:`"),
        # a group's keys come together: the line after the dotted key is still named second
        ("audience:\n  consumer: true\n  minimum_age: 13\naudience.minimum_age: 18\n", 7,
         "given on line 6 as `audience: minimum_age:` and again on line 7 as `audience.minimum_age:`"),
        ("audience:\n  consumer: true\n\n\n  minimum_age: 13\naudience.minimum_age: 18\n", 9,
         "given on line 8 as `audience: minimum_age:` and again on line 9"),
        ("audience: {}\naudience.minimum_age: 18\n", 5,
         "duplicate key 'audience', given on line 4 as `audience:` and again on line 5 as `audience.minimum_age:`"),
        ("audience.minimum_age: 13\naudience.minimum_age: 18\n", 5, "duplicate key 'audience.minimum_age'"),
    ],
)
def test_a_key_given_both_nested_and_dotted_is_a_duplicate(tmp_path: Path, tail: str, where: int,
                                                          message: str) -> None:
    """``audience: {minimum_age: 13}`` and ``audience.minimum_age: 18`` in one answers file were resolved by
    their order, silently; a dotted key given twice was already a duplicate key. Both are now that error,
    naming both lines."""
    answers = tmp_path / "ans.yaml"
    answers.write_text(ANSWERS_HEAD + tail, encoding="utf-8")
    with pytest.raises(ProfileError) as info:
        run_init(tmp_path / "p1.yaml", answers=answers, yes=True)
    assert str(info.value).startswith(f"{answers}:{where}: cannot read answers: duplicate key ")
    assert message in str(info.value)
    assert not (tmp_path / "p1.yaml").exists()


def test_a_json_key_given_both_nested_and_dotted_is_a_duplicate(tmp_path: Path) -> None:
    answers = _write(tmp_path, "a.json", {**REQUIRED, "audience": {"minimum_age": 13}, "audience.minimum_age": 18})
    with pytest.raises(ProfileError) as info:
        run_init(tmp_path / "p1.yaml", answers=answers, yes=True)
    assert info.value.where == str(answers)
    assert ("duplicate key 'audience.minimum_age', given as `audience: minimum_age:` and again as "
            "`audience.minimum_age:`") in str(info.value)


@pytest.mark.parametrize(
    ("answers", "asked_dmca", "asked_dsa", "asked_ip_days"),
    [
        ({"user_content.uploads": True}, True, True, False),
        ({"user_content.uploads": False}, False, True, False),
        ({"jurisdictions": ["UK"], "user_content.public_sharing": True}, False, False, False),
        ({"data.logs_ip_addresses": True}, False, True, True),
    ],
)
def test_when_conditions_decide_what_is_asked(
    answers: dict[str, Any], asked_dmca: bool, asked_dsa: bool, asked_ip_days: bool
) -> None:
    asked: list[str] = []
    collect_answers({}, ask=_script(REQUIRED | answers, asked))
    assert ("operator.dmca_agent.name" in asked) is asked_dmca
    assert ("operator.dsa_contact_email" in asked) is asked_dsa
    assert ("data.ip_retention_days" in asked) is asked_ip_days


def test_dmca_agent_defaults_to_the_operator_contact(tmp_path: Path) -> None:
    ask = _script(REQUIRED | {"user_content.uploads": True, "operator.dmca_agent.name": "Jo Agent"}, [])
    profile = run_init(tmp_path / "p.yaml", ask=ask)
    assert profile.operator.dmca_agent is not None
    assert (profile.operator.dmca_agent.email, profile.operator.dmca_agent.address) == (
        "legal@pix.example",
        "1 Main St, Dublin",
    )
    assert profile.operator.dmca_agent.phone is None  # optional; generate warns that it is missing


def test_dmca_agent_phone_is_asked(tmp_path: Path) -> None:
    answers = REQUIRED | {"user_content.uploads": True, "operator.dmca_agent.name": "Jo Agent",
                          "operator.dmca_agent.phone": "+1 302 555 0142"}
    profile = run_init(tmp_path / "p.yaml", ask=_script(answers, []))
    assert profile.operator.dmca_agent is not None and profile.operator.dmca_agent.phone == "+1 302 555 0142"


def test_answered_keys_are_not_asked_again(tmp_path: Path) -> None:
    asked: list[str] = []
    run_init(tmp_path / "p.yaml", answers=_write(tmp_path, "a.yaml", REQUIRED), ask=_script({}, asked))
    assert not set(asked) & set(REQUIRED)
    assert "audience.minimum_age" in asked


def test_existing_file_is_kept_unless_forced(tmp_path: Path) -> None:
    out = tmp_path / "profile.yaml"
    out.write_text("keep me")
    answers = _write(tmp_path, "a.yaml", REQUIRED)
    with pytest.raises(UserError, match="already exists; pass --force"):
        run_init(out, answers=answers, yes=True)
    assert out.read_text() == "keep me"
    run_init(out, answers=answers, yes=True, force=True)
    assert load_profile(out).product.name == "Pix <beta> & co"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.yaml", "profile.yaml"]  # no temp file left


def _init_command() -> click.Command:
    @click.command()
    @click.argument("output", type=click.Path(path_type=Path))
    def init(output: Path) -> None:
        profile = run_init(output, ask=click_ask)
        click.echo(f"wrote {profile.product.name}")

    return init


def test_interactive_terminal_session(tmp_path: Path) -> None:
    lines = [
        "Pix Labs Ltd", "oops", "legal@pix.example", "1 Main St", "Pix", "https://pix.example", "",
        "web, api", "2026-12-01", "Ireland", "EU, Mars", "EU, US", "text", "text, image", "13", "y",
        "y", "y", "Jo Agent", "", "", "", "dsa@pix.example", "", "n", "n", "n",
        "SD 1.5", "creativeml-openrail-m", "", "education", "y", "n", "n", "n",
    ]  # fmt: skip
    out = tmp_path / "profile.yaml"
    result = CliRunner().invoke(_init_command(), [str(out)], input="\n".join(lines) + "\n")
    assert result.exit_code == 0, result.output
    assert "is not an email address" in result.output and "Mars not among" in result.output
    assert "US hosts of user content" in result.output  # help text is shown
    profile = load_profile(out)
    assert profile.modalities.outputs == ["text", "image"]
    assert profile.operator.dmca_agent is not None and profile.operator.dmca_agent.email == "legal@pix.example"
    assert [(m.name, m.license) for m in profile.models] == [("SD 1.5", "creativeml-openrail-m")]
    assert (profile.audience.minimum_age, profile.domains, profile.features.realistic_people) == (
        13,
        ["education"],
        True,
    )


def test_an_answer_the_profile_would_refuse_is_asked_again_at_once(tmp_path: Path) -> None:
    """A control character (an arrow key at a bare prompt), a place listed twice, a quote in the URL: the
    profile schema refuses them, and finding that after the last question lost every answer."""
    lines = [
        "Pix \x1b[D Labs", "Pix Labs", "legal@pix.example", "1 Main St", "Pix", 'https://pix.example/"x',
        "https://pix.example", "", "", "2026-12-01", "Ireland", "EU, EU", "EU", "", "", "18", "y", "n", "n",
        "", "", "n", "n", "n", "", "", "n", "n", "n", "n",
    ]  # fmt: skip
    out = tmp_path / "profile.yaml"
    result = CliRunner().invoke(_init_command(), [str(out)], input="\n".join(lines) + "\n")
    assert result.exit_code == 0, result.output
    for message in ("contains a control character U+001B", "listed twice: ['EU']",
                    "expected a web address starting with https:// or http://, without spaces, quotes or <>"):
        assert message in result.output
    profile = load_profile(out)
    assert (profile.operator.legal_name, profile.product.url, profile.jurisdictions) == (
        "Pix Labs", "https://pix.example", ["EU"])
    assert profile.operator.dsa_contact_email is None  # a blank optional answer still leaves the key out


def test_a_model_name_the_profile_would_refuse_is_asked_again_at_once() -> None:
    """The model names were checked only after the last question, so a control character lost every answer."""
    question = next(q for q in QUESTIONS if q.kind == "models")

    @click.command()
    def ask() -> None:
        click.echo(json.dumps(click_ask(question, [])))

    answers = ["Llama \x1b[D 3", "Llama 3", "llama3.1", "Own model", "other", "Ours\x07", "Our licence v1", ""]
    result = CliRunner().invoke(ask, input="\n".join(answers) + "\n")
    assert result.exit_code == 0, result.output
    assert result.output.count("control character") == 2
    assert json.loads(result.output.splitlines()[-1]) == [
        {"name": "Llama 3", "license": "llama3.1"},
        {"name": "Own model", "license": "other", "license_name": "Our licence v1"}]


@pytest.mark.parametrize(("key", "value", "message"), [
    ("operator.dmca_agent.phone", "555\x07", "control character U+0007"),
    ("domains", "medical, medical", "listed twice: ['medical']"),
    ("product.interfaces", ",", "List should have at least 1 item"),
])
def test_check_applies_the_profile_schema(key: str, value: str, message: str) -> None:
    question = next(q for q in QUESTIONS if q.key == key)
    question.convert(value)  # the question's own conversion lets it through
    with pytest.raises(ValueError, match=re.escape(message)):
        question.check(value)


def _model_field(path: str) -> bool:
    model: Any = Profile
    for part in path.split("."):
        fields = getattr(model, "model_fields", {})
        if part not in fields:
            return False
        annotation = fields[part].annotation
        model = next((a for a in getattr(annotation, "__args__", ()) if hasattr(a, "model_fields")), annotation)
    return True


@pytest.mark.parametrize("question", QUESTIONS, ids=lambda q: q.key)
def test_every_question_fills_a_profile_key(question: Question) -> None:
    assert _model_field(question.key)


@pytest.mark.parametrize("question", [q for q in QUESTIONS if q.when], ids=lambda q: q.key)
def test_when_names_only_earlier_answers(question: Question) -> None:
    names = meta.find_undeclared_variables(SandboxedEnvironment().parse(f"{{{{ {question.when} }}}}"))
    earlier = {q.key.split(".")[0] for q in QUESTIONS[: QUESTIONS.index(question)]}
    assert names <= earlier


def test_question_keys_are_unique() -> None:
    keys = [q.key for q in QUESTIONS]
    assert len(keys) == len(set(keys))


def _flat(data: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in data.items():
        if isinstance(value, dict) and value:
            out |= _flat(value, f"{prefix}{key}.")
        else:
            out[f"{prefix}{key}"] = value
    return out


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(profile_data())
def test_any_valid_profile_survives_init_from_answers(tmp_path: Path, data: dict[str, Any]) -> None:
    out = tmp_path / "profile.yaml"
    profile = run_init(out, answers=_write(tmp_path, "a.json", _flat(data)), yes=True, force=True)
    assert profile == Profile.model_validate(data)
    assert load_profile(out) == profile


def test_a_written_profile_takes_a_key_added_by_hand(tmp_path: Path) -> None:
    """Sections are written as blocks, one value a line: indenting a new key under one keeps the file
    valid (a section written as {...} on one line, with an address wrapped over two, did not)."""
    out = tmp_path / "p.yaml"
    run_init(out, answers=_write(tmp_path, "a.yaml", REQUIRED), yes=True)
    text = out.read_text(encoding="utf-8")
    assert "operator:\n  legal_name: " in text and "{" not in text
    out.write_text(text.replace("operator:\n", "operator:\n  dpo_email: dpo@pix.example\n", 1), encoding="utf-8")
    assert load_profile(out).operator.dpo_email == "dpo@pix.example"
