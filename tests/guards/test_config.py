from __future__ import annotations

import pytest
from guard_helpers import FIXTURES

from clauseguard.errors import GuardConfigError
from clauseguard.guards import GuardSpec, Pipeline, create, load_guards, parse_guards


def test_mapping_form_loads() -> None:
    specs = load_guards(FIXTURES / "guards.yaml")
    assert [s.type for s in specs][:3] == ["rate_limit", "keyword", "keyword"]
    assert specs[1].category_clauses["S9"] == ["content/weapons"]


def test_bare_list_loads() -> None:
    specs = parse_guards("- id: kw\n  type: keyword\n  params: {categories: [S9]}\n")
    assert specs[0].typed_params().categories == ["S9"]  # type: ignore[attr-defined]


@pytest.mark.parametrize(("fixture", "fragments"), [
    ("unknown_type.yaml", ["unknown_type.yaml:4", "guard 'b'", "type", "'sentiment'", "keyword"]),
    ("bad_param.yaml", ["bad_param.yaml:4", "guard 'kw'", "params.categories", "S99"]),
    ("bad_regex.yaml", ["bad_regex.yaml:6", "guard 'rx'", "patterns[0].pattern", "does not compile"]),
    ("empty.yaml", ["empty.yaml:2", "empty"]),
    ("empty_patterns.yaml", ["guard 'rx'", "params.patterns", "at least 1"]),
    ("bad_action.yaml", ["guard 'kw'", "on_fail", "'label'"]),
    ("duplicate_id.yaml", ["duplicate_id.yaml:3", "duplicate guard id 'kw'"]),
    ("bad_yaml.yaml", ["bad_yaml.yaml", "invalid YAML"]),
])
def test_broken_files_name_file_line_guard_and_key(fixture: str, fragments: list[str]) -> None:
    with pytest.raises(GuardConfigError) as info:
        load_guards(FIXTURES / fixture)
    for fragment in fragments:
        assert fragment in str(info.value)


@pytest.mark.parametrize(("text", "fragment"), [
    ("guards: {a: 1}\n", "'guards' must be a list"),
    ("extra: 1\nguards: []\n", "unknown top-level key"),
    ("42\n", "expected a list of guards"),
    ("- id: kw\n  type: keyword\n  colour: red\n", "colour"),
    # a keyword guard that can match nothing let everything through, silently
    ("- id: kw\n  type: keyword\n  params: {categories: []}\n", "no term to match"),
    ("- id: kw\n  type: keyword\n  params: {categories: [], terms: {S9: []}}\n", "no term to match"),
])
def test_bad_shapes(text: str, fragment: str) -> None:
    with pytest.raises(GuardConfigError, match=fragment):
        parse_guards(text, "g.yaml")


def test_missing_file_is_a_config_error(tmp_path) -> None:
    with pytest.raises(GuardConfigError, match="cannot read"):
        load_guards(tmp_path / "nope.yaml")


def test_declared_type_without_runtime_says_so(monkeypatch) -> None:
    from clauseguard.guards import _registry

    monkeypatch.delitem(_registry.REGISTRY, "image_nsfw", raising=False)
    monkeypatch.setitem(_registry.BUILTIN_MODULES, "image_nsfw", "clauseguard.guards._no_such_runtime")
    spec = GuardSpec(id="img", type="image_nsfw", modality="image")
    with pytest.raises(GuardConfigError, match="no runtime"):
        Pipeline.from_yaml(FIXTURES / "no_runtime.yaml")
    with pytest.raises(GuardConfigError, match=r"clauseguard\.guards\._no_such_runtime"):
        create(spec)


