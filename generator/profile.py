"""The risk profile: one description of an AI product, validated at the boundary.

The key names are a contract (see DESIGN.md, "profile.yaml"). Every model forbids unknown keys; an
error names the key path and the line in the file.

Values are plain text, never Markdown: clause bodies are Markdown, so :meth:`Profile.context` hands
templates every free-text value backslash-escaped (``*Acme*`` stays literal in every export). Control
characters are refused, numbers and flags must be real YAML integers and booleans (``true`` is not
``1``, ``"yes"`` is not ``true``), and a multi-line address is joined into one line with commas.
"""

from __future__ import annotations

import hashlib
import json
import re
import reprlib
from datetime import date, datetime
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    ValidationError,
    field_validator,
    model_validator,
)

from clauseguard._yaml import YamlError, decode, format_loc, line_of, load_yaml
from clauseguard.errors import ProfileError

__all__ = [
    "Audience",
    "Data",
    "DmcaAgent",
    "Features",
    "Modalities",
    "ModelEntry",
    "Operator",
    "Product",
    "Profile",
    "UserContent",
    "error_message",
    "escape_markdown",
    "load_profile",
    "parse_profile",
    "short_repr",
    "strict_date",
    "unescape_markdown",
]

_EMAIL = r"^[^@\s]+@[^@\s]+\.[^@\s]+$"
_URL = r"^https?://[^\s<>\"\\`]+$"

# ---- text values -------------------------------------------------------------------------------

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")  # C0 but tab and newline, DEL, C1
_LINE_BREAK = re.compile(r"[\n\u2028\u2029]")
# Markdown that acts anywhere in a line, and what acts only at the start of one (a value may open a line).
_MD_ANYWHERE = re.compile(r"[\\`*_\[\]<>~]|&(?=#?\w+;)")
_MD_LINE_START = re.compile(r"[#>+\-=]|\d+(?=[.)])")
_MD_ESCAPED = re.compile(r"\\([!-/:-@\[-`{-~])")
_NOT_TEXT = frozenset({"license", "effective_date", "training_consent"})  # ids and dates that templates compare


def escape_markdown(text: str) -> str:
    """Backslash-escape what Markdown would read as markup, so ``text`` renders as itself.

    ``*Acme* <b>`` -> ``\\*Acme\\* \\<b\\>``; a leading ``#``, ``-``, ``+``, ``>``, ``=`` or ``2.`` is
    escaped too, so a value that opens a line never becomes a heading or a list item. Text without
    Markdown characters comes back unchanged.
    """
    text = _MD_ANYWHERE.sub(lambda m: "\\" + m[0], text)
    start = _MD_LINE_START.match(text)
    if start is None:
        return text
    if start[0].isdigit():
        return f"{start[0]}\\{text[start.end():]}"
    return "\\" + text


def unescape_markdown(text: str) -> str:
    """The inverse of :func:`escape_markdown`: a backslash before ASCII punctuation is dropped."""
    return _MD_ESCAPED.sub(r"\1", text)


def _check_control(value: str) -> None:
    bad = _CONTROL.search(value)
    if bad:
        raise ValueError(f"contains a control character U+{ord(bad[0]):04X} (often pasted from a word "
                         "processor); remove it")


def _one_line(value: str) -> str:
    _check_control(value)
    if _LINE_BREAK.search(value):
        raise ValueError("must be on one line; it contains a line break")
    return value


def _joined(separator: str) -> Any:
    def join(value: str) -> str:
        _check_control(value)
        if not _LINE_BREAK.search(value):
            return value
        lines = (line.strip().rstrip(",").strip() for line in _LINE_BREAK.split(value))
        return separator.join(line for line in lines if line)

    return join


Text = Annotated[str, AfterValidator(_one_line)]
"""A one-line value: a line break or a control character is an error."""
Address = Annotated[str, AfterValidator(_joined(", "))]
"""A postal address: written over several lines, it becomes one line separated by commas."""
Prose = Annotated[str, AfterValidator(_joined(" "))]
"""A sentence: line breaks become spaces."""

_ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_DATE_EXPECTED = "expected a date written YYYY-MM-DD, such as 2027-03-01"


