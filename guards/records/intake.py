"""What a notice must contain, per regime: pydantic models whose errors name the missing field.

- DSA Art. 16(2): (a) a substantiated explanation of why the content is illegal; (b) the exact
  electronic location (URL(s)); (c) the notifier's name and email address, except for notices about
  offences under Arts. 3-7 of Directive 2011/93/EU (child sexual abuse); (d) a statement of good faith
  that the notice is accurate and complete.
- DMCA, 17 U.S.C. §512(c)(3)(A)(i)-(vi): signature; the copyrighted work; the infringing material and
  where it is; contact information; good-faith statement; accuracy statement and, under penalty of
  perjury, authority to act for the owner.
- DMCA counter-notification, §512(g)(3)(A)-(D): signature; the removed material and where it was;
  statement under penalty of perjury of good-faith belief of mistake or misidentification; name,
  address, phone, consent to federal court jurisdiction and to accept service of process.
- TAKE IT DOWN Act (2025) §3(a)(1)(B)(i)-(iv): signature; the intimate visual depiction
  and where it is; a statement of good-faith belief that it is not consensual; contact information.

Statements are booleans that must be ``true``: an unticked box is a missing element.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from pydantic_core import InitErrorDetails, PydanticCustomError

__all__ = [
    "REGIMES",
    "Contact",
    "DmcaCounterNotice",
    "DmcaNotice",
    "DsaNotice",
    "NoticeIntake",
    "TakeItDownRequest",
]

_EMAIL = r"^[^@\s]+@[^@\s]+\.[^@\s]+$"
Text = Annotated[str, Field(min_length=1)]
Url = Annotated[str, Field(pattern=r"^https?://\S+$")]
Affirmed = Annotated[bool, Field(description="must be true: the statement the law asks for")]


def _must_affirm(value: bool) -> bool:
    if value is not True:
        raise PydanticCustomError("statement_required", "this statement is required and must be affirmed (true)")
    return value


class _Intake(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)

    regime: str

    def locations(self) -> list[str]:
        return []


class Contact(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)

    name: Text
    email: str | None = Field(default=None, pattern=_EMAIL)
    address: str | None = None
    phone: str | None = None

    @model_validator(mode="after")
    def _reachable(self) -> Contact:
        if not (self.email or self.phone or self.address):
            raise ValueError("give at least an email address, a phone number or a postal address")
        return self


class DsaNotice(_Intake):
    """A notice of illegal content under DSA Art. 16."""

    regime: Literal["dsa"] = "dsa"
    explanation: Text = Field(description="Art. 16(2)(a): why the content is illegal")
    urls: list[Url] = Field(min_length=1, description="Art. 16(2)(b): exact electronic location(s)")
    notifier_name: str | None = Field(default=None, description="Art. 16(2)(c)")
    notifier_email: str | None = Field(default=None, pattern=_EMAIL, description="Art. 16(2)(c)")
    concerns_child_sexual_abuse: bool = Field(
        default=False, description="offences of Directive 2011/93/EU Arts. 3-7: name and email become optional")
    good_faith_statement: Affirmed = Field(description="Art. 16(2)(d)")
    category: str | None = Field(default=None, description="kind of illegality claimed (free text or S1-S14)")

    _affirm = field_validator("good_faith_statement")(classmethod(lambda cls, v: _must_affirm(v)))

    @model_validator(mode="after")
    def _identity(self) -> DsaNotice:
        if self.concerns_child_sexual_abuse:
            return self
        missing = [f for f in ("notifier_name", "notifier_email") if not getattr(self, f)]
        if missing:
            raise _missing(type(self).__name__, missing, self.model_dump(),
                           "required unless the notice concerns child sexual abuse offences "
                           "(Directive 2011/93/EU Arts. 3-7)")
        return self

    def locations(self) -> list[str]:
        return list(self.urls)


class DmcaNotice(_Intake):
    """A notification of claimed infringement under 17 U.S.C. §512(c)(3)(A)."""

    regime: Literal["dmca"] = "dmca"
    signature: Text = Field(description="(i) physical or electronic signature of an authorised person")
    copyrighted_work: Text = Field(description="(ii) the work claimed to be infringed")
    infringing_material: Text = Field(description="(iii) the material claimed to infringe")
    urls: list[Url] = Field(min_length=1, description="(iii) where the material is")
    contact: Contact = Field(description="(iv) how to reach the complaining party")
    good_faith_statement: Affirmed = Field(description="(v) use not authorised by owner, agent or law")
    accuracy_statement: Affirmed = Field(description="(vi) the notification is accurate")
    authority_under_penalty_of_perjury: Affirmed = Field(description="(vi) authorised to act for the owner")

    _affirm = field_validator("good_faith_statement", "accuracy_statement", "authority_under_penalty_of_perjury")(
        classmethod(lambda cls, v: _must_affirm(v)))

    def locations(self) -> list[str]:
        return list(self.urls)


class TakeItDownRequest(_Intake):
    """A removal request for a non-consensual intimate visual depiction (TAKE IT DOWN Act §3)."""

    regime: Literal["take_it_down"] = "take_it_down"
    signature: Text = Field(description="(i) signature of the identifiable individual or someone authorised")
    depiction: Text = Field(description="(ii) identification of the intimate visual depiction")
    urls: list[Url] = Field(min_length=1, description="(ii) information to locate it")
    non_consent_statement: Affirmed = Field(description="(iii) good-faith belief that it is not consensual")
    non_consent_details: str | None = Field(default=None, description="(iii) information supporting that belief")
    contact: Contact = Field(description="(iv) how to reach the individual")

    _affirm = field_validator("non_consent_statement")(classmethod(lambda cls, v: _must_affirm(v)))

    def locations(self) -> list[str]:
        return list(self.urls)


class DmcaCounterNotice(BaseModel):
    """A counter-notification under 17 U.S.C. §512(g)(3)."""

    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)

    signature: Text = Field(description="(A) physical or electronic signature of the subscriber")
    removed_material: Text = Field(description="(B) the material removed")
    former_location: Url = Field(description="(B) where it appeared before removal")
    mistake_statement_under_penalty_of_perjury: Affirmed = Field(
        description="(C) good-faith belief the removal was a mistake or misidentification")
    name: Text = Field(description="(D)")
    address: Text = Field(description="(D)")
    phone: Text = Field(description="(D)")
    consent_to_jurisdiction: Affirmed = Field(description="(D) consent to the Federal District Court's jurisdiction")
    accepts_service_of_process: Affirmed = Field(description="(D) accepts service from the notifier")

    _affirm = field_validator("mistake_statement_under_penalty_of_perjury", "consent_to_jurisdiction",
                              "accepts_service_of_process")(classmethod(lambda cls, v: _must_affirm(v)))


NoticeIntake = DsaNotice | DmcaNotice | TakeItDownRequest
REGIMES: dict[str, type[_Intake]] = {"dsa": DsaNotice, "dmca": DmcaNotice, "take_it_down": TakeItDownRequest}


def _missing(title: str, fields: list[str], data: dict[str, Any], why: str) -> ValidationError:
    details: list[InitErrorDetails] = [
        {"type": PydanticCustomError("missing", "Field required: {why}", {"why": why}), "loc": (f,),
         "input": data} for f in fields]
    return ValidationError.from_exception_data(title, details)
