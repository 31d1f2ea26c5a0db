"""The questionnaire form as answers: defaults to show, submitted fields read and converted, a profile built.

The questions are those of ``clauseguard init`` (:data:`~clauseguard.generator.questionnaire.QUESTIONS`),
so the page and the terminal can never ask different things. Errors are keyed by profile key path
(``operator.contact_email``, ``models.0``) and attached to the field that shows them.
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError
from starlette.datastructures import FormData

__all__ = ["MODEL_FIELDS", "MODEL_ROWS", "build_profile", "defaults", "field_for", "licences", "model_blanks",
           "questions", "read_questionnaire"]

MODEL_ROWS = 3  # rows offered for models in the questionnaire (no JavaScript to add more)
MODEL_FIELDS = ("name", "license", "license_name")


def questions() -> tuple[Any, ...]:
    """The questions, imported late so that importing the server does not load the generator."""
    from clauseguard.generator.questionnaire import QUESTIONS

    return QUESTIONS


def _shown(value: Any) -> Any:
    """A default as the form shows it: ``yes``/``no``, ISO dates, lists as lists."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list):
        return list(value)
    return "" if value is None else str(value)


def defaults() -> dict[str, Any]:
    """Form values before any answer; defaults that depend on other answers are left blank."""
    from clauseguard.generator.questionnaire import NO_DEFAULT

    values: dict[str, Any] = {}
    for q in questions():
        if q.when is None or not callable(q.default):
            default = q.default_for({})
            values[q.key] = "" if default is NO_DEFAULT else _shown(default)
    return values


def model_blanks() -> dict[str, str]:
    """Empty values for every field of every model row."""
    return {f"models.{i}.{k}": "" for i in range(MODEL_ROWS) for k in MODEL_FIELDS}


def licences() -> list[str]:
    """The licence ids a model row offers, plus ``other`` (then a licence name is asked for)."""
    from clauseguard.generator.licences import known_licence_ids

    return [*sorted(known_licence_ids()), "other"]


def _read_models(form: FormData) -> list[dict[str, str]]:
    rows = []
    for i in range(MODEL_ROWS):
        entry = {k: str(form.get(f"models.{i}.{k}", "")).strip() for k in MODEL_FIELDS}
        if entry["name"]:
            rows.append({k: v for k, v in entry.items() if v})
    return rows


def _raw_answer(q: Any, form: FormData) -> Any:
    """The submitted answer to ``q``, or None when the field was left blank."""
    if q.kind == "list" and q.choices:
        return form.getlist(q.key)
    if q.kind == "models":
        return _read_models(form)
    value = str(form.get(q.key, "")).strip()
    return value or None


def read_questionnaire(form: FormData) -> tuple[dict[str, Any], dict[str, Any], dict[str, str]]:
    """``(values to show again, converted answers by key path, errors by key path)``."""
    values: dict[str, Any] = {}
    given: dict[str, Any] = {}
    errors: dict[str, str] = {}
    for q in questions():
        raw = _raw_answer(q, form)
        values[q.key] = "" if raw is None else raw
        if raw is None:
            continue
        try:
            given[q.key] = q.convert(raw)
        except ValueError as err:
            errors[q.key] = str(err)
    for i in range(MODEL_ROWS):
        for k in MODEL_FIELDS:
            values[f"models.{i}.{k}"] = str(form.get(f"models.{i}.{k}", ""))
    return values, given, {**_unanswered(given), **errors}


def _unanswered(given: dict[str, Any]) -> dict[str, str]:
    """Questions always asked that have no default and got no answer (all named at once)."""
    from clauseguard.generator.questionnaire import NO_DEFAULT

    return {q.key: "an answer is required" for q in questions()
            if q.when is None and q.required and q.default is NO_DEFAULT and given.get(q.key) in (None, [])}


def field_for(path: str) -> str:
    """The question whose field shows an error at ``path`` ("" for the top of the form)."""
    keys = [q.key for q in questions()]
    if path in keys:
        return path
    parents = [k for k in keys if path.startswith(k + ".")]
    children = [k for k in keys if k.startswith(path + ".")]
    return max(parents, key=len) if parents else (children[0] if children else "")


def build_profile(given: dict[str, Any]) -> tuple[Any, dict[str, Any], dict[str, str]]:
    """The validated profile and its data from the answers, or ``(None, data, errors by key path)``."""
    from clauseguard.errors import ProfileError
    from clauseguard.generator.profile import Profile
    from clauseguard.generator.questionnaire import collect_answers

    try:
        data = collect_answers(given, ask=None)
    except ProfileError as err:
        key = next((q.key for q in questions() if repr(q.key) in err.message), "")
        return None, {}, {key: err.message}
    try:
        return Profile.model_validate(data), data, {}
    except ValidationError as err:
        return None, data, {".".join(str(p) for p in e["loc"]): e["msg"].removeprefix("Value error, ")
                            for e in err.errors()}
