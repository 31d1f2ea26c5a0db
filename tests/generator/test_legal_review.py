"""Findings of a legal review of the built-in clauses, each on an example profile changed the way the
reviewer changed it: the documents contradicted themselves, cited law that their text did not use, or
described a product other than the one the profile describes."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
import yaml

from clauseguard.generator.build import render_outputs
from clauseguard.generator.library import load_library
from clauseguard.generator.profile import load_profile, parse_profile

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"


def _documents(example: str, *replacements: tuple[str, str]) -> dict[str, str]:
    """The Markdown documents and guards.yaml of an example profile, each replacement made once."""
    text = (EXAMPLES / example / "profile.yaml").read_text(encoding="utf-8")
    for old, new in replacements:
        assert old in text, old
        text = text.replace(old, new, 1)
    files = render_outputs(parse_profile(text), formats=("md",))
    return {Path(path).stem: data.decode() for path, data in files.items() if path.endswith((".md", ".yaml"))}


def _section(document: str, title: str) -> str:
    """The numbered section (### heading) called ``title``, up to the next heading, each run of spaces and
    line breaks made one space (the clause files wrap their lines where they like)."""
    match = re.search(rf"^### [\d.]+ {re.escape(title)}\n(.*?)(?=^#)", document + "\n#", re.S | re.M)
    assert match, title
    return " ".join(match[1].split())


TRAINS = ("trains_on_user_data: false", "trains_on_user_data: true")


def test_sensitive_information_trains_models_only_with_opt_in_consent() -> None:
    """The US rights section said sensitive information trained models "unless you opt out", while the
    GDPR section said only with explicit consent: Va. Code §59.1-578(A)(5) and C.R.S. §6-1-1308(7) ask
    for opt-in consent too, so both now say opt-in."""
    notice = _documents("chat-assistant", TRAINS)["privacy-notice"]
    limit = next(line for line in notice.splitlines() if line.startswith("- to **limit**"))
    assert "unless you opt out" not in limit
    assert "to train our models only if you have opted in to that" in limit
    assert "We do not use sensitive information to train our models unless you have explicitly agreed" in notice
    rights = _section(notice, "Your rights under US state privacy laws")
    assert "Va. Code Ann. §59.1-578(A)(5) and Colo. Rev. Stat. §6-1-1308(7)" in rights


@pytest.mark.parametrize("trains", [False, True])
def test_rights_for_business_users_do_not_cite_state_appeal_statutes(trains: bool) -> None:
    """consumer: false gives California's rights only, with no appeal, yet cited the Virginia and
    Colorado consumer rights and appeals sections (which exclude people acting for a business)."""
    business = _section(_documents("medical-api", *[TRAINS] * trains)["privacy-notice"],
                        "Your rights under US state privacy laws")
    assert "If you live in California, the California Consumer Privacy Act" in business
    assert "Appeal" not in business and "Va. Code" not in business and "Colo. Rev. Stat." not in business
    consumer = _section(_documents("chat-assistant")["privacy-notice"], "Your rights under US state privacy laws")
    assert "Appeal" in consumer and "Va. Code Ann. §59.1-577 (consumer rights and appeals)" in consumer


# (jurisdiction, the authority users there are sent to, the law cited)
ELSEWHERE = [
    ("BR", "Autoridade Nacional de Proteção de Dados (ANPD)", "Lei Geral de Proteção de Dados Pessoais"),
    ("CA", "Office of the Privacy Commissioner of Canada", "Sch. 1 Principles 4.9 (individual access)"),
    ("AU", "Office of the Australian Information Commissioner (OAIC)", "APP 12 (access) and APP 13 (correction)"),
    ("JP", "Personal Information Protection Commission (PPC)", "Arts. 32-35 as numbered since 1 April 2022"),
    ("IN", "Data Protection Board of India", "Digital Personal Data Protection Act, 2023"),
    ("OTHER", "data protection authority of your country, where there is one", "OECD Privacy Guidelines"),
]


@pytest.mark.parametrize(("jurisdiction", "authority", "law"), ELSEWHERE, ids=[e[0] for e in ELSEWHERE])
def test_users_outside_the_eu_uk_and_us_are_told_their_rights(jurisdiction: str, authority: str, law: str) -> None:
    """jurisdictions CA, AU, IN, BR, JP and OTHER were accepted but read by no clause: the privacy notice
    had no rights and no complaint section, yet said "everything in this notice, including your rights,
    still applies"."""
    notice = _documents("chat-assistant", ("jurisdictions: [EU, US]", f"jurisdictions: [{jurisdiction}]"))[
        "privacy-notice"]
    assert "\n## 7 Your rights\n" in notice
    rights = _section(notice, "Your rights under the law where you live")
    assert "write to legal@acme-assist.example" in rights and authority in rights and law in rights
    assert "everything in this notice, including your rights, still" in notice


@pytest.mark.parametrize(("rights", "sentence"), [
    ([], "so everything in this notice still applies to it."),
    (["gdpr-rights"], "so everything in this notice, including your rights, still applies to it."),
    (["local-rights"], "so everything in this notice, including your rights, still applies to it."),
])
def test_the_ip_log_promise_names_rights_only_where_the_notice_has_them(tmp_path: Path, rights: list[str],
                                                                        sentence: str) -> None:
    """The pseudonymisation clause said "including your rights" whether or not a rights clause was chosen."""
    folder = tmp_path / "clauses" / "privacy"
    folder.mkdir(parents=True)
    for name in ["pseudonymisation", *rights]:
        shutil.copy(ROOT / "clauses" / "privacy" / f"{name}.md", folder)
    chat = load_profile(EXAMPLES / "chat-assistant" / "profile.yaml")
    profile = chat.model_copy(update={"jurisdictions": ["BR"] if rights == ["local-rights"] else ["EU"]})
    files = render_outputs(profile, library=load_library(folder.parent, include_builtin=False), formats=("md",))
    assert sentence in " ".join(files["documents/privacy-notice.md"].decode().split())


def test_several_other_countries_each_get_their_authority() -> None:
    notice = _documents("chat-assistant", ("jurisdictions: [EU, US]", "jurisdictions: [BR, CA, JP]"))[
        "privacy-notice"]
    rights = _section(notice, "Your rights under the law where you live")
    assert rights.startswith("If you live in Brazil, Canada or Japan, the data protection law there")
    for _, authority, law in ELSEWHERE[:2] + ELSEWHERE[3:4]:
        assert authority in rights and law in rights
    assert "(in Brazil, a full copy of your data within 15 days)" in rights
    assert "Australia" not in rights and "India" not in rights


UPLOADS_ONLY = ("stores_prompts: true      # gallery entries keep their prompt", "stores_prompts: false"), \
    ("public_sharing: true      # the gallery", "public_sharing: false")


def test_uploaded_files_are_kept_when_prompts_are_not() -> None:
    """With uploads but no stored prompts, the terms and the takedown policy said the service stores
    uploads (a hosting service must, to act on notices) and the privacy notice said they were not kept."""
    documents = _documents("image-space", *UPLOADS_ONLY)
    assert "Pixel Forge stores content that you and other users upload." in documents["terms-of-use"]
    notice = documents["privacy-notice"]
    assert "We store the files you upload on the service, for as long as section 4.1" in notice
    assert "We use everything else to produce the response and do not store it afterwards." in notice
    assert "- **Files you upload**: until you delete them or ask us to" in notice
    assert "- **Prompts and outputs**: not kept after the response is returned." in notice
    assert "uploads and outputs**: not kept" not in notice and "do not store them afterwards" not in notice


def test_zero_retention_days_is_not_storing_prompts() -> None:
    """stores_prompts: true with prompt_retention_days: 0 promised a stored history ("We store them",
    "keep your history", "see earlier conversations") and said content was deleted straight after."""
    notice = _documents("chat-assistant", ("prompt_retention_days: 90", "prompt_retention_days: 0"))[
        "privacy-notice"]
    for promise in ("We store them as described", "keep your history", "see earlier conversations",
                    "Your prompts and outputs"):
        assert promise not in notice
    assert "We use them to produce the response and do not store them afterwards." in notice
    assert "- **Prompts and outputs**: not kept after the response is returned." in notice


def test_an_image_generator_gets_no_output_text_checks_and_is_described_as_one() -> None:
    """outputs: [image] got output text guards (keyword, pii, classifier, a medical disclaimer), the DSA
    moderation description promised checks on output text, and the accuracy clause described a text
    model ("predicting what is likely to come next", "invented facts, quotations")."""
    documents = _documents("image-space")
    guards = yaml.safe_load(documents["guards"])["guards"]
    assert [g["id"] for g in guards if g["stage"] == "output" and g["modality"] == "text"] == []
    assert {g["id"] for g in guards if g["stage"] == "output"} == {"output-image-nsfw", "output-image-mark"}
    moderation = _section(documents["terms-of-use"], "Our moderation rules and tools")
    assert "Advice notices" not in moderation
    assert "- **Word and phrase lists**, which compare text with lists of words and phrases linked to " \
           "prohibited content. They run on what you send and can block it." in moderation
    accuracy = _section(documents["ai-disclaimer"], "Accuracy and limits of AI output")
    assert "Pixel Forge creates images from patterns learned" in accuracy
    assert "can look like real people, places or existing works" in accuracy
    assert "are not a factual record" in accuracy
    assert "predicting what is likely to come next" not in accuracy and "quotations" not in accuracy


def test_a_text_product_keeps_its_output_checks_and_wording() -> None:
    documents = _documents("chat-assistant")
    guards = yaml.safe_load(documents["guards"])["guards"]
    assert {"output-keyword", "output-pii"} <= {g["id"] for g in guards}
    accuracy = _section(documents["ai-disclaimer"], "Accuracy and limits of AI output")
    assert "predicting what is likely to come next" in accuracy and "invented facts, quotations" in accuracy


US_OPERATOR = ("address: 1 Example Street, Dublin D02 X000, Ireland",
               "address: 1 Example Street, Austin, TX 78701, USA")


@pytest.mark.parametrize("representative", [None, "EU Rep GmbH, 1 Hauptstrasse, Berlin, Germany"])
def test_the_dsa_languages_claim_no_eu_establishment_the_profile_does_not_show(representative: str | None) -> None:
    """A US operator without an EU representative was said to have a "main establishment" in a Member
    State. Without a representative, authorities may write in any official EU language; with one, in a
    language of the representative's Member State (DSA Art. 11(3))."""
    replacements = [US_OPERATOR]
    if representative:
        replacements.append(("  dsa_contact_email:", f"  eu_representative: {representative}\n  dsa_contact_email:"))
    terms = _documents("chat-assistant", *replacements)["terms-of-use"]
    contact = _section(terms, "Points of contact under the Digital Services Act")
    assert "main establishment" not in contact
    if representative:
        assert "in an official language of the Member State where our legal representative is established" in contact
        assert "Our legal representative in the Union under Article 13" in contact
    else:
        assert "in English or in any official language of the European Union." in contact