def test_runtime_missing_a_dependency_names_the_package(monkeypatch, tmp_path) -> None:
    from clauseguard.guards import _registry

    (tmp_path / "cg_fake_runtime.py").write_text("import cg_package_that_is_not_installed\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(_registry.REGISTRY, "image_nsfw", raising=False)
    monkeypatch.setitem(_registry.BUILTIN_MODULES, "image_nsfw", "cg_fake_runtime")
    with pytest.raises(GuardConfigError, match="cg_package_that_is_not_installed"):
        create(GuardSpec(id="img", type="image_nsfw", modality="image"))


def test_unknown_type_in_registry_lists_known() -> None:
    from clauseguard.guards import _registry

    with pytest.raises(GuardConfigError, match=r"known: .*keyword"):
        _registry._load_runtime("nope", "x")


@pytest.mark.parametrize("type_", ["topic", "disclaimer"])
def test_a_topic_listed_twice_is_refused_naming_the_key(type_: str) -> None:
    """Listed twice, its disclaimer and finding would be added twice."""
    text = (f"- {{id: d, type: {type_}, stage: output, on_fail: disclaim,"
            " params: {topics: [medical, legal, medical]}}")
    with pytest.raises(GuardConfigError, match=r"guard 'd' .*params\.topics: .*more than once: \['medical'\]"):
        parse_guards(text, "g.yaml")


@pytest.mark.parametrize(("stage", "ok"), [("input", False), ("output", True)])
def test_disclaim_only_at_the_output_stage(stage: str, ok: bool) -> None:
    """At the input stage the disclaimer would be added to the prompt, which the user never sees."""
    text = f"- {{id: t, type: topic, stage: {stage}, on_fail: disclaim, params: {{topics: [medical]}}}}\n"
    if ok:
        assert parse_guards(text, "g.yaml")[0].stage.value == "output"
        return
    with pytest.raises(GuardConfigError, match=r"guard 't'.*on_fail 'disclaim' needs stage 'output'.*not 'input'"):
        parse_guards(text, "g.yaml")


@pytest.mark.parametrize(("text", "fragment"), [
    ("- id: dc\n  type: ai_disclosure\n  clauses: [x]\n  stage: input\n",
     r"g\.yaml:4 guard 'dc' \[0\]\.stage: ai_disclosure guards take stage in \['output'\]"),
    ("- id: rl\n  type: rate_limit\n  stage: output\n", r"g\.yaml:3 guard 'rl' \[0\]\.stage: "),
    ("- id: kw\n  type: keyword\n  modality: image\n", r"g\.yaml:3 guard 'kw' \[0\]\.modality: "),
    ("- id: kw\n  type: keyword\n\n  on_fail: label\n", r"g\.yaml:4 guard 'kw' \[0\]\.on_fail: .*not 'label'"),
    ("- id: t\n  type: topic\n  on_fail: disclaim\n  params: {topics: [medical]}\n",
     r"g\.yaml:1 guard 't' \[0\]\.stage: on_fail 'disclaim' needs stage 'output'"),
])
def test_a_stage_modality_or_action_the_type_cannot_take_names_its_key_and_line(text: str, fragment: str) -> None:
    """The check across fields was placed at the guard (its first line), not at the key to change."""
    with pytest.raises(GuardConfigError, match=fragment):
        parse_guards(text, "g.yaml")


def test_an_error_in_a_file_from_a_newer_clauseguard_says_to_upgrade() -> None:
    """A type or key this version refuses may be one a later version added: the error said only 'unknown'."""
    newer = "clauseguard_version: 9.0.0\nguards:\n  - id: s\n    type: sentiment\n"
    with pytest.raises(GuardConfigError, match=r"g\.yaml:4 guard 's' guards\[0\]\.type: unknown guard type "
                                               r"'sentiment'.*written by clauseguard 9\.0\.0, newer than this"):
        parse_guards(newer, "g.yaml")
    with pytest.raises(GuardConfigError) as same:
        parse_guards(newer.replace("9.0.0", "0.1.0"), "g.yaml")
    assert "newer" not in str(same.value)
    assert parse_guards(newer.replace("sentiment", "keyword"), "g.yaml")[0].type == "keyword"


@pytest.mark.parametrize("key", ["clauseguard_version", "profile_sha256"])
def test_stamp_keys_must_be_strings(key: str) -> None:
    """The schema (`clauseguard schema --guards`) says strings; `clauseguard_version: 1.0` was taken silently."""
    with pytest.raises(GuardConfigError, match=rf"g\.yaml:1 {key}: {key} must be a string, not 1\.0"):
        parse_guards(f"{key}: 1.0\nguards:\n  - id: kw\n    type: keyword\n", "g.yaml")


@pytest.mark.parametrize(("text", "found"), [("", "nothing (the file is empty)"), ("# all commented out\n", "nothing"),
                                             ("\ufeff\n", "nothing"), ("42\n", "found 42")])
def test_a_file_with_no_guards_says_what_it_found(tmp_path, text: str, found: str) -> None:
    path = tmp_path / "guards.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(GuardConfigError) as info:
        load_guards(path)
    assert str(info.value).startswith(f"{path}: expected a list of guards") and found in str(info.value)


@pytest.mark.parametrize("budget", [".inf", "1e13"])
def test_a_time_budget_past_what_a_thread_can_wait_runs(budget: str) -> None:
    """`timeout_ms: .inf` (or years) passed validation, then every check raised OverflowError."""
    specs = parse_guards(f"- id: kw\n  type: keyword\n  params: {{categories: [S9]}}\n  timeout_ms: {budget}\n")
    pipeline = Pipeline(specs)
    assert pipeline.check_input("hello").action.value == "allow"
    assert pipeline.check_input("how do I make a pipe bomb").action.value == "block"


def test_a_type_with_one_stage_modality_or_action_takes_it_when_left_out() -> None:
    """`- {id: ai, type: ai_disclosure}` was refused: stage and on_fail defaulted to input and block."""
    ai, mark, nsfw, kw = parse_guards("- {id: ai, type: ai_disclosure}\n- {id: mark, type: image_mark}\n"
                                      "- {id: nsfw, type: image_nsfw, stage: output}\n- {id: kw, type: keyword}\n")
    assert (ai.stage.value, ai.modality.value, ai.on_fail.value) == ("output", "text", "label")
    assert (mark.stage.value, mark.modality.value, mark.on_fail.value) == ("output", "image", "label")
    assert (nsfw.modality.value, nsfw.on_fail.value) == ("image", "block")  # two or more: the general default
    assert (kw.stage.value, kw.modality.value, kw.on_fail.value) == ("input", "text", "block")


def test_time_budget_true_is_refused() -> None:
    """`timeout_ms: true` was taken as 1 ms, so every check of the guard timed out and blocked."""
    with pytest.raises(GuardConfigError, match=r"g\.yaml:3 guard 'kw' \[0\]\.timeout_ms: "):
        parse_guards("- id: kw\n  type: keyword\n  timeout_ms: true\n", "g.yaml")
    assert parse_guards("- id: kw\n  type: keyword\n  timeout_ms: 250\n")[0].timeout_ms == 250


@pytest.mark.parametrize(("guard", "key"), [
    ("type: regex\n  params:\n    patterns: [{name: n, pattern: x}]\n    timeout_ms: true", "timeout_ms"),
    ("type: pii\n  params:\n    max_chars: yes", "max_chars"),
    ("type: classifier\n  params:\n    backends: [lexical]\n    max_chars: true", "max_chars"),
    ("type: topic\n  params:\n    topics: [medical]\n    max_chars: true", "max_chars"),
    ("type: disclaimer\n  stage: output\n  on_fail: disclaim\n  params:\n    topics: [medical]\n    max_chars: true",
     "max_chars"),
    ("type: keyword\n  params:\n    max_chars: true", "max_chars"),
    ("type: rate_limit\n  params:\n    capacity: true", "capacity"),
    ("type: rate_limit\n  params:\n    refill_per_second: yes", "refill_per_second"),
])
def test_a_boolean_in_a_numeric_parameter_is_refused(guard: str, key: str) -> None:
    """`max_chars: yes`, `capacity: true` and a regex `timeout_ms: true` were read as 1 without a word (one
    character read, one request allowed, a 1 ms budget); thresholds already refused booleans."""
    with pytest.raises(GuardConfigError, match=rf"g\.yaml:\d+ guard 'g' \[0\]\.params\.{key}: expected a number, "
                                               r"not true"):
        parse_guards(f"- id: g\n  {guard}\n", "g.yaml")
    assert parse_guards(f"- id: g\n  {guard.replace('true', '2').replace('yes', '2')}\n")

@pytest.mark.parametrize("key", ["category_clauses", "category_messages"])
def test_a_misspelt_category_key_is_refused(key: str) -> None:
    """`category_clauses: {S99: [...]}` was taken, and findings quietly cited the fallback clauses."""
    value = "[content/weapons]" if key == "category_clauses" else "Blocked."
    with pytest.raises(GuardConfigError, match=rf"g\.yaml:3 guard 'kw' \[0\]\.{key}: .*unknown categories \['S99'\]"):
        parse_guards(f"- id: kw\n  type: keyword\n  {key}: {{S99: {value}}}\n", "g.yaml")


def test_a_guard_missing_an_optional_dependency_names_the_extra_from_python_too(monkeypatch) -> None:
    """`Pipeline.from_yaml` on the generated guards without the [ml] extra raised a bare
    ModuleNotFoundError for numpy (only the command line said what to install)."""
    from clauseguard.guards import _registry, keyword  # noqa: F401  (registers the keyword runtime)

    class NeedsNumpy(_registry.REGISTRY["keyword"]):  # type: ignore[misc,valid-type]
        def __init__(self, spec: GuardSpec) -> None:
            raise ModuleNotFoundError("No module named 'numpy'", name="numpy")

    monkeypatch.setitem(_registry.REGISTRY, "keyword", NeedsNumpy)
    with pytest.raises(GuardConfigError, match=r"guard 'kw'.*numpy is not installed: pip install 'clauseguard\[ml\]'"):
        Pipeline(parse_guards("- {id: kw, type: keyword}\n"))

    class NeedsNothingKnown(NeedsNumpy):
        def __init__(self, spec: GuardSpec) -> None:
            raise ModuleNotFoundError("No module named 'clauseguard.nowhere'", name="clauseguard.nowhere")

    monkeypatch.setitem(_registry.REGISTRY, "keyword", NeedsNothingKnown)
    with pytest.raises(ModuleNotFoundError):  # not an optional dependency: a bug, shown as one
        Pipeline(parse_guards("- {id: kw, type: keyword}\n"))


def test_an_image_mark_before_a_blurring_image_guard_is_refused() -> None:
    """image_mark placed before a blurring image_nsfw marked the image, then the blur replaced it with a new,
    unmarked PNG, which was released: an AI-generated image without its marks."""
    mark = "  - {id: mark, type: image_mark, stage: output, modality: image, on_fail: label}\n"
    nsfw = "  - {id: nsfw, type: image_nsfw, stage: output, modality: image, on_fail: %s}\n"
    with pytest.raises(GuardConfigError, match=r"g\.yaml:2 guard 'mark'.*before guard 'nsfw'.*image_mark last"):
        parse_guards("guards:\n" + mark + nsfw % "redact", "g.yaml")
    assert [s.id for s in parse_guards("guards:\n" + nsfw % "redact" + mark)] == ["nsfw", "mark"]
    assert [s.id for s in parse_guards("guards:\n" + mark + nsfw % "block")] == ["mark", "nsfw"]  # no new image


def test_an_image_mark_before_a_blurring_image_guard_is_refused_in_python_too() -> None:
    """guards.yaml refused that order at load, but ``Pipeline([mark, nsfw])`` built in Python took it and
    released blurred images without their marks."""
    mark = GuardSpec(id="mark", type="image_mark", stage="output", modality="image", on_fail="label")
    blur = GuardSpec(id="nsfw", type="image_nsfw", stage="output", modality="image", on_fail="redact")
    with pytest.raises(GuardConfigError, match=r"guard 'mark'.*before guard 'nsfw'.*image_mark last"):
        Pipeline([mark, blur])
    assert [g.id for g in Pipeline([blur, mark]).guards] == ["nsfw", "mark"]
    block = GuardSpec(id="nsfw", type="image_nsfw", stage="output", modality="image", on_fail="block")
    assert [g.id for g in Pipeline([mark, block]).guards] == ["mark", "nsfw"]


# -- from a review: encodings, clause ids, messages, model paths ----------------------------------------

KEYWORD_GUARD = "guards:\n- id: kw\n  type: keyword\n  params: {categories: [S9]}\n"


@pytest.mark.parametrize(("data", "fragment"), [
    ("guards:\n- id: kw\n  type: keyword\n  message: Bloqu\xe9\n".encode("cp1252"),
     "g.yaml:4: not UTF-8 text: byte 0xe9 cannot be read (the file is in another encoding, such as Windows-1252): "
     "save it as UTF-8"),
    (KEYWORD_GUARD.encode("utf-16"), "g.yaml:1: the file is saved as UTF-16: save it as UTF-8"),
])
def test_a_guards_file_in_another_encoding_names_the_line_and_says_to_save_it_as_utf8(tmp_path, data: bytes,
                                                                                       fragment: str) -> None:
    """guards.yaml was read with read_text: a Windows-1252 or UTF-16 file gave the codec's own words and no line
    (profile.yaml already said where and what to do)."""
    (tmp_path / "g.yaml").write_bytes(data)
    with pytest.raises(GuardConfigError) as info:
        load_guards(tmp_path / "g.yaml")
    assert str(info.value).endswith(fragment)
    (tmp_path / "g.yaml").write_bytes(b"\xef\xbb\xbf" + KEYWORD_GUARD.encode())  # a byte-order mark is fine
    assert load_guards(tmp_path / "g.yaml")[0].id == "kw"


LOCK = "clauses:\n- {id: content/violence-and-weapons, version: 1.0.0}\n- {id: content/hate, version: 1.0.0}\n"


@pytest.mark.parametrize(("guard", "line", "key", "wrong"), [
    ("  clauses: [content/hate, content/violence-and-weapon]\n", 5, "clauses[1]", "content/violence-and-weapon"),
    ("  clauses: [content/hate]\n  category_clauses:\n    S9:\n    - content/violence-and-weapon\n", 8,
     "category_clauses.S9[0]", "content/violence-and-weapon"),
])
def test_a_clause_not_in_the_lock_beside_guards_yaml_is_refused(tmp_path, guard: str, line: int, key: str,
                                                                wrong: str) -> None:
    """A typo in a clause id ran, and every decision cited a clause that does not exist."""
    (tmp_path / "clauseguard.lock").write_text(LOCK, encoding="utf-8")
    path = tmp_path / "guards.yaml"
    path.write_text(KEYWORD_GUARD + guard, encoding="utf-8")
    with pytest.raises(GuardConfigError) as info:
        load_guards(path)
    assert info.value.where == f"{path}:{line} guard 'kw' guards[0].{key}"
    assert f"clause {wrong!r} is not in the clauseguard.lock" in info.value.message
    assert "did you mean 'content/violence-and-weapons'?" in info.value.message
    path.write_text(KEYWORD_GUARD + guard.replace(wrong, "content/violence-and-weapons"), encoding="utf-8")
    assert load_guards(path)[0].clauses
    (tmp_path / "clauseguard.lock").unlink()  # no lock: the clauses of an override folder of one's own
    path.write_text(KEYWORD_GUARD + guard, encoding="utf-8")
    assert load_guards(path)[0].clauses


def test_a_blocking_guard_with_no_clause_and_no_message_names_itself() -> None:
    """It blocked with `clause_ids: []` and an empty message."""
    spec, flag, cited = parse_guards("- {id: kw, type: keyword}\n- {id: f, type: keyword, on_fail: flag}\n"
                                     "- {id: c, type: keyword, clauses: [content/hate]}\n")
    assert spec.message == "Blocked by guard kw."
    assert flag.message == cited.message == ""
    assert GuardSpec(id="kw", type="keyword").message == ""  # built in Python: as given


@pytest.mark.parametrize("type_", ["classifier", "image_nsfw"])
def test_a_relative_model_path_is_read_from_the_folder_of_guards_yaml(tmp_path, monkeypatch, type_: str) -> None:
    """It was read from the working directory, so `clauseguard check --guards legal/guards.yaml` and the same
    file served from elsewhere loaded different models, or none."""
    params = ("{backends: [transformers], model_path: %s}" if type_ == "classifier"
              else "{backend: sd_safety_checker, model_path: %s}")
    (tmp_path / "legal").mkdir()
    path = tmp_path / "legal" / "guards.yaml"
    monkeypatch.chdir(tmp_path)
    for given, read in [("models/m", tmp_path / "legal" / "models" / "m"), (str(tmp_path / "abs"), tmp_path / "abs")]:
        path.write_text(f"- {{id: g, type: {type_}, params: {params % given}}}\n", encoding="utf-8")
        assert load_guards("legal/guards.yaml")[0].params["model_path"] == str(read)
    assert parse_guards(f"- {{id: g, type: {type_}, params: {params % 'models/m'}}}\n")[0].params["model_path"] == \
        "models/m"  # text without a file: as given
