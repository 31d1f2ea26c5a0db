"""The profile model: broken files give one clear error naming file, line and key path; valid ones round-trip."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given, settings

from clauseguard.errors import ProfileError
from clauseguard.generator.outputs import names_eu_state, warnings_for
from clauseguard.generator.profile import (
    Profile,
    escape_markdown,
    load_profile,
    parse_profile,
    unescape_markdown,
)
from tests.strategies import profiles

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "profiles"
EXAMPLES = sorted((Path(__file__).resolve().parents[2] / "examples").glob("*/profile.yaml"))
MARKER = "# <- error"


def _marked_line(path: Path) -> int | None:
    """The 1-based line that carries the ``# <- error`` marker in a broken fixture, if any."""
    lines = path.read_text(encoding="utf-8").splitlines()
    return next((n for n, line in enumerate(lines, 1) if line.rstrip().endswith(MARKER)), None)


@pytest.mark.parametrize(
    ("fixture", "key_path", "message"),
    [
        ("unknown-key.yaml", "product.colour", "unknown key"),
        ("wrong-type.yaml", "audience.minimum_age", "expected an integer"),
        ("age-is-boolean.yaml", "audience.minimum_age", "expected an integer (a whole number such as 30), not True"),
        ("days-is-boolean.yaml", "data.ip_retention_days", "expected an integer"),
        ("flag-is-text.yaml", "user_content.uploads", "expected true or false, not 'yes'"),
        ("control-character.yaml", "operator.legal_name", "contains a control character U+000B"),
        ("multi-line-name.yaml", "product.name", "must be on one line"),
        ("missing-required.yaml", "product.governing_law", "required key is missing"),
        ("missing-jurisdictions.yaml", "jurisdictions", "required key is missing"),
        ("invalid-yaml.yaml", None, "invalid YAML"),
        ("unknown-licence.yaml", "models[0].license", "unknown licence 'gpl-9'"),
        ("other-licence-unnamed.yaml", "models[0]", "license 'other' needs license_name"),
        ("duplicate-key.yaml", None, "duplicate key 'product.name'"),
        ("duplicate-jurisdiction.yaml", "jurisdictions", "listed twice"),
        ("unknown-jurisdiction.yaml", "jurisdictions[1]", "'EU', 'US'"),
        ("bad-email.yaml", "operator.contact_email", "expected an email address"),
        ("not-a-mapping.yaml", None, "expected a mapping"),
    ],
)
def test_broken_profile_names_file_line_and_key(fixture: str, key_path: str | None, message: str) -> None:
    path = FIXTURES / fixture
    line = _marked_line(path)
    with pytest.raises(ProfileError) as caught:
        load_profile(path)
    text = str(caught.value)
    where = f"{path}:{line}: " if line else f"{path}: "
    assert text.startswith(where), text
    if key_path:
        assert text.startswith(f"{where}{key_path}: "), text
    assert message in text


def test_every_broken_fixture_is_in_the_table() -> None:
    tested = re.findall(r'\("([a-z-]+\.yaml)"', Path(__file__).read_text(encoding="utf-8"))
    assert sorted(p.name for p in FIXTURES.glob("*.yaml")) == sorted(tested)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", re.escape("expected a mapping")),
        ("product: [", r"profile\.yaml:[12]: invalid YAML"),
    ],
)
def test_parse_profile_from_text_names_a_default_file(text: str, message: str) -> None:
    with pytest.raises(ProfileError, match=message):
        parse_profile(text)


def test_missing_file_is_a_profile_error(tmp_path: Path) -> None:
    with pytest.raises(ProfileError, match="file not found"):
        load_profile(tmp_path / "nope.yaml")


def test_several_problems_are_reported_together() -> None:
    text = (FIXTURES / "unknown-key.yaml").read_text().replace("legal@broken.example", "nope")
    with pytest.raises(ProfileError) as caught:
        parse_profile(text)
    assert {"operator.contact_email", "product.colour"} <= set(re.findall(r": ([a-z_.]+): ", str(caught.value)))


def _round_trip(profile: Profile) -> Profile:
    text = yaml.safe_dump(profile.model_dump(mode="json"), sort_keys=False, allow_unicode=True)
    return parse_profile(text)


@settings(max_examples=60, deadline=None)
@given(profiles())
def test_any_valid_profile_round_trips_through_yaml(profile: Profile) -> None:
    again = _round_trip(profile)
    assert again == profile
    assert again.sha256() == profile.sha256()


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.parent.name)
def test_examples_round_trip(path: Path) -> None:
    profile = load_profile(path)
    assert _round_trip(profile) == profile


