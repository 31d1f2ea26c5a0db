from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from click.testing import CliRunner
from guard_helpers import FIXTURES

from clauseguard.cli import main
from clauseguard.errors import UserError
from clauseguard.guards.cli import check

SAMPLES = Path(__file__).parents[2] / "examples" / "chat-assistant" / "samples.jsonl"


def test_samples_give_the_expected_actions() -> None:
    result = CliRunner().invoke(check, ["--guards", str(FIXTURES / "guards.yaml"), "--jsonl", str(SAMPLES)])
    assert result.exit_code == 0, result.output
    actions = {d["id"]: d["action"] for d in map(json.loads, result.output.splitlines())}
    assert actions == {
        "benign-question": "allow", "email-address": "redact", "obfuscated-weapon": "block",
        "spaced-weapon": "block", "profanity": "redact", "benign-lookalikes": "allow", "card-number": "redact",
        "german-request": "allow",  # no classifier in this file: the generated guards flag it (test_language.py)
        "injection": "allow",  # nor the prompt_injection list: the generated guards block it (test_keyword_patterns.py)
        "first-answer": "label", "medical-answer": "disclaim", "leaked-key": "redact",
        "refusal-answer": "label",
    }


def test_text_option_and_stage() -> None:
    result = CliRunner().invoke(check, ["--guards", str(FIXTURES / "guards.yaml"), "--text", "Hi", "--stage",
                                        "output"])
    verdict = json.loads(result.output)
    assert verdict["stage"] == "output" and verdict["metadata"]["ai_generated"] is True


def test_bad_guards_file_exits_2(capsys) -> None:
    code = main(["check", "--guards", str(FIXTURES / "bad_param.yaml"), "--text", "hi"])
    assert code == 2
    assert "guard 'kw'" in capsys.readouterr().err


def test_bad_jsonl_line_names_the_line(tmp_path, capsys) -> None:
    bad = tmp_path / "in.jsonl"
    bad.write_text('{"text": "ok"}\nnot json\n')
    assert main(["check", "--guards", str(FIXTURES / "guards.yaml"), "--jsonl", str(bad)]) == 2
    assert "in.jsonl:2" in capsys.readouterr().err


@pytest.mark.parametrize("key", ["user", "ip"])
def test_jsonl_lines_are_separate_users_unless_they_name_one(tmp_path: Path, key: str) -> None:
    """A rate limit must not turn a long file into blocks; lines naming the same user share its bucket (keyed
    by IP, every line shared the one anonymous bucket)."""
    guards = tmp_path / "guards.yaml"
    guards.write_text("guards:\n  - id: rl\n    type: rate_limit\n    stage: input\n"
                      f"    params: {{capacity: 2, refill_per_second: 0.001, key: {key}}}\n")
    lines = tmp_path / "in.jsonl"
    lines.write_text("".join(json.dumps({"text": f"hi {i}"}) + "\n" for i in range(5))
                     + "".join(json.dumps({"text": f"again {i}", "user": "ann"}) + "\n" for i in range(3)))
    result = CliRunner().invoke(check, ["--guards", str(guards), "--jsonl", str(lines)])
    assert result.exit_code == 0, result.output
    actions = [json.loads(line)["action"] for line in result.output.splitlines()]
    assert actions == ["allow"] * 5 + ["allow", "allow", "block"]


@pytest.mark.parametrize(("content", "message"), [
    ('\ufeff{"text": "ok"}\n', None),  # a BOM, as Windows editors write one
    ('{"text": "ok", "meta": ' + "[" * 100_000 + "]" * 100_000 + "}\n", "in.jsonl:1: JSON that cannot be read: nested"),
    ('{"text": "ok", "id": ' + "1" * 5000 + "}\n", "in.jsonl:1: JSON that cannot be read: Exceeds the limit"),
])
def test_jsonl_that_json_allows_is_read_or_named(tmp_path: Path, capsys, content: str, message: str | None) -> None:
    """A BOM was "invalid JSON"; JSON nested too deeply or with a huge integer was a traceback, exit code 1."""
    lines = tmp_path / "in.jsonl"
    lines.write_text(content, encoding="utf-8")
    code = main(["check", "--guards", str(FIXTURES / "guards.yaml"), "--jsonl", str(lines)])
    assert code == (0 if message is None else 2)
    assert message is None or message in capsys.readouterr().err


def test_jsonl_user_must_be_a_string(tmp_path: Path, capsys) -> None:
    bad = tmp_path / "in.jsonl"
    bad.write_text('{"text": "ok", "user": 7}\n')
    assert main(["check", "--guards", str(FIXTURES / "guards.yaml"), "--jsonl", str(bad)]) == 2
    assert "in.jsonl:1" in capsys.readouterr().err


