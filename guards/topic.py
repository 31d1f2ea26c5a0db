"""Topic guard and detector: medical, legal, financial and election topics from MiniLM embeddings.

Each topic's score averages two views of the same embedding: a logistic-regression head trained by
scripts/train_heads.py, and the zero-shot cosine similarity to a few sentences describing the topic
(calibrated to a probability). Scores are rescaled so the threshold calibrated on held-out data
lands on 0.5. :func:`detect_topics` is the detector behind the disclaimer guard's
``detector: embedding``; the ``topic`` guard flags, disclaims or blocks on it. A disclaiming topic
guard is a final guard in streams, like the disclaimer guard: the text streams, the disclaimer follows.
It adds no disclaimer the answer already shows (the visible words compared, as the disclaimer guard
compares them) and names those topics in ``metadata["disclaimers_present"]``.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from clauseguard.errors import GuardConfigError
from clauseguard.guards._base import Context, Guard
from clauseguard.guards._combine import DISCLAIMERS, PRESENT
from clauseguard.guards._fusion import too_long, unit_score
from clauseguard.guards._params import Action, GuardSpec, TopicParams
from clauseguard.guards._registry import register
from clauseguard.guards._verdict import Finding, Verdict
from clauseguard.guards.disclaimer import DEFAULT_TEXTS, TOPIC_CATEGORY, carries, fold_words

if TYPE_CHECKING:
    import numpy as np

__all__ = ["TOPICS", "TopicDetector", "TopicGuard", "detect_topics", "get_detector"]

TOPICS = ("medical", "legal", "financial", "elections")


class TopicDetector:
    """Scores of each topic in [0, 1], 0.5 at the calibrated threshold."""

    def __init__(self) -> None:
        import numpy as np

        from clauseguard.guards._clf_embedding import load_heads
        from clauseguard.guards._embedder import get_embedder

        self.heads = load_heads("topics")
        self.embedder = get_embedder()
        entries = self.heads.manifest["topics"]
        self.topics = [e["topic"] for e in entries]
        self.thresholds = np.array([e["threshold"] for e in entries], dtype=np.float32)
        self.zs_scale = np.array([e["zero_shot"]["scale"] for e in entries], dtype=np.float32)
        self.zs_bias = np.array([e["zero_shot"]["bias"] for e in entries], dtype=np.float32)
        self.prototypes = [self.embedder.embed(e["prototypes"]) for e in entries]

    def _zero_shot(self, x: np.ndarray) -> np.ndarray:
        import numpy as np

        cos = np.stack([(x @ p.T).max(axis=1) for p in self.prototypes], axis=1)
        return 1.0 / (1.0 + np.exp(-(cos * self.zs_scale + self.zs_bias)))

    def scores(self, texts: Sequence[str]) -> np.ndarray:
        """(len(texts), len(self.topics)) scores; long texts keep their highest window."""
        from clauseguard.guards._clf_embedding import embed_windows, max_by_owner, rescale

        x, owner = embed_windows(self.embedder, list(texts))
        combined = (self.heads.probabilities(x) + self._zero_shot(x)) / 2
        return max_by_owner(rescale(combined, self.thresholds), owner, len(texts))


def _pieces() -> Callable[[str], int] | None:
    """The topic model's word-piece count (the cost of reading a text), for ``too_long``."""
    embedder = getattr(get_detector(), "embedder", None)
    return None if embedder is None else embedder.pieces


@functools.cache
def get_detector() -> TopicDetector:
    """The process-wide topic detector (model, heads and prototypes load once)."""
    return TopicDetector()


def detect_topics(texts: Sequence[str], topics: Sequence[str] = TOPICS) -> list[dict[str, float]]:
    """For each text, ``{topic: score}`` for the requested topics; a score >= 0.5 means "about it"."""
    detector = get_detector()
    unknown = [t for t in topics if t not in detector.topics]
    if unknown:
        raise GuardConfigError(f"no topic detector for {unknown}; topics: {detector.topics}")
    if not texts:
        return []
    cols = [detector.topics.index(t) for t in topics]
    return [{t: unit_score(row[c], f"the {t} topic head") for t, c in zip(topics, cols, strict=True)}
            for row in detector.scores(texts)]


@register("topic")
class TopicGuard(Guard):
    """Flags (or disclaims, or blocks) texts about the configured topics."""

    params: TopicParams

    def __init__(self, spec: GuardSpec) -> None:
        super().__init__(spec)
        # Disclaiming only adds to the text, as the disclaimer guard does: in a stream it runs once on
        # the whole text and its disclaimer follows (an incremental guard's suffix has nowhere to go).
        self.stream_final = spec.on_fail is Action.DISCLAIM
        get_detector()  # load at construction, not on the first request

    def check(self, content: str | bytes, context: Context) -> Verdict:
        if not isinstance(content, str) or not content.strip():  # a stream's start checks "": no model pass
            return Verdict.allow(content, self.id)
        too_long([content], self.params.max_chars, "topic guard", _pieces())
        scores = detect_topics([content], self.params.topics)[0]
        found = [t for t in self.params.topics if scores[t] >= self.params.threshold]
        findings = [self._finding(t, scores[t]) for t in found]
        if self.spec.on_fail is not Action.DISCLAIM or not found:
            return self.verdict(content, findings)
        folded = fold_words(content)  # an answer that already shows one is not given it again
        present = [t for t in found if carries(folded, DEFAULT_TEXTS[t])]
        texts = {t: DEFAULT_TEXTS[t] for t in found if t not in present}  # named, so a disclaimer guard's
        metadata: dict[str, object] = {PRESENT: present} if present else {}  # is not doubled (_combine)
        if texts:
            metadata[DISCLAIMERS] = texts
            return self.verdict(content, findings, suffix="\n\n" + "\n\n".join(texts.values()), metadata=metadata)
        return self.verdict(content, findings, metadata=metadata)

    def _finding(self, topic: str, score: float) -> Finding:
        message = self.spec.category_messages.get(topic) or self.spec.message or f"topic: {topic}"
        return self.finding(TOPIC_CATEGORY[topic], score=round(score, 4), message=message, key=topic)