def test_hash_ignores_formatting_and_key_order() -> None:
    profile = load_profile(EXAMPLES[0])
    reordered = dict(reversed(list(profile.model_dump(mode="json").items())))
    assert parse_profile(yaml.safe_dump(reordered, default_flow_style=True)).sha256() == profile.sha256()


# ---- the JSON Schema that `clauseguard schema` prints -----------------------------------------------

SCHEMA = Profile.model_json_schema()


def _resolve(node: dict[str, Any]) -> dict[str, Any]:
    """Follow ``$ref`` and pick the object branch of ``anyOf`` (optional sub-objects)."""
    if "$ref" in node:
        return _resolve(SCHEMA["$defs"][node["$ref"].rsplit("/", 1)[1]])
    for branch in node.get("anyOf", ()):
        if "$ref" in branch or branch.get("type") == "object":
            return _resolve(branch)
    return node


def _unknown_keys(data: Any, node: dict[str, Any], path: str = "") -> list[str]:
    """Keys of ``data`` that the schema does not declare (a structural check of the example files)."""
    node = _resolve(node)
    if isinstance(data, dict):
        props = node.get("properties", {})
        missing = [f"{path}.{k}" for k in data if k not in props]
        return missing + [x for k, v in data.items() if k in props for x in _unknown_keys(v, props[k], f"{path}.{k}")]
    if isinstance(data, list) and "items" in node:
        return [x for i, v in enumerate(data) for x in _unknown_keys(v, node["items"], f"{path}[{i}]")]
    return []


@pytest.mark.parametrize(
    ("definition", "required"),
    [
        (None, {"operator", "product", "jurisdictions"}),
        ("Operator", {"legal_name", "contact_email", "address"}),
        ("Product", {"name", "url", "effective_date", "governing_law"}),
        ("ModelEntry", {"name", "license"}),
        ("DmcaAgent", {"name", "email", "address"}),
    ],
)
def test_schema_lists_required_keys(definition: str | None, required: set[str]) -> None:
    node = SCHEMA if definition is None else SCHEMA["$defs"][definition]
    assert set(node["required"]) == required


def test_schema_forbids_unknown_keys_everywhere() -> None:
    objects = [SCHEMA, *SCHEMA["$defs"].values()]
    assert all(o.get("additionalProperties") is False for o in objects if o.get("type") == "object")


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.parent.name)
def test_schema_declares_every_key_of_the_examples(path: Path) -> None:
    assert _unknown_keys(yaml.safe_load(path.read_text(encoding="utf-8")), SCHEMA) == []


def test_structural_check_catches_an_unknown_key() -> None:
    assert _unknown_keys({"product": {"colour": "red"}, "models": [{"nam": "x"}]}, SCHEMA) == [
        ".product.colour",
        ".models[0].nam",
    ]


# --- values are text, not Markdown ---------------------------------------------------------------


def _example_text(**operator: str) -> str:
    data = yaml.safe_load(EXAMPLES[0].read_text(encoding="utf-8"))
    data["operator"].update(operator)
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True)


@pytest.mark.parametrize(
    ("text", "escaped"),
    [
        ("Acme Assist Ltd", "Acme Assist Ltd"),
        ("legal@acme-assist.example", "legal@acme-assist.example"),
        ("*Acme* Assist_", r"\*Acme\* Assist\_"),
        ("R&D <script>x</script>", r"R&D \<script\>x\</script\>"),
        ("[Pay](https://evil.example)", r"\[Pay\](https://evil.example)"),
        ("&amp; `code` ~~s~~", r"\&amp; \`code\` \~\~s\~\~"),
        ("2. Floor", r"2\. Floor"),
        ("10) Floor", r"10\) Floor"),
        ("# Heading", r"\# Heading"),
        ("- item", r"\- item"),
        ("a\\b", "a\\\\b"),
    ],
)
def test_escape_markdown(text: str, escaped: str) -> None:
    assert escape_markdown(text) == escaped
    assert unescape_markdown(escaped) == text


def test_context_escapes_free_text_but_not_ids() -> None:
    text = _example_text(legal_name="*Acme* <b>", contact_email="first_last@acme.example")
    context = parse_profile(text).context()
    assert context["operator"]["legal_name"] == r"\*Acme\* \<b\>"
    assert context["operator"]["contact_email"] == r"first\_last@acme.example"
    assert context["models"][0]["license"] == "llama3.1"
    assert context["product"]["effective_date"] == "2026-12-01"


