"""``clauseguard init``: the questions that produce a profile.yaml, kept as data.

As in copier's ``_user_data.py``, each :class:`Question` is a record: the profile key path it fills,
the prompt, help text, a default (a value, or a function of the answers so far), choices, a ``when``
condition and a validator. ``when`` is a Jinja2 expression over the earlier answers — the same
language lawyers use for ``applies_when`` — so the list reads as data and is tested as data.

Answers come from three places, in this order: an answers file (YAML or JSON, keys as key paths
``product.name`` or nested mappings), the person at the terminal (through an ``ask`` callable, so
tests can drive it), or the defaults (``yes=True``). The result is validated by
:func:`~clauseguard.generator.profile.parse_profile` before anything is written, and written
atomically with a header stamping the clauseguard version.
"""

from __future__ import annotations

import json
import re
import typing
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import date
from functools import cache
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import ValidationError

from clauseguard import __version__
from clauseguard._atomic import write_text
from clauseguard._yaml import YamlError, line_of, load_yaml
from clauseguard.errors import ProfileError, UserError
from clauseguard.generator.profile import (
    MAX_VALUES,
    Profile,
    _validation_error,
    error_message,
    parse_profile,
    short_repr,
    strict_date,
)

__all__ = ["NO_DEFAULT", "QUESTIONS", "Ask", "Question", "click_ask", "collect_answers", "load_answers", "run_init"]

Kind = Literal["str", "bool", "int", "list", "date", "models"]
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_URL = re.compile(r"^https?://\S+$")
NO_DEFAULT = object()  # "this question has no default" (a marker, compared with `is`)


def _email(value: str) -> str:
    if not _EMAIL.match(value):
        raise ValueError(f"{value!r} is not an email address")
    return value


def _url(value: str) -> str:
    if not _URL.match(value):
        raise ValueError(f"{value!r} is not a URL starting with http:// or https://")
    return value


def _age(value: int) -> int:
    if not 0 <= value <= 21:
        raise ValueError("minimum age must be between 0 and 21")
    return value


@dataclass(frozen=True)
class Question:
    """One question; ``key`` is the profile key path it fills (``"operator.dmca_agent.email"``)."""

    key: str
    prompt: str
    help: str = ""
    kind: Kind = "str"
    default: Any = NO_DEFAULT  # a value, or a callable taking the answers so far (nested dict)
    choices: tuple[str, ...] = ()
    when: str | None = None  # Jinja2 expression over the answers so far
    validator: Callable[[Any], Any] | None = None
    required: bool = True  # an optional question left blank leaves its key out

    def default_for(self, answers: Mapping[str, Any]) -> Any:
        """The default given the answers so far, or ``NO_DEFAULT``."""
        return self.default(answers) if callable(self.default) else self.default

    def applies(self, answers: Mapping[str, Any]) -> bool:
        """Whether to ask: ``when`` evaluated over the answers (an unanswered key is false)."""
        return self.when is None or bool(_compile(self.when)(**answers))

    def convert(self, value: Any) -> Any:
        """Coerce an answer (typed from a file, or text from a prompt) and validate it."""
        value = _CONVERTERS[self.kind](value)
        if self.choices:
            items = value if isinstance(value, list) else [value]
            bad = [v for v in items if v not in self.choices]
            if bad:
                raise ValueError(f"{', '.join(map(str, bad))} not among: {', '.join(self.choices)}")
        return self.validator(value) if self.validator else value

    def check(self, text: Any) -> Any:
        """``convert``, then the profile schema's checks of the value, so the terminal asks again at once
        (a whole-profile error after the last question would lose every answer)."""
        value = self.convert(text)
        if self.required or value not in ("", None):  # a blank optional answer leaves the key out
            _check_schema(self.key, value)
        return value


def _check_schema(key: str, value: Any) -> None:
    """Check one answer against the profile schema at ``key``; a ValueError says what is wrong."""
    *parents, leaf = key.split(".")
    model: Any = Profile
    for part in parents:
        annotation = model.model_fields[part].annotation
        model = next((a for a in typing.get_args(annotation) if a is not type(None)), annotation)  # X | None
    _check_field(model, leaf, value)


