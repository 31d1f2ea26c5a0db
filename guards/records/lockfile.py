"""Document versions from ``clauseguard.lock`` and section look-ups in ``report.json``.

An acceptance or an audit record names the exact text a user saw. ``clauseguard.lock`` as
``clauseguard generate`` writes it carries ``documents: [{id, version, sha256}]``, the sha256 of each
rendered Markdown document, and that is used as it is (``report`` is then ignored).

A lock written by an older clauseguard has no ``documents`` list, only templates and clauses with their
hashes: a document's content hash is then the hash of its template hash, the profile hash and the
hashes of its clauses (only its own clauses, looked up in ``report``, when the report is given; every
clause of the lock otherwise, so a clause change asks for every document to be accepted again: safe,
if eager).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from clauseguard.errors import GuardConfigError, UserError

__all__ = ["DocumentVersion", "check_same_profile", "clause_section", "document_versions", "load_lock",
           "load_report", "profile_stamp"]


@dataclass(frozen=True)
class DocumentVersion:
    id: str
    version: str
    sha256: str

    def to_dict(self) -> dict[str, str]:
        return {"version": self.version, "sha256": self.sha256}


def _read(source: str | Path | Mapping[str, Any], loader: Any, what: str) -> dict[str, Any]:
    if isinstance(source, Mapping):
        return dict(source)
    path = Path(source)
    try:
        data = loader(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, yaml.YAMLError) as err:
        raise UserError(f"cannot read {what}: {err}", where=str(path)) from err
    if not isinstance(data, dict):
        raise UserError(f"{what} is not a mapping", where=str(path))
    return data


def load_lock(source: str | Path | Mapping[str, Any]) -> dict[str, Any]:
    """``clauseguard.lock`` as a dict (a path, or an already loaded mapping)."""
    return _read(source, yaml.safe_load, "clauseguard.lock")


def load_report(source: str | Path | Mapping[str, Any]) -> dict[str, Any]:
    """``report.json`` as a dict (a path, or an already loaded mapping)."""
    return _read(source, json.loads, "report.json")


def profile_stamp(source: str | Path | Mapping[str, Any]) -> str | None:
    """The ``profile_sha256`` a generated file (guards.yaml, clauseguard.lock, report.json) or its loaded
    mapping carries; None when it has none or cannot be read (the code that reads the file for its content
    reports that)."""
    data: Any = source
    if not isinstance(source, Mapping):
        try:
            text = Path(source).read_text(encoding="utf-8-sig")
            # report.json is JSON (150 KB: PyYAML's pure-Python loader took 0.3 s of start-up over it)
            data = json.loads(text) if str(source).endswith(".json") else yaml.load(
                text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
        except (OSError, ValueError, yaml.YAMLError):
            return None
    stamp = data.get("profile_sha256") if isinstance(data, Mapping) else None
    return stamp if isinstance(stamp, str) else None


def check_same_profile(*, guards: str | Path | Mapping[str, Any] | None = None,
                       lock: str | Path | Mapping[str, Any] | None = None,
                       report: str | Path | Mapping[str, Any] | None = None) -> None:
    """guards.yaml, clauseguard.lock and report.json (paths or loaded mappings) from different profiles would
    have records cite clauses of one profile with the documents of another: a :class:`GuardConfigError`
    naming each file and its ``profile_sha256``. A file without a stamp (hand-written) is not compared."""
    stamps: dict[str, str] = {}
    for kind, source in (("guards.yaml", guards), ("clauseguard.lock", lock), ("report.json", report)):
        stamp = None if source is None else profile_stamp(source)
        if stamp is not None:
            stamps[f"the {kind} mapping" if isinstance(source, Mapping) else str(source)] = stamp
    if len(set(stamps.values())) > 1:
        listed = ", ".join(f"{name} (profile_sha256 {stamp})" for name, stamp in stamps.items())
        raise GuardConfigError(f"these files were generated from different profiles: {listed}; generate them "
                               "together (clauseguard generate writes all three) and pass the ones from one run",
                               where="profile_sha256")


def _document_clauses(report: Mapping[str, Any] | None, doc_id: str) -> set[str] | None:
    if report is None:
        return None
    for doc in report.get("documents", []):
        if doc.get("id") == doc_id:
            return set(doc.get("clauses", []))
    return set()


def _entries(data: Mapping[str, Any], key: str, fields: tuple[str, ...], where: str) -> list[Mapping[str, Any]]:
    """``data[key]`` as a list of mappings that each carry ``fields``, or a :class:`UserError` naming them."""
    entries = data.get(key, [])
    if not isinstance(entries, list):
        raise UserError(f"{key!r} must be a list, not {type(entries).__name__}", where=where)
    for i, entry in enumerate(entries):
        if not isinstance(entry, Mapping):
            raise UserError(f"{key}[{i}] must be a mapping with {', '.join(fields)}, not {type(entry).__name__}",
                            where=where)
        missing = [f for f in fields if entry.get(f) in (None, "")]
        if missing:
            raise UserError(f"{key}[{i}] has no {', '.join(missing)} (each entry needs {', '.join(fields)})",
                            where=where)
    return entries


def document_versions(lock: str | Path | Mapping[str, Any],
                      report: str | Path | Mapping[str, Any] | None = None) -> dict[str, DocumentVersion]:
    """``{document id: DocumentVersion}`` for every document in the lock. ``report`` is read only for an
    older lock without a ``documents`` list (see the module docstring); a current lock ignores it.

    A file that is not a lock (report.json, guards.yaml, profile.yaml given by mistake) is a
    :class:`UserError`: it would otherwise yield no documents, so nobody would be asked to accept any.
    """
    data = load_lock(lock)
    where = "clauseguard.lock" if isinstance(lock, Mapping) else str(lock)
    fields = ("id", "version", "sha256")
    if "documents" in data:
        return {d["id"]: DocumentVersion(d["id"], str(d["version"]), d["sha256"])
                for d in _entries(data, "documents", fields, where)}
    if "templates" not in data:
        raise UserError("not a clauseguard.lock: it lists neither 'documents' nor 'templates' (pass the "
                        "clauseguard.lock that clauseguard generate wrote)", where=where)
    rep = load_report(report) if report is not None else None
    if rep is not None:
        _entries(rep, "documents", ("id", "clauses"), "report.json" if isinstance(report, Mapping) else str(report))
        if "documents" not in rep:
            raise UserError("not a report.json: it has no 'documents' list (pass the report.json that "
                            "clauseguard generate wrote)", where=str(report))
    clauses = {c["id"]: c["sha256"] for c in _entries(data, "clauses", ("id", "sha256"), where)}
    out: dict[str, DocumentVersion] = {}
    for tpl in _entries(data, "templates", fields, where):
        members = _document_clauses(rep, tpl["id"])
        picked = sorted((i, h) for i, h in clauses.items() if members is None or i in members)
        material = json.dumps({"template": tpl["sha256"], "profile": data.get("profile_sha256"),
                               "clauses": picked}, sort_keys=True, separators=(",", ":"))
        out[tpl["id"]] = DocumentVersion(tpl["id"], str(tpl["version"]),
                                         hashlib.sha256(material.encode()).hexdigest())
    return out


@dataclass(frozen=True)
class ClauseSection:
    """Where a clause sits in a generated document: ``section 7.1 ("Title") of the Terms of Use``."""

    clause_id: str
    clause_title: str
    document_id: str
    document_title: str
    number: str
    section_title: str

    def cite(self) -> str:
        return f'section {self.number} ("{self.clause_title}") of the {self.document_title}'

    def to_dict(self) -> dict[str, str]:
        return {"clause_id": self.clause_id, "clause_title": self.clause_title, "document_id": self.document_id,
                "document_title": self.document_title, "section_number": self.number,
                "section_title": self.section_title, "citation": self.cite()}


def clause_section(report: str | Path | Mapping[str, Any], clause_id: str,
                   prefer: tuple[str, ...] = ("terms-of-use", "acceptable-use-policy")) -> ClauseSection:
    """Look ``clause_id`` up in report.json: its number and titles, preferring the terms of use."""
    rep = load_report(report)
    clause = next((c for c in rep.get("clauses", []) if c.get("id") == clause_id), None)
    if clause is None or not clause.get("sections"):
        known = sorted(c.get("id", "") for c in rep.get("clauses", []))
        raise UserError(f"clause {clause_id!r} is not in the generated documents; known: {', '.join(known[:20])}"
                        + (" ..." if len(known) > 20 else ""), where="report.json")
    sections: dict[str, str] = clause["sections"]
    doc_id = next((d for d in prefer if d in sections), sorted(sections)[0])
    number = sections[doc_id]
    doc = next(d for d in rep["documents"] if d["id"] == doc_id)
    top = number.split(".")[0]
    section_title = next((s["title"] for s in doc.get("sections", []) if s.get("number") == top), "")
    return ClauseSection(clause_id, clause.get("title", clause_id), doc_id, doc.get("title", doc_id), number,
                         section_title)