def test_hash_is_of_the_values_not_their_escaped_form() -> None:
    profile = parse_profile(_example_text(legal_name="*Acme*"))
    canonical = json.dumps(profile.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
    assert profile.sha256() == hashlib.sha256(canonical.encode()).hexdigest()


@pytest.mark.parametrize(
    ("address", "joined"),
    [
        ("Acme Ltd\n2. Floor, 1 Example Street\nDublin\n", "Acme Ltd, 2. Floor, 1 Example Street, Dublin"),
        ("1 Example St,\n\nDublin", "1 Example St, Dublin"),
        ("1 Example St, Dublin", "1 Example St, Dublin"),
    ],
)
def test_a_multi_line_address_becomes_one_line(address: str, joined: str) -> None:
    assert parse_profile(_example_text(address=address)).operator.address == joined


@pytest.mark.parametrize("char", ["\x00", "\x0b", "\x0c", "\r", "\x1b", "\x7f", "\x9f"])
def test_control_characters_are_refused(char: str) -> None:
    with pytest.raises(ProfileError, match=rf"operator\.address: contains a control character U\+{ord(char):04X}"):
        parse_profile(_example_text(address=f"1 Example{char}Street"))


def test_tabs_are_allowed() -> None:
    assert parse_profile(_example_text(legal_name="Acme\tLtd")).operator.legal_name == "Acme\tLtd"


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("minimum_age", True, "expected an integer"),
        ("minimum_age", "16", "expected an integer"),
        ("minimum_age", 16.0, "expected an integer"),
        ("consumer", "yes", "expected true or false"),
        ("consumer", 1, "expected true or false"),
    ],
)
def test_numbers_and_flags_are_not_converted(key: str, value: object, message: str) -> None:
    data = yaml.safe_load(EXAMPLES[0].read_text(encoding="utf-8"))
    data["audience"][key] = value
    with pytest.raises(ProfileError, match=rf"profile\.yaml:\d+: audience\.{key}: {message}"):
        parse_profile(yaml.safe_dump(data))


def _bomb(levels: int, indent: str = "") -> str:
    """YAML anchors nested ``levels`` deep, nine aliases each: 9**levels values once expanded."""
    lines = [f'{indent}a: &a ["x","x","x","x","x","x","x","x","x"]']
    for prev, name in zip("abcdefgh"[: levels - 1], "bcdefghi", strict=False):
        lines.append(f"{indent}{name}: &{name} [" + ",".join([f"*{prev}"] * 9) + "]")
    return "\n".join(lines) + "\n"


def test_a_long_wrong_value_is_shown_shortened() -> None:
    """The message showed the input whole: a YAML alias bomb as product.name printed gigabytes."""
    example = EXAMPLES[0].read_text(encoding="utf-8")
    text = re.sub(r"(?m)^  name: .*$", "  name: [" + ", ".join(["Acme Assist"] * 5000) + "]", example, count=1)
    with pytest.raises(ProfileError, match=r"product\.name: expected text, not \['Acme Assist', ") as info:
        parse_profile(text)
    assert len(str(info.value)) < 300 and "..." in str(info.value)


def test_aliases_that_expand_to_too_many_values_are_refused_at_load() -> None:
    """Nine levels of nine aliases passed the loader; validating or printing them took gigabytes."""
    example = EXAMPLES[0].read_text(encoding="utf-8")
    with pytest.raises(ProfileError, match=r"profile\.yaml:10: bomb\.i: .*aliases .* more than 100000 values"):
        parse_profile("bomb:\n" + _bomb(9, "  ") + example)
    with pytest.raises(ProfileError, match="aliases"):  # the bomb used where text is expected
        parse_profile("x:\n" + _bomb(9, "  ") + re.sub(r"(?m)^  name: .*$", "  name: *i", example, count=1))


@pytest.mark.parametrize(("key", "read_as"), [("on", "true or false"), ("1", "a number"), ("2026-01-01", "a date"),
                                              ("null", "empty (null)")])
