"""Where decisions go: a :class:`DecisionSink` receives one record per pipeline decision.

Records never contain the content itself, only what was decided and why (guard, category, score,
span, clause ids), so an audit log does not become a second copy of users' prompts.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

__all__ = ["DecisionSink", "JsonlSink", "MemorySink", "NullSink"]


@runtime_checkable
class DecisionSink(Protocol):
    """Receives decision records (JSON-ready mappings)."""

    def record(self, decision: Mapping[str, Any]) -> None: ...


class NullSink:
    """Discards every record (the default: logging is opt-in)."""

    def record(self, decision: Mapping[str, Any]) -> None:
        return None


class MemorySink:
    """Keeps records in a list; for tests and small demos."""

    def __init__(self) -> None:
        self.records: list[dict[str, Any]] = []
        self._lock = threading.Lock()

    def record(self, decision: Mapping[str, Any]) -> None:
        with self._lock:
            self.records.append(dict(decision))


class JsonlSink:
    """Appends one JSON line per record to ``path`` (created with its folder if missing)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()

    def record(self, decision: Mapping[str, Any]) -> None:
        line = json.dumps(decision, ensure_ascii=False, sort_keys=True)
        with self._lock, self.path.open("a", encoding="utf-8") as fh:
            fh.write(line + "\n")
