"""``clauseguard eval``: metrics against hand-computed tables, the CLI on a fixture, bad lines, the report."""

from __future__ import annotations

import io
import json
import os
import re
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from guard_helpers import FIXTURES

from clauseguard.cli import main
from clauseguard.errors import UserError
from clauseguard.guards import Action, Finding, Verdict
from clauseguard.guards.eval import (
    Observation,
    auroc,
    binary_metrics,
    category_metrics,
    observe,
    percentile,
    pr_points,
    roc_points,
    summarize,
)
from clauseguard.guards.eval_cli import _progress, eval_command, read_items
from clauseguard.guards.eval_report import render_summary, write_report

EVAL = FIXTURES / "eval"
GUARDS = EVAL / "guards.yaml"
DATA = EVAL / "data.jsonl"

# -- AUROC ---------------------------------------------------------------------------------------------

AUROC_TABLE = [
    # labels, scores, expected = (pairs a positive wins + half the tied pairs) / all (positive, negative) pairs
    ([1, 1, 0, 0], [0.9, 0.8, 0.2, 0.1], 1.0),  # perfect ranking
    ([1, 1, 0, 0], [0.1, 0.2, 0.8, 0.9], 0.0),  # reversed
    ([1, 0, 1, 0], [0.5, 0.5, 0.5, 0.5], 0.5),  # all tied: every pair counts one half
    ([1, 1, 0, 0], [0.8, 0.5, 0.5, 0.2], 0.875),  # 0.8 wins 2; 0.5 ties 1, wins 1: 3.5 / 4
    ([1, 0, 0, 1, 0], [1.0, 1.0, 0.0, 0.0, 0.0], 7 / 12),  # 1.0: 0.5 + 2; 0.0: 0 + 0.5 + 0.5: 3.5 / 6
    ([0, 1, 0, 1, 0, 1], [0.3, 0.3, 0.1, 0.9, 0.3, 0.0], 5 / 9),  # 0.3: 0.5 + 1 + 0.5; 0.9: 3; 0.0: 0
]


@pytest.mark.parametrize(("labels", "scores", "expected"), AUROC_TABLE)
def test_auroc_matches_hand_computed_table(labels: list[int], scores: list[float], expected: float) -> None:
    assert auroc(labels, scores) == pytest.approx(expected)


@pytest.mark.parametrize(("labels", "scores", "expected"), AUROC_TABLE)
def test_auroc_equals_pair_counting(labels: list[int], scores: list[float], expected: float) -> None:
    """The rank formula and the definition (count the pairs) agree, ties included."""
    pairs = [(p, n) for p, yp in zip(scores, labels, strict=True) if yp == 1
             for n, yn in zip(scores, labels, strict=True) if yn == 0]
    counted = sum(1.0 if p > n else 0.5 if p == n else 0.0 for p, n in pairs) / len(pairs)
    assert counted == pytest.approx(expected) == auroc(labels, scores)


@pytest.mark.parametrize(("labels", "scores"), [([1, 1, 1], [0.2, 0.5, 0.9]), ([0, 0], [0.1, 0.3]), ([], [])])
def test_auroc_is_none_with_one_class(labels: list[int], scores: list[float]) -> None:
    assert auroc(labels, scores) is None


# -- metrics at the thresholds ---------------------------------------------------------------------------

METRICS_TABLE = [
    # labels, decisions, (tp, fp, tn, fn), precision, recall, f1, fpr
    ([1, 1, 0, 0], [True, False, True, False], (1, 1, 1, 1), 0.5, 0.5, 0.5, 0.5),
    ([1, 1, 1, 0], [True, True, False, False], (2, 0, 1, 1), 1.0, 2 / 3, 0.8, 0.0),
    ([1, 0, 0, 0], [False, False, False, False], (0, 0, 3, 1), 0.0, 0.0, 0.0, 0.0),  # nothing predicted
    ([0, 0], [True, False], (0, 1, 1, 0), 0.0, 0.0, 0.0, 0.5),  # no positives at all
    ([1, 1], [True, True], (2, 0, 0, 0), 1.0, 1.0, 1.0, 0.0),  # no negatives at all
]


@pytest.mark.parametrize(("labels", "decisions", "counts", "precision", "recall", "f1", "fpr"), METRICS_TABLE)
def test_binary_metrics(labels: list[int], decisions: list[bool], counts: tuple[int, int, int, int],
                        precision: float, recall: float, f1: float, fpr: float) -> None:
    m = binary_metrics(labels, decisions, [float(d) for d in decisions])
    assert (m.tp, m.fp, m.tn, m.fn) == counts
    assert (m.precision, m.recall, m.f1, m.false_positive_rate) == pytest.approx((precision, recall, f1, fpr))
    assert m.positives == sum(labels) and m.n == len(labels)


def test_binary_metrics_rejects_ragged_input() -> None:
    with pytest.raises(ValueError, match="same length"):
        binary_metrics([1, 0], [True], [0.5, 0.1])


@pytest.mark.parametrize(("values", "q", "expected"), [
    ([], 50, 0.0), ([4.0], 99, 4.0), ([1, 2, 3, 4], 50, 2.5), ([3, 1, 2], 50, 2.0),
    ([0, 10], 99, 9.9), (list(range(101)), 99, 99.0),
])
def test_percentile_interpolates(values: list[float], q: float, expected: float) -> None:
    assert percentile(values, q) == pytest.approx(expected)


def test_curves_step_through_distinct_scores() -> None:
    labels, scores = [1, 0, 1, 0], [0.9, 0.5, 0.5, 0.1]
    assert roc_points(labels, scores) == [(0.0, 0.0), (0.0, 0.5), (0.5, 1.0), (1.0, 1.0)]
    assert pr_points(labels, scores) == [(0.5, 1.0), (1.0, 2 / 3), (1.0, 0.5)]


# -- from verdicts to observations -----------------------------------------------------------------------


def _finding(category: str | None, score: float, action: str) -> Finding:
    return Finding(guard_id="g", category=category, score=score, action=Action(action))