def test_a_key_yaml_reads_as_a_non_text_value_is_refused_at_its_line(key: str, read_as: str) -> None:
    """YAML 1.1 reads ``on`` as true: ``on: true`` got the wrong line and a meaningless path
    (``line 7: [1]: Keys should be strings``)."""
    lines = EXAMPLES[0].read_text(encoding="utf-8").splitlines()
    at = next(n for n, line in enumerate(lines) if line.startswith("data:"))
    lines.insert(at + 1, f"  {key}: true")
    with pytest.raises(ProfileError) as info:
        parse_profile("\n".join(lines) + "\n")
    assert info.value.where == f"profile.yaml:{at + 2}"
    assert f"the key {key!r} is read as {read_as}, not as a name" in info.value.message
    assert f"put it in quotes ('{key}':" in info.value.message


@pytest.mark.parametrize(("encoding", "at_address", "message"), [
    ("latin-1", True, "not UTF-8 text: byte 0xe9 cannot be read (the file is in another encoding, "
                                    "such as Windows-1252): save it as UTF-8"),
    ("utf-16", False, "the file is saved as UTF-16: save it as UTF-8"),
])
def test_a_profile_not_saved_as_utf8_names_the_encoding_and_line(tmp_path: Path, encoding: str, at_address: bool,
                                                                  message: str) -> None:
    """It got "codec can't decode byte 0xe9 in position 583", which no founder can act on."""
    text = EXAMPLES[0].read_text(encoding="utf-8")
    text = re.sub(r"(?m)^(  address: ).*$", r"\g<1>1 Rue du Café, Paris", text, count=1)
    path = tmp_path / "profile.yaml"
    path.write_text(text, encoding=encoding)
    with pytest.raises(ProfileError) as info:
        load_profile(path)
    at = 1 if not at_address else next(n for n, x in enumerate(text.splitlines(), 1) if x.startswith("  address: "))
    assert info.value.where == f"{path}:{at}" and info.value.message == message
    path.write_bytes(b"\xef\xbb\xbf" + text.encode("utf-8"))  # a byte-order mark, as Notepad writes, is fine
    assert load_profile(path).operator.address == "1 Rue du Café, Paris"


@pytest.mark.parametrize("char", ["\x0b", "\x0c", "\x1b"])
def test_a_control_character_pasted_raw_is_named_at_its_line(char: str) -> None:
    """Written as a YAML escape it was named with its line; pasted as the character itself, the YAML reader
    refused it first: "invalid YAML: unacceptable character #x000b ... position 239", no line."""
    text = _example_text().replace("legal_name: ", f"legal_name: Acme{char}", 1)
    line = text[:text.index(char)].count("\n") + 1
    with pytest.raises(ProfileError, match=rf"contains a control character U\+{ord(char):04X}") as info:
        parse_profile(text)
    assert info.value.where.endswith(f":{line}")


@pytest.mark.parametrize(("stores", "days", "stored"), [(True, 0, False), (True, 1, True), (False, 0, False),
                                                        (False, 30, False)])
def test_prompts_kept_for_zero_days_are_not_stored(stores: bool, days: int, stored: bool) -> None:
    """stores_prompts: true with prompt_retention_days: 0 was accepted as storing: the privacy notice then
    promised a stored history and said that nothing is kept. Kept for no days, prompts are not stored."""
    text = _example_text().replace("stores_prompts: true", f"stores_prompts: {str(stores).lower()}", 1)
    text = re.sub(r"prompt_retention_days: \d+", f"prompt_retention_days: {days}", text, count=1)
    profile = parse_profile(text)
    assert profile.data.stores_prompts is stored and profile.data.prompt_retention_days == days
    assert _round_trip(profile) == profile


def _warnings(jurisdictions: list[str], address: str = "1 Example Street, Dublin, Ireland",
              representative: str | None = None) -> list[str]:
    data = yaml.safe_load(_example_text(address=address))
    data["jurisdictions"] = jurisdictions
    if representative:
        data["operator"]["eu_representative"] = representative
    return warnings_for(Profile.model_validate(data).context(markdown=False))


@pytest.mark.parametrize(("address", "representative", "warned"), [
    ("1 Example Street, Austin, TX 78701, USA", None, True),
    ("1 Example Street, Austin, TX 78701, USA", "EU Rep GmbH, Berlin, Germany", False),
    ("1 Example Street, Dublin D02 X000, Ireland", None, False),
    ("Friedrichstraße 1, 10117 Berlin, Deutschland", None, False),
    ("1 Main St, Springfield", None, True),
])
def test_eu_users_without_an_eu_establishment_or_representative_is_a_warning(
        address: str, representative: str | None, warned: bool) -> None:
    """A US operator with EU users and no eu_representative was silent, though DSA Art. 13(1) and GDPR
    Art. 27 ask a provider not established in the Union for a legal representative there."""
    warnings = _warnings(["EU", "US"], address, representative)
    assert any("operator.eu_representative is not set" in w for w in warnings) is warned
    assert not any("eu_representative" in w for w in _warnings(["US"], address, representative))


