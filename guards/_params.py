"""Parameter schemas of every guard type, and the schema of one guards.yaml entry.

This module is data only (pydantic models, no guard logic), so the generator and ``clauseguard lint``
can validate guard specs without loading any guard runtime. A guard runtime registers under the same
type name (see ``_registry``); a type declared here with no runtime yet is reported as such when a
pipeline is built.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any, ClassVar, Literal, get_args

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator, model_validator

from clauseguard.guards._taxonomy import CATEGORIES
from clauseguard.guards._torch import DEVICE_PATTERN

__all__ = [
    "PARAMS",
    "Action",
    "ClassifierParams",
    "DisclaimerParams",
    "DisclosureParams",
    "GuardSpec",
    "ImageMarkParams",
    "ImageNsfwParams",
    "KeywordParams",
    "Modality",
    "PiiParams",
    "RateLimitParams",
    "RegexParams",
    "RegexPattern",
    "Stage",
    "SupportParams",
    "TopicParams",
]


class Action(StrEnum):
    """What a verdict does to the content."""

    ALLOW = "allow"
    BLOCK = "block"
    REDACT = "redact"
    LABEL = "label"
    DISCLAIM = "disclaim"
    FLAG = "flag"


class Stage(StrEnum):
    INPUT = "input"
    OUTPUT = "output"


class Modality(StrEnum):
    TEXT = "text"
    IMAGE = "image"


Category = Annotated[str, Field(description="S1-S14, pii, profanity, prompt_injection or ai_disclosure")]
Topic = Literal["medical", "legal", "financial", "elections"]
# Where a torch model runs and in which precision (see _torch): the transformers classifier backend and
# the sd_safety_checker image backend.
Device = Annotated[str, Field(pattern=DEVICE_PATTERN, description="cpu, cuda, cuda:N, mps or auto")]
Dtype = Literal["auto", "float32", "float16", "bfloat16"]


class _Params(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    # Which stages, modalities and on_fail actions a guard of this type accepts.
    STAGES: ClassVar[frozenset[str]] = frozenset({"input", "output"})
    MODALITIES: ClassVar[frozenset[str]] = frozenset({"text"})
    ACTIONS: ClassVar[frozenset[str]] = frozenset({"block", "flag"})


def _check_once(topics: list[str]) -> list[str]:
    twice = sorted({t for t in topics if topics.count(t) > 1})
    if twice:  # each would add its disclaimer and finding again
        raise ValueError(f"topics listed more than once: {twice}")
    return topics


def _check_categories(values: list[str]) -> list[str]:
    unknown = [v for v in values if v not in CATEGORIES]
    if unknown:
        raise ValueError(f"unknown categories {unknown}; known: {sorted(CATEGORIES)}")
    return values


# A score or threshold: a number (1 is 1.0), never `true` or "0.5", which YAML and pydantic would
# otherwise turn into 1.0 and 0.5 without a word (`thresholds: {S10: true}` switched S10 off).
Score = Annotated[float, Field(strict=True)]


def _not_a_bool(v: Any) -> Any:
    """A count, size or time given as `true`, `yes` or `false`: YAML reads those as booleans, and pydantic
    would take them as 1 and 0 without a word (`max_chars: yes` read one character, `capacity: true`
    allowed one request)."""
    if isinstance(v, bool):
        raise ValueError(f"expected a number, not {str(v).lower()}")
    return v


def _language_code(v: Any) -> Any:
    """An ISO 639 code that YAML read as a boolean: Norwegian's `no` (and `on`, `yes`, ...) unquoted."""
    if isinstance(v, bool):
        raise ValueError(f"expected a language code, not {str(v).lower()}: YAML reads no, yes, on and off "
                         "unquoted as booleans, so quote it ('no')")
    return v


LanguageCode = Annotated[str, BeforeValidator(_language_code), Field(pattern=r"^[a-z]{2,3}$")]

# Every other numeric parameter: a number, never a boolean.
Count = Annotated[int, BeforeValidator(_not_a_bool)]
Amount = Annotated[float, BeforeValidator(_not_a_bool)]
MaxChars = Annotated[int | None, BeforeValidator(_not_a_bool)]

# The harm lists, which a keyword guard with no ``categories`` uses; and every shipped list. prompt_injection is
# used only where named: it judges requests, and an answer about injections quotes its phrases.
KEYWORD_DEFAULTS = ("S1", "S4", "S9", "S10", "S11", "S12", "profanity")
KEYWORD_LISTS = (*KEYWORD_DEFAULTS, "prompt_injection")
# Default max_chars of the keyword guard: the pipeline's own limit (it reads a megabyte in well under a second).
MAX_CHARS_KEYWORD = 1_000_000


