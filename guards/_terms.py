"""Reading the term lists shipped in ``guards/data`` (one term per line, ``#`` comments)."""

from __future__ import annotations

from functools import cache
from importlib import resources

__all__ = ["parse_terms", "shipped_terms", "topic_terms"]


def parse_terms(text: str) -> tuple[str, ...]:
    """Terms of a list file: blank lines and ``#`` comments dropped, order kept."""
    terms = (line.split("#", 1)[0].strip() if line.lstrip().startswith("#") else line.strip()
             for line in text.splitlines())
    return tuple(t for t in terms if t)


@cache
def _read(folder: str, name: str) -> tuple[str, ...]:
    path = resources.files("clauseguard.guards").joinpath("data", folder, f"{name}.txt")
    return parse_terms(path.read_text(encoding="utf-8"))


def shipped_terms(category: str) -> tuple[str, ...]:
    """The shipped term list of a keyword category (S1, S4, S9, S10, S11, S12, profanity)."""
    return _read("terms", category)


def topic_terms(topic: str) -> tuple[str, ...]:
    """The shipped word list of a disclaimer topic (medical, legal, financial, elections)."""
    return _read("topics", topic)
