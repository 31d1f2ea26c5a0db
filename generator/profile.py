"""The risk profile: one description of an AI product, validated at the boundary.

The key names are a contract (see DESIGN.md, "profile.yaml"). Every model forbids unknown keys; an
error names the key path and the line in the file.
"""

from __future__ import annotations

import hashlib
import json
from datetime import date
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from clauseguard._yaml import YamlError, format_loc, line_of, load_yaml
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
    "load_profile",
    "parse_profile",
]

_EMAIL = r"^[^@\s]+@[^@\s]+\.[^@\s]+$"
_URL = r"^https?://"

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

    name: str = Field(min_length=1)
    email: str = Field(pattern=_EMAIL)
    address: str = Field(min_length=1)
    phone: str | None = None


class Operator(_Model):
    """Who runs the product and answers for it."""

    legal_name: str = Field(min_length=1, description="the company or person that operates the product")
    contact_email: str = Field(pattern=_EMAIL)
    address: str = Field(min_length=1, description="postal address for legal notices")
    dmca_agent: DmcaAgent | None = Field(default=None, description="needed when users upload content in the US")
    eu_representative: str | None = Field(default=None, description="GDPR Art. 27 / DSA Art. 13 representative")
    dsa_contact_email: str | None = Field(default=None, pattern=_EMAIL,
                                          description="DSA Art. 11/12 single point of contact")


class Product(_Model):
    name: str = Field(min_length=1)
    url: str = Field(min_length=1, pattern=_URL)
    description: str = Field(default="", description="one sentence on what the product does")
    interfaces: list[Interface] = Field(default_factory=lambda: ["web"], min_length=1)
    effective_date: date
    governing_law: str = Field(min_length=1, description="e.g. 'the State of Delaware, USA' or 'Ireland'")


class Modalities(_Model):
    inputs: list[Mode] = Field(default_factory=lambda: ["text"], min_length=1)
    outputs: list[Mode] = Field(default_factory=lambda: ["text"], min_length=1)


class Audience(_Model):
    minimum_age: int = Field(default=18, ge=0, le=21)
    consumer: bool = True


class UserContent(_Model):
    uploads: bool = False
    public_sharing: bool = False


class Data(_Model):
    logs_ip_addresses: bool = False
    ip_retention_days: int = Field(default=30, ge=0, le=3650)
    stores_prompts: bool = False
    prompt_retention_days: int = Field(default=30, ge=0, le=3650)
    trains_on_user_data: bool = False


class ModelEntry(_Model):
    name: str = Field(min_length=1)
    license: str = Field(min_length=1, description="a Hugging Face licence id, or 'other'")
    license_name: str | None = Field(default=None, description="the licence's name when license is 'other'")
    license_url: str | None = None

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
    realistic_people: bool = False
    automated_decisions: bool = False
    agents_tools: bool = False
    emotion_recognition: bool = False


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

    def context(self) -> dict[str, Any]:
        """The profile as plain data for templates and ``applies_when`` expressions."""
        return self.model_dump(mode="json")

    def sha256(self) -> str:
        """A hash of the validated profile, stable across formatting and key order."""
        canonical = json.dumps(self.context(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()


_PATTERN_MESSAGES = {
    _EMAIL: "expected an email address such as legal@example.com",
    _URL: "expected a web address starting with https:// or http://",
}


def _validation_error(err: ValidationError, filename: str, lines: dict) -> ProfileError:
    """One message listing the first few problems, each as ``file:line: key.path: what``."""
    errors = err.errors()
    messages = []
    for e in errors[:5]:
        loc = tuple(e["loc"])
        line = line_of(lines, loc)
        msg = e["msg"].removeprefix("Value error, ")
        if e["type"] == "extra_forbidden":
            msg = "unknown key (not part of the profile schema; see `clauseguard schema`)"
        elif e["type"] == "missing":
            msg = "required key is missing"
        elif e["type"] == "string_pattern_mismatch":
            msg = _PATTERN_MESSAGES.get(e.get("ctx", {}).get("pattern", ""), msg) + f", not {e['input']!r}"
        messages.append(f"{filename}:{line or '?'}: {format_loc(loc)}: {msg}")
    if len(errors) > 5:
        messages.append(f"(and {len(errors) - 5} more)")
    return ProfileError("\n".join(messages))


def parse_profile(text: str, filename: str = "profile.yaml") -> Profile:
    """Validate profile text. Raises :class:`ProfileError` naming file, line and key path."""
    try:
        data, lines = load_yaml(text, filename)
    except YamlError as err:
        raise ProfileError(str(err), where=f"{filename}:{err.line}" if err.line else filename) from err
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
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as err:
        raise ProfileError("file not found", where=str(path)) from err
    except (OSError, UnicodeDecodeError) as err:
        raise ProfileError(f"cannot read: {err}", where=str(path)) from err
    return parse_profile(text, str(path))