class KeywordParams(_Params):
    """Category-tagged term lists matched by one automaton over normalised text."""

    ACTIONS = frozenset({"block", "redact", "flag"})

    categories: list[str] = Field(default_factory=lambda: list(KEYWORD_DEFAULTS),
                                  description="shipped term lists to use; left out: the harm lists (all but "
                                              "prompt_injection), or none when terms is given")
    terms: dict[str, list[str]] = Field(default_factory=dict,
                                        description="your own terms, by category")
    allow: list[str] = Field(default_factory=list, description="terms never to match")
    match: Literal["word", "substring"] = "word"
    # Counted as folded for matching: a ligature such as U+FDFA is the eighteen letters it stands for, so
    # 999,999 of them (under the pipeline's max_chars) are 18 million characters, which took 2 to 4 s and
    # a gigabyte to read. Longer texts are not read: the guard's on_error applies (block by default).
    max_chars: MaxChars = Field(default=MAX_CHARS_KEYWORD, gt=0,
                                description="longest text the guard reads, in characters after Unicode folding; "
                                            "None: no limit")

    @model_validator(mode="before")
    @classmethod
    def _own_terms_alone(cls, data: Any) -> Any:
        """``terms`` without ``categories`` uses only those terms: a clause that adds ``{S9: [crossbow]}``
        pulled in all seven shipped lists, so the merged guard blocked profanity citing the violence clause."""
        if isinstance(data, dict) and "terms" in data and "categories" not in data:
            return {**data, "categories": []}
        return data

    @field_validator("categories")
    @classmethod
    def _known_lists(cls, v: list[str]) -> list[str]:
        unknown = [c for c in v if c not in KEYWORD_LISTS]
        if unknown:
            raise ValueError(f"no shipped term list for {unknown}; shipped: {list(KEYWORD_LISTS)}")
        return v

    @field_validator("terms")
    @classmethod
    def _term_categories(cls, v: dict[str, list[str]]) -> dict[str, list[str]]:
        _check_categories(list(v))
        for cat, terms in v.items():
            if any(not t.strip() for t in terms):
                raise ValueError(f"terms.{cat}: empty term")
        return v

    @model_validator(mode="after")
    def _matches_something(self) -> KeywordParams:
        if not self.categories and not any(self.terms.values()):
            raise ValueError("no term to match: name shipped lists in categories, or give your own terms")
        return self


