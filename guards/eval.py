"""Measuring guards on labelled data: decisions, scores and the metrics derived from them.

Pure Python on purpose (no numpy, no sklearn): ``clauseguard eval`` must work in the core install, and
each formula here is short enough to check by hand against the tests' tables.

How a verdict becomes a measurement (see ``docs/developers/eval.md``):

- a finding *detects* when its action is block, flag or redact; label and disclaim findings (an AI
  label, an advice disclaimer) change the text but say nothing about harm, so they are not detections;
- the *decision* is positive when the verdict is not allowed or any finding detects;
- the *score* is the highest score of the detecting findings (0 when none), used for AUROC.

Ratios whose denominator is zero (precision with nothing predicted positive, recall with no positive
item) are 0, never a crash; AUROC with only one class present is None (undefined, printed as null).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from clauseguard.guards._params import Action
from clauseguard.guards._verdict import Verdict

__all__ = [
    "DETECTING_ACTIONS",
    "Metrics",
    "Observation",
    "auroc",
    "binary_metrics",
    "category_metrics",
    "category_view",
    "group_metrics",
    "observe",
    "percentile",
    "pr_points",
    "roc_points",
    "summarize",
]

DETECTING_ACTIONS = frozenset({Action.BLOCK, Action.FLAG, Action.REDACT})


@dataclass(frozen=True)
class Observation:
    """One labelled item and what the guards made of it.

    ``by_category`` maps each category of a detecting finding to its highest score; operational
    findings (no category: a guard that failed, content too large) count only in the overall decision.
    """

    label: int
    category: str | None
    decision: bool
    score: float
    by_category: Mapping[str, float] = field(default_factory=dict)
    latency_ms: float = 0.0
    # Categories of detecting findings; None: every category in ``by_category`` was detected.
    detected: frozenset[str] | None = None
    # Whether a finding of no category decided it: a guard that failed or could not read the item, content
    # too large. Such an item counts as a detection, though nothing judged what it says.
    unjudged: bool = False
    # Groups the item is measured in: a category that is not clauseguard's, and the value of eval's --by key.
    groups: tuple[str, ...] = ()


def observe(verdict: Verdict, *, label: int, category: str | None, latency_ms: float,
            groups: tuple[str, ...] = ()) -> Observation:
    """The observation for one item: its label and category, and the decision and score of ``verdict``.

    Scores come from the detecting findings and, where a model guard reports them, from every
    category's score below its threshold too (verdict metadata ``scores/<guard id>``), so the AUROC
    ranks all items and not only the flagged ones.
    """
    detecting = [f for f in verdict.findings if f.action in DETECTING_ACTIONS]
    by_category: dict[str, float] = {}
    for cat, score in [(f.category, float(f.score)) for f in detecting] + _model_scores(verdict):
        if cat is not None:
            by_category[cat] = max(by_category.get(cat, 0.0), score)
    score = max([float(f.score) for f in detecting] + list(by_category.values()), default=0.0)
    return Observation(label=label, category=category, decision=not verdict.allowed or bool(detecting),
                       score=score, by_category=by_category, latency_ms=latency_ms, groups=groups,
                       detected=frozenset(f.category for f in detecting if f.category is not None),
                       unjudged=any(f.category is None for f in detecting))


def _model_scores(verdict: Verdict) -> list[tuple[str, float]]:
    """``(category, score)`` of every ``scores/...`` mapping in the verdict's metadata."""
    return [(str(cat), float(score)) for key, scores in verdict.metadata.items()
            if key.startswith("scores/") and isinstance(scores, dict) for cat, score in scores.items()]


# -- ranking ---------------------------------------------------------------------------------------


def _average_ranks(values: Sequence[float]) -> list[float]:
    """1-based ranks of ``values``; tied values share the mean of the ranks they span."""
    order = sorted(range(len(values)), key=values.__getitem__)
    ranks = [0.0] * len(values)
    start = 0
    while start < len(order):
        end = start
        while end + 1 < len(order) and values[order[end + 1]] == values[order[start]]:
            end += 1
        shared = (start + end) / 2 + 1  # mean of the 1-based ranks start+1 .. end+1
        for k in range(start, end + 1):
            ranks[order[k]] = shared
        start = end + 1
    return ranks


