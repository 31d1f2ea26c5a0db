"""Outputs: guards.yaml, report.json, clauseguard.lock; determinism; atomic writes."""

from __future__ import annotations

import errno
import json
import os
import shutil
from pathlib import Path

import pytest
import yaml

from clauseguard.errors import ClauseError, UserError
from clauseguard.generator import build as build_module
from clauseguard.generator.build import generate, render_outputs, write_outputs
from clauseguard.generator.library import load_library
from clauseguard.generator.outputs import undated_changes, warnings_for
from clauseguard.generator.profile import load_profile
from clauseguard.guards import GuardSpec
from tests.conftest import CHAT_PROFILE, LIBRARY, PROFILES


@pytest.fixture
def chat_files(fixture_library, profile) -> dict[str, bytes]:
    return render_outputs(profile("chat"), library=fixture_library, formats=("md",))


def test_two_renders_are_byte_identical(profile) -> None:
    first = render_outputs(profile("image-space"), clauses_dir=LIBRARY, include_builtin=False, formats=("md",))
    second = render_outputs(profile("image-space"), clauses_dir=LIBRARY, include_builtin=False, formats=("md",))
    assert first == second
    assert list(first) == list(second)


def test_file_list(chat_files) -> None:
    assert sorted(chat_files) == sorted([
        "documents/terms-of-use.md", "documents/acceptable-use-policy.md", "documents/ai-disclaimer.md",
        "documents/privacy-notice.md", "documents/model-licence-notices.md",
        "guards.yaml", "report.json", "clauseguard.lock"])


def test_report_has_the_design_keys_and_why(chat_files, profile) -> None:
    report = json.loads(chat_files["report.json"])
    assert {"clauseguard_version", "profile_sha256", "documents", "clauses", "guards", "warnings"} <= set(report)
    assert report["profile_sha256"] == profile("chat").sha256()
    terms = report["documents"][0]
    assert terms["id"] == "terms-of-use" and terms["path"] == "documents/terms-of-use.md"
    assert terms["clauses"][0] == "core/agreement"
    by_id = {c["id"]: c for c in report["clauses"]}
    ip = by_id["privacy/ip-addresses"]
    assert {"id", "version", "title", "documents", "why", "sources", "guards"} <= set(ip)
    assert "data.logs_ip_addresses = true" in ip["why"]
    assert ip["guards"] == ["output-pii"] and ip["sections"] == {"privacy-notice": "1.1"}
    excluded = {c["id"]: c["why"] for c in report["excluded"]}
    assert excluded["ai/output-marking"].startswith("Left out: it applies only when modalities.outputs includes image")
    assert {g["id"] for g in report["guards"]} == {g for c in report["clauses"] for g in c["guards"]}


def _guards(files: dict[str, bytes]) -> dict[str, dict]:
    data = yaml.safe_load(files["guards.yaml"])
    assert set(data) == {"clauseguard_version", "profile_sha256", "guards"}
    for guard in data["guards"]:
        GuardSpec.model_validate(guard)
    return {g["id"]: g for g in data["guards"]}


def test_guards_merge_identical_and_list_entries(chat_files) -> None:
    guards = _guards(chat_files)
    assert list(guards) == ["input-keyword", "input-classifier", "output-keyword", "output-pii",
                            "output-disclaimer", "output-ai-disclosure"]
    keyword = guards["input-keyword"]
    assert keyword["params"]["categories"] == ["S4", "S12"]
    assert keyword["clauses"] == ["content/child-sexual-abuse", "content/sexual-content"]
    assert keyword["category_clauses"] == {"S4": ["content/child-sexual-abuse"], "S12": ["content/sexual-content"]}
    assert keyword["category_messages"]["S4"] == \
        "Blocked under section 1.1 (“Child sexual abuse material”) of the Acceptable Use Policy."
    assert keyword["message"] == ("Blocked under sections 1.1 (“Child sexual abuse material”) and 1.2 "
                                  "(“Sexual content”) of the Acceptable Use Policy.")
    pii = guards["output-pii"]
    assert pii["params"]["entities"] == ["email", "ip_address", "phone"]
    assert pii["category_clauses"]["ip_address"] == ["privacy/ip-addresses"]
    disclaimer = guards["output-disclaimer"]
    assert disclaimer["params"]["texts"] == {"legal": "This is not legal advice.",
                                             "medical": "This is not medical advice."}
    assert guards["output-ai-disclosure"]["params"]["notice"] == "You are talking to Acme Assist, an AI system."
    assert guards["output-keyword"]["clauses"] == ["content/child-sexual-abuse"]