class RegexPattern(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    name: str
    pattern: str
    category: str = "S2"
    ignore_case: bool = True

    @field_validator("pattern")
    @classmethod
    def _compiles(cls, v: str) -> str:
        """Compiled as the guard runs it: with the ``regex`` package (``\\p{L}``, variable-width look-behind)."""
        import regex

        if not v:
            raise ValueError("the pattern is empty: it would never match anything")
        try:
            regex.compile(v, regex.VERSION0)
        except regex.error as err:
            raise ValueError(f"regex does not compile: {err}") from err
        return v

    @field_validator("category")
    @classmethod
    def _category(cls, v: str) -> str:
        return _check_categories([v])[0]


class RegexParams(_Params):
    """User-supplied regular expressions, each run under a time budget."""

    ACTIONS = frozenset({"block", "redact", "flag"})

    patterns: list[RegexPattern] = Field(min_length=1)
    timeout_ms: Amount = Field(default=50.0, gt=0, le=10_000)


PII_ENTITIES = ("email", "phone", "credit_card", "iban", "ip_address", "us_ssn", "uk_nino", "secret")
# What a finding can be keyed by in category_clauses / category_messages: its category or its item.
_FINDING_KEYS = frozenset(CATEGORIES) | frozenset(get_args(Topic)) | frozenset(PII_ENTITIES)


# Default max_chars of the guards that run a model over text, and of the pii guard.
MAX_CHARS_READ = 100_000


class PiiParams(_Params):
    """Personal data and secrets: detect, then redact, mask, hash or block."""

    ACTIONS = frozenset({"block", "redact", "flag"})

    entities: list[Literal["email", "phone", "credit_card", "iban", "ip_address", "us_ssn", "uk_nino",
                           "secret"]] = Field(
        default_factory=lambda: list(PII_ENTITIES), min_length=1)
    mode: Literal["redact", "mask", "hash"] = "redact"
    backend: Literal["builtin", "presidio"] = "builtin"
    # The builtin detectors read 1 MB in under a second, but a text of hits (an e-mail every 7 characters)
    # makes a finding each: over a second per MB on two busy cores; presidio's recognizers took 5.6 s for
    # 100,000 characters of "4 4 4 ...". Longer texts are not read: the guard's on_error applies (block by
    # default), with a finding that says so.
    max_chars: MaxChars = Field(default=MAX_CHARS_READ, gt=0,
                                description="longest text the guard reads (either backend); None: no limit")
    # The operator's own published contacts (the generator fills it from the profile for the output
    # guard): the documents tell users to write to them, so a reply that quotes them keeps them.
    allow: list[str] = Field(default_factory=list,
                             description="values never redacted: exact strings, e-mail addresses in any case, "
                                         "phone numbers by their digits")

    @field_validator("allow")
    @classmethod
    def _no_blanks(cls, values: list[str]) -> list[str]:
        """Blank values (an optional contact the profile leaves out, rendered empty) match nothing: dropped."""
        return list(dict.fromkeys(v.strip() for v in values if v.strip()))


class DisclosureParams(_Params):
    """AI-interaction notice on the first turn and an AI-generated label on output (EU AI Act Art. 50)."""

    STAGES = frozenset({"output"})
    MODALITIES = frozenset({"text", "image"})
    ACTIONS = frozenset({"label"})

    notice: str = "You are talking to an AI system, not a person."
    label: str = "AI-generated"
    first_turn_only: bool = True


class SupportParams(_Params):
    """Adds where to find help to the answer when the prompt was found to be about one of ``categories``."""

    STAGES = frozenset({"output"})
    ACTIONS = frozenset({"disclaim"})

    categories: list[str] = Field(min_length=1, description="categories of the prompt's findings that call for it")
    text: str = Field(min_length=1, description="what to add, e.g. helplines")
    position: Literal["append", "prepend"] = "append"
    min_score: Score | None = Field(default=None, ge=0.0, le=1.0,
                                    description="also when a classifier scored the prompt this high in one of the "
                                                "categories, though it did not flag it; None: findings only")

    @field_validator("text")
    @classmethod
    def _shown(cls, v: str) -> str:
        if not v.strip():
            raise ValueError("text is empty: it is what the guard adds to the answer")
        return v


class DisclaimerParams(_Params):
    """Appends the professional-advice disclaimer when the text is about a sensitive topic."""

    STAGES = frozenset({"output"})
    ACTIONS = frozenset({"disclaim"})

    topics: list[Topic] = Field(min_length=1)
    texts: dict[str, str] = Field(default_factory=dict, description="disclaimer text by topic")
    detector: Literal["lexical", "embedding"] = "lexical"
    position: Literal["append", "prepend"] = "append"
    max_chars: MaxChars = Field(default=MAX_CHARS_READ, gt=0,
                                description="longest text the embedding detector reads (the lexical one reads "
                                            "1,000,000 characters after Unicode folding); None: no limit")

    @field_validator("topics")
    @classmethod
    def _once(cls, v: list[Topic]) -> list[Topic]:
        return _check_once(v)  # type: ignore[return-value]

    @model_validator(mode="after")
    def _texts_for_listed_topics(self) -> DisclaimerParams:
        unused = sorted(set(self.texts) - set(self.topics))
        if unused:
            raise ValueError(f"texts for {unused} would never be shown: topics lists {list(self.topics)}")
        empty = sorted(topic for topic, text in self.texts.items() if not text.strip())
        if empty:
            raise ValueError(f"texts for {empty} are empty: give the disclaimer's words, or leave the topic out of "
                             "texts to use the built-in one")
        return self


class RateLimitParams(_Params):
    """Token bucket per user key."""

    STAGES = frozenset({"input"})
    ACTIONS = frozenset({"block", "flag"})

    capacity: Count = Field(default=30, ge=1)
    refill_per_second: Amount = Field(default=0.5, gt=0)
    key: Literal["user", "ip"] = "user"


class ClassifierParams(_Params):
    """Model-backed harm classifier with interchangeable backends and per-category thresholds."""

    ACTIONS = frozenset({"block", "flag"})

    backends: list[Literal["lexical", "embedding", "transformers"]] = Field(
        default_factory=lambda: ["embedding"], min_length=1)
    categories: list[str] = Field(default_factory=list, description="empty: every category the backends know")
    thresholds: dict[str, Score] = Field(default_factory=dict)
    model_path: str | None = None
    label_map: dict[str, str] = Field(default_factory=dict,
                                      description="transformers backend: model label -> category id")
    fusion: Literal["max", "mean"] = "max"
    device: Device = "cpu"
    dtype: Dtype = Field(default="auto", description="transformers backend: auto keeps the weights' own dtype")
    # A model reads a long text window by window: MiniLM took 16 s per 100,000 characters on two busy
    # cores, so a 1 MB text would hold a worker for minutes. Longer texts are not read: the guard's
    # on_error applies (block by default), with a finding that says so.
    max_chars: MaxChars = Field(default=MAX_CHARS_READ, gt=0,
                                description="longest text the models read; None: no limit")
    # The shipped backends read English only: a text in another language gets low scores because they
    # cannot read it, not because it is safe (guards/_language.py).
    languages: list[LanguageCode] | None = Field(
        default=None, min_length=1,
        description="ISO 639 codes of the languages the backends read; None: what they declare "
                    "(English for embedding and lexical; any language for transformers)")
    other_languages: Literal["flag", "block", "allow"] = Field(
        default="flag", description="what a text in another language gets: flag (allowed, with a finding), "
                                    "block, or allow (not checked)")
    # Hate is toxicity aimed at a group: the embedding backend judges a text that names a group of people
    # protected by law against the toxicity head's lower threshold (its manifest's group_threshold). False
    # judges it like any other text, for a forum where people quote hate to fight it.
    group_threshold: bool = Field(
        default=True, strict=True,
        description="embedding backend: judge a text that names a group of people (guards/data/terms/"
                    "groups.txt) against the toxicity head's lower group threshold")

    @field_validator("categories")
    @classmethod
    def _cats(cls, v: list[str]) -> list[str]:
        return _check_categories(v)

    @field_validator("label_map")
    @classmethod
    def _label_map(cls, v: dict[str, str]) -> dict[str, str]:
        _check_categories(list(v.values()))
        return v

    @field_validator("thresholds")
    @classmethod
    def _thresholds(cls, v: dict[str, float]) -> dict[str, float]:
        _check_categories([k for k in v if k != "default"])
        bad = {k: t for k, t in v.items() if not 0.0 <= t <= 1.0}
        if bad:
            raise ValueError(f"thresholds must be in [0, 1]: {bad}")
        return v

    @model_validator(mode="after")
    def _model_path(self) -> ClassifierParams:
        if "transformers" in self.backends and not self.model_path:
            raise ValueError("the transformers backend needs model_path (a local folder)")
        # set and not the default (a spec dumped whole and read back names every key)
        own = [k for k in ("model_path", "label_map", "device", "dtype")
               if getattr(self, k) != type(self).model_fields[k].get_default(call_default_factory=True)]
        if "transformers" not in self.backends and own:
            given = ", ".join(own[:-1]) + " and " + own[-1] if len(own) > 1 else own[0]
            verb = "apply" if len(own) > 1 else "applies"
            raise ValueError(f"{given} {verb} only to the transformers backend, which backends "
                             f"{self.backends} does not list")
        return self


class TopicParams(_Params):
    """Detects medical, legal, financial and election topics (feeds the disclaimer guard)."""

    ACTIONS = frozenset({"flag", "disclaim", "block"})

    topics: list[Topic] = Field(min_length=1)
    threshold: Score = Field(default=0.5, ge=0.0, le=1.0)
    max_chars: MaxChars = Field(default=MAX_CHARS_READ, gt=0,
                                description="longest text the model reads (as the classifier's); None: no limit")

    @field_validator("topics")
    @classmethod
    def _once(cls, v: list[Topic]) -> list[Topic]:
        return _check_once(v)  # type: ignore[return-value]


class ImageNsfwParams(_Params):
    """Sexual-content detector for images; blocks, blurs (redact) or flags."""

    MODALITIES = frozenset({"image"})
    ACTIONS = frozenset({"block", "redact", "flag"})

    backend: Literal["opennsfw", "sd_safety_checker"] = "opennsfw"
    threshold: Score = Field(default=0.8, ge=0.0, le=1.0)
    model_path: str | None = None
    device: Device = "cpu"
    dtype: Dtype = "auto"

    @model_validator(mode="after")
    def _model_path(self) -> ImageNsfwParams:
        if self.backend == "sd_safety_checker" and not self.model_path:
            raise ValueError("the sd_safety_checker backend needs model_path (a local folder)")
        torch_only = [k for k in ("device", "dtype") if getattr(self, k) != type(self).model_fields[k].default]
        if self.backend != "sd_safety_checker" and torch_only:
            raise ValueError(f"{' and '.join(torch_only)} {'apply' if len(torch_only) > 1 else 'applies'} only to "
                             f"the sd_safety_checker backend, not {self.backend!r}")
        return self


class ImageMarkParams(_Params):
    """Writes machine-readable AI-generated marks (IPTC DigitalSourceType in XMP, PNG text chunks)."""

    STAGES = frozenset({"output"})
    MODALITIES = frozenset({"image"})
    ACTIONS = frozenset({"label"})

    digital_source_type: Literal[
        "trainedAlgorithmicMedia", "compositeWithTrainedAlgorithmicMedia", "algorithmicMedia"
    ] = "trainedAlgorithmicMedia"
    visible_label: str | None = None


PARAMS: dict[str, type[_Params]] = {
    "keyword": KeywordParams,
    "regex": RegexParams,
    "pii": PiiParams,
    "ai_disclosure": DisclosureParams,
    "disclaimer": DisclaimerParams,
    "support": SupportParams,
    "rate_limit": RateLimitParams,
    "classifier": ClassifierParams,
    "topic": TopicParams,
    "image_nsfw": ImageNsfwParams,
    "image_mark": ImageMarkParams,
}


def defaults_of_the_type(data: Any) -> Any:
    """``data`` (a guard's keys) with a stage, modality or on_fail left out set to the type's only one where
    it has one (an ai_disclosure guard labels output; an image_mark guard labels output images); the
    general defaults (input, text, block) are the model's. guards.yaml and a clause's ``guards:`` share it."""
    model = PARAMS.get(data.get("type")) if isinstance(data, dict) and isinstance(data.get("type"), str) else None
    if model is None:
        return data
    only = {key: next(iter(allowed)) for key, allowed in
            (("stage", model.STAGES), ("modality", model.MODALITIES), ("on_fail", model.ACTIONS))
            if len(allowed) == 1 and key not in data}
    return {**data, **only} if only else data


class GuardSpec(BaseModel):
    """One entry of guards.yaml."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9._-]*$")
    type: str
    stage: Stage = Stage.INPUT
    modality: Modality = Modality.TEXT
    params: dict[str, Any] = Field(default_factory=dict)
    on_fail: Action = Action.BLOCK
    on_error: Literal["block", "flag"] = Field(default="block", description="fail closed by default")
    timeout_ms: float | None = Field(default=None, gt=0)
    clauses: list[str] = Field(default_factory=list)
    message: str = ""
    # When one guard enforces several clauses by category (a keyword guard over S4 and S12 lists), these
    # say which clauses and which message belong to a finding of each category; `clauses` and `message`
    # are the fallback.
    category_clauses: dict[str, list[str]] = Field(default_factory=dict)
    category_messages: dict[str, str] = Field(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _defaults_of_the_type(cls, data: Any) -> Any:
        return defaults_of_the_type(data)

    @field_validator("timeout_ms", mode="before")
    @classmethod
    def _no_bool_budget(cls, v: Any) -> Any:
        if isinstance(v, bool):  # pydantic would take `true` as 1 ms: every check would time out and block
            raise ValueError(f"expected a number of milliseconds, not {str(v).lower()}")
        return v

    @field_validator("category_clauses", "category_messages")
    @classmethod
    def _known_keys(cls, v: dict[str, Any]) -> dict[str, Any]:
        """A category, or the item a finding names (a topic, a PII entity): a misspelt key would leave
        its findings quietly citing the fallback ``clauses`` and ``message``."""
        unknown = sorted(k for k in v if k not in _FINDING_KEYS)
        if unknown:
            raise ValueError(f"unknown categories {unknown}; known: {sorted(_FINDING_KEYS)}")
        return v

    @model_validator(mode="after")
    def _check_against_type(self) -> GuardSpec:
        model = PARAMS.get(self.type)
        if model is None:
            raise ValueError(f"unknown guard type {self.type!r}; known: {sorted(PARAMS)}")
        model.model_validate(self.params)
        for what, value, allowed in (
            ("stage", self.stage.value, model.STAGES),
            ("modality", self.modality.value, model.MODALITIES),
            ("on_fail", self.on_fail.value, model.ACTIONS),
        ):
            if value not in allowed:
                raise ValueError(f"{self.type} guards take {what} in {sorted(allowed)}, not {value!r}")
        if self.on_fail is Action.DISCLAIM and self.stage is not Stage.OUTPUT:
            # at the input stage the disclaimer would be added to the prompt, which the user never sees
            raise ValueError(f"on_fail 'disclaim' needs stage 'output' (a disclaimer on the prompt "
                             f"never reaches the user), not {self.stage.value!r}")
        return self

    def typed_params(self) -> _Params:
        """The params validated into the type's own model."""
        return PARAMS[self.type].model_validate(self.params)