def strict_date(value: Any) -> date:
    """A YAML date or a ``'YYYY-MM-DD'`` string, as a date. Anything else is a ValueError saying so:
    pydantic alone would read ``0`` as 1 January 1970 (a Unix time) and ``20270301`` as a time of day."""
    if isinstance(value, datetime):
        raise ValueError(f"{_DATE_EXPECTED}, without a time, not {value.isoformat(' ')}")
    if isinstance(value, date):
        return value
    if isinstance(value, str) and _ISO_DATE.fullmatch(value.strip()):
        try:
            return date.fromisoformat(value.strip())
        except ValueError as err:
            raise ValueError(f"{value.strip()!r} is not a real date ({err}); {_DATE_EXPECTED}") from err
    raise ValueError(f"{_DATE_EXPECTED}, not {short_repr(value)}")


Date = Annotated[date, BeforeValidator(strict_date)]
"""A calendar date: a YAML date (``2027-03-01``) or the same written as a string; never a number."""


def _escaped(data: Any, key: str = "") -> Any:
    """Every free-text string in dumped profile data, Markdown-escaped; lists of ids are left alone."""
    if isinstance(data, dict):
        return {k: _escaped(v, k) for k, v in data.items()}
    if isinstance(data, list):
        return [_escaped(v) if isinstance(v, dict) else v for v in data]
    if isinstance(data, str) and key not in _NOT_TEXT:
        return escape_markdown(data)
    return data


Jurisdiction = Literal["EU", "US", "UK", "CA", "AU", "IN", "BR", "JP", "OTHER"]
Mode = Literal["text", "image", "audio", "video", "code"]
Interface = Literal["web", "api", "chat", "mobile", "desktop", "plugin"]
Domain = Literal[
    "medical", "legal", "financial", "elections", "companionship", "news",
    "education", "employment", "housing", "insurance", "mental_health",
]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


class DmcaAgent(_Model):
    """The agent designated with the US Copyright Office under 17 U.S.C. §512(c)(2)."""

    name: Text = Field(min_length=1)
    email: Text = Field(pattern=_EMAIL)
    address: Address = Field(min_length=1)
    phone: Text | None = None


class Operator(_Model):
    """Who runs the product and answers for it."""

    legal_name: Text = Field(min_length=1, description="the company or person that operates the product")
    contact_email: Text = Field(pattern=_EMAIL)
    address: Address = Field(min_length=1, description="postal address for legal notices; lines are joined with commas")
    dmca_agent: DmcaAgent | None = Field(default=None, description="needed when users upload content in the US")
    eu_representative: Address | None = Field(default=None,
                                              description="GDPR Art. 27 / DSA Art. 13 representative")
    uk_representative: Address | None = Field(
        default=None, description="UK GDPR Art. 27 representative, if established outside the UK")
    dpo_email: Text | None = Field(default=None, pattern=_EMAIL,
                                   description="data protection officer's contact, where GDPR Art. 37 requires one")
    dsa_contact_email: Text | None = Field(default=None, pattern=_EMAIL,
                                          description="DSA Art. 11/12 single point of contact")


class Product(_Model):
    name: Text = Field(min_length=1)
    url: Text = Field(min_length=1, pattern=_URL)
    description: Prose = Field(default="", description="one sentence on what the product does")
    interfaces: list[Interface] = Field(default_factory=lambda: ["web"], min_length=1)
    effective_date: Date = Field(description="the date the documents take effect, YYYY-MM-DD")
    governing_law: Text = Field(min_length=1, description="e.g. 'the State of Delaware, USA' or 'Ireland'")


class Modalities(_Model):
    inputs: list[Mode] = Field(default_factory=lambda: ["text"], min_length=1)
    outputs: list[Mode] = Field(default_factory=lambda: ["text"], min_length=1)


class Audience(_Model):
    minimum_age: StrictInt = Field(default=18, ge=0, le=21)
    consumer: StrictBool = True


class UserContent(_Model):
    uploads: StrictBool = False
    public_sharing: StrictBool = False


