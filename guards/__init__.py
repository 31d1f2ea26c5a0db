"""Runtime guards: the guard protocol, the registry, the pipeline, and the guards themselves.

Importing this package imports no heavy library (torch, transformers, onnxruntime, ...) and no guard
runtime: each guard module is imported when a guard of its type is first built.
"""

import logging

from clauseguard.guards._base import Context, Guard
from clauseguard.guards._params import PARAMS, Action, GuardSpec, Modality, Stage
from clauseguard.guards._registry import create, known_types, register
from clauseguard.guards._taxonomy import CATEGORIES
from clauseguard.guards._verdict import Finding, Verdict
from clauseguard.guards.config import load_guards, parse_guards
from clauseguard.guards.pipeline import Pipeline
from clauseguard.guards.sinks import DecisionSink, JsonlSink, MemorySink, NullSink

logging.getLogger("clauseguard.guards").addHandler(logging.NullHandler())

__all__ = [
    "CATEGORIES",
    "PARAMS",
    "Action",
    "Context",
    "DecisionSink",
    "Finding",
    "Guard",
    "GuardSpec",
    "JsonlSink",
    "MemorySink",
    "Modality",
    "NullSink",
    "Pipeline",
    "Stage",
    "Verdict",
    "create",
    "known_types",
    "load_guards",
    "parse_guards",
    "register",
]