def auroc(labels: Sequence[int], scores: Sequence[float]) -> float | None:
    """Area under the ROC curve by the Mann-Whitney U statistic (ties count one half).

    AUROC = (R+ - n+(n+ + 1)/2) / (n+ n-), where R+ is the sum of the positives' average ranks.
    None when only one class is present: the area is then undefined, not 0.5.
    """
    positives = sum(1 for y in labels if y == 1)
    negatives = len(labels) - positives
    if positives == 0 or negatives == 0:
        return None
    ranks = _average_ranks(scores)
    rank_sum = sum(r for r, y in zip(ranks, labels, strict=True) if y == 1)
    return (rank_sum - positives * (positives + 1) / 2) / (positives * negatives)


def _ratio(num: int | float, den: int | float) -> float:
    return num / den if den else 0.0


# -- metrics at the configured thresholds ----------------------------------------------------------


@dataclass(frozen=True)
class Metrics:
    """Confusion counts at the guards' own thresholds (their decisions), and the AUROC of their scores."""

    n: int
    positives: int
    tp: int
    fp: int
    tn: int
    fn: int
    auroc: float | None

    @property
    def precision(self) -> float:
        return _ratio(self.tp, self.tp + self.fp)

    @property
    def recall(self) -> float:
        return _ratio(self.tp, self.tp + self.fn)

    @property
    def f1(self) -> float:
        return _ratio(2 * self.precision * self.recall, self.precision + self.recall)

    @property
    def false_positive_rate(self) -> float:
        return _ratio(self.fp, self.fp + self.tn)

    def to_dict(self, digits: int = 4) -> dict[str, Any]:
        """A JSON-ready dict; floats rounded to ``digits`` places."""
        def r(x: float | None) -> float | None:
            return None if x is None else round(x, digits)

        return {"n": self.n, "positives": self.positives, "auroc": r(self.auroc),
                "precision": r(self.precision), "recall": r(self.recall), "f1": r(self.f1),
                "false_positive_rate": r(self.false_positive_rate),
                "confusion": {"tp": self.tp, "fp": self.fp, "tn": self.tn, "fn": self.fn}}


def binary_metrics(labels: Sequence[int], decisions: Sequence[bool], scores: Sequence[float]) -> Metrics:
    """Confusion counts of ``decisions`` against ``labels``, and the AUROC of ``scores``."""
    if not len(labels) == len(decisions) == len(scores):
        raise ValueError("labels, decisions and scores must have the same length")
    pairs = list(zip(labels, decisions, strict=True))
    tp = sum(1 for y, d in pairs if y == 1 and d)
    fp = sum(1 for y, d in pairs if y != 1 and d)
    fn = sum(1 for y, d in pairs if y == 1 and not d)
    tn = len(pairs) - tp - fp - fn
    return Metrics(n=len(pairs), positives=tp + fn, tp=tp, fp=fp, tn=tn, fn=fn, auroc=auroc(labels, scores))


def category_view(observations: Sequence[Observation],
                  category: str) -> tuple[list[int], list[bool], list[float]]:
    """Labels, decisions and scores for one category, one-vs-benign.

    The population is every negative item plus the positive items labelled ``category``; positives of
    other categories are left out, so a hate post caught as profanity neither helps nor hurts S10.
    The decision and score are those of ``category``'s own findings only.
    """
    chosen = [o for o in observations if o.label != 1 or o.category == category]
    return ([o.label for o in chosen],
            [category in (o.by_category if o.detected is None else o.detected) for o in chosen],
            [o.by_category.get(category, 0.0) for o in chosen])


def category_metrics(observations: Sequence[Observation], category: str) -> Metrics:
    """Metrics of one category's findings against the items labelled with it (see :func:`category_view`)."""
    return binary_metrics(*category_view(observations, category))