def _check_field(model: Any, field: str, value: Any) -> None:
    """``model``'s checks of ``field`` alone (the errors about its other, missing fields are not ours)."""
    try:
        model.model_validate({field: value})
    except ValidationError as err:
        mine = [e for e in err.errors() if e["loc"][:1] == (field,)]
        if mine:
            raise ValueError(error_message(mine[0])) from err


@cache
def _compile(expression: str) -> Callable[..., Any]:
    from jinja2.sandbox import SandboxedEnvironment

    return SandboxedEnvironment().compile_expression(expression)


def _to_str(value: Any) -> str:
    if isinstance(value, bool | list | dict) or value is None:
        raise ValueError(f"expected text, got {short_repr(value)}")
    return str(value).strip()


def _to_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in {"y", "yes", "true", "1"}:
        return True
    if text in {"n", "no", "false", "0"}:
        return False
    raise ValueError(f"expected yes or no, got {value!r}")


def _to_int(value: Any) -> int:
    if isinstance(value, bool):
        raise ValueError(f"expected a whole number, got {value!r}")
    try:
        return int(str(value).strip())
    except ValueError as err:
        raise ValueError(f"expected a whole number, got {value!r}") from err


def _to_list(value: Any) -> list[str]:
    items = value if isinstance(value, list) else str(value).split(",")
    return [str(v).strip() for v in items if str(v).strip()]


def _to_date(value: Any) -> date:
    return strict_date(value)  # as the profile: not a number (a Unix time), 20270301 or 2027-W09-1


def _to_models(value: Any) -> list[dict[str, Any]]:
    if not isinstance(value, list) or not all(isinstance(m, dict) for m in value):
        raise ValueError("expected a list of {name, license} mappings")
    return value


_CONVERTERS: dict[str, Callable[[Any], Any]] = {
    "str": _to_str, "bool": _to_bool, "int": _to_int, "list": _to_list, "date": _to_date, "models": _to_models,
}


def _choices(name: str) -> tuple[str, ...]:
    from clauseguard.generator import profile

    return typing.get_args(getattr(profile, name))


def _q(key: str, prompt: str, help: str = "", **kw: Any) -> Question:
    return Question(key=key, prompt=prompt, help=help, **kw)


