"""PII guard: personal data and secrets, then redact (``[EMAIL]``), mask, hash, block or flag.

``allow`` lists values never redacted (the operator's own published contact addresses, which the
generator fills in for the output guard): the same string, an e-mail address in any case, a phone number
with the same digits however it is written.

``mode: mask`` hides characters with ``•``, not ``*``, which Markdown reads as emphasis.

``mode: hash`` replaces a value by a keyed HMAC-SHA256 (key from ``CLAUSEGUARD_HASH_KEY``, else a
random key for this process), so equal values stay linkable in logs without being readable.
``backend: presidio`` uses presidio-analyzer's pattern recognizers only (no spaCy model, nothing
downloaded: tldextract, which its email recognizer uses, is kept to its bundled Public Suffix List);
it needs the ``[presidio]`` extra and says so when building the guard.

A value holding a lone surrogate (JSON's ``"\\ud800"``, which UTF-8 cannot carry) is hashed with the
surrogate written as ``surrogatepass`` writes it: hashing it must not fail the guard, which would block
the whole text. (The server and the CLI refuse such text before any guard sees it; the library does not.)
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from collections.abc import Callable
from functools import cache

from clauseguard.errors import GuardConfigError
from clauseguard.guards._base import Context, Guard
from clauseguard.guards._fusion import too_long
from clauseguard.guards._params import Action, GuardSpec, PiiParams
from clauseguard.guards._pii_detect import Hit, admissible, detect, resolve
from clauseguard.guards._registry import register
from clauseguard.guards._verdict import Verdict

__all__ = ["HASH_KEY_ENV", "MASK", "PSL_URLS_ENV", "PiiGuard", "hash_key", "mask", "pseudonymise"]

HASH_KEY_ENV = "CLAUSEGUARD_HASH_KEY"
PSL_URLS_ENV = "TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS"  # empty: tldextract uses its bundled snapshot

# presidio entity names -> ours
_PRESIDIO_ENTITIES = {
    "EMAIL_ADDRESS": "email", "PHONE_NUMBER": "phone", "CREDIT_CARD": "credit_card", "IBAN_CODE": "iban",
    "IP_ADDRESS": "ip_address", "US_SSN": "us_ssn", "UK_NINO": "uk_nino",
}


@cache
def _process_key() -> bytes:
    return secrets.token_bytes(32)


def hash_key() -> bytes:
    """The HMAC key: ``CLAUSEGUARD_HASH_KEY`` if set, else a random key kept for this process."""
    env = os.environ.get(HASH_KEY_ENV)
    return env.encode("utf-8") if env else _process_key()


def pseudonymise(kind: str, value: str) -> str:
    """``kind:`` and a keyed HMAC of ``value`` (key: :func:`hash_key`): stable, not reversible without
    the key. The one pseudonym of a user key or client address across the guards (rate limits, Gradio)."""
    digest = hmac.new(hash_key(), f"{kind}:{value}".encode(), hashlib.sha256).hexdigest()[:32]
    return f"{kind}:{digest}"


MASK = "\u2022"  # "•": "*" is Markdown's emphasis ("***-***-2671" showed in bold italics)


def mask(entity: str, value: str) -> str:
    """Masked form: cards and account numbers keep their last 4 characters, emails their domain; the
    characters hidden become ``•``."""
    if entity == "email":
        local, _, domain = value.partition("@")
        return f"{local[:1]}{MASK * 3}@{domain}"
    if entity in ("credit_card", "iban", "phone", "us_ssn", "uk_nino"):
        alnum = [i for i, c in enumerate(value) if c.isalnum()]
        keep = set(alnum[-4:])
        return "".join(c if (i in keep or not c.isalnum()) else MASK for i, c in enumerate(value))
    return f"[{entity.upper()}]"


def _phone_digits(value: str) -> str:
    """A phone number's digits without the leading zeros of a trunk or ``00`` prefix."""
    return "".join(c for c in value if c.isdecimal()).lstrip("0")


# Numbers that reach an organisation, not a person: toll-free numbers in the US and Canada (NANP), and
# freephone numbers dialled 0800 or 0808 at home (the UK, Germany, France, the Netherlands and others) or
# +44 800 / 808 from abroad. An answer that gives a helpline keeps it.
_TOLL_FREE_NANP = ("800", "833", "844", "855", "866", "877", "888")


def _toll_free(value: str) -> bool:
    """Whether the phone number ``value`` is a toll-free or freephone number."""
    digits = "".join(c for c in value if c.isdecimal())
    national = digits.lstrip("0")
    if len(national) == 11 and national.startswith("1"):
        national = national[1:]
    trunk = digits.startswith("0") and not digits.startswith("00")  # a national number, not a NANP one
    if len(national) == 10 and national.startswith(_TOLL_FREE_NANP) and not trunk:
        return True
    return digits.startswith(("0800", "0808")) or (len(national) == 12 and national.startswith(("44800", "44808")))


