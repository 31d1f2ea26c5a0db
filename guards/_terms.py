"""Reading the term lists shipped in ``guards/data`` (one term per line, ``#`` comments)."""

from __future__ import annotations

from functools import cache
from importlib import resources

__all__ = ["group_terms", "parse_terms", "request_words", "shipped_allow", "shipped_names", "shipped_terms",
           "topic_terms"]


def parse_terms(text: str) -> tuple[str, ...]:
    """Terms of a list file: blank lines and ``#`` comments dropped, order kept."""
    terms = (line.split("#", 1)[0].strip() if line.lstrip().startswith("#") else line.strip()
             for line in text.splitlines())
    return tuple(t for t in terms if t)


@cache
def _read(folder: str, name: str, *, optional: bool = False) -> tuple[str, ...]:
    path = resources.files("clauseguard.guards").joinpath("data", folder, f"{name}.txt")
    if optional and not path.is_file():
        return ()
    return parse_terms(path.read_text(encoding="utf-8"))


def shipped_terms(category: str) -> tuple[str, ...]:
    """The shipped term list of a keyword category (S1, S4, S9, S10, S11, S12, profanity)."""
    return _read("terms", category)


def shipped_names(category: str) -> tuple[str, ...]:
    """Names in a keyword category that count only in a request (``<category>.names.txt``; most have none)."""
    return _read("terms", f"{category}.names", optional=True)


def shipped_allow() -> tuple[str, ...]:
    """Ordinary phrases that contain a listed term ("maine coon"): matches inside them do not count."""
    return _read("terms", "allow")


def request_words(category: str | None = None) -> tuple[str, ...]:
    """The words that make a listed name of ``category`` a request: ``<category>.requests.txt`` where the
    category ships one ("write", "describe" for S12), else ``requests.txt`` ("make", "buy", "recipe for" ...)."""
    own = _read("terms", f"{category}.requests", optional=True) if category else ()
    return own or _read("terms", "requests")


def topic_terms(topic: str) -> tuple[str, ...]:
    """The shipped word list of a disclaimer topic (medical, legal, financial, elections)."""
    return _read("topics", topic)


def group_terms() -> tuple[str, ...]:
    """Names of groups of people protected by law ("muslims", "{black|white|...} {people|men|...}"), which lower
    the threshold of the embedding heads that have a ``group_threshold`` (``guards/data/terms/groups.txt``)."""
    return _read("terms", "groups")