@pytest.mark.parametrize(("verdict", "decision", "score", "by_category"), [
    (Verdict.allow("x"), False, 0.0, {}),
    (Verdict(allowed=True, action="label", output="x", findings=(_finding("ai_disclosure", 1.0, "label"),)),
     False, 0.0, {}),  # a label is not a detection
    (Verdict(allowed=True, action="redact", output="x", findings=(_finding("pii", 0.85, "redact"),
                                                                 _finding("pii", 0.95, "redact"))),
     True, 0.95, {"pii": 0.95}),
    (Verdict(allowed=True, action="flag", output="x", findings=(_finding("profanity", 0.4, "flag"),
                                                               _finding("ai_disclosure", 1.0, "label"))),
     True, 0.4, {"profanity": 0.4}),
    (Verdict(allowed=False, action="block", output=None, findings=(_finding(None, 1.0, "block"),)),
     True, 1.0, {}),  # operational block (guard failed): counts overall, in no category
])
def test_observe(verdict: Verdict, decision: bool, score: float, by_category: dict[str, float]) -> None:
    o = observe(verdict, label=1, category="S1", latency_ms=2.0)
    assert (o.decision, o.score, dict(o.by_category)) == (decision, score, by_category)


def test_category_metrics_leave_out_other_categories_positives() -> None:
    obs = [
        Observation(label=1, category="S10", decision=True, score=1.0, by_category={"profanity": 1.0}),
        Observation(label=1, category="profanity", decision=True, score=0.7, by_category={"profanity": 0.7}),
        Observation(label=0, category=None, decision=True, score=0.9, by_category={"profanity": 0.9}),
        Observation(label=0, category=None, decision=False, score=0.0),
    ]
    m = category_metrics(obs, "profanity")  # the S10 item is not in the population
    assert (m.n, m.tp, m.fp, m.tn, m.fn, m.auroc) == (3, 1, 1, 1, 0, 0.5)
    s10 = category_metrics(obs, "S10")  # caught overall, but by no S10 finding
    assert (s10.n, s10.tp, s10.fn, s10.auroc) == (3, 0, 1, 0.5)


def test_one_class_groups_are_also_ranked_against_the_other_class() -> None:
    """Harmful prompts from one source and safe prompts from another: within each group AUROC is undefined,
    so each is also ranked against every item of the other class; a mixed group keeps its own AUROC only."""
    obs = [
        Observation(label=1, category=None, decision=True, score=0.9, groups=("advbench",)),
        Observation(label=1, category=None, decision=False, score=0.3, groups=("advbench",)),
        Observation(label=1, category=None, decision=True, score=0.8, groups=("past_tense", "mixed")),
        Observation(label=0, category=None, decision=False, score=0.4, groups=("lookalikes",)),
        Observation(label=0, category=None, decision=False, score=0.1, groups=("lookalikes", "mixed")),
    ]
    groups = summarize(obs)["per_group"]
    assert groups["advbench"]["auroc"] is None and groups["advbench"]["auroc_against_rest"] == 0.75
    assert groups["past_tense"]["auroc_against_rest"] == 1.0
    assert groups["lookalikes"]["auroc_against_rest"] == round(5 / 6, 4)  # against all three positives
    assert groups["mixed"]["auroc"] == 1.0 and "auroc_against_rest" not in groups["mixed"]
    only_positives = summarize([o for o in obs if o.label == 1])["per_group"]
    assert "auroc_against_rest" not in only_positives["advbench"]  # nothing to rank against
    table = render_summary({**summarize(obs), "guards": "g.yaml", "data": "d.jsonl", "stage": "input"})
    assert "| auroc_against_rest |" in table and "| group: advbench | 2 | 2 | n/a |" in table
    mixed_only = [Observation(label=o.label, category=None, decision=o.decision, score=o.score, groups=("mixed",))
                  for o in obs]
    assert "auroc_against_rest" not in render_summary(summarize(mixed_only))


def test_summarize_reports_latency_and_throughput() -> None:
    obs = [Observation(label=i % 2, category=None, decision=False, score=0.0, latency_ms=float(ms))
           for i, ms in enumerate([1, 2, 3, 4])]
    s = summarize(obs)
    assert s["latency_ms"] == {"p50": 2.5, "p99": 3.97} and s["items_per_second"] == 400.0
    assert s["precision"] == 0.0 and s["per_category"] == {}


# -- the CLI -------------------------------------------------------------------------------------------


def _run(*args: str) -> dict:
    result = CliRunner().invoke(eval_command, ["--guards", str(GUARDS), *args])
    assert result.exit_code == 0, result.output
    assert result.stderr == ""  # no progress bar when stderr is not a terminal
    return json.loads(result.stdout)


def test_cli_on_fixture() -> None:
    out = _run("--data", str(DATA))
    # 6 positives: two S9 bombs blocked, the chemicals question missed (no term), two profanities flagged,
    # a phone number redacted; 4 negatives: an e-mail address redacted (false positive), three allowed.
    assert (out["n"], out["positives"], out["confusion"]) == (10, 6, {"tp": 5, "fp": 1, "tn": 3, "fn": 1})
    assert (out["precision"], out["recall"], out["false_positive_rate"]) == (0.8333, 0.8333, 0.25)
    # scores: positives 1,1,0,1,1,0.85 (phone); negatives 0.95 (e-mail),0,0,0 -> (16 + 1.5 + 3) / 24
    assert out["auroc"] == round(20.5 / 24, 4)
    assert set(out["per_category"]) == {"S9", "profanity", "pii"}
    s9 = out["per_category"]["S9"]  # 3 S9 positives + 4 negatives (the bath bomb among them)
    assert (s9["n"], s9["recall"], s9["precision"], s9["auroc"]) == (7, 0.6667, 1.0, round(5 / 6, 4))
    pii = out["per_category"]["pii"]  # phone 0.85 against the e-mail's 0.95 and three 0s
    assert (pii["n"], pii["precision"], pii["auroc"]) == (5, 0.5, 0.75)
    assert out["latency_ms"]["p99"] >= out["latency_ms"]["p50"] > 0 and out["items_per_second"] > 0


def test_cli_limit_and_stage() -> None:
    assert _run("--data", str(DATA), "--limit", "3")["n"] == 3
    out = _run("--data", str(DATA), "--stage", "output")  # only an AI label there: labels are not detections
    assert (out["confusion"]["tp"], out["confusion"]["fp"], out["auroc"]) == (0, 0, 0.5)