QUESTIONS: tuple[Question, ...] = (
    _q("operator.legal_name", "Legal name of the company or person running the product",
       "It is the party to the terms: users' agreement is with them."),
    _q("operator.contact_email", "Contact email for legal questions", validator=_email),
    _q("operator.address", "Postal address for legal notices"),
    _q("product.name", "Product name", "As users see it; it appears in every document."),
    _q("product.url", "Product URL", "Where the service is offered, e.g. https://example.com.", validator=_url),
    _q("product.description", "One sentence on what the product does", default="", required=False),
    _q("product.interfaces", "How do users reach it?", "Comma-separated.", kind="list",
       choices=_choices("Interface"), default=["web"]),
    _q("product.effective_date", "Date the documents take effect (YYYY-MM-DD)", kind="date",
       default=lambda _a: date.today()),
    _q("product.governing_law", "Governing law", "e.g. 'Ireland' or 'the State of Delaware, USA'."),
    _q("jurisdictions", "Where are your users?", "Comma-separated; each adds that place's legal duties.",
       kind="list", choices=_choices("Jurisdiction")),
    _q("modalities.inputs", "What do users send?", "Comma-separated.", kind="list", choices=_choices("Mode"),
       default=["text"]),
    _q("modalities.outputs", "What does the product generate?", "Comma-separated.", kind="list",
       choices=_choices("Mode"), default=["text"]),
    _q("audience.minimum_age", "Minimum age of users", "Under 18 adds child-protection clauses.", kind="int",
       default=18, validator=_age),
    _q("audience.consumer", "Do consumers (not only businesses) use it?", kind="bool", default=True),
    _q("user_content.uploads", "Can users upload files?", kind="bool", default=False),
    _q("user_content.public_sharing", "Can users share content publicly (a gallery, public links)?",
       "Public sharing makes the service a hosting service with notice-and-takedown duties.",
       kind="bool", default=False),
    _q("operator.dmca_agent.name", "Name of your DMCA designated agent (blank if none yet)",
       "US hosts of user content need one registered with the Copyright Office to keep the §512 safe harbour.",
       when="(user_content.uploads or user_content.public_sharing) and 'US' in jurisdictions",
       default="", required=False),
    _q("operator.dmca_agent.email", "DMCA agent email", when="operator and operator.dmca_agent",
       default=lambda a: a["operator"]["contact_email"], validator=_email),
    _q("operator.dmca_agent.address", "DMCA agent postal address", when="operator and operator.dmca_agent",
       default=lambda a: a["operator"]["address"]),
    _q("operator.dmca_agent.phone", "DMCA agent telephone number",
       "17 U.S.C. §512(c)(2)(A): the designation, and what you show users, includes the agent's phone.",
       when="operator and operator.dmca_agent", default="", required=False),
    _q("operator.dsa_contact_email", "Single point of contact email under the EU DSA",
       "DSA Art. 11/12. Leave blank if it is the contact email above.", when="'EU' in jurisdictions",
       default="", required=False, validator=lambda v: _email(v) if v else v),
    _q("operator.uk_representative", "Your representative in the UK (blank if you are established there)",
       "UK GDPR Art. 27: a controller outside the UK with UK users names one in its privacy notice.",
       when="'UK' in jurisdictions", default="", required=False),
    _q("operator.dpo_email", "Your data protection officer's email (blank if you need none)",
       "GDPR Art. 37: public bodies, and those whose core activity is large-scale monitoring or special-category "
       "data, must appoint one and publish the contact.", when="'EU' in jurisdictions or 'UK' in jurisdictions",
       default="", required=False, validator=lambda v: _email(v) if v else v),
    _q("data.logs_ip_addresses", "Do you log users' IP addresses?", kind="bool", default=False),
    _q("data.ip_retention_days", "Days you keep IP addresses", kind="int", default=30,
       when="data and data.logs_ip_addresses"),
    _q("data.stores_prompts", "Do you store prompts and outputs?", kind="bool", default=False),
    _q("data.prompt_retention_days", "Days you keep prompts and outputs", kind="int", default=30,
       when="data and data.stores_prompts",
       help="0 means you keep nothing after the response: the documents then say prompts are not stored."),
    _q("data.trains_on_user_data", "Do you train models on users' data?", kind="bool", default=False),
    _q("data.training_consent", "Is training opt_out (on unless a user objects) or opt_in (off until a user agrees)?",
       "opt_in: your service asks each user first, and they can withdraw at any time (GDPR Art. 7(3)).",
       choices=("opt_out", "opt_in"), default="opt_out", when="data and data.trains_on_user_data"),
    _q("models", "Models the product runs on", "Their licences pass duties on to your users.",
       kind="models", default=[]),
    _q("domains", "Sensitive domains it may touch", "Comma-separated, or blank for none.", kind="list",
       choices=_choices("Domain"), default=[]),
    _q("features.realistic_people", "Can it depict realistic people?", kind="bool", default=False),
    _q("features.automated_decisions", "Does it make decisions about people with legal or similar effect?",
       kind="bool", default=False),
    _q("features.agents_tools", "Does it act through tools or agents (send email, browse, pay)?", kind="bool",
       default=False),
    _q("features.emotion_recognition", "Does it infer users' emotions?", kind="bool", default=False),
)

Ask = Callable[[Question, Any], Any]
"""``ask(question, default) -> answer``: the terminal (``click_ask``) or, in tests, a script."""


# ---- asking at the terminal ------------------------------------------------------------------------


def click_ask(question: Question, default: Any) -> Any:
    """Ask one question with click, re-asking until the answer converts and validates."""
    import click

    if question.help:
        click.secho(f"  {question.help}", dim=True)
    if question.kind == "bool":
        return click.confirm(question.prompt, default=None if default is NO_DEFAULT else default)
    if question.kind == "models":
        return _ask_models(click)
    shown = _show_default(default)
    prompt = f"{question.prompt} [{', '.join(question.choices)}]" if question.choices else question.prompt

    def check(text: str) -> Any:
        try:
            return question.check(text)
        except ValueError as err:
            raise click.BadParameter(str(err)) from err

    return click.prompt(prompt, default=shown, value_proc=check, show_default=bool(shown))


