"""Where a torch model runs (``params.device``) and in which precision (``params.dtype``).

The transformers classifier backend and the ``sd_safety_checker`` image backend load their model with
these: on the CPU by default, on a GPU when guards.yaml says so. A device that this machine does not
have is a ModelLoadError at load, naming the key, never a silent fall-back to the CPU (a judge that
would answer in 50 ms on the GPU takes seconds on the CPU, and a service sized for one would time
out on the other). ``auto`` is the one spelling that picks: CUDA, else Apple's MPS, else the CPU.

Importing this module imports no torch; the schema (``DEVICE_PATTERN``, ``DTYPES``) lives here so
that ``_params`` can validate guards.yaml without it.
"""

from __future__ import annotations

import re
from typing import Any

from clauseguard.errors import ModelLoadError

__all__ = ["DEVICE_PATTERN", "DTYPES", "dtype_kwargs", "resolve_device", "resolve_dtype", "saved_dtype"]

DEVICE_PATTERN = r"^(auto|cpu|mps|cuda(:\d+)?)$"
DTYPES = ("auto", "float32", "float16", "bfloat16")


def resolve_device(name: str, *, where: str = "params.device") -> Any:
    """The ``torch.device`` that ``name`` (``cpu``, ``cuda``, ``cuda:1``, ``mps`` or ``auto``) means here;
    a ModelLoadError at ``where`` when this machine has no such device."""
    import torch

    if not re.fullmatch(DEVICE_PATTERN, name):
        raise ModelLoadError(f"unknown device {name!r}; expected cpu, cuda, cuda:N, mps or auto", where=where)
    mps = getattr(torch.backends, "mps", None)
    has_mps = bool(mps is not None and mps.is_available())
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "mps" if has_mps else "cpu")
    if name.startswith("cuda"):
        if not torch.cuda.is_available():
            build = f"torch {torch.__version__}" + ("" if torch.version.cuda else ", a build without CUDA")
            raise ModelLoadError(f"device {name!r} asked for, but torch sees no CUDA GPU ({build}); "
                                 "use cpu or auto", where=where)
        index = int(name.partition(":")[2] or 0)
        if index >= torch.cuda.device_count():
            raise ModelLoadError(f"device {name!r} asked for, but this machine has {torch.cuda.device_count()} "
                                 "CUDA GPU(s), numbered from 0", where=where)
        return torch.device("cuda", index)
    if name == "mps" and not has_mps:
        raise ModelLoadError("device 'mps' asked for, but torch sees no Apple GPU; use cpu or auto", where=where)
    return torch.device(name)


def resolve_dtype(name: str, device: Any = None, saved: str | None = None, *, where: str = "params.dtype") -> Any:
    """The torch dtype ``name`` means. "auto" is the dtype the weights were saved in (``saved``, config.json's
    ``torch_dtype``), except float16 on the CPU, which loads as float32: many CPUs have no float16 kernels
    and run it several times slower (bfloat16 is kept: it halves the memory of an 8B judge)."""
    import torch

    if name not in DTYPES:
        raise ModelLoadError(f"unknown dtype {name!r}; expected one of {list(DTYPES)}", where=where)
    if name == "auto":
        return torch.float32 if saved == "float16" and getattr(device, "type", None) == "cpu" else "auto"
    return getattr(torch, name)


def saved_dtype(config: dict[str, Any]) -> str | None:
    """The dtype a model's config.json says its weights were saved in (``dtype`` since transformers 4.56)."""
    value = config.get("dtype", config.get("torch_dtype"))
    return value if isinstance(value, str) else None


def dtype_kwargs(dtype: Any) -> dict[str, Any]:
    """``from_pretrained``'s keyword for the dtype: ``dtype`` since transformers 4.56, ``torch_dtype`` before."""
    import transformers

    major, minor = (int(x) for x in re.findall(r"\d+", transformers.__version__)[:2])
    return {"dtype" if (major, minor) >= (4, 56) else "torch_dtype": dtype}