class Data(_Model):
    """What the product keeps. ``stores_prompts: true`` with ``prompt_retention_days: 0`` reads as not
    storing prompts (``stores_prompts`` becomes false): content kept for no days is not kept, and the
    privacy notice would otherwise promise a stored history and say in the same breath that nothing is kept."""

    logs_ip_addresses: StrictBool = False
    ip_retention_days: StrictInt = Field(default=30, ge=0, le=3650)
    stores_prompts: StrictBool = False
    prompt_retention_days: StrictInt = Field(default=30, ge=0, le=3650)
    trains_on_user_data: StrictBool = False
    # How users agree to training, when the product trains: ``opt_out`` (it trains unless the user objects,
    # legitimate interests) or ``opt_in`` (it trains only on data of users who turned it on: consent,
    # withdrawable at any time, GDPR Art. 7(3)). Ignored when ``trains_on_user_data`` is false.
    training_consent: Literal["opt_out", "opt_in"] = "opt_out"

    @model_validator(mode="before")
    @classmethod
    def _zero_days_is_not_storing(cls, data: Any) -> Any:
        if (isinstance(data, dict) and data.get("stores_prompts") is True
                and type(data.get("prompt_retention_days")) is int and data["prompt_retention_days"] == 0):
            return {**data, "stores_prompts": False}
        return data


class ModelEntry(_Model):
    name: Text = Field(min_length=1)
    license: Text = Field(min_length=1, description="a Hugging Face licence id, or 'other'")
    license_name: Text | None = Field(default=None, description="the licence's name when license is 'other'")
    license_url: Text | None = Field(default=None, pattern=_URL)

    @field_validator("license")
    @classmethod
    def _known_license(cls, v: str) -> str:
        from clauseguard.generator.licences import known_licence_ids

        known = known_licence_ids()
        if v not in known and v != "other":
            raise ValueError(f"unknown licence {v!r}; known: {', '.join(sorted(known))}, or 'other' with license_name")
        return v

    @model_validator(mode="after")
    def _other_needs_name(self) -> ModelEntry:
        if self.license == "other" and not self.license_name:
            raise ValueError("license 'other' needs license_name")
        return self


class Features(_Model):
    realistic_people: StrictBool = False
    automated_decisions: StrictBool = False
    agents_tools: StrictBool = False
    emotion_recognition: StrictBool = False


