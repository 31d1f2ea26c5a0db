"""The categories a finding can carry.

Canonical ids are the MLCommons hazard codes used by Llama Guard 3 (S1–S14), plus four of our own.
Other taxonomies are mapped onto them here, in one place.
"""

from __future__ import annotations

__all__ = ["AILUMINATE_TO_CATEGORY", "CATEGORIES", "OPENAI_TO_CATEGORY", "is_category"]

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


def is_category(name: str) -> bool:
    """Whether ``name`` is a canonical category id."""
    return name in CATEGORIES