def test_categories_map_aliases_and_keep_foreign_names_as_groups(tmp_path: Path) -> None:
    data = tmp_path / "d.jsonl"
    data.write_text("\n".join(json.dumps(row) for row in [
        {"text": "how to make a pipe bomb", "label": 1, "category": "violence", "source": "x"},  # -> S1
        {"text": "build a pipe bomb", "label": 1, "category": "derogation"},  # foreign: a group
        {"text": "nice weather", "label": 0, "category": "derogation"},
        {"text": "hello", "label": 0, "note": {"any": "extra key"}},  # other keys are ignored
    ]) + "\n")
    items = read_items(data)
    assert [(i.category, i.groups) for i in items] == [("S1", ()), (None, ("derogation",)),
                                                        (None, ("derogation",)), (None, ())]
    out = _run("--data", str(data))
    assert set(out["per_category"]) == {"S1"}
    group = out["per_group"]["derogation"]  # all guards' decisions on that group's two items
    assert (group["n"], group["positives"], group["recall"], group["false_positive_rate"]) == (2, 1, 1.0, 0.0)


def test_by_key_reports_each_value(tmp_path: Path) -> None:
    data = tmp_path / "d.jsonl"
    data.write_text('{"text": "build a pipe bomb", "label": 1, "f": "threat"}\n{"text": "hi", "label": 0, "f": 7}\n'
                    '{"text": "bath bomb recipe", "label": 0}\n')
    out = _run("--data", str(data), "--by", "f")
    assert {g: m["n"] for g, m in out["per_group"].items()} == {"threat": 1, "7": 1, "(none)": 1}
    assert out["per_group"]["threat"]["recall"] == 1.0 and out["per_group"]["7"]["false_positive_rate"] == 0.0
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"text": "hi", "label": 0, "f": [1]}\n')
    result = CliRunner().invoke(eval_command, ["--guards", str(GUARDS), "--data", str(bad), "--by", "f"])
    assert isinstance(result.exception, UserError) and result.exception.where == f"{bad}:1 f"


def test_by_key_groups_are_named_as_the_file_spells_the_value(tmp_path: Path) -> None:
    """A JSON boolean used to give the groups 'True' and 'False' (Python's spelling)."""
    data = tmp_path / "d.jsonl"
    data.write_text('{"text": "hi", "label": 0, "adv": true}\n{"text": "build a pipe bomb", "label": 1, "adv": false}\n'
                    '{"text": "bath bomb", "label": 0, "adv": 1.5}\n')
    assert sorted(_run("--data", str(data), "--by", "adv")["per_group"]) == ["1.5", "false", "true"]


def test_by_key_groups_sit_beside_unknown_category_groups(tmp_path: Path) -> None:
    data = tmp_path / "d.jsonl"
    data.write_text("\n".join(json.dumps(row) for row in [
        {"text": "build a pipe bomb", "label": 1, "category": "derogation", "f": "threat"},
        {"text": "nice weather", "label": 0, "category": "derogation", "f": "calm"},
        {"text": "hello", "label": 0, "category": "calm", "f": "calm"},  # the same name from both: one group
    ]) + "\n")
    assert [i.groups for i in read_items(data, by="f")] == [("derogation", "threat"), ("derogation", "calm"),
                                                            ("calm",)]
    out = _run("--data", str(data), "--by", "f")
    assert {g: m["n"] for g, m in out["per_group"].items()} == {"derogation": 2, "threat": 1, "calm": 2}
    assert out["per_group"]["derogation"]["recall"] == 1.0
    assert out["per_group"]["calm"]["false_positive_rate"] == 0.0


def _png(path: Path, colour: str = "white") -> bytes:
    """A real PNG at ``path`` (8 by 8, of ``colour``), and its bytes."""
    from PIL import Image

    Image.new("RGB", (8, 8), colour).save(path)
    return path.read_bytes()


def test_image_items_are_read_relative_to_the_data_file(tmp_path: Path) -> None:
    (tmp_path / "img").mkdir()
    png = _png(tmp_path / "img" / "a.png")
    data = tmp_path / "d.jsonl"
    data.write_text('{"image": "img/a.png", "label": 0}\n{"text": "build a pipe bomb", "label": 1}\n')
    items = read_items(data)
    assert [(i.modality.value, i.load()) for i in items] == [("image", png), ("text", "build a pipe bomb")]
    # no image guard in the fixture: measuring would allow every image, so it is refused
    result = CliRunner().invoke(eval_command, ["--guards", str(GUARDS), "--data", str(data)])
    assert isinstance(result.exception, UserError)  # exit code 2 in the CLI (clauseguard.cli)
    assert result.exception.where == str(GUARDS) and "no image guard" in result.exception.message


def test_a_null_text_or_image_is_an_absent_one(tmp_path: Path) -> None:
    # pandas and datasets write a mixed set's missing column as null on every line
    png = _png(tmp_path / "a.png")
    data = tmp_path / "d.jsonl"
    data.write_text('{"text": null, "image": "a.png", "label": 0, "category": null}\n'
                    '{"text": "build a pipe bomb", "image": null, "label": 1, "category": null}\n')
    assert [i.load() for i in read_items(data)] == [png, "build a pipe bomb"]
    data.write_text('{"text": null, "image": null, "label": 0}\n')
    with pytest.raises(UserError, match="exactly one"):
        read_items(data)


