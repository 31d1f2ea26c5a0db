"""The categories a finding can carry.

Canonical ids are the MLCommons hazard codes used by Llama Guard 3 (S1–S14), plus four of our own.
Other taxonomies are mapped onto them here, in one place.
"""

from __future__ import annotations

__all__ = ["AILUMINATE_TO_CATEGORY", "CATEGORIES", "OPENAI_TO_CATEGORY", "canonical_category", "is_category"]

CATEGORIES: dict[str, str] = {
    "S1": "Violent crimes",
    "S2": "Non-violent crimes",
    "S3": "Sex-related crimes",
    "S4": "Child sexual exploitation",
    "S5": "Defamation",
    "S6": "Specialized advice",
    "S7": "Privacy",
    "S8": "Intellectual property",
    "S9": "Indiscriminate weapons",
    "S10": "Hate",
    "S11": "Suicide and self-harm",
    "S12": "Sexual content",
    "S13": "Elections",
    "S14": "Code interpreter abuse",
    "pii": "Personal data",
    "profanity": "Profanity",
    "prompt_injection": "Prompt injection",
    "ai_disclosure": "AI disclosure",
}

# OpenAI moderation categories -> canonical ids.
OPENAI_TO_CATEGORY: dict[str, str] = {
    "sexual": "S12",
    "sexual/minors": "S4",
    "hate": "S10",
    "hate/threatening": "S10",
    "harassment": "S10",
    "harassment/threatening": "S1",
    "self-harm": "S11",
    "self-harm/intent": "S11",
    "self-harm/instructions": "S11",
    "violence": "S1",
    "violence/graphic": "S1",
    "illicit": "S2",
    "illicit/violent": "S9",
}

# MLCommons AILuminate hazard codes -> canonical ids.
AILUMINATE_TO_CATEGORY: dict[str, str] = {
    "vcr": "S1",
    "ncr": "S2",
    "src": "S3",
    "cse": "S4",
    "dfm": "S5",
    "spc_ele": "S13",
    "spc_fin": "S6",
    "spc_hlt": "S6",
    "spc_lgl": "S6",
    "prv": "S7",
    "ipv": "S8",
    "iwp": "S9",
    "hte": "S10",
    "ssh": "S11",
    "sxc_prn": "S12",
}


# The short codes of OpenAI's published moderation evaluation set -> canonical ids.
OPENAI_EVAL_CODES: dict[str, str] = {
    "S": "S12", "S3": "S4", "H": "S10", "H2": "S10", "V": "S1", "V2": "S1", "HR": "S10", "SH": "S11",
}

def _key(name: str) -> str:
    """How plain names are compared: lower-case, "_", "-" and "/" as spaces, "&" as "and"."""
    spaced = name.lower().replace("_", " ").replace("-", " ").replace("/", " ").replace("&", " and ")
    return " ".join(spaced.split())


# Plain names that data sets and public moderation models label with -> canonical ids (compared as _key
# spells them). Our own names are Llama Guard 3's ("Non-Violent Crimes", "Suicide & Self-Harm").
_NAMES: dict[str, str] = {
    **{_key(name): code for code, name in CATEGORIES.items()},
    "sex crimes": "S3", "child exploitation": "S4", "specialised advice": "S6",  # Llama Guard 2's names
    "violence": "S1", "violent": "S1", "threat": "S1", "threats": "S1", "weapons": "S9",
    "crime": "S2", "crimes": "S2", "illegal": "S2", "sexual crimes": "S3", "csam": "S4", "child abuse": "S4",
    "ip": "S8", "copyright": "S8", "cbrn": "S9", "hate speech": "S10",
    "hateful": "S10", "harassment": "S10", "toxic": "S10", "toxicity": "S10", "severe toxic": "S10",
    "severe toxicity": "S10", "identity hate": "S10", "identity attack": "S10", "insult": "S10",
    "offensive": "S10", "abusive": "S10", "self harm": "S11", "suicide": "S11", "sexual": "S12",
    "sexually explicit": "S12", "sexual explicit": "S12", "nsfw": "S12", "porn": "S12", "election": "S13",
    "code interpreter": "S14",
    "personal data": "pii", "obscene": "profanity", "injection": "prompt_injection",
    "prompt injection": "prompt_injection", "jailbreak": "prompt_injection",
    # NVIDIA Aegis 1.0 and 2.0 content-safety categories ("Needs Caution", "Other", "Manipulation",
    # "Immoral/Unethical", "Political/Misinformation/Conspiracy" have no counterpart and stay groups)
    "hate identity hate": "S10", "suicide and self harm": "S11", "guns illegal weapons": "S9",
    "pii privacy": "S7", "sexual (minor)": "S4", "sexual minor": "S4", "criminal planning": "S2",
    "criminal planning confessions": "S2", "controlled regulated substances": "S2", "fraud deception": "S2",
    "deception fraud": "S2", "malware": "S2", "illegal activity": "S2", "unauthorized advice": "S6",
    "copyright trademark plagiarism": "S8",
    # BeaverTails' fourteen harm categories (commas kept: each is one category)
    "animal abuse": "S1", "discrimination,stereotype,injustice": "S10",
    "drug abuse,weapons,banned substance": "S2", "financial crime,property crime,theft": "S2",
    "hate speech,offensive language": "S10", "privacy violation": "S7", "sexually explicit,adult content": "S12",
    "terrorism,organized crime": "S1", "violence,aiding and abetting,incitement": "S1",
    # HarmBench semantic categories
    "chemical biological": "S9", "harassment bullying": "S10", "cybercrime intrusion": "S2",
    # labels of NSFW image sets ("sexy", "drawings" and "neutral" are not sexual content and stay groups)
    "nudity": "S12", "nude": "S12", "explicit": "S12", "hentai": "S12",
}
# The OpenAI moderation API's field names as its SDK spells them (``categories.model_dump()``:
# "self_harm_intent", "sexual_minors", "violence_graphic") are its labels with "_" for "/" and "-".
_NAMES.update({_key(label): code for label, code in OPENAI_TO_CATEGORY.items()})


def is_category(name: str) -> bool:
    """Whether ``name`` is a canonical category id."""
    return name in CATEGORIES


def canonical_category(name: str) -> str | None:
    """The canonical id for ``name``: itself, an OpenAI or AILuminate label, or a plain name such as
    "hate" or "self-harm" (any case); None when nothing matches."""
    for candidate in (name, name.upper(), name.lower()):  # "s14" -> S14, "PII" -> pii
        if candidate in CATEGORIES:
            return candidate
    for table in (OPENAI_EVAL_CODES, OPENAI_TO_CATEGORY, AILUMINATE_TO_CATEGORY):
        if name in table:
            return table[name]
    key = _key(name)
    if key in _NAMES:
        return _NAMES[key]
    for table in (OPENAI_TO_CATEGORY, AILUMINATE_TO_CATEGORY):
        if name.lower() in table:
            return table[name.lower()]
    return None