def test_same_type_that_cannot_merge_gets_a_numbered_id(clause_dir, profile) -> None:
    folder = clause_dir({
        "t/a": {"guards": [{"type": "keyword", "params": {"categories": ["S4"], "match": "word"}}]},
        "t/b": {"guards": [{"type": "keyword", "params": {"categories": ["S12"], "match": "substring"}}]},
        "t/c": {"guards": [{"type": "keyword", "params": {"categories": ["S4"], "match": "word"}}]},
    })
    files = render_outputs(profile("us-minimal"), library=load_library(folder, include_builtin=False), formats=("md",))
    guards = _guards(files)
    assert list(guards) == ["input-keyword", "input-keyword-2"]
    assert guards["input-keyword"]["clauses"] == ["t/a", "t/c"]
    assert guards["input-keyword-2"]["clauses"] == ["t/b"]


def test_guard_params_that_fail_to_render_name_the_clause(clause_dir, profile) -> None:
    guard = {"type": "ai_disclosure", "stage": "output", "on_fail": "label",
             "params": {"notice": "{{ product.nmae }} is an AI"}}
    folder = clause_dir({"t/a": {"guards": [guard]}})
    with pytest.raises(ClauseError, match="nmae") as info:
        render_outputs(profile("us-minimal"), library=load_library(folder, include_builtin=False), formats=("md",))
    lines = (folder / "t/a.md").read_text().splitlines()
    assert info.value.where == f"{folder / 't/a.md'}:{lines.index('guards:') + 2}"


def test_lock_lists_clause_versions_and_hashes(chat_files, fixture_library) -> None:
    lock = yaml.safe_load(chat_files["clauseguard.lock"])
    entry = next(c for c in lock["clauses"] if c["id"] == "content/sexual-content")
    assert entry["version"] == "1.1.0"
    assert entry["sha256"] == fixture_library.clauses["content/sexual-content"].sha256
    assert [t["id"] for t in lock["templates"]] == ["terms-of-use", "acceptable-use-policy", "ai-disclaimer",
                                                  "privacy-notice", "model-licence-notices"]


def test_lock_records_the_effective_date(chat_files) -> None:
    assert yaml.safe_load(chat_files["clauseguard.lock"])["effective_date"] == "2026-12-01"


def _lock(date: str | None, **hashes: str) -> bytes:
    documents = [{"id": i, "version": "1.0.0", "sha256": h} for i, h in hashes.items()]
    data = {"effective_date": date, "documents": documents}
    return yaml.safe_dump({k: v for k, v in data.items() if v is not None}).encode()


@pytest.mark.parametrize(("previous", "named"), [
    (_lock("2026-12-01", terms="a", aup="b", privacy="c"), "terms, privacy"),
    (_lock("2026-12-01", terms="x", aup="b", privacy="y"), None),  # nothing changed
    (_lock("2026-11-01", terms="a", aup="b", privacy="c"), None),  # the date moved
    (_lock(None, terms="a", aup="b", privacy="c"), None),  # a lock from before the date was recorded
    (_lock("2026-12-01", aup="b"), None),  # documents new to the folder were never accepted
    (None, None), (b"not: [a lock", None), (b"[1, 2]", None),
])
def test_undated_changes(previous: bytes | None, named: str | None) -> None:
    warning = undated_changes(previous, _lock("2026-12-01", terms="x", aup="b", privacy="y"))
    if named is None:
        assert warning is None
    else:
        assert warning is not None and warning.startswith(f"{named} changed from the version in this folder, but "
                                                          "product.effective_date is still 2026-12-01")