def group_metrics(observations: Sequence[Observation], group: str) -> Metrics:
    """Metrics of all guards' decisions on the items of one group only: recall where the group holds only
    positives, the false-positive rate where it holds only negatives, every measure where it holds both."""
    chosen = [o for o in observations if group in o.groups]
    return binary_metrics([o.label for o in chosen], [o.decision for o in chosen], [o.score for o in chosen])


def auroc_against_rest(observations: Sequence[Observation], group: str) -> float | None:
    """For a group of one class only (a source of harmful prompts, a set of safe look-alikes), the AUROC of
    its items against every item of the other class in the data; ``None`` where the group holds both
    classes (its own ``auroc`` says it) or the data holds no item of the other class."""
    chosen = [o for o in observations if group in o.groups]
    classes = {o.label == 1 for o in chosen}
    if len(classes) != 1:
        return None
    positive = classes.pop()
    rest = [o for o in observations if (o.label == 1) != positive]
    pool = chosen + rest
    return auroc([o.label for o in pool], [o.score for o in pool])


def _group_dict(observations: Sequence[Observation], group: str) -> dict[str, Any]:
    row = group_metrics(observations, group).to_dict()
    against = auroc_against_rest(observations, group)
    if against is not None:
        row["auroc_against_rest"] = round(against, 4)
    return row


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0-100) with linear interpolation between closest ranks (numpy's default)."""
    if not values:
        return 0.0
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q / 100
    low, high = math.floor(pos), math.ceil(pos)
    return ordered[low] + (ordered[high] - ordered[low]) * (pos - low)


def summarize(observations: Sequence[Observation]) -> dict[str, Any]:
    """The one JSON object ``clauseguard eval`` prints: overall and per-category metrics, latency."""
    overall = binary_metrics([o.label for o in observations], [o.decision for o in observations],
                             [o.score for o in observations])
    categories = sorted({o.category for o in observations if o.category is not None})
    latencies = [o.latency_ms for o in observations]
    total_s = sum(latencies) / 1000
    groups = sorted({g for o in observations for g in o.groups})
    return {
        **overall.to_dict(),
        "per_category": {c: category_metrics(observations, c).to_dict() for c in categories},
        **({"per_group": {g: _group_dict(observations, g) for g in groups}} if groups else {}),
        "unjudged": sum(o.unjudged for o in observations),
        "latency_ms": {"p50": round(percentile(latencies, 50), 3), "p99": round(percentile(latencies, 99), 3)},
        "items_per_second": round(len(observations) / total_s, 2) if total_s > 0 else None,
    }


# -- curves (for the report) -----------------------------------------------------------------------


def _sweep(labels: Sequence[int], scores: Sequence[float]) -> Iterable[tuple[int, int]]:
    """Cumulative (true positives, false positives) as the threshold falls through each distinct score."""
    tp = fp = 0
    ranked = sorted(zip(scores, labels, strict=True), key=lambda p: -p[0])
    for i, (score, label) in enumerate(ranked):
        tp += label == 1
        fp += label != 1
        if i + 1 == len(ranked) or ranked[i + 1][0] != score:
            yield tp, fp


def roc_points(labels: Sequence[int], scores: Sequence[float]) -> list[tuple[float, float]]:
    """(false positive rate, true positive rate) from the strictest threshold to the loosest, from (0, 0)."""
    positives = sum(1 for y in labels if y == 1)
    negatives = len(labels) - positives
    return [(0.0, 0.0)] + [(_ratio(fp, negatives), _ratio(tp, positives)) for tp, fp in _sweep(labels, scores)]


def pr_points(labels: Sequence[int], scores: Sequence[float]) -> list[tuple[float, float]]:
    """(recall, precision) at each distinct threshold, strictest first."""
    positives = sum(1 for y in labels if y == 1)
    return [(_ratio(tp, positives), _ratio(tp, tp + fp)) for tp, fp in _sweep(labels, scores)]