@pytest.mark.parametrize(("text", "named"), [("Keizersgracht 1, Amsterdam, Netherlands", True),
                                             ("Rue 1, Bruxelles, Belgique", True), ("1 Rue, Paris, France", True),
                                             ("1 High St, London, United Kingdom", False),
                                             ("1 Main St, Belfast BT1 1AA, Northern Ireland", False),
                                             ("Bahnhofstrasse 1, Zürich, Switzerland", False),
                                             ("Dublin 2, Ireland.", True), ("1 Rue, Paris, France 75001", True),
                                             ("Friedrichstraße 1\n10117 Berlin\nGermany\n", True),
                                             ("1 Poland Street\nLondon\nUnited Kingdom", False)])
def test_names_eu_state(text: str, named: bool) -> None:
    assert names_eu_state(text) is named


@pytest.mark.parametrize("address", ["100 Poland Street, London W1F 8PX, United Kingdom",
                                     "3900 France Avenue South, Edina, MN 55416, USA",
                                     "1 Spain Street, Sonoma, CA 95476, USA",
                                     "12 Ireland Road, Toronto ON M4B 1B3, Canada",
                                     "1 Malta Way Springfield IL USA"])
def test_a_street_or_town_named_after_a_member_state_is_not_its_country(address: str) -> None:
    """A Member State's name anywhere in the address switched the EU-representative warning off: a London
    operator on Poland Street was taken to be established in Poland. Only the country counts: the
    address's last part (its last line, for an address written over several)."""
    assert names_eu_state(address) is False
    assert any("operator.eu_representative is not set" in w for w in _warnings(["EU", "UK"], address))


@pytest.mark.parametrize("address", ["Rue de la Loi 1, 1000 Brussels, Belgium (BE)", "1 Main St, Dublin 2, Ireland, EU",
                                     "Kungsgatan 1, 111 43 Stockholm, Sweden SE",
                                     "Mariahilfer Str. 1, 1060 Vienna, Austria, European Union",
                                     "Rue 1, 75001 Paris, France, (FR)", "Dublin 2\nIreland\nIE\n"])
def test_a_country_followed_by_its_code_or_eu_is_its_country(address: str) -> None:
    """Reading only the last part, an address ending in a code or "EU" after its Member State ("…, Belgium (BE)",
    "…, Ireland, EU", "…, Sweden SE") named no EU Member State, and an operator established in the Union was
    told to appoint an EU representative. A trailing code or "EU"/"European Union" is passed over."""
    assert names_eu_state(address) is True
    assert not any("operator.eu_representative is not set" in w for w in _warnings(["EU", "UK"], address))


@pytest.mark.parametrize("address", ["3900 France Avenue South, Edina, MN", "1 Spain Street, Sonoma, CA",
                                     "100 Poland Street, London W1F, UK", "1 Rue, Paris, France, USA", "EU"])
def test_a_trailing_code_does_not_make_a_street_a_country(address: str) -> None:
    assert names_eu_state(address) is False


@pytest.mark.parametrize(("jurisdictions", "named"), [(["BR", "CA", "JP"], "BR, CA, JP"), (["EU", "OTHER"], "OTHER"),
                                                      (["EU", "UK", "US"], None)])
def test_jurisdictions_without_clauses_of_their_own_are_a_warning(jurisdictions: list[str], named: str | None) -> None:
    """BR, CA, JP and the others were accepted and read by no clause, silently: they get a generic privacy
    clause only, which a lawyer of the country should review."""
    warnings = [w for w in _warnings(jurisdictions) if w.startswith("jurisdictions ")]
    if named is None:
        assert warnings == []
    else:
        assert warnings == [w for w in warnings if w.startswith(f"jurisdictions {named}: ")] != []
        assert "privacy/local-rights" in warnings[0] and "lawyer" in warnings[0]



def _domain_warnings(domains: list[str]) -> list[str]:
    data = yaml.safe_load(_example_text())
    data["domains"] = domains
    return [w for w in warnings_for(Profile.model_validate(data).context(markdown=False)) if w.startswith("domains ")]