def test_lock_hashes_the_exact_text_of_each_document(chat_files) -> None:
    import hashlib

    lock = yaml.safe_load(chat_files["clauseguard.lock"])
    assert [d["id"] for d in lock["documents"]] == [t["id"] for t in lock["templates"]]
    for document in lock["documents"]:
        markdown = chat_files[f"documents/{document['id']}.md"]
        assert document["sha256"] == hashlib.sha256(markdown).hexdigest()


@pytest.mark.parametrize(("outputs", "ids"), [
    (["image"], ["input-keyword", "output-image-mark"]),
    (["audio"], ["input-keyword", "output-image-mark"]),
    (["code"], ["input-keyword", "output-keyword", "output-image-mark"]),
    (["text", "image"], ["input-keyword", "output-keyword", "output-image-mark"]),
])
def test_output_text_guards_need_a_product_that_outputs_text(clause_dir, profile, outputs: list[str],
                                                             ids: list[str]) -> None:
    """An image generator got output text guards, and the DSA moderation description built from them
    told users of checks on output text that cannot happen."""
    folder = clause_dir({"t/a": {"guards": [
        {"type": "keyword", "params": {"categories": ["S4"]}},
        {"type": "keyword", "stage": "output", "params": {"categories": ["S4"]}},
        {"type": "image_mark"}]}})
    base = profile("us-minimal")
    product = base.model_copy(update={"modalities": base.modalities.model_copy(update={"outputs": outputs})})
    files = render_outputs(product, library=load_library(folder, include_builtin=False), formats=("md",))
    assert list(_guards(files)) == ids
    assert json.loads(files["report.json"])["clauses"][0]["guards"] == ids


def test_no_dsa_contact_email_is_no_warning_the_contact_email_serves(profile) -> None:
    """DSA Art. 11/12 ask for a single point of contact; without dsa_contact_email the documents name
    contact_email as that point, so a warning that one is missing would mislead."""
    hosting = profile("image-space")
    assert "EU" in hosting.jurisdictions and hosting.operator.dsa_contact_email is None
    files = render_outputs(hosting, clauses_dir=LIBRARY, include_builtin=False, formats=("md",))
    assert not any("dsa_contact_email" in w for w in json.loads(files["report.json"])["warnings"])


@pytest.mark.parametrize(("name", "warning"), [
    ("uploads-no-agent", "operator.dmca_agent is not set"),
])
def test_warnings(profile, name: str, warning: str) -> None:
    files = render_outputs(profile(name), clauses_dir=LIBRARY, include_builtin=False, formats=("md",))
    assert any(warning in w for w in json.loads(files["report.json"])["warnings"])


@pytest.mark.parametrize(("uploads", "public_sharing", "warned"), [
    (True, False, True), (False, True, True), (False, False, False)])
def test_dmca_agent_warning_follows_the_dmca_clauses(profile, uploads: bool, public_sharing: bool,
                                                      warned: bool) -> None:
    context = profile("uploads-no-agent").context()
    assert "US" in context["jurisdictions"] and not context["operator"].get("dmca_agent")
    context["user_content"] = {**context["user_content"], "uploads": uploads, "public_sharing": public_sharing}
    assert any("operator.dmca_agent is not set" in w for w in warnings_for(context)) is warned


@pytest.mark.parametrize(("phone", "warned"), [(None, True), ("+1 302 555 0142", False)])
def test_a_dmca_agent_without_a_telephone_number_is_a_warning(profile, phone: str | None, warned: bool) -> None:
    """17 U.S.C. §512(c)(2)(A): the agent's telephone number is part of what the service shows."""
    context = profile("uploads-no-agent").context()
    agent = {"name": "Jo Agent", "email": "dmca@example.com", "address": "1 Main St", "phone": phone}
    context["operator"] = {**context["operator"], "dmca_agent": agent}
    assert any("operator.dmca_agent.phone is not set" in w for w in warnings_for(context)) is warned
    assert not any("operator.dmca_agent is not set" in w for w in warnings_for(context))