def _hashed(entity: str, value: str) -> str:
    """``[ENTITY:<16 hex digits>]``; the secret detector leaves it alone (``_pii_detect._HASHED``)."""
    digest = hmac.new(hash_key(), value.encode("utf-8", "surrogatepass"), hashlib.sha256).hexdigest()[:16]
    return f"[{entity.upper()}:{digest}]"


@register("pii")
class PiiGuard(Guard):
    """Finds emails, phone numbers, cards, IBANs, IPs, US SSNs and secrets."""

    params: PiiParams
    # Longest value held back in streaming; a longer one (a private-key block) found reaching into
    # text already released blocks the stream instead.
    stream_hold = 256

    def __init__(self, spec: GuardSpec) -> None:
        super().__init__(spec)
        entities = tuple(self.params.entities)
        self._detect: Callable[[str], list[Hit]] = (
            _presidio_detector(entities, spec.id) if self.params.backend == "presidio"
            else lambda text: detect(text, entities))
        self._allowed = frozenset(v.casefold() for v in self.params.allow)
        self._allowed_phones = tuple(d for d in map(_phone_digits, self.params.allow) if len(d) >= 9)

    def _allows(self, entity: str, value: str) -> bool:
        """A value of ``allow``: the same string, an e-mail address in any case, a phone number with the
        same digits (less a country code or trunk 0: "(415) 555-0100" is "+1 415 555 0100"); and any
        toll-free or freephone number, which reaches an organisation, not a person."""
        if value in self.params.allow or (entity == "email" and value.casefold() in self._allowed):
            return True
        if entity != "phone":
            return False
        if _toll_free(value):
            return True
        digits = _phone_digits(value)
        return len(digits) >= 9 and any(
            (a.endswith(b) or b.endswith(a)) and abs(len(a) - len(b)) <= 3
            for a, b in ((digits, allowed) for allowed in self._allowed_phones))

    def _replacement(self, entity: str, value: str) -> str | None:
        if self.spec.on_fail is not Action.REDACT:
            return None
        if self.params.mode == "mask":
            return mask(entity, value)
        if self.params.mode == "hash":
            return _hashed(entity, value)
        return f"[{entity.upper()}]"

    def check(self, content: str | bytes, context: Context) -> Verdict:
        if not isinstance(content, str):
            return Verdict.allow(content, self.id)
        too_long([content], self.params.max_chars, "pii guard")
        findings = [
            self.finding("pii", score=score, span=(start, end), key=entity,
                         replacement=self._replacement(entity, content[start:end]),
                         message=self.spec.category_messages.get(entity) or self.spec.message or f"{entity} found")
            for entity, start, end, score in self._detect(content)
            if not self._allows(entity, content[start:end])
        ]
        return self.verdict(content, findings)


def _offline_suffix_list() -> None:
    """presidio's email recognizer asks tldextract for the domain's public suffix, and tldextract
    fetches the Public Suffix List over the network on first use unless its URL list is empty; then
    it uses the snapshot it ships. Its default extractor reads ``TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS``
    when tldextract is imported, so the variable is set first (unless the user set it), and the
    extractor is told too in case tldextract was imported before."""
    os.environ.setdefault(PSL_URLS_ENV, "")
    import tldextract.tldextract as tx

    if not os.environ[PSL_URLS_ENV].strip():
        tx.TLD_EXTRACTOR.suffix_list_urls = ()


def _presidio_detector(entities: tuple[str, ...], guard_id: str) -> Callable[[str], list[Hit]]:
    """presidio pattern recognizers only (no NLP engine, so no spaCy model is loaded or fetched)."""
    try:
        os.environ.setdefault(PSL_URLS_ENV, "")
        from presidio_analyzer import predefined_recognizers as pr
    except ImportError as err:
        raise GuardConfigError("backend 'presidio' needs presidio-analyzer: pip install 'clauseguard[presidio]'",
                               where=f"guard {guard_id!r} params.backend") from err
    _offline_suffix_list()
    wanted = {p: ours for p, ours in _PRESIDIO_ENTITIES.items() if ours in entities}
    recognizers = [pr.EmailRecognizer(), pr.CreditCardRecognizer(), pr.IbanRecognizer(),
                   pr.IpRecognizer(), pr.UsSsnRecognizer(), pr.PhoneRecognizer()]
    if hasattr(pr, "UkNinoRecognizer"):
        recognizers.append(pr.UkNinoRecognizer())
    else:  # an older presidio: our own detector finds them
        wanted.pop("UK_NINO", None)
    extra = tuple(e for e in entities if e not in wanted.values())  # e.g. secrets: ours

    def run(text: str) -> list[Hit]:
        """presidio's hits that pass the builtin's rules for numbers, with ours, less overlaps (a URL's
        password and the "address" presidio reads around it), as :func:`detect` leaves them."""
        hits: list[Hit] = list(detect(text, extra)) if extra else []
        for recognizer in recognizers:
            for r in recognizer.analyze(text, list(wanted), None):
                if r.entity_type in wanted:
                    hit = (wanted[r.entity_type], r.start, r.end, min(1.0, max(0.0, r.score)))
                    if admissible(text, hit):
                        hits.append(hit)
        return resolve(hits)

    return run