@pytest.mark.parametrize(("domain", "points_to"), [
    ("employment", "Annex III point 4"), ("insurance", "Annex III point 5(c)"), ("housing", "Fair Housing Act"),
    ("news", "Art. 50(4)"),
])
def test_domains_without_clauses_are_a_warning(domain: str, points_to: str) -> None:
    """news, employment, housing and insurance were accepted (and offered by init) but changed no document
    or guard, silently; the profile page promised disclaimers and guards for every domain."""
    warnings = _domain_warnings(["medical", domain])
    assert len(warnings) == 1
    assert warnings[0].startswith(f"domains lists {domain}: clauseguard has no clauses for it, so it changes no "
                                  "document or guard. Have a lawyer look at it")
    assert points_to in warnings[0]


def test_domains_with_clauses_are_no_warning() -> None:
    assert _domain_warnings(["medical", "legal", "financial", "elections", "companionship", "education",
                             "mental_health"]) == []


def test_every_domain_is_read_by_a_clause_or_warned_about() -> None:
    """A domain that no built-in clause reads must be in the warning's table, and only such a domain."""
    from typing import get_args

    from clauseguard.generator.outputs import _UNCOVERED_DOMAINS
    from clauseguard.generator.profile import Domain

    clauses = Path(__file__).resolve().parents[2] / "clauses"
    text = "\n".join(p.read_text(encoding="utf-8") for p in clauses.rglob("*.md"))
    unread = {d for d in get_args(Domain) if f"'{d}'" not in text}
    assert unread == set(_UNCOVERED_DOMAINS)

# ---- product.effective_date: a date, written YYYY-MM-DD, and nothing else --------------------------------


def _with_date(value: str) -> str:
    text = EXAMPLES[0].read_text(encoding="utf-8")
    assert "effective_date: 2026-12-01" in text
    return text.replace("effective_date: 2026-12-01", f"effective_date: {value}", 1)


def _date_line() -> int:
    lines = EXAMPLES[0].read_text(encoding="utf-8").splitlines()
    return next(n for n, line in enumerate(lines, 1) if "effective_date:" in line)


@pytest.mark.parametrize(("value", "shown"), [
    ("0", "not 0"),  # was 1 January 1970: a number was read as a Unix time
    ("1767225600", "not 1767225600"),  # was 1 January 2026
    ("20270301", "not 20270301"),  # was "Datetimes provided to dates should have zero time"
    ("2027", "not 2027"),
    ('"03/01/2027"', "not '03/01/2027'"),  # was "invalid character in year"
    ('"1 March 2027"', "not '1 March 2027'"),
    ("2027-3-1", "not '2027-3-1'"),  # was "input is too short"
    ('"2027-W09-1"', "not '2027-W09-1'"),  # an ISO week date, which date.fromisoformat accepts
    ("2027-03-01 10:00:00", "without a time, not 2027-03-01 10:00:00"),
])
def test_effective_date_other_than_yyyy_mm_dd_is_one_clear_error(value: str, shown: str) -> None:
    """effective_date: 0 printed "Effective 1 January 1970" and 1767225600 became 2026-01-01; other formats
    gave pydantic's messages, none naming the expected format. Each is now one error naming line, key
    and YYYY-MM-DD."""
    with pytest.raises(ProfileError) as caught:
        parse_profile(_with_date(value))
    assert str(caught.value) == (f"profile.yaml:{_date_line()}: product.effective_date: expected a date written "
                                 f"YYYY-MM-DD, such as 2027-03-01, {shown}")


@pytest.mark.parametrize("value", ["2027-02-30", '"2027-02-30"'])
def test_an_effective_date_that_is_no_real_day_names_the_key(value: str) -> None:
    """2027-02-30 (a YAML date YAML itself cannot build) gave an error naming the line but not the key."""
    with pytest.raises(ProfileError) as caught:
        parse_profile(_with_date(value))
    text = str(caught.value)
    assert text.startswith(f"profile.yaml:{_date_line()}: product.effective_date: "), text
    assert "'2027-02-30'" in text and "YYYY-MM-DD" in text and "day is out of range for month" in text


@pytest.mark.parametrize("value", ["2027-03-01", "'2027-03-01'", '"2027-03-01"'])
def test_effective_date_as_a_yaml_date_or_a_quoted_one_is_accepted(value: str) -> None:
    assert str(parse_profile(_with_date(value)).product.effective_date) == "2027-03-01"