class Profile(_Model):
    """profile.yaml."""

    operator: Operator
    product: Product
    jurisdictions: list[Jurisdiction] = Field(min_length=1)
    modalities: Modalities = Field(default_factory=Modalities)
    audience: Audience = Field(default_factory=Audience)
    user_content: UserContent = Field(default_factory=UserContent)
    data: Data = Field(default_factory=Data)
    models: list[ModelEntry] = Field(default_factory=list)
    domains: list[Domain] = Field(default_factory=list)
    features: Features = Field(default_factory=Features)

    @field_validator("jurisdictions", "domains")
    @classmethod
    def _unique(cls, v: list[str]) -> list[str]:
        dupes = sorted({x for x in v if v.count(x) > 1})
        if dupes:
            raise ValueError(f"listed twice: {dupes}")
        return v

    def context(self, *, markdown: bool = True) -> dict[str, Any]:
        """The profile as plain data for templates and ``applies_when`` expressions.

        Clause bodies are Markdown, so every free-text value (names, addresses, e-mails, URLs) comes
        Markdown-escaped (:func:`escape_markdown`); ids, dates, numbers and flags come as they are.
        ``markdown=False``: the values as written, for plain text (guard parameters shown to users).
        """
        data = self.model_dump(mode="json")
        return _escaped(data) if markdown else data

    def sha256(self) -> str:
        """A hash of the validated profile (not escaped), stable across formatting and key order."""
        canonical = json.dumps(self.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()


MAX_VALUES = 100_000  # values a profile may hold once its YAML aliases are expanded; a real one has hundreds

_PATTERN_MESSAGES = {
    _EMAIL: "expected an email address such as legal@example.com",
    _URL: "expected a web address starting with https:// or http://, without spaces, quotes or <>",
}
_TYPE_MESSAGES = {
    "int_type": "expected an integer (a whole number such as 30)",
    "bool_type": "expected true or false",
    "string_type": "expected text",
}


_REPR = reprlib.Repr()
_REPR.maxlevel, _REPR.maxlist, _REPR.maxdict, _REPR.maxstring, _REPR.maxother = 2, 4, 4, 60, 60
SHOWN_MAX = 80  # characters of a wrong value an error message shows


def short_repr(value: Any) -> str:
    """``repr(value)`` cut to about :data:`SHOWN_MAX` characters, without building the whole repr first:
    a list of YAML aliases can stand for billions of values."""
    text = _REPR.repr(value)
    return text if len(text) <= SHOWN_MAX else text[: SHOWN_MAX - 3] + "..."


def error_message(error: Any) -> str:
    """What one pydantic error (an item of ``ValidationError.errors()``) means, for a profile writer."""
    msg = error["msg"].removeprefix("Value error, ")
    if error["type"] == "extra_forbidden":
        return "unknown key (not part of the profile schema; see `clauseguard schema`)"
    if error["type"] == "missing":
        return "required key is missing"
    if error["type"] in _TYPE_MESSAGES:
        return f"{_TYPE_MESSAGES[error['type']]}, not {short_repr(error['input'])}"
    if error["type"] == "string_pattern_mismatch":
        expected = _PATTERN_MESSAGES.get(error.get("ctx", {}).get("pattern", ""), msg)
        return f"{expected}, not {short_repr(error['input'])}"
    return msg


def _validation_error(err: ValidationError, filename: str, lines: dict) -> ProfileError:
    """One message listing the first few problems, each as ``file:line: key.path: what``."""
    errors = err.errors()
    messages = []
    for e in errors[:5]:
        loc = tuple(e["loc"])
        line = line_of(lines, loc)
        messages.append(f"{filename}:{line or '?'}: {format_loc(loc)}: {error_message(e)}")
    if len(errors) > 5:
        messages.append(f"(and {len(errors) - 5} more)")
    return ProfileError("\n".join(messages))


def _key_of_bad_value(text: str, err: YamlError) -> str | None:
    """The key path whose value on ``err.line`` YAML could not build (``2027-02-30`` read as a date), so the
    message names it as a validation error would; None for other errors or when no key is found."""
    if not err.line or not str(err).startswith(("invalid date", "invalid value")):
        return None
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)  # nodes only: no value is built, so nothing fails
    except yaml.YAMLError:
        return None
    stack: list[tuple[Any, tuple[str | int, ...]]] = [(node, ())]
    seen: set[int] = set()
    while stack:
        node, path = stack.pop()
        if node is None or id(node) in seen:
            continue
        seen.add(id(node))
        if (isinstance(node, yaml.ScalarNode) and node.start_mark.line + 1 == err.line and path
                and repr(node.value) in str(err)):  # the message quotes the value: one of a line's several
            return format_loc(path)
        if isinstance(node, yaml.MappingNode):
            stack.extend((value, (*path, key.value)) for key, value in node.value)
        elif isinstance(node, yaml.SequenceNode):
            stack.extend((item, (*path, index)) for index, item in enumerate(node.value))
    return None


def parse_profile(text: str, filename: str = "profile.yaml") -> Profile:
    """Validate profile text. Raises :class:`ProfileError` naming file, line and key path."""
    try:
        data, lines = load_yaml(text, filename, max_values=MAX_VALUES)
    except YamlError as err:
        key = _key_of_bad_value(text, err)
        message = f"{key}: {err}" if key else str(err)
        raise ProfileError(message, where=f"{filename}:{err.line}" if err.line else filename) from err
    if not isinstance(data, dict):
        raise ProfileError("expected a mapping of keys (operator, product, jurisdictions, ...)", where=filename)
    try:
        return Profile.model_validate(data)
    except ValidationError as err:
        raise _validation_error(err, filename, lines) from err


def load_profile(path: str | Path) -> Profile:
    """Read and validate a profile file."""
    path = Path(path)
    try:
        text = decode(path.read_bytes())
    except FileNotFoundError as err:
        raise ProfileError("file not found", where=str(path)) from err
    except OSError as err:
        raise ProfileError(f"cannot read: {err.strerror or err}", where=str(path)) from err
    except YamlError as err:  # not UTF-8: the clause files get the same message
        raise ProfileError(str(err), where=f"{path}:{err.line}") from err
    return parse_profile(text, str(path))