@pytest.mark.parametrize(("consumer", "age", "warned"), [(False, 13, True), (False, 18, False), (True, 13, False)])
def test_minors_in_a_service_for_organisations_is_a_warning(profile, consumer: bool, age: int, warned: bool) -> None:
    """A business-only service has users confirm they can bind an organisation; below 18 the terms also ask
    a parent to agree: both clauses are right on their own, together they need a founder's decision."""
    context = profile("chat").context()
    context["audience"] = {**context["audience"], "consumer": consumer, "minimum_age": age}
    assert any("audience.consumer is false but audience.minimum_age" in w for w in warnings_for(context)) is warned


def test_no_warning_for_a_complete_profile(chat_files) -> None:
    assert json.loads(chat_files["report.json"])["warnings"] == []


def test_unknown_format_is_a_user_error(profile) -> None:
    with pytest.raises(UserError, match="unknown format"):
        render_outputs(profile("chat"), clauses_dir=LIBRARY, include_builtin=False, formats=("pdf",))


def test_write_refuses_a_non_empty_folder_without_force(tmp_path: Path) -> None:
    out = tmp_path / "legal"
    (out / "documents").mkdir(parents=True)
    (out / "documents" / "terms-of-use.md").write_text("old")
    (out / "guards.yaml").write_text("old")
    with pytest.raises(UserError, match="--force"):
        write_outputs({"report.json": b"new"}, out)
    assert sorted(p.name for p in out.iterdir()) == ["documents", "guards.yaml"]
    write_outputs({"report.json": b"new"}, out, force=True)
    assert [p.name for p in out.iterdir()] == ["report.json"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["legal"]


@pytest.mark.parametrize(("mine", "named"), [
    ("NOTES.txt", "'NOTES.txt'"),
    ("profile.yaml", "'profile.yaml'"),
    ("documents/my-edits.txt", "'documents/my-edits.txt'"),
    ("guards.yaml/inner", "'guards.yaml'"),  # a folder where a generated file belongs
])
def test_force_refuses_a_folder_holding_files_it_did_not_generate(tmp_path: Path, mine: str, named: str) -> None:
    out = tmp_path / "legal"
    (out / "documents").mkdir(parents=True)
    (out / "report.json").write_text("old")
    (out / mine).parent.mkdir(parents=True, exist_ok=True)
    (out / mine).write_text("keep")
    with pytest.raises(UserError, match=f"also holds {named}"):
        write_outputs({"report.json": b"new"}, out, force=True)
    assert (out / mine).read_text() == "keep" and (out / "report.json").read_text() == "old"


@pytest.mark.parametrize("clauses_inside", [False, True])
def test_generate_refuses_an_output_folder_holding_its_inputs(tmp_path: Path, clauses_inside: bool) -> None:
    out = tmp_path / "legal"
    out.mkdir()
    profile = out / "profile.yaml" if not clauses_inside else tmp_path / "profile.yaml"
    shutil.copy(CHAT_PROFILE, profile)
    clauses = shutil.copytree(LIBRARY, out / "clauses") if clauses_inside else LIBRARY
    what = "clause folder" if clauses_inside else "profile"
    with pytest.raises(UserError, match=f"contains the {what}"):
        generate(profile, out, clauses_dir=clauses, include_builtin=False, formats=("md",), force=True)
    assert profile.is_file() and (out / ("clauses" if clauses_inside else "profile.yaml")).exists()


def test_write_into_an_empty_or_new_folder(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    for name in ("empty", "new/nested"):
        write_outputs({"documents/a.md": b"x"}, tmp_path / name)
        assert (tmp_path / name / "documents" / "a.md").read_bytes() == b"x"


def test_a_failure_while_writing_leaves_no_half_folder(tmp_path: Path, monkeypatch) -> None:
    out = tmp_path / "legal"
    out.mkdir()
    (out / "report.json").write_text("previous")

    def fail(folder: Path, files: dict[str, bytes]) -> None:
        (folder / "half.md").write_text("half")
        raise OSError("disk full")

    monkeypatch.setattr(build_module, "_fill", fail)
    with pytest.raises(OSError, match="disk full"):
        write_outputs({"a.md": b"x"}, out, force=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["legal"]
    assert [p.name for p in out.iterdir()] == ["report.json"]


@pytest.mark.parametrize("rel", ["../escape.md", "/abs.md"])
def test_write_refuses_paths_outside_the_folder(tmp_path: Path, rel: str) -> None:
    with pytest.raises(UserError, match="outside"):
        write_outputs({rel: b"x"}, tmp_path / "out")
    assert list(tmp_path.iterdir()) == []


def test_generate_writes_nothing_when_the_profile_is_bad(tmp_path: Path) -> None:
    from clauseguard.errors import ProfileError

    with pytest.raises(ProfileError):
        generate(PROFILES / "bad-key.yaml", tmp_path / "out", clauses_dir=LIBRARY, formats=("md",))
    assert list(tmp_path.iterdir()) == []


def test_builtin_library_renders_every_example_profile(tmp_path: Path) -> None:
    """Smoke test over the built-in clauses (written by the clause authors) and the example profiles."""
    from tests.conftest import ROOT

    examples = sorted((ROOT / "examples").glob("*/profile.yaml"))
    assert examples
    for path in examples:
        files = generate(path, tmp_path / path.parent.name, formats=("md",))
        assert "documents/terms-of-use.md" in files
        _guards(files)


def test_guard_parameters_carry_profile_values_as_written(profile, fixture_library) -> None:
    """Documents are Markdown (a name is escaped there); a guard's notice is plain text a user is shown."""
    chat = profile("chat")
    odd = chat.model_copy(update={"product": chat.product.model_copy(update={"name": "Acme_Assist [beta]"})})
    files = render_outputs(odd, library=fixture_library, formats=("md",))
    notices = [g["params"]["notice"] for g in yaml.safe_load(files["guards.yaml"])["guards"]
               if g["type"] == "ai_disclosure"]
    assert notices == ["You are talking to Acme_Assist [beta], an AI system."]
    assert b"Acme\\_Assist \\[beta\\]" in b"".join(v for k, v in files.items() if k.endswith(".md"))


@pytest.mark.parametrize("named", [False, True])
def test_uk_representative_and_dpo_are_named_in_the_privacy_notice(named: bool) -> None:
    """UK GDPR Art. 27 and GDPR Art. 13(1)(b): named, with their sources, when the profile gives them."""
    from clauseguard.generator.profile import parse_profile

    example = (Path(__file__).parents[2] / "examples" / "image-space" / "profile.yaml").read_text(encoding="utf-8")
    text = "".join(line for line in example.splitlines(keepends=True) if "uk_representative" not in line)
    if named:
        text = text.replace("  dmca_agent:\n", "  uk_representative: UK Rep Ltd, 1 High Street, London\n"
                                                 "  dpo_email: dpo@pixelforge.example\n  dmca_agent:\n", 1)
    notice = render_outputs(parse_profile(text), formats=("md",))["documents/privacy-notice.md"].decode()
    for words in ("representative in the United Kingdom under Article 27 of the UK GDPR is UK Rep Ltd",
                  "data protection officer", "dpo@pixelforge.example", "UK GDPR Art. 27", "Art. 13(1)(b)"):
        assert (words in notice) is named, words


def test_clause_wording_holds_for_less_usual_profiles() -> None:
    """Emotion recognition on images and audio, no IP logging, UK-only transfers: sentences that came
    out ungrammatical ("such as image showing a person's face or voice", "**Technical data.** the time",
    "signed with the recipient  the UK ...")."""
    from clauseguard.generator.profile import parse_profile

    example = (Path(__file__).parents[2] / "examples" / "image-space" / "profile.yaml").read_text(encoding="utf-8")
    text = (example.replace("  emotion_recognition: false", "  emotion_recognition: true")
            .replace("inputs: [text, image]", "inputs: [text, image, audio]")
            .replace("  logs_ip_addresses: true", "  logs_ip_addresses: false"))
    files = render_outputs(parse_profile(text), formats=("md",))
    disclaimer = files["documents/ai-disclaimer.md"].decode()
    assert "such as images of a person's face or recordings of a person's voice." in disclaimer
    assert "**Technical data.** The time of your requests" in files["documents/privacy-notice.md"].decode()
    uk_only = parse_profile(example.replace("jurisdictions: [EU, US, UK]", "jurisdictions: [UK]"))
    notice = render_outputs(uk_only, formats=("md",))["documents/privacy-notice.md"].decode()
    assert "signed with the recipient the UK International Data Transfer Addendum" in notice


def _chat_md() -> dict[str, bytes]:
    return render_outputs(load_profile(CHAT_PROFILE), clauses_dir=LIBRARY, include_builtin=False, formats=("md",))


def test_force_writes_into_the_same_folder_not_a_new_one_in_its_place(tmp_path: Path) -> None:
    """The output folder was renamed away and a new one renamed into its place: a mount point given as -o
    failed with EBUSY (a traceback, and a ``.legal.old-*`` folder left behind), and ``-o .`` swapped the
    folder the shell was in for another one."""
    out = tmp_path / "legal"
    write_outputs(_chat_md(), out)
    before = out.stat().st_ino
    write_outputs({"report.json": b"new", "documents/terms-of-use.md": b"new"}, out, force=True)
    assert out.stat().st_ino == before
    assert sorted(p.name for p in out.iterdir()) == ["documents", "report.json"]  # old outputs gone
    assert [p.name for p in (out / "documents").iterdir()] == ["terms-of-use.md"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["legal"]


def test_a_mount_point_as_output_folder_is_written_into(tmp_path: Path, monkeypatch) -> None:
    """Renaming a mount point fails with EBUSY; that was a traceback with exit code 1."""
    out = tmp_path / "mnt"
    out.mkdir()
    real_replace = os.replace

    def replace(src, dst) -> None:
        if Path(src) == out or Path(dst) == out:
            raise OSError(errno.EBUSY, "Device or resource busy", str(src))
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", replace)
    write_outputs({"report.json": b"new"}, out)
    assert [p.name for p in out.iterdir()] == ["report.json"]
    write_outputs({"guards.yaml": b"new"}, out, force=True)
    assert [p.name for p in out.iterdir()] == ["guards.yaml"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mnt"]


def test_a_linked_output_folder_stays_a_link_and_the_linked_folder_gets_the_outputs(tmp_path: Path) -> None:
    """A symlink given as -o was replaced by a real folder, and the folder it linked to stayed empty."""
    real = tmp_path / "site"
    real.mkdir()
    link = tmp_path / "link"
    link.symlink_to(real)
    write_outputs({"report.json": b"one"}, link)
    assert link.is_symlink() and (real / "report.json").read_bytes() == b"one"
    write_outputs({"report.json": b"two"}, link, force=True)
    assert link.is_symlink() and (real / "report.json").read_bytes() == b"two"
    dangling = tmp_path / "later"
    dangling.symlink_to(tmp_path / "not-yet")
    write_outputs({"report.json": b"three"}, dangling)
    assert dangling.is_symlink() and (tmp_path / "not-yet" / "report.json").read_bytes() == b"three"


def test_the_current_folder_as_output_is_kept(tmp_path: Path, monkeypatch, capsys) -> None:
    """``-o .`` replaced the folder the shell was in: the shell was left in a deleted folder."""
    from clauseguard.cli import main

    monkeypatch.chdir(tmp_path)
    args = ["generate", str(PROFILES / "us-minimal.yaml"), "-o", ".", "--format", "md", "--clauses", str(LIBRARY),
            "--no-builtin"]
    assert main(args) == 0 and main([*args, "--force"]) == 0
    assert Path(os.getcwd()) == tmp_path and (tmp_path / "report.json").is_file()
    assert Path(".").resolve() == tmp_path and (Path(".") / "guards.yaml").is_file()


def test_a_failure_while_moving_entries_in_leaves_the_old_outputs(tmp_path: Path, monkeypatch) -> None:
    """Moving the new entries into an existing folder can fail half-way; the old outputs come back."""
    out = tmp_path / "legal"
    write_outputs({"documents/a.md": b"old", "guards.yaml": b"old", "report.json": b"old"}, out)
    real_replace = os.replace

    def replace(src, dst) -> None:
        if Path(dst) == out / "report.json" and ".clauseguard-new-" in str(src):  # the new one, moving in
            raise OSError(errno.ENOSPC, "No space left on device", str(dst))
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", replace)
    with pytest.raises(UserError, match="cannot write: No space left on device"):
        write_outputs({"documents/a.md": b"new", "guards.yaml": b"new", "report.json": b"new"}, out, force=True)
    assert sorted(p.name for p in out.iterdir()) == ["documents", "guards.yaml", "report.json"]
    assert {p.name: p.read_bytes() for p in out.rglob("*") if p.is_file()} == \
        {"a.md": b"old", "guards.yaml": b"old", "report.json": b"old"}


@pytest.mark.parametrize("mine", ["my-notes.md", "terms-of-use-annotated.docx", "draft.html"])
def test_force_keeps_hand_written_documents_and_refuses(tmp_path: Path, mine: str) -> None:
    """Any .md, .html or .docx under documents/ counted as generated, so --force deleted a lawyer's notes."""
    out = tmp_path / "legal"
    generate(PROFILES / "us-minimal.yaml", out, clauses_dir=LIBRARY, include_builtin=False, formats=("md",))
    (out / "documents" / mine).write_text("keep")
    with pytest.raises(UserError, match=f"also holds 'documents/{mine}'"):
        generate(PROFILES / "us-minimal.yaml", out, clauses_dir=LIBRARY, include_builtin=False, formats=("md",),
                 force=True)
    assert (out / "documents" / mine).read_text() == "keep"
    with pytest.raises(UserError, match=f"also holds 'documents/{mine}'"):
        write_outputs({"report.json": b"{}"}, out, force=True)
    assert (out / "documents" / mine).read_text() == "keep"


def test_force_replaces_documents_an_earlier_report_or_a_template_names(tmp_path: Path) -> None:
    """What --force may replace under documents/: the paths the old report.json lists (a template since
    removed), and ``<template-id>.<format>`` of the templates in use."""
    out = tmp_path / "legal"
    generate(PROFILES / "us-minimal.yaml", out, clauses_dir=LIBRARY, include_builtin=False, formats=("md",))
    report = json.loads((out / "report.json").read_text())
    report["documents"].append({"id": "retired", "paths": ["documents/retired.md"]})
    (out / "report.json").write_text(json.dumps(report))
    (out / "documents" / "retired.md").write_text("from an older version")
    (out / "documents" / "privacy-notice.docx").write_text("from a run with --format docx")
    generate(PROFILES / "us-minimal.yaml", out, clauses_dir=LIBRARY, include_builtin=False, formats=("md",),
             force=True)
    names = sorted(p.name for p in (out / "documents").iterdir())
    assert "retired.md" not in names and "privacy-notice.docx" not in names and "terms-of-use.md" in names


def test_warnings_name_values_as_written_not_markdown_escaped(fixture_library, capsys, tmp_path) -> None:
    """A model ``my_model*v2*`` was warned about as ``my\\_model\\*v2\\*`` in report.json and on stderr."""
    from clauseguard.cli import main
    from clauseguard.generator.profile import parse_profile

    text = CHAT_PROFILE.read_text(encoding="utf-8").replace(
        "{name: Llama 3.1 8B Instruct, license: llama3.1}", "{name: 'my_model*v2*', license: other, license_name: X}")
    warnings = json.loads(render_outputs(parse_profile(text), library=fixture_library, formats=("md",))
                          ["report.json"])["warnings"]
    assert any("models with license 'other' (my_model*v2*)" in w for w in warnings), warnings
    (tmp_path / "profile.yaml").write_text(text, encoding="utf-8")
    assert main(["generate", str(tmp_path / "profile.yaml"), "-o", str(tmp_path / "out"), "--format", "md",
                 "--clauses", str(LIBRARY), "--no-builtin"]) == 0
    assert "warning: models with license 'other' (my_model*v2*)" in capsys.readouterr().err


def test_no_builtin_with_a_folder_of_no_clauses_is_refused(tmp_path: Path) -> None:
    """It wrote six documents of headings and boilerplate, and said nothing."""
    empty = tmp_path / "clauses"
    empty.mkdir()
    with pytest.raises(UserError, match="no clauses to build the documents from") as info:
        generate(CHAT_PROFILE, tmp_path / "out", clauses_dir=empty, include_builtin=False)
    assert info.value.where == str(empty) and not (tmp_path / "out").exists()
