"""Acceptances: record the current version and hash; ask again when a document's content changes."""

from __future__ import annotations

import copy
from typing import Any

import pytest
import yaml

from clauseguard.guards.records import (
    NoticeError,
    RecordStore,
    accepted,
    document_versions,
    needs_acceptance,
    record_acceptance,
)

USER = "user:k2:" + "3" * 64


@pytest.fixture
def full_lock(generated: dict[str, Any]) -> dict[str, Any]:
    return yaml.safe_load(generated["lock"].read_text(encoding="utf-8"))


@pytest.fixture
def lock(full_lock: dict[str, Any]) -> dict[str, Any]:
    """A lock without per-document hashes (as older generators wrote): they are derived from the
    template, profile and clause hashes."""
    return {k: v for k, v in full_lock.items() if k != "documents"}


def _changed(lock: dict[str, Any], what: str) -> dict[str, Any]:
    new = copy.deepcopy(lock)
    if what == "clause":
        clause = next(c for c in new["clauses"] if c["id"] == "core/governing-law")
        clause["sha256"] = "0" * 64
    elif what == "template":
        new["templates"][0]["sha256"] = "1" * 64
    elif what == "profile":
        new["profile_sha256"] = "2" * 64
    return new


def test_all_documents_need_acceptance_at_first(store: RecordStore, lock: dict[str, Any]) -> None:
    assert [d.id for d in needs_acceptance(store, USER, lock)] == [t["id"] for t in lock["templates"]]


@pytest.mark.parametrize(("change", "again"), [
    ("nothing", []),
    ("clause", ["terms-of-use"]),  # core/governing-law is in the terms only
    ("template", ["terms-of-use"]),
    ("profile", ["terms-of-use", "privacy-notice"]),
])
def test_changes_ask_for_acceptance_again(store: RecordStore, lock: dict[str, Any], generated: dict[str, Any],
                                          change: str, again: list[str]) -> None:
    report = generated["report"]
    for doc in ("terms-of-use", "privacy-notice"):
        row = record_acceptance(store, USER, doc, lock=lock, report=report, channel="api")
        assert (row.version, row.channel) == (document_versions(lock, report)[doc].version, "api")
    new_lock = _changed(lock, change)
    pending = needs_acceptance(store, USER, new_lock, report=report, documents=["terms-of-use", "privacy-notice"])
    assert [d.id for d in pending] == again


def test_acceptance_is_idempotent_and_keys_span_rotation(store: RecordStore, lock: dict[str, Any]) -> None:
    first = record_acceptance(store, USER, "terms-of-use", lock=lock)
    again = record_acceptance(store, USER, "terms-of-use", lock=lock)
    assert first.id == again.id and len(accepted(store, USER)) == 1
    old_key = "user:k1:" + "4" * 64
    record_acceptance(store, old_key, "privacy-notice", lock=lock)
    assert {d.id for d in needs_acceptance(store, [USER, old_key], lock)} == (
        set(document_versions(lock)) - {"terms-of-use", "privacy-notice"})


def test_unknown_document(store: RecordStore, lock: dict[str, Any]) -> None:
    with pytest.raises(NoticeError, match=r"not in clauseguard\.lock"):
        record_acceptance(store, USER, "cookie-policy", lock=lock)


def test_lock_with_documents_section_is_used_as_is() -> None:
    lock = {"documents": [{"id": "terms-of-use", "version": "2.0.0", "sha256": "a" * 64}]}
    assert document_versions(lock)["terms-of-use"].sha256 == "a" * 64


def test_a_lock_with_document_hashes_asks_again_only_for_the_changed_text(
        store: RecordStore, full_lock: dict[str, Any]) -> None:
    for doc in ("terms-of-use", "privacy-notice"):
        record_acceptance(store, USER, doc, lock=full_lock, channel="web")
    assert needs_acceptance(store, USER, full_lock, documents=["terms-of-use", "privacy-notice"]) == []
    changed = copy.deepcopy(full_lock)
    next(d for d in changed["documents"] if d["id"] == "privacy-notice")["sha256"] = "4" * 64
    pending = needs_acceptance(store, USER, changed, documents=["terms-of-use", "privacy-notice"])
    assert [d.id for d in pending] == ["privacy-notice"]


@pytest.mark.parametrize(("name", "as_lock", "as_report", "words"), [
    ("report.json as the lock", "report", None, r"documents\[0\] has no sha256"),
    ("guards.yaml as the lock", "guards", None, "not a clauseguard.lock"),
    ("profile.yaml as the lock", "profile", None, "not a clauseguard.lock"),
    ("the lock as the report", "templates-only lock", "lock data", r"report\.json: documents\[0\] has no clauses"),
])
def test_the_wrong_file_as_lock_or_report_is_a_user_error(store: RecordStore, generated: dict[str, Any],
                                                          lock: dict[str, Any], full_lock: dict[str, Any],
                                                          tmp_path: Any, name: str,
                                                          as_lock: str, as_report: str | None, words: str) -> None:
    """Read as a lock, any of these gave no documents (or documents hashed without their clauses), so
    needs_acceptance answered that the user had accepted everything."""
    from clauseguard.errors import UserError

    (tmp_path / "old.lock").write_text(yaml.safe_dump(lock), encoding="utf-8")
    files = {"report": generated["report"], "guards": generated["dir"] / "guards.yaml",
             "profile": generated["profile"], "templates-only lock": tmp_path / "old.lock", "lock data": full_lock}
    with pytest.raises(UserError, match=words) as caught:
        needs_acceptance(store, USER, files[as_lock], report=files[as_report] if as_report else None)
    if as_report is None:
        assert str(files[as_lock]) in str(caught.value)


def test_a_documents_hash_is_the_rendered_markdown_and_report_is_ignored(generated: dict[str, Any]) -> None:
    """records.md said the hash combined template, profile and clause hashes, narrowed by report=; for a
    lock that clauseguard generate writes it is the sha256 of the rendered document, report= unused."""
    import hashlib

    plain = document_versions(generated["lock"])
    narrowed = document_versions(generated["lock"], generated["report"])
    assert plain == narrowed
    for doc_id, version in plain.items():
        rendered = generated["dir"] / "documents" / f"{doc_id}.md"
        assert version.sha256 == hashlib.sha256(rendered.read_bytes()).hexdigest(), doc_id