def _show_default(default: Any) -> str | None:
    if default is NO_DEFAULT:
        return None
    if isinstance(default, list):
        return ", ".join(default)
    return str(default)


def _ask_models(click: Any) -> list[dict[str, str]]:
    from clauseguard.generator.licences import known_licence_ids

    def checked(field: str) -> Callable[[str], str]:
        def check(text: str) -> str:
            text = text.strip()
            try:
                return _check_model_field(field, text) if text or field != "name" else text
            except ValueError as err:
                raise click.BadParameter(str(err)) from err
        return check

    licences = click.Choice([*sorted(known_licence_ids()), "other"])
    models = []
    while name := click.prompt("  Model name (blank to finish)", default="", show_default=False,
                               value_proc=checked("name")):
        entry = {"name": name, "license": click.prompt("  Its licence (Hugging Face id)", type=licences)}
        if entry["license"] == "other":
            entry["license_name"] = click.prompt("  Licence name", value_proc=checked("license_name"))
        models.append(entry)
    return models


def _check_model_field(field: str, value: str) -> str:
    """One field of a ``models`` entry against the profile schema, so the terminal asks again at once."""
    from clauseguard.generator.profile import ModelEntry

    _check_field(ModelEntry, field, value)
    return value


# ---- collecting answers --------------------------------------------------------------------------


Loc = tuple[str | int, ...]


def _leaves(data: Mapping[str, Any], raw: Loc = ()) -> Iterator[tuple[str, Loc, Any]]:
    """``(key path, keys as written, value)`` of every answer; lists and empty mappings are one answer."""
    for key, value in data.items():
        if isinstance(value, Mapping) and value:
            yield from _leaves(value, (*raw, key))
        else:
            yield ".".join(map(str, (*raw, key))), (*raw, key), value


def _flatten(data: Mapping[str, Any], duplicate: Callable[[str, Loc, Loc], Exception] | None = None) -> dict[str, Any]:
    """``{"product": {"name": "X"}}`` -> ``{"product.name": "X"}``; lists stay whole.

    One key path given twice, nested (``audience: {minimum_age: 13}``) and dotted (``audience.minimum_age:
    18``), or given whole and a key inside it as well (``audience: {}`` and ``audience.minimum_age``), is
    ``duplicate(path, first keys, second keys)`` raised (by default a :class:`ProfileError`): which one wins
    would otherwise depend on their order in the file.
    """
    out: dict[str, Any] = {}
    written: dict[str, Loc] = {}  # each path given, and each group that has a path below it
    for path, raw, value in _leaves(data):
        parts = path.split(".")
        groups = [".".join(parts[:n]) for n in range(1, len(parts))]
        clash = path if path in written else next((g for g in groups if g in out), None)
        if clash is not None:
            error = duplicate or _duplicate
            raise error(clash, written[clash], raw)
        out[path] = value
        for name in (*groups, path):
            written.setdefault(name, raw)
    return out


def _duplicate(path: str, first: Loc, second: Loc, where: str | None = None) -> ProfileError:
    return ProfileError(f"cannot read answers: duplicate key {path!r}, given as {_written(first)} and again as "
                        f"{_written(second)}", where=where)


def _written(raw: Loc) -> str:
    """How the answers file wrote a key: ``audience: minimum_age:`` (nested) or ``audience.minimum_age:``."""
    return "`" + ": ".join(map(str, raw)) + ":`"


def _set(data: dict[str, Any], path: str, value: Any, where: Callable[[str], str] | None = None) -> None:
    """Put ``value`` at the dotted ``path``. A key below an answer that is a list or a single value
    (``models.name``, ``audience.minimum_age.value``) is a :class:`ProfileError` at ``where(path)``."""
    *parents, leaf = path.split(".")
    for depth, part in enumerate(parents):
        data = data.setdefault(part, {})
        if not isinstance(data, dict):
            parent = ".".join(parents[: depth + 1])
            raise ProfileError(f"{path}: {_not_a_group(parent, data, value)}",
                               where=where(path) if where is not None else None)
    data[leaf] = value


