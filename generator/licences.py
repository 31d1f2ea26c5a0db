"""The registry of model licences (clauses/licences/registry.yaml), keyed by Hugging Face licence id."""

from __future__ import annotations

from functools import cache
from importlib import resources
from typing import Any

import yaml

__all__ = ["known_licence_ids", "licence_registry"]


@cache
def licence_registry() -> dict[str, dict[str, Any]]:
    """The built-in registry: licence id -> facts (name, url, duties). Read once."""
    text = resources.files("clauseguard.clauses").joinpath("licences/registry.yaml").read_text("utf-8")
    data = yaml.safe_load(text) or {}
    return dict(data.get("licences", {}))


def known_licence_ids() -> frozenset[str]:
    return frozenset(licence_registry())