@pytest.mark.parametrize(("content", "fragment"), [
    (b'{"text": "ok"}\n{"text": "caf\xe9"}\n', r"in\.jsonl:2: not UTF-8 text \(invalid continuation byte at byte 13"),
    (b'{"text": "ok", "turn": "abc"}\n', r'in\.jsonl:1: "turn" must be a whole number from 0, not \'abc\''),
    (b'{"text": "ok", "turn": null}\n', r'in\.jsonl:1: "turn" must be a whole number'),
    (b'{"text": "ok", "turn": -1}\n', r'in\.jsonl:1: "turn" must be a whole number'),
    (b'{"text": "ok", "turn": true}\n', r'in\.jsonl:1: "turn" must be a whole number'),
])
def test_bad_jsonl_bytes_and_turns_are_errors_naming_the_line(tmp_path: Path, capsys, content: bytes,
                                                                fragment: str) -> None:
    """Each was a traceback with exit code 1 (or a negative turn taken as it came)."""
    bad = tmp_path / "in.jsonl"
    bad.write_bytes(content)
    assert main(["check", "--guards", str(FIXTURES / "guards.yaml"), "--jsonl", str(bad)]) == 2
    assert re.search(fragment, capsys.readouterr().err)


def test_a_file_that_is_not_utf8_is_an_error_naming_it(tmp_path: Path, capsys) -> None:
    bad = tmp_path / "in.txt"
    bad.write_bytes(b"caf\xe9")
    assert main(["check", "--guards", str(FIXTURES / "guards.yaml"), "--file", str(bad)]) == 2
    assert "in.txt: not UTF-8 text" in capsys.readouterr().err


def test_dash_reads_standard_input() -> None:
    """`producer | clauseguard check --jsonl -` refused '-' as a file that does not exist."""
    guards = str(FIXTURES / "guards.yaml")
    lines = '{"text": "hi"}\n{"text": "mail bob@example.com", "id": "b"}\n'
    result = CliRunner().invoke(check, ["--guards", guards, "--jsonl", "-"], input=lines)
    assert result.exit_code == 0, result.output
    assert [(d["id"], d["action"]) for d in map(json.loads, result.output.splitlines())] == [
        (1, "allow"), ("b", "redact")]
    result = CliRunner().invoke(check, ["--guards", guards, "--file", "-"], input="mail bob@example.com")
    assert json.loads(result.output)["output"] == "mail [EMAIL]"
    result = CliRunner().invoke(check, ["--guards", guards, "--jsonl", "-"], input='{"text": "hi"}\nnope\n')
    assert isinstance(result.exception, UserError) and "<stdin>:2" in str(result.exception)


def test_a_text_argument_that_is_not_utf8_is_an_error(capsys) -> None:
    """Bytes of argv that are not UTF-8 reach Python as lone surrogates; they were checked as text."""
    assert main(["check", "--guards", str(FIXTURES / "guards.yaml"), "--text", "caf\udce9"]) == 2
    assert "--text: not UTF-8 text" in capsys.readouterr().err


def test_a_log_that_cannot_be_written_is_an_error_not_a_traceback(tmp_path: Path, capsys) -> None:
    (tmp_path / "afile").write_text("")
    args = ["check", "--guards", str(FIXTURES / "guards.yaml"), "--text", "hi", "--log"]
    assert main([*args, str(tmp_path / "afile" / "sub" / "log.jsonl")]) == 2
    assert "afile/sub/log.jsonl: cannot write the decision log" in capsys.readouterr().err
    if Path("/dev/full").exists():  # opens, then every write fails: a full disk
        assert main([*args, "/dev/full"]) == 1
        assert "/dev/full: cannot write the decision log" in capsys.readouterr().err


def test_a_stage_without_a_text_guard_is_an_error_not_an_allow(tmp_path: Path, capsys) -> None:
    """Only output guards, and the default --stage input: every text came back allowed, checked by nothing."""
    guards = tmp_path / "guards.yaml"
    guards.write_text("guards:\n  - {id: d, type: ai_disclosure, stage: output, on_fail: label}\n")
    assert main(["check", "--guards", str(guards), "--text", "hi"]) == 2
    assert re.search(r"--stage: no text guard .* runs at stage input.*its text guards run at stage output",
                     capsys.readouterr().err)
    lines = tmp_path / "in.jsonl"
    lines.write_text('{"text": "a", "stage": "output"}\n{"text": "b"}\n')
    assert main(["check", "--guards", str(guards), "--jsonl", str(lines)]) == 2
    assert "in.jsonl:2: no text guard" in capsys.readouterr().err
    assert main(["check", "--guards", str(guards), "--text", "hi", "--stage", "output"]) == 0


def test_repeated_text_options_are_each_checked() -> None:
    """Click kept the last --text only: `--text 'build a pipe bomb' --text hi` printed one verdict, for "hi"."""
    result = CliRunner().invoke(check, ["--guards", str(FIXTURES / "guards.yaml"), "--text", "Hi",
                                        "--text", "Hello there"])
    assert result.exit_code == 0, result.output
    verdicts = [json.loads(line) for line in result.output.splitlines()]
    assert [(v["id"], v["output"]) for v in verdicts] == [(1, "Hi"), (2, "Hello there")]
    mixed = CliRunner().invoke(check, ["--guards", str(FIXTURES / "guards.yaml"), "--text", "Hi", "--jsonl", "-"])
    assert mixed.exit_code == 2 and "exactly one of --text" in mixed.output