def _not_a_group(parent: str, found: Any, value: Any) -> str:
    """Why no key can go below ``parent`` (a list or a single value), and how to write the answer."""
    question = next((q for q in QUESTIONS if q.key == parent), None)
    if question is not None and question.kind == "models":
        return (f"{parent} is a list with one entry per model, not a group of keys; write each model as an entry "
                f"of the list: `{parent}: [{{name: ..., license: ...}}]`")
    if isinstance(found, list) or (question is not None and question.kind == "list"):
        example = ", ".join((question.choices if question is not None else ())[:2]) or "first, second"
        return f"{parent} is a list, not a group of keys; answer it as a list: `{parent}: {example}`"
    if found is None:
        return f"{parent} is empty (null), not a group of keys; write its keys below it, or leave it out"
    kinds = {"int": "a number", "bool": "yes or no", "date": "a date"}
    kind = kinds.get(question.kind if question is not None else "", "one value")
    return f"{parent} is {kind}, not a group of keys; answer it directly: `{parent}: {short_repr(value)}`"


def load_answers(path: Path) -> dict[str, Any]:
    """Read an answers file (YAML or JSON) into flat key paths. Raises :class:`ProfileError`."""
    return _read_answers(path)[0]


def _read_answers(path: Path) -> tuple[dict[str, Any], dict[tuple[str | int, ...], int]]:
    """The flat answers and, for YAML, the line of each key path (dotted keys split into parts)."""
    try:
        text = path.read_text(encoding="utf-8")
        if path.suffix == ".json":
            data, raw_lines = json.loads(text), {}
        else:
            data, raw_lines = load_yaml(text, str(path), max_values=MAX_VALUES)
    except YamlError as err:
        where = f"{path}:{err.line}" if err.line else str(path)
        raise ProfileError(f"cannot read answers: {err}", where=where) from err
    except (OSError, UnicodeDecodeError, ValueError) as err:
        raise ProfileError(f"cannot read answers: {err}", where=str(path)) from err
    if data is None:
        return {}, {}
    if not isinstance(data, dict):
        raise ProfileError("answers must be a mapping of key paths to values", where=str(path))
    lines = {_split_loc(loc): line for loc, line in raw_lines.items()}

    def duplicate(key: str, first: Loc, second: Loc) -> ProfileError:
        at = raw_lines.get(first), raw_lines.get(second)
        if None in at:  # JSON: no lines
            return _duplicate(key, first, second, where=str(path))
        if at[0] > at[1]:  # a group's keys come together, though the file may give one after a dotted key
            at, first, second = (at[1], at[0]), second, first
        return ProfileError(f"cannot read answers: duplicate key {key!r}, given on line {at[0]} as "
                            f"{_written(first)} and again on line {at[1]} as {_written(second)}",
                            where=f"{path}:{at[1]}")

    return _flatten(data, duplicate), lines


def _split_loc(loc: tuple[str | int, ...]) -> tuple[str | int, ...]:
    """``("product.name",)`` (a dotted key in the answers file) -> ``("product", "name")``."""
    return tuple(part for key in loc for part in (key.split(".") if isinstance(key, str) else [key]))


def _answers_where(path: Path, lines: dict[tuple[str | int, ...], int]) -> Callable[[str], str]:
    """``where("audience.minimum_age")`` -> ``"answers.yaml:4"``, the answers file line of that key."""

    keyed = {loc: line for loc, line in lines.items() if loc}  # a key absent from the file: no line

    def where(key: str) -> str:
        line = line_of(keyed, tuple(key.split(".")))
        return f"{path}:{line}" if line else str(path)

    return where


