"""The machine-readable outputs: ``guards.yaml``, ``report.json`` and ``clauseguard.lock``.

All three are deterministic (sorted keys, no timestamps) and stamped with the clauseguard version and
the profile hash, so a folder of outputs can be traced to its inputs and regenerated.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict

from clauseguard import __version__
from clauseguard.generator.document import RenderedDocument
from clauseguard.generator.library import Library
from clauseguard.generator.markdown import to_markdown
from clauseguard.generator.render import Numbering
from clauseguard.generator.selection import Selection
from clauseguard.guards import GuardSpec

__all__ = ["GuardsFile", "Outputs", "guards_yaml", "lock_file", "report_json", "undated_changes", "warnings_for"]


class GuardsFile(BaseModel):
    """The schema of guards.yaml (``clauseguard schema --guards``)."""

    model_config = ConfigDict(extra="forbid")

    clauseguard_version: str
    profile_sha256: str
    guards: list[GuardSpec]


@dataclass(frozen=True)
class Outputs:
    """Everything the output files are written from."""

    library: Library
    selection: Selection
    numbering: Numbering
    guards: list[GuardSpec]
    documents: list[RenderedDocument]
    profile: dict[str, Any]  # the values as written (plain text, not Markdown-escaped), for the warnings
    profile_sha256: str
    paths: dict[str, list[str]]  # document id -> its files, first one the primary


# libyaml's emitter when PyYAML has it (several times faster); the output is the same YAML either way.
_Dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


def _dump_yaml(data: Any) -> bytes:
    """YAML in the (deterministic) order the data was built in, so ``id`` comes first in each guard."""
    return yaml.dump(data, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=100).encode("utf-8")


def _dump_json(data: Any) -> bytes:
    return (json.dumps(data, sort_keys=True, indent=2, ensure_ascii=False) + "\n").encode("utf-8")


def guards_yaml(out: Outputs) -> bytes:
    """``guards.yaml``: ``{clauseguard_version, profile_sha256, guards: [...]}``."""
    data = GuardsFile(clauseguard_version=__version__, profile_sha256=out.profile_sha256, guards=out.guards)
    return _dump_yaml(data.model_dump(mode="json", exclude_none=True))


def _clause_entry(out: Outputs, clause_id: str) -> dict[str, Any]:
    clause = out.library.clauses[clause_id]
    decision = out.selection.decisions[clause_id]
    return {
        "id": clause_id, "version": clause.meta.version, "title": clause.meta.title,
        "documents": [d for d in clause.meta.documents if d in out.numbering.documents],
        "sections": {p.document: p.number for p in out.numbering.placements(clause_id)},
        "why": decision.why, "reason": decision.reason, "facts": list(decision.facts),
        "required_by": list(decision.required_by), "sources": list(decision.sources),
        "guards": [g.id for g in out.guards if clause_id in g.clauses], "layer": clause.layer,
    }


def _document_entry(out: Outputs, doc: RenderedDocument) -> dict[str, Any]:
    return {
        "id": doc.id, "title": doc.title, "version": doc.version, "path": out.paths[doc.id][0],
        "paths": out.paths[doc.id], "clauses": list(doc.clause_ids),
        "sections": [{"number": s.number, "id": s.id, "title": s.title,
                      "clauses": [{"number": c.number, "id": c.id} for c in s.clauses]} for s in doc.sections],
    }


def report_json(out: Outputs) -> bytes:
    """``report.json`` per DESIGN.md, plus section numbers and the excluded clauses with why."""
    decisions = out.selection.decisions
    data = {
        "clauseguard_version": __version__,
        "profile_sha256": out.profile_sha256,
        "documents": [_document_entry(out, d) for d in out.documents],
        "clauses": [_clause_entry(out, i) for i in out.selection.selected],
        "excluded": [{"id": i, "why": d.why, "facts": list(d.facts)}
                     for i, d in sorted(decisions.items()) if not d.included],
        "guards": [{"id": g.id, "type": g.type, "stage": g.stage.value, "modality": g.modality.value,
                    "on_fail": g.on_fail.value, "clauses": list(g.clauses)} for g in out.guards],
        "warnings": warnings_for(out.profile),
    }
    return _dump_json(data)


def lock_file(out: Outputs) -> bytes:
    """``clauseguard.lock``: what the outputs were made from, with content hashes."""
    data = {
        "clauseguard_version": __version__,
        "profile_sha256": out.profile_sha256,
        "effective_date": out.profile["product"]["effective_date"],  # to tell a changed text left undated
        "clauses": [{"id": i, "version": out.library.clauses[i].meta.version,
                     "sha256": out.library.clauses[i].sha256, "layer": out.library.clauses[i].layer}
                    for i in out.selection.selected],
        "templates": [{"id": t.id, "version": t.meta.version, "sha256": t.sha256, "layer": t.layer}
                      for t in out.library.documents() if t.id in out.numbering.documents],
        # The exact text each user-facing document says (its Markdown), so an acceptance can name what
        # was accepted, and any change of wording or of profile facts asks for acceptance again.
        "documents": [{"id": d.id, "version": d.version, "sha256": _sha256(to_markdown(d).encode("utf-8"))}
                      for d in out.documents],
    }
    return _dump_yaml(data)


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _lock_data(lock: bytes | None) -> tuple[Any, dict[str, Any]]:
    """``(effective_date, {document id: sha256})`` of a lock; empty for a missing or unreadable one."""
    try:
        data = yaml.safe_load(lock) if lock else None
        return data.get("effective_date"), {d["id"]: d["sha256"] for d in data.get("documents", [])}
    except (yaml.YAMLError, AttributeError, TypeError, KeyError):
        return None, {}


def undated_changes(previous_lock: bytes | None, lock: bytes) -> str | None:
    """A warning when documents of ``previous_lock`` (the lock of the folder being replaced) changed text
    while the effective date stayed the same: each would carry the old date. None when nothing changed, the
    date moved, or the earlier lock records no date (written by an older clauseguard)."""
    old_date, old = _lock_data(previous_lock)
    new_date, new = _lock_data(lock)
    changed = [doc for doc, digest in new.items() if doc in old and old[doc] != digest]
    if old_date is None or str(old_date) != str(new_date) or not changed:
        return None
    return (f"{', '.join(changed)} changed from the version in this folder, but product.effective_date is still "
            f"{new_date}, so the new text carries the old one's date. Users will be asked to accept the changed "
            "documents again (their hashes in clauseguard.lock changed): move product.effective_date to the day the "
            "new version takes effect, after you have told users of the change, and generate again")


def _no_dmca_agent(p: dict[str, Any]) -> str | None:
    hosting = p["user_content"]["uploads"] or p["user_content"]["public_sharing"]  # as the DMCA clauses
    if not ("US" in p["jurisdictions"] and hosting):
        return None
    agent = p["operator"].get("dmca_agent")
    if not agent:
        return ("users in the US upload or share content but operator.dmca_agent is not set: the 17 U.S.C. "
                "§512(c) safe harbour needs an agent designated with the US Copyright Office")
    if not agent.get("phone"):
        return ("operator.dmca_agent.phone is not set: 17 U.S.C. §512(c)(2)(A) asks for the agent's telephone "
                "number on your service, and the notice-and-takedown policy shows none")
    return None


def _other_licences(p: dict[str, Any]) -> str | None:
    others = [m["name"] for m in p["models"] if m["license"] == "other"]
    if others:
        return (f"models with license 'other' ({', '.join(others)}): clauseguard has no clauses passing their "
                "terms on: have a lawyer write them as clauses in a folder passed with generate --clauses")
    return None


def _young_users_us(p: dict[str, Any]) -> str | None:
    if "US" in p["jurisdictions"] and p["audience"]["minimum_age"] < 13:
        return ("audience.minimum_age is below 13 with users in the US: COPPA applies. Before a child under 13 "
                "uses the service, get a parent's verifiable consent (16 C.F.R. §312.5) and give the parent the "
                "direct notice of §312.4(c); the generated privacy notice does not do that for you")
    return None


def _minors_for_organisations(p: dict[str, Any]) -> str | None:
    age = p["audience"]["minimum_age"]
    if not p["audience"]["consumer"] and age < 18:
        return (f"audience.consumer is false but audience.minimum_age is {age}: the terms of use have each user "
                "confirm they act for an organisation and can bind it, which a minor usually cannot, and also "
                "ask a parent to agree for users under 18. Set minimum_age to 18, or keep it only if minors use "
                "the service for an organisation that accepts the terms (a school, an apprenticeship)")
    return None


# The EU Member States as an address may name them: in English and in their own languages.
_EU_STATES = re.compile(r"\b(?:" + "|".join([
    "Austria", "Österreich", "Belgium", "Belgi[eë]", "Belgique", "Belgien", "Bulgaria", "България", "Croatia",
    "Hrvatska", "Cyprus", "Κύπρος", "Czech Republic", "Czechia", "Česk[oá]", "Denmark", "Danmark", "Estonia",
    "Eesti", "Finland", "Suomi", "France", "Germany", "Deutschland", "Greece", "Ελλάδα", "Hungary",
    "Magyarország", "(?<!Northern )Ireland", "Éire", "Italy", "Italia", "Latvia", "Latvija", "Lithuania", "Lietuva",
    "Luxembourg", "Lëtzebuerg", "Malta", "Netherlands", "Nederland", "Poland", "Polska", "Portugal",
    "Romania", "România", "Slovakia", "Slovensko", "Slovenia", "Slovenija", "Spain", "España", "Sweden",
    "Sverige"]) + r")(?:\s+[\w-]*[0-9][\w-]*)*"  # last, but for a postcode: "France Avenue" is a street
    r"(?:\s*\(\s*(?-i:[A-Z]{2,3})\s*\)|\s+(?-i:[A-Z]{2}))?\W*$",  # and its code: "Belgium (BE)", "Sweden SE"
    re.IGNORECASE)
# A last part that names no country but tags the one before it: a code ("BE", "(BE)") or the Union itself.
_COUNTRY_TAG = re.compile(r"\W*(?:\(\s*)?(?:(?-i:[A-Z]{2})|EU|European Union)(?:\s*\))?\W*", re.IGNORECASE)
_OUR_JURISDICTIONS = ("EU", "UK", "US")  # the ones the clause library has clauses of their own for


def names_eu_state(address: str) -> bool:
    """Whether a postal address names an EU Member State as its country (``Dublin, Ireland``; ``10117
    Berlin, Deutschland``): where an address names its country, in its last part (the profile joins the
    lines of an address with commas), after any trailing code or "EU" (``Ireland, EU``; ``Belgium (BE)``;
    ``Sweden SE``). A street or town named after one (``100 Poland Street, London W1F, United Kingdom``;
    ``3900 France Avenue South, Edina, MN``) is not its country."""
    parts = [part for part in re.split(r"[,\n]", address) if part.strip()]
    while len(parts) > 1 and _COUNTRY_TAG.fullmatch(parts[-1]):
        parts.pop()
    return bool(parts) and _EU_STATES.search(parts[-1]) is not None


def _no_eu_representative(p: dict[str, Any]) -> str | None:
    operator = p["operator"]
    if "EU" not in p["jurisdictions"] or operator.get("eu_representative") or names_eu_state(operator["address"]):
        return None
    return ("users in the EU, but operator.address names no EU Member State as its country (its last part) and "
            "operator.eu_representative is not set: a provider not established in the EU must designate a legal "
            "representative in the Union in writing (DSA Art. 13(1); GDPR Art. 27(1), unless Art. 27(2) exempts "
            "you). Set operator.eu_representative, or ignore this if you are established in the EU")


def _generic_jurisdictions(p: dict[str, Any]) -> str | None:
    others = [j for j in p["jurisdictions"] if j not in _OUR_JURISDICTIONS]
    if not others:
        return None
    return (f"jurisdictions {', '.join(others)}: clauseguard has no clauses written for "
            f"{'this' if len(others) == 1 else 'these'} law{'' if len(others) == 1 else 's'}; the privacy notice "
            "gets only a generic clause on access, correction, deletion and complaints (privacy/local-rights), "
            "and nothing on local consent, transfer or registration rules. Have a lawyer who knows the local law "
            "review the documents before you use them there")


# Domains the profile accepts that no built-in clause reads, and what a lawyer should look at instead.
_DECISIONS = ("; if it decides about people with legal or similarly significant effect, also set "
              "features.automated_decisions (GDPR Art. 22)")
_UNCOVERED_DOMAINS = {
    "employment": "where the AI is used to recruit or select people, to decide on promotion, dismissal or tasks, or "
                  "to monitor and evaluate workers, the EU AI Act makes it a high-risk AI system (Annex III point 4) "
                  "for users in the EU, with duties of its own; employment and anti-discrimination law may apply "
                  "too" + _DECISIONS,
    "housing": "where the AI is used to decide who may rent or buy a home, or on what terms, fair-housing and credit "
               "laws may apply (in the US, the Fair Housing Act, and the Fair Credit Reporting Act for tenant "
               "screening)" + _DECISIONS,
    "insurance": "where the AI is used for risk assessment and pricing of life or health insurance for individuals, "
                 "the EU AI Act makes it a high-risk AI system (Annex III point 5(c)) for users in the EU, with "
                 "duties of its own; insurance and anti-discrimination law may apply too" + _DECISIONS,
    "news": "clauseguard knows of no rule specific to AI and news for the documents; where you publish "
            "AI-generated text to inform the public on matters of public interest, EU AI Act Art. 50(4) asks you "
            "to disclose it, unless a person reviews it and holds editorial responsibility",
}


def _uncovered_domains(p: dict[str, Any]) -> list[str]:
    """One warning per domain that is accepted but read by no clause (see :data:`_UNCOVERED_DOMAINS`)."""
    return [f"domains lists {domain}: clauseguard has no clauses for it, so it changes no document or guard. Have "
            f"a lawyer look at it before you rely on the documents: {_UNCOVERED_DOMAINS[domain]}"
            for domain in p["domains"] if domain in _UNCOVERED_DOMAINS]


_WARNINGS: tuple[Callable[[dict[str, Any]], str | None], ...] = (
    _no_dmca_agent, _other_licences, _young_users_us, _minors_for_organisations, _no_eu_representative,
    _generic_jurisdictions)


def warnings_for(profile: dict[str, Any]) -> list[str]:
    """Things the profile leaves out that the law or a licence will ask for."""
    return [w for check in _WARNINGS if (w := check(profile))] + _uncovered_domains(profile)