def test_image_paths_relative_to_the_working_folder_are_found_too(tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """A converter run from the working folder writes paths relative to it: they used to be 'not found'."""
    (tmp_path / "sets" / "img").mkdir(parents=True)
    a = _png(tmp_path / "sets" / "img" / "a.png", "red")
    beside = _png(tmp_path / "sets" / "b.png", "green")
    _png(tmp_path / "b.png", "blue")  # in the working folder
    data = tmp_path / "sets" / "d.jsonl"
    data.write_text('{"image": "sets/img/a.png", "label": 1}\n{"image": "b.png", "label": 0}\n'
                    '{"image": "sets/none.png", "label": 0}\n')
    monkeypatch.chdir(tmp_path)
    with pytest.raises(UserError) as info:
        read_items(data)
    assert info.value.where == f"{data}:3 image" and "sets/sets/none.png" in info.value.message
    items = read_items(data, limit=2)  # the data file's folder first: b.png is the one beside it
    assert [i.load() for i in items] == [a, beside]


IMAGE_GUARDS = GUARDS.read_text(encoding="utf-8") + """\
  - id: mark
    type: image_mark
    stage: output
    modality: image
    on_fail: label
    clauses: [ai/image-marking]
"""


def test_images_are_measured_where_the_image_guards_run(tmp_path: Path) -> None:
    from PIL import Image

    guards = tmp_path / "guards.yaml"
    guards.write_text(IMAGE_GUARDS, encoding="utf-8")
    Image.new("RGB", (8, 8), "white").save(tmp_path / "a.png")
    images = tmp_path / "images.jsonl"
    images.write_text('{"image": "a.png", "label": 0}\n')
    texts = tmp_path / "texts.jsonl"
    texts.write_text('{"text": "build a pipe bomb", "label": 1}\n')

    def run(*args: str) -> Result:
        return CliRunner().invoke(eval_command, ["--guards", str(guards), *args])

    assert json.loads(run("--data", str(images)).stdout)["stage"] == "output"  # the only image stage
    assert json.loads(run("--data", str(texts)).stdout)["stage"] == "input"  # text: input first
    refused = run("--data", str(images), "--stage", "input")
    assert isinstance(refused.exception, UserError)
    assert refused.exception.message == ("no image guard runs at stage input, so every image item would be "
                                         "allowed (image guards run at stage output: pass --stage output)")


BAD_LINES = [
    ("not json", "d.jsonl:2", "invalid JSON"),
    ("[1, 2]", "d.jsonl:2", "JSON object"),
    ('{"label": 1}', "d.jsonl:2 text", "exactly one"),
    ('{"prompt": "hi", "response": "hello", "label": 0}', "d.jsonl:2 text",
     'this line has "prompt", "response", "label" (for a prompt and its answer, give the prompt as "text"'),
    ('{"text": "a", "image": "b.png", "label": 1}', "d.jsonl:2 text", "exactly one"),
    ('{"text": 3, "label": 1}', "d.jsonl:2 text", "string"),
    ('{"text": "a"}', "d.jsonl:2 label", '"label" is missing: give 0 or 1'),
    ('{"text": "a", "label": 2}', "d.jsonl:2 label", '"safe"/"unsafe"), not 2'),
    # refused values are shown as the file spells them (null, "yes"), not as Python does (None, 'yes')
    ('{"text": "a", "label": null}', "d.jsonl:2 label", '"safe"/"unsafe"), not null'),
    ('{"text": "a", "label": "yes"}', "d.jsonl:2 label", '"label" must be 0 or 1 (or true/false, "0"/"1", '
                                                         '"safe"/"unsafe"), not "yes"'),
    ('{"text": "a", "label": "toxic"}', "d.jsonl:2 label", 'not "toxic"'),
    ('{"text": "a", "label": 0.5}', "d.jsonl:2 label", "not 0.5"),
    ('{"text": "a", "label": 1, "category": 3}', "d.jsonl:2 category", "string"),
    ('{"text": "a", "label": 1, "category": ["S1", "S10"]}', "d.jsonl:2 category", 'string, not ["S1", "S10"]'),
    ('{"text": "a", "lable": 1}', "d.jsonl:2 label", '"label" is missing: give 0 or 1 (this line has "text", "lable")'),
    ('{"text": "a", "is_harmful": true, "source": "x"}', "d.jsonl:2 label",
     '(this line has "text", "is_harmful", "source")'),
    ('{"image": "missing.png", "label": 1}', "d.jsonl:2 image", "cannot read image"),
    ('{"image": "", "label": 1}', "d.jsonl:2 image", "path"),
]


@pytest.mark.parametrize(("line", "where", "message"), BAD_LINES)
def test_bad_lines_name_file_line_and_key(tmp_path: Path, line: str, where: str, message: str) -> None:
    data = tmp_path / "d.jsonl"
    data.write_text('{"text": "fine", "label": 0}\n' + line + "\n")
    result = CliRunner().invoke(eval_command, ["--guards", str(GUARDS), "--data", str(data)])
    assert isinstance(result.exception, UserError)
    assert result.exception.where == f"{data.parent / where}" and message in result.exception.message


@pytest.mark.parametrize("content", [b"", b"\n\n"])
def test_empty_data_is_a_user_error(tmp_path: Path, content: bytes) -> None:
    data = tmp_path / "d.jsonl"
    data.write_bytes(content)
    with pytest.raises(UserError) as info:
        read_items(data)
    assert info.value.where == str(data)


def test_a_line_that_is_not_utf8_is_named(tmp_path: Path) -> None:
    data = tmp_path / "d.jsonl"
    data.write_bytes(b'\xef\xbb\xbf{"text": "a BOM first is fine", "label": 0}\n{"text": "caf\xe9", "label": 0}\n')
    with pytest.raises(UserError, match=r"not UTF-8 text .* at byte 14 of the line") as info:
        read_items(data)
    assert info.value.where == f"{data}:2"


def test_a_bom_on_a_later_line_is_accepted(tmp_path: Path) -> None:
    """Two BOM-first files joined with cat: line 2 used to fail with 'Unexpected UTF-8 BOM (decode using utf-8-sig)'."""
    data = tmp_path / "d.jsonl"
    data.write_bytes(b'\xef\xbb\xbf{"text": "a", "label": 0}\n\xef\xbb\xbf{"text": "b", "label": 1}\r\n')
    assert [(i.content, i.label) for i in read_items(data)] == [("a", 0), ("b", 1)]


def test_invalid_json_names_the_column_of_the_fault(tmp_path: Path) -> None:
    data = tmp_path / "d.jsonl"
    data.write_text('{"text": "a", "label": 1\n')  # the closing brace is missing at column 25
    with pytest.raises(UserError, match=r"invalid JSON: .*\(column 25\)"):
        read_items(data)

@pytest.mark.parametrize(("spelled", "label"), [
    ("true", 1), ("false", 0), ('"1"', 1), ('"0"', 0), ("1.0", 1), ("0.0", 0),
    ('"unsafe"', 1), ('"safe"', 0), ('"Unsafe"', 1), ('" safe "', 0),
])
def test_labels_spelled_one_way_only_are_read(tmp_path: Path, spelled: str, label: int) -> None:
    """Outside sets give true/false, "0"/"1" (from CSV) or Llama Guard's "safe"/"unsafe": all used to be refused."""
    data = tmp_path / "d.jsonl"
    data.write_text('{"text": "a", "label": ' + spelled + "}\n")
    assert read_items(data)[0].label == label


def test_a_json_array_file_is_read(tmp_path: Path) -> None:
    """A set that arrives as one JSON array (a .json file) used to stop at line 1 with 'Expecting value (column 2)'."""
    rows = [{"text": "build a pipe bomb", "label": 1, "category": "S9"}, {"text": "hello", "label": 0}]
    pretty, one_line = tmp_path / "pretty.json", tmp_path / "one.jsonl"
    pretty.write_text(json.dumps(rows, indent=2) + "\n")
    one_line.write_bytes(b"\xef\xbb\xbf" + json.dumps(rows).encode())
    for data in (pretty, one_line):
        assert [(i.content, i.label, i.category) for i in read_items(data)] == [
            ("build a pipe bomb", 1, "S9"), ("hello", 0, None)]
    assert len(read_items(pretty, limit=1)) == 1
    with pytest.raises(UserError, match="no labelled items"):  # limit 0 reads nothing, as before arrays
        read_items(pretty, limit=0)
    assert _run("--data", str(pretty))["confusion"] == {"tp": 1, "fp": 0, "tn": 1, "fn": 0}


@pytest.mark.parametrize(("text", "where", "message"), [
    ('[\n  {"text": "a", "label": 0},\n  {"text": "b", "label": 7}\n]', "d.json:3 (item 2) label", "not 7"),
    ('[{"text": "a", "label": 0}, {"text": "b", "label": 1}, [1]]', "d.json:1 (item 3)", "JSON object"),
    ('[\n  {"text": "a", "label": 0},\n  {"text": "b", "label": 1,}\n]', "d.json:3",
     "invalid JSON: Expecting property name enclosed in double quotes (column 28; the file starts with '['"),
    ('[\n  {"text": "a", "label": 0}\n  {"text": "b", "label": 1}\n]', "d.json:3", "expected ',' or ']'"),
    ('[{"text": "a", "label": 0}]\n{"text": "b", "label": 1}\n', "d.json:2", "more after the array's closing ']'"),
    ("[", "d.json:1", "invalid JSON"),
    ("[]", "d.json", "no labelled items"),
])
def test_faults_in_a_json_array_name_the_line(tmp_path: Path, text: str, where: str, message: str) -> None:
    data = tmp_path / "d.json"
    data.write_text(text)
    with pytest.raises(UserError) as info:
        read_items(data)
    assert info.value.where == f"{tmp_path / where}" and message in info.value.message


def test_a_gzip_compressed_file_is_read(tmp_path: Path) -> None:
    import gzip

    data = tmp_path / "d.jsonl.gz"
    data.write_bytes(gzip.compress(b'{"text": "build a pipe bomb", "label": 1}\n{"text": "hi", "label": 0}\n'))
    assert [(i.content, i.label) for i in read_items(data)] == [("build a pipe bomb", 1), ("hi", 0)]
    cut = tmp_path / "cut.jsonl.gz"
    cut.write_bytes(data.read_bytes()[:20])
    with pytest.raises(UserError, match="cannot read the data file") as info:
        read_items(cut)
    assert info.value.where == str(cut)


@pytest.mark.parametrize("compressed", [False, True])
def test_a_pipe_is_read_once_and_whole(tmp_path: Path, compressed: bool) -> None:
    """--data <(jq -c '.[]' set.json) is a pipe: opening it twice to look for the gzip header lost its data."""
    import gzip
    import os
    import threading

    if not hasattr(os, "mkfifo"):
        pytest.fail("this test needs named pipes (POSIX)")
    payload = b'{"text": "build a pipe bomb", "label": 1}\n{"text": "hi", "label": 0}\n'
    pipe = tmp_path / "pipe"
    os.mkfifo(pipe)

    def write() -> None:
        try:
            with pipe.open("wb") as fh:
                fh.write(gzip.compress(payload) if compressed else payload)
        except BrokenPipeError:  # the reader closed its end early: the failure the assertion below reports
            pass

    read: dict[str, object] = {}

    def reader() -> None:
        try:
            read["items"] = read_items(pipe)
        except Exception as err:  # reported by the assertion below, not lost in the thread
            read["error"] = err

    threads = [threading.Thread(target=write, daemon=True), threading.Thread(target=reader, daemon=True)]
    for thread in threads:
        thread.start()
    threads[1].join(timeout=10)
    if threads[1].is_alive():  # blocked opening the pipe a second time, its writer gone: unblock, then fail
        with pipe.open("wb"):
            pass
        threads[1].join(timeout=5)
        pytest.fail("read_items opened the pipe twice and waited for a writer that had already gone")
    threads[0].join(timeout=5)
    assert "error" not in read, read.get("error")
    items = read["items"]
    assert isinstance(items, list)
    assert [(i.content, i.label) for i in items] == [("build a pipe bomb", 1), ("hi", 0)]


def test_utf16_is_named_not_reported_as_a_bad_byte(tmp_path: Path) -> None:
    data = tmp_path / "d.jsonl"
    data.write_bytes('{"text": "a", "label": 0}\n'.encode("utf-16"))
    with pytest.raises(UserError, match="UTF-16 text: save it as UTF-8") as info:
        read_items(data)
    assert info.value.where == str(data)


def test_a_category_with_stray_spaces_is_still_ours(tmp_path: Path) -> None:
    """"S9 " (a hand-edited or CSV-converted set) used to become a foreign group instead of S9."""
    data = tmp_path / "d.jsonl"
    data.write_text('{"text": "a", "label": 1, "category": "S9 "}\n{"text": "b", "label": 1, "category": " hate"}\n'
                    '{"text": "c", "label": 0, "category": "  "}\n')
    assert [(i.category, i.groups) for i in read_items(data)] == [("S9", ()), ("S10", ()), (None, ())]


def test_images_are_read_when_checked_not_all_before_the_run(tmp_path: Path) -> None:
    """read_items used to hold every image's bytes: a large image set was all in memory before the first check.
    A missing image is still refused before the run; one removed during it is named by its line."""
    png = _png(tmp_path / "a.png")
    data = tmp_path / "d.jsonl"
    data.write_text('{"image": "a.png", "label": 0}\n')
    item = read_items(data)[0]
    assert item.content == tmp_path / "a.png" and item.load() == png
    changed = _png(tmp_path / "a.png", "black")
    assert item.load() == changed != png  # read when checked, not when the file was read
    (tmp_path / "a.png").unlink()
    with pytest.raises(UserError, match="cannot read image") as info:
        item.load()
    assert info.value.where == f"{data}:1 image"
    (tmp_path / "folder.png").mkdir()
    data.write_text('{"image": "folder.png", "label": 0}\n')
    with pytest.raises(UserError, match=r"cannot read image .*folder\.png.*: Is a directory") as info:
        read_items(data)
    assert info.value.where == f"{data}:1 image"


def test_an_image_path_that_is_a_pipe_is_refused_unread(tmp_path: Path) -> None:
    """eval opened the path to see that it was readable, and opening a FIFO waits for a writer: the run hung
    for ever (inspect refused the same path)."""
    os.mkfifo(tmp_path / "pipe.png")
    data = tmp_path / "d.jsonl"
    data.write_text('{"image": "pipe.png", "label": 0}\n')
    with pytest.raises(UserError, match=r"cannot read image .*pipe\.png.*not a regular file") as info:
        read_items(data)
    assert info.value.where == f"{data}:1 image"



@pytest.mark.parametrize("key", ["user", "ip"])
def test_rate_limits_do_not_turn_into_blocks(tmp_path: Path, key: str) -> None:
    """Keyed by IP, every item shared the one anonymous bucket: after `capacity` items, all were blocked."""
    guards = tmp_path / "guards.yaml"
    params = f"{{capacity: 1, refill_per_second: 0.001, key: {key}}}"
    guards.write_text(f"- {{id: rl, type: rate_limit, params: {params}}}\n")
    data = tmp_path / "d.jsonl"
    data.write_text('{"text": "hello", "label": 0}\n' * 5)
    result = CliRunner().invoke(eval_command, ["--guards", str(guards), "--data", str(data)])
    assert json.loads(result.stdout)["confusion"] == {"tp": 0, "fp": 0, "tn": 5, "fn": 0}


@pytest.mark.parametrize(("content", "why"), [
    (b"", "no image format"), (b"just some text, named .png", "no image format"), ("truncated", "")])
def test_a_file_that_is_no_image_is_refused_not_counted_as_a_detection(tmp_path: Path, content: bytes | str,
                                                                        why: str) -> None:
    """The image guard blocks a file it cannot read, whatever it shows: eval counted that block as a detection
    (a false positive when labelled 0), with exit code 0 and no word of it."""
    if content == "truncated":
        content = _png(tmp_path / "whole.png")[:40]
    (tmp_path / "bad.png").write_bytes(content)
    data = tmp_path / "d.jsonl"
    data.write_text('{"text": "hi", "label": 0}\n{"image": "bad.png", "label": 0}\n')
    with pytest.raises(UserError, match=f"is not an image the guards can read .*{why}") as info:
        read_items(data)
    assert info.value.where == f"{data}:2 image"


def test_every_file_that_is_no_image_is_named_at_once(tmp_path: Path) -> None:
    """A set with many bad files named only the first: the user met them one run at a time."""
    lines = ['{"text": "hi", "label": 0}']
    for n in range(8):
        (tmp_path / f"bad{n}.png").write_bytes(b"not an image")
        lines.append(f'{{"image": "bad{n}.png", "label": 1}}')
    data = tmp_path / "d.jsonl"
    data.write_text("\n".join(lines) + "\n")
    with pytest.raises(UserError) as info:
        read_items(data)
    message = info.value.message
    assert message.startswith("8 files are not images the guards can read (by line: 2: ")
    assert all(f"bad{n}.png" in message for n in range(5)) and "bad5.png" not in message
    assert "; and 3 more)" in message and "leave them out" in message
    assert info.value.where == f"{data}:2 image"
    # read_items --limit 3: the text and two bad files, both named
    with pytest.raises(UserError, match=r"2 files are not images .*by line: 2: .*bad0\.png.*; 3: .*bad1\.png"):
        read_items(data, limit=3)
    result = CliRunner().invoke(eval_command, ["--guards", str(GUARDS), "--data", str(data)])
    assert isinstance(result.exception, UserError)  # exit code 2 in the CLI (clauseguard.cli)
    assert result.exception.message.startswith("8 files are not images")


@pytest.mark.parametrize(("fault", "error"), [('{"text": "hello", "label": 2}', r'"label" must be 0 or 1'),
                                              ('{"text": "hello", "label": 1', "invalid JSON")])
@pytest.mark.parametrize("bad", [1, 7])
def test_a_fault_after_files_that_are_no_images_names_them_too(tmp_path: Path, fault: str, error: str,
                                                                bad: int) -> None:
    """A bad label (or bad JSON) after undecodable images stopped the reading there, and only it was named:
    the user fixed it and met the images on the next run."""
    lines = ['{"text": "hi", "label": 0}']
    for n in range(bad):
        (tmp_path / f"bad{n}.png").write_bytes(b"not an image")
        lines.append(f'{{"image": "bad{n}.png", "label": 1}}')
    data = tmp_path / "d.jsonl"
    data.write_text("\n".join([*lines, fault]) + "\n")
    with pytest.raises(UserError, match=error) as info:
        read_items(data)
    assert info.value.where.startswith(f"{data}:{bad + 2}")
    files = "1 file that is not an image" if bad == 1 else f"{bad} files that are not images"
    assert re.search(rf"\(and earlier lines give {files} the guards can read, by line: 2: '[^']*bad0\.png' \(",
                     info.value.message)
    assert ("; and 2 more)" in info.value.message) == (bad == 7)


@pytest.mark.parametrize("line", ['{"text": "a", "label": 0, "meta": ' + "[" * 100_000 + "]" * 100_000 + "}",
                                  '{"text": "a", "label": 0, "id": ' + "1" * 5000 + "}"])
@pytest.mark.parametrize("array", [False, True])
def test_json_python_cannot_read_is_named_by_its_line(tmp_path: Path, line: str, array: bool) -> None:
    """Valid JSON nested 100,000 deep, or an integer of 5,000 digits: a traceback and exit code 1."""
    data = tmp_path / "d.jsonl"
    data.write_text(f'[{{"text": "b", "label": 1}},\n{line}]' if array else f'{{"text": "b", "label": 1}}\n{line}\n')
    with pytest.raises(UserError, match=r"JSON that cannot be read: (nested too deeply|Exceeds the limit)") as info:
        read_items(data)
    assert info.value.where.startswith(f"{data}:2")


def test_the_result_is_printed_even_when_the_report_cannot_be_written(tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """The report was written first: one that failed after an hours-long run lost the whole result."""
    from clauseguard.guards import eval_report

    def failing(*args: object) -> None:
        raise UserError("cannot write the report: disk full", where="r")

    monkeypatch.setattr(eval_report, "write_report", failing)
    result = CliRunner().invoke(eval_command, ["--guards", str(GUARDS), "--data", str(DATA), "--report",
                                               str(tmp_path / "r")])
    assert isinstance(result.exception, UserError) and json.loads(result.stdout)["n"] == 10


def test_a_report_path_that_links_to_itself_is_named(tmp_path: Path) -> None:
    loop = tmp_path / "loopy"
    loop.symlink_to(loop)
    result = CliRunner().invoke(eval_command, ["--guards", str(GUARDS), "--data", str(DATA), "--report", str(loop)])
    assert isinstance(result.exception, UserError) and "a link that leads nowhere" in result.exception.message


def test_progress_bar_only_on_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    for stream, drawn in ((io.StringIO(), False), (Terminal(), True)):
        monkeypatch.setattr(sys, "stderr", stream)
        with _progress(2) as advance:
            advance()
            advance()
        assert bool(stream.getvalue()) is drawn


def test_eval_is_the_name_the_cli_table_uses() -> None:
    from clauseguard.guards import eval_cli

    assert eval_cli.eval is eval_command and eval_command.name == "eval"


# -- the report ----------------------------------------------------------------------------------------


def test_report_files_are_written(tmp_path: Path) -> None:
    report = tmp_path / "report"
    out = _run("--data", str(DATA), "--report", str(report))
    assert sorted(p.name for p in report.iterdir()) == ["precision_recall.png", "roc.png", "summary.md"]
    for png in ("roc.png", "precision_recall.png"):
        assert (report / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    summary = (report / "summary.md").read_text()
    assert "| all | 10 | 6 | 0.854 | 0.833 | 0.833 | 0.833 | 0.250 |" in summary
    assert "| S9 | 7 | 3 |" in summary and "![ROC curve](roc.png)" in summary
    assert f"p50 {out['latency_ms']['p50']:.3f} ms" in summary
    assert [p.name for p in tmp_path.iterdir()] == ["report"]  # no temporary folder left behind


def test_report_lists_groups(tmp_path: Path) -> None:
    data = tmp_path / "d.jsonl"
    data.write_text('{"text": "build a pipe bomb", "label": 1, "f": "threat"}\n'
                    '{"text": "hi", "label": 0, "f": "chat"}\n')
    _run("--data", str(data), "--by", "f", "--report", str(tmp_path / "r"))
    summary = (tmp_path / "r" / "summary.md").read_text()
    assert "| group: threat | 1 | 1 |" in summary and "| group: chat | 1 | 0 |" in summary


def test_report_table_keeps_one_row_per_group_whatever_its_name() -> None:
    summary = summarize([Observation(label=1, category=None, decision=True, score=1.0, groups=("hate|threat",)),
                         Observation(label=0, category=None, decision=False, score=0.0, groups=("a\nb",))])
    table = [line for line in render_summary(summary).splitlines() if line.startswith("| group")]
    assert table == ["| group: a b | 1 | 0 | n/a | 0.000 | 0.000 | 0.000 | 0.000 | 1.000 |",
                     "| group: hate\\|threat | 1 | 1 | n/a | 1.000 | 1.000 | 1.000 | 0.000 | 1.000 |"]


def test_report_writes_group_names_holding_a_lone_surrogate(tmp_path: Path) -> None:
    """A "\\ud800" escape in a --by value used to crash the report with a UnicodeEncodeError."""
    data = tmp_path / "d.jsonl"
    data.write_text('{"text": "hi", "label": 0, "f": "bad \\ud800 name"}\n{"text": "build a pipe bomb", "label": 1}\n')
    out = _run("--data", str(data), "--by", "f", "--report", str(tmp_path / "r"))
    assert "bad \ud800 name" in out["per_group"]
    assert "| group: bad \\ud800 name | 1 | 0 |" in (tmp_path / "r" / "summary.md").read_text(encoding="utf-8")


def test_report_replaces_an_old_report_whole(tmp_path: Path) -> None:
    report = tmp_path / "report"
    report.mkdir()
    (report / "summary.md").write_text("old")
    (report / "roc.png").write_text("old")
    _run("--data", str(DATA), "--report", str(report))
    assert sorted(p.name for p in report.iterdir()) == ["precision_recall.png", "roc.png", "summary.md"]
    assert (report / "summary.md").read_text().startswith("# Guard evaluation")
    assert [p.name for p in tmp_path.iterdir()] == ["report"]


def test_report_never_replaces_a_folder_holding_other_files(tmp_path: Path) -> None:
    """--report on the data's own folder used to delete the data: it is refused before any guard runs."""
    folder = tmp_path / "mine"
    folder.mkdir()
    data = folder / "data.jsonl"
    data.write_bytes(DATA.read_bytes())
    (folder / "notes.txt").write_text("keep")
    args = ["eval", "--guards", str(GUARDS), "--data", str(data), "--report", str(folder)]
    assert main(args) == 2
    result = CliRunner().invoke(eval_command, args[1:])
    assert isinstance(result.exception, UserError) and result.stdout == ""
    assert "holds other files (data.jsonl, notes.txt)" in str(result.exception)
    assert str(folder) in str(result.exception)
    assert sorted(p.name for p in folder.iterdir()) == ["data.jsonl", "notes.txt"]
    assert data.read_bytes() == DATA.read_bytes() and [p.name for p in tmp_path.iterdir()] == ["mine"]


def test_report_never_replaces_the_working_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    result = CliRunner().invoke(eval_command, ["--guards", str(GUARDS), "--data", str(DATA), "--report", "."])
    assert isinstance(result.exception, UserError) and "folder you are in" in str(result.exception)
    assert work.is_dir() and list(work.iterdir()) == [] and [p.name for p in tmp_path.iterdir()] == ["work"]


def test_report_on_a_link_fills_the_linked_folder(tmp_path: Path) -> None:
    """--report on a link to a folder used to replace the link with a new folder, the linked folder left empty."""
    (tmp_path / "real").mkdir()
    (tmp_path / "link").symlink_to("real")
    _run("--data", str(DATA), "--report", str(tmp_path / "link"))
    assert (tmp_path / "link").is_symlink()
    assert sorted(p.name for p in (tmp_path / "real").iterdir()) == ["precision_recall.png", "roc.png", "summary.md"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["link", "real"]


def test_report_on_a_file_is_refused(tmp_path: Path) -> None:
    target = tmp_path / "report"
    target.write_text("not a folder")
    result = CliRunner().invoke(eval_command, ["--guards", str(GUARDS), "--data", str(DATA), "--report",
                                               str(target)])
    assert result.exit_code == 2 and "is a file" in result.output  # refused before any guard runs
    with pytest.raises(UserError, match="not a folder"):
        write_report(target, summarize([]), [])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report"] and target.read_text() == "not a folder"


def test_report_under_a_file_is_refused_before_the_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """It used to fail after every item was checked, with 'File exists', and the run's result was lost."""
    (tmp_path / "afile").write_text("x")
    checked: list[str] = []
    monkeypatch.setattr("clauseguard.guards.eval_cli.evaluate", lambda *a, **k: checked.append("run") or [])
    result = CliRunner().invoke(eval_command, ["--guards", str(GUARDS), "--data", str(DATA), "--report",
                                               str(tmp_path / "afile" / "sub")])
    assert isinstance(result.exception, UserError) and checked == []
    assert f"{tmp_path / 'afile'}' is a file, not a folder" in str(result.exception)


def test_report_where_nothing_can_be_written_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("clauseguard.guards.eval_report.os.access", lambda path, mode: Path(path) != tmp_path)
    with pytest.raises(UserError, match="no permission to write in"):
        write_report(tmp_path / "r", summarize([]), [])
    assert list(tmp_path.iterdir()) == []


def test_report_without_matplotlib_says_how_to_install(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib now raises ModuleNotFoundError
    result = CliRunner().invoke(eval_command, ["--guards", str(GUARDS), "--data", str(DATA), "--report",
                                               str(tmp_path / "r")])
    assert isinstance(result.exception, UserError) and "pip install matplotlib" in str(result.exception)
    assert not (tmp_path / "r").exists()


def test_report_with_one_class_still_writes(tmp_path: Path) -> None:
    data = tmp_path / "d.jsonl"
    data.write_text('{"text": "hello", "label": 0}\n{"text": "hi", "label": 0}\n')
    out = _run("--data", str(data), "--report", str(tmp_path / "r"))
    assert out["auroc"] is None
    assert "| all | 2 | 0 | n/a |" in (tmp_path / "r" / "summary.md").read_text()


def test_model_scores_below_threshold_rank_items_but_do_not_count_as_detections() -> None:
    from clauseguard.guards.eval import category_view, observe

    quiet = Verdict(allowed=True, action=Action.ALLOW, output="x",
                    metadata={"scores/input-classifier": {"S1": 0.31, "S10": 0.12}})
    loud = Verdict(allowed=False, action=Action.BLOCK, output=None,
                   findings=(Finding(guard_id="g", category="S1", score=0.9, action=Action.BLOCK),),
                   metadata={"scores/input-classifier": {"S1": 0.9, "S10": 0.4}})
    a = observe(quiet, label=0, category=None, latency_ms=1.0)
    b = observe(loud, label=1, category="S1", latency_ms=1.0)
    assert (a.decision, a.score, dict(a.by_category)) == (False, 0.31, {"S1": 0.31, "S10": 0.12})
    assert (b.decision, b.score) == (True, 0.9)
    labels, decisions, scores = category_view([a, b], "S1")
    assert (labels, decisions, scores) == ([0, 1], [False, True], [0.31, 0.9])
    assert category_view([a, b], "S10")[1] == [False]  # S10 scored but never detected


@pytest.mark.parametrize(("name", "canonical"), [
    ("S1", "S1"), ("hate", "S10"), ("Self-Harm", "S11"), ("self-harm/intent", "S11"), ("H2", "S10"),
    ("sexual/minors", "S4"), ("Violent Crimes", "S1"), ("jailbreak", "prompt_injection"), ("vcr", "S1"),
    ("PII", "pii"), ("s14", "S14"), ("Prompt_Injection", "prompt_injection"), ("derogation", None), ("", None),
    # Aegis, BeaverTails and HarmBench names, as those sets spell them
    ("Hate/Identity Hate", "S10"), ("Guns /Illegal Weapons", "S9"), ("Suicide and Self Harm", "S11"),
    ("PII/Privacy", "S7"), ("Sexual (minor)", "S4"), ("Criminal Planning/Confessions", "S2"),
    ("Controlled/Regulated Substances", "S2"), ("Needs Caution", None),
    ("drug_abuse,weapons,banned_substance", "S2"), ("privacy_violation", "S7"),
    ("sexually_explicit,adult_content", "S12"), ("controversial_topics,politics", None),
    ("chemical_biological", "S9"), ("cybercrime_intrusion", "S2"),
    # Llama Guard 3's and 2's own names (hyphens and "&" were kept, so they never matched)
    ("Non-Violent Crimes", "S2"), ("Sex-Related Crimes", "S3"), ("Suicide & Self-Harm", "S11"),
    ("Sex Crimes", "S3"), ("Child Exploitation", "S4"), ("Specialized Advice", "S6"),
    # Jigsaw's and Detoxify's labels
    ("sexual_explicit", "S12"), ("identity_attack", "S10"), ("severe_toxicity", "S10"), ("obscene", "profanity"),
    # the OpenAI SDK's field names (`categories.model_dump()`) were groups, dropped from per_category
    ("sexual_minors", "S4"), ("self_harm_intent", "S11"), ("hate_threatening", "S10"),
    ("violence_graphic", "S1"), ("harassment_threatening", "S1"), ("illicit_violent", "S9"),
    # NSFW image sets' labels
    ("nudity", "S12"), ("hentai", "S12"), ("sexy", None), ("neutral", None),
])
def test_canonical_category(name: str, canonical: str | None) -> None:
    from clauseguard.guards._taxonomy import canonical_category

    assert canonical_category(name) == canonical


def test_items_no_guard_could_judge_are_counted_and_named(tmp_path: Path) -> None:
    """A benign text over a guard's max_chars is blocked whatever it says, and counted as a detection (a false
    positive here): nothing in the output said so."""
    guards = tmp_path / "guards.yaml"
    guards.write_text("- {id: pii, type: pii, on_fail: redact, params: {entities: [email], max_chars: 40}}\n")
    data = tmp_path / "d.jsonl"
    data.write_text('{"text": "hello", "label": 0}\n{"text": "' + "a long and harmless text " * 4 + '", "label": 0}\n')
    result = CliRunner().invoke(eval_command, ["--guards", str(guards), "--data", str(data)])
    out = json.loads(result.stdout)
    assert (out["unjudged"], out["confusion"]["fp"]) == (1, 1)
    assert "1 of 2 items were decided by a guard that failed or could not read them" in result.stderr