def _answer(question: Question, given: dict[str, Any], answers: dict[str, Any], ask: Ask | None,
            where: Callable[[str], str] | None) -> Any:
    """One answer, from the file, the person or the default; ``NO_DEFAULT`` to leave the key out."""
    place = where(question.key) if where is not None else None
    default = question.default_for(answers)
    if question.key in given:
        raw = given[question.key]
    elif ask is not None:
        raw = ask(question, default)
    elif default is not NO_DEFAULT:
        raw = default
    elif question.required:
        raise ProfileError(f"no answer for required key {question.key!r} ({question.prompt}), and no default",
                           where=place)
    else:
        return NO_DEFAULT
    if not question.required and raw in ("", None):
        return NO_DEFAULT
    try:
        return question.convert(raw)
    except ValueError as err:
        raise ProfileError(f"{question.key}: {err}", where=place if question.key in given else None) from err


def collect_answers(given: Mapping[str, Any], *, ask: Ask | None,
                    where: Callable[[str], str] | None = None) -> dict[str, Any]:
    """Answer every question that applies; return the nested profile data.

    ``ask=None`` means no one is asked: unanswered questions take their defaults (``--yes``). ``where``
    names the answers file line of a key path, for errors.
    Answers to questions that were not asked, or that no question asks for, are kept as given, so the
    profile validation judges them instead of their being dropped silently.
    """
    remaining = dict(given)
    answers: dict[str, Any] = {}
    for question in QUESTIONS:
        if not question.applies(answers):
            continue
        value = _answer(question, remaining, answers, ask, where)
        remaining.pop(question.key, None)
        if value is not NO_DEFAULT:
            _set(answers, question.key, value)
    for key, value in remaining.items():
        _set(answers, key, value, where)
    return answers


# ---- writing -------------------------------------------------------------------------------------------


def _render(data: dict[str, Any]) -> str:
    header = (
        f"# Risk profile written by `clauseguard init` (clauseguard {__version__}).\n"
        "# Edit it freely: `clauseguard schema` prints its JSON Schema, and\n"
        "# `clauseguard generate profile.yaml -o legal/` writes the documents from it.\n"
    )
    body = yaml.dump(data, Dumper=_ProfileDumper, sort_keys=False, allow_unicode=True, default_flow_style=False,
                     width=1_000_000)
    return header + body


class _ProfileDumper(yaml.SafeDumper):
    """Sections as indented blocks (a key added under one by hand stays valid YAML), one value a line;
    short lists of plain values in brackets, as the examples write them (``jurisdictions: [EU, US]``)."""

    def represent_list(self, data: Any) -> yaml.Node:
        flat = all(isinstance(v, str | int | float | bool) for v in data)
        return self.represent_sequence("tag:yaml.org,2002:seq", data, flow_style=flat)


_ProfileDumper.add_representer(list, _ProfileDumper.represent_list)


def run_init(
    output: Path,
    *,
    answers: Path | None = None,
    yes: bool = False,
    force: bool = False,
    ask: Ask | None = click_ask,
) -> Profile:
    """Ask the questions, validate the profile and write it to ``output``; return the profile.

    ``answers`` pre-fills key paths from a file; ``yes`` takes defaults for whatever is left instead of
    asking; ``ask`` is the function that asks one question (the terminal by default). An existing file
    is kept unless ``force``. Nothing is written if the profile does not validate.
    """
    output = Path(output)
    if output.exists() and not force:
        raise UserError("already exists; pass --force to overwrite it", where=str(output))
    given, lines = _read_answers(answers) if answers is not None else ({}, {})
    where = _answers_where(answers, lines) if answers is not None else None
    data = collect_answers(given, ask=None if yes else ask, where=where)
    text = _render(data)
    try:
        profile = parse_profile(text, str(output))
    except ProfileError as err:
        named = _answers_error(text, answers, lines) if answers is not None else None
        if named is None:
            raise
        raise named from err
    write_text(output, text)
    return profile


def _answers_error(text: str, answers: Path, lines: dict[tuple[str | int, ...], int]) -> ProfileError | None:
    """The profile's validation errors named by the answers file and its lines (the profile itself was never
    written, so its lines would point nowhere); None if the failure was not a validation error."""
    try:
        Profile.model_validate(load_yaml(text, "profile")[0])
    except ValidationError as err:
        return _validation_error(err, str(answers), lines)
    return None
