"""Prometheus metrics: requests by endpoint and status, verdicts by action, check latency.

Each app has its own :class:`CollectorRegistry`, so several apps in one process (tests, workers)
never share or double-register counters. Verdicts and latencies are read from the pipeline's decision
records (:class:`MetricsSink` sits in front of the audit sink), so they count exactly what was audited.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest

from clauseguard.guards.sinks import DecisionSink

__all__ = ["CONTENT_TYPE", "Metrics", "MetricsSink"]

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

_LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


class Metrics:
    """The counters and histograms of one app."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter("clauseguard_http_requests", "HTTP requests by endpoint, method and status",
                                ["endpoint", "method", "status"], registry=self.registry)
        self.verdicts = Counter("clauseguard_verdicts", "Pipeline decisions by stage and action",
                                ["stage", "action"], registry=self.registry)
        self.check_seconds = Histogram("clauseguard_guard_seconds", "Time the guards of a stage took",
                                       ["stage"], buckets=_LATENCY_BUCKETS, registry=self.registry)

    def render(self) -> bytes:
        return generate_latest(self.registry)


class MetricsSink:
    """Counts each decision record, then hands it on to ``inner`` (the audit sink).

    No lock here: the audit sink queues records on the records' ``AuditWriter``, whose single thread
    chains them in order and commits them in batches (a lock here would serialise commits again).
    """

    def __init__(self, metrics: Metrics, inner: DecisionSink) -> None:
        self.metrics = metrics
        self.inner = inner

    def record(self, decision: Mapping[str, Any]) -> None:
        stage = str(decision.get("stage", "unknown"))
        self.metrics.verdicts.labels(stage=stage, action=str(decision.get("action", "unknown"))).inc()
        elapsed = decision.get("elapsed_ms")
        if isinstance(elapsed, int | float):
            self.metrics.check_seconds.labels(stage=stage).observe(float(elapsed) / 1000.0)
        self.inner.record(decision)
