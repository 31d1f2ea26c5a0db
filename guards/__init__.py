"""Runtime guards: the guard protocol, the registry, the pipeline, and the guards themselves.

Importing this package imports no heavy library (torch, transformers, onnxruntime, ...).
"""

from clauseguard.guards._params import PARAMS, Action, GuardSpec, Modality, Stage
from clauseguard.guards._taxonomy import CATEGORIES

__all__ = ["CATEGORIES", "PARAMS", "Action", "GuardSpec", "Modality", "Stage"]
