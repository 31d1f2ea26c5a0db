"""Transformers backend: a local model folder, either a text classifier or a Llama Guard-style judge.

* ``AutoModelForSequenceClassification``: each label of ``config.id2label`` is mapped to a category
  (``label_map`` first, then a canonical id such as ``S10``, then a name that ``canonical_category`` knows:
  "toxic", "threat", the OpenAI moderation labels). Labels that map to nothing ("safe", "LABEL_0") are
  listed in ``unmapped`` and logged once at load, never guessed.
  Scores are the softmax over labels, or per-label sigmoids when ``problem_type`` is multi-label.
* ``AutoModelForCausalLM`` (Llama Guard 3 and alike): the model writes ``safe`` or ``unsafe`` and a
  line of hazard codes ("unsafe\\nS3,S10"); listed categories score 1.0. Llama Guard 3 uses our S1-S14;
  other code sets go through ``label_map``. An answer that parses as neither is a GuardError, so the
  pipeline fails closed on it.

Nothing downloads: the folder must hold ``config.json`` and a tokenizer; a missing or malformed folder
is a ModelLoadError naming the path and what is missing.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from clauseguard.errors import GuardError, ModelLoadError
from clauseguard.guards._fusion import Scores, unit_score
from clauseguard.guards._taxonomy import CATEGORIES, canonical_category

__all__ = ["CausalJudgeBackend", "SequenceBackend", "load_transformers", "map_labels",
           "parse_judgement"]

log = logging.getLogger("clauseguard.guards.classifier")

_TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "vocab.txt", "tokenizer.model", "vocab.json")
_CODES = re.compile(r"[A-Za-z_]+\d*")


def _category_of(label: str, label_map: Mapping[str, str]) -> str | None:
    if label in label_map:
        return label_map[label]
    return canonical_category(label)


def map_labels(id2label: Mapping[int, str], label_map: Mapping[str, str]) -> tuple[dict[int, str], list[str]]:
    """Label index -> category, and the labels that map to none."""
    mapped, unmapped = {}, []
    for idx, label in sorted(id2label.items()):
        cat = _category_of(str(label), label_map)
        if cat is None:
            unmapped.append(str(label))
        elif cat not in CATEGORIES:
            raise ModelLoadError(f"label_map sends label {label!r} to unknown category {cat!r}; "
                                 f"known: {sorted(CATEGORIES)}")
        else:
            mapped[int(idx)] = cat
    return mapped, unmapped


def parse_judgement(answer: str, label_map: Mapping[str, str]) -> Scores:
    """``safe`` -> {}; ``unsafe`` then codes (next line or same line) -> {category: 1.0}; else GuardError."""
    parts = answer.split(maxsplit=1)
    verdict, rest = (parts[0].lower() if parts else ""), (parts[1] if len(parts) > 1 else "")
    if verdict == "safe":
        if rest.strip():  # a judge says "safe" and nothing more; anything else is not an answer we know
            raise GuardError(f"judge model answered {answer[:80]!r}: 'safe' followed by other text")
        return {}
    if verdict != "unsafe":
        raise GuardError(f"judge model answered {answer[:80]!r}, neither 'safe' nor 'unsafe'")
    codes = _CODES.findall(rest)
    scores: Scores = {}
    for code in codes:
        cat = label_map.get(code) or (code.upper() if code.upper() in CATEGORIES else None)
        if cat is None or cat not in CATEGORIES:
            raise GuardError(f"judge model named hazard code {code!r}, which maps to no category")
        scores[cat] = 1.0
    if not scores:
        raise GuardError(f"judge model answered 'unsafe' without hazard codes: {answer[:80]!r}")
    return scores


def _check_folder(path: Path) -> dict[str, Any]:
    if not path.is_dir():
        raise ModelLoadError(f"model folder {path} does not exist")
    config_path = path / "config.json"
    if not config_path.is_file():
        raise ModelLoadError(f"model folder {path} lacks config.json")
    if not any((path / f).is_file() for f in _TOKENIZER_FILES):
        raise ModelLoadError(f"model folder {path} has no tokenizer (none of {list(_TOKENIZER_FILES)})")
    try:
        config: dict[str, Any] = json.loads(config_path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise ModelLoadError(f"{config_path} is not valid JSON: {err}") from err
    return config


def _is_causal(config: Mapping[str, Any]) -> bool:
    return any(a.endswith(("ForCausalLM", "LMHeadModel")) for a in config.get("architectures") or [])


class SequenceBackend:
    """Any local AutoModelForSequenceClassification."""

    name = "transformers"

    def __init__(self, path: Path, label_map: Mapping[str, str]) -> None:
        from transformers import AutoModelForSequenceClassification, AutoTokenizer

        self.path = path
        self.tokenizer = AutoTokenizer.from_pretrained(str(path), local_files_only=True)
        self.model = AutoModelForSequenceClassification.from_pretrained(str(path), local_files_only=True).eval()
        self.index_to_category, self.unmapped = map_labels(self.model.config.id2label, label_map)
        if not self.index_to_category:
            raise ModelLoadError(f"no label of the model in {path} maps to a category "
                                 f"(labels {self.unmapped}); give params.label_map")
        if self.unmapped:
            log.warning("model %s: labels %s map to no category and are ignored", path, self.unmapped)
        self.categories = frozenset(self.index_to_category.values())
        self.multi_label = self.model.config.problem_type == "multi_label_classification"

    def score(self, texts: list[str]) -> list[Scores]:
        import torch

        if not texts:
            return []
        enc = self.tokenizer(list(texts), padding=True, truncation=True, return_tensors="pt",
                             max_length=min(512, getattr(self.tokenizer, "model_max_length", 512)))
        with torch.inference_mode():
            logits = self.model(**enc).logits
        probs = torch.sigmoid(logits) if self.multi_label else torch.softmax(logits, dim=-1)
        out: list[Scores] = []
        for row in probs.tolist():
            scores: Scores = {}
            for idx, cat in self.index_to_category.items():
                scores[cat] = max(scores.get(cat, 0.0), unit_score(row[idx], f"the model in {self.path}"))
            out.append(scores)
        return out


class CausalJudgeBackend:
    """A Llama Guard-style generative classifier: prompt in, "safe" / "unsafe\\nS1,S9" out."""

    name = "transformers"
    max_new_tokens = 20

    def __init__(self, path: Path, label_map: Mapping[str, str]) -> None:
        from transformers import AutoModelForCausalLM, AutoTokenizer

        self.path = path
        self.label_map = dict(label_map)
        unknown = sorted({c for c in self.label_map.values() if c not in CATEGORIES})
        if unknown:
            raise ModelLoadError(f"label_map sends codes to unknown categories {unknown}; known: {sorted(CATEGORIES)}")
        # S1-S14 (Llama Guard 3's own codes) and whatever label_map sends other codes to ("JB" -> prompt_injection)
        self.categories = frozenset(c for c in CATEGORIES if c.startswith("S")) | frozenset(self.label_map.values())
        self.hazards = sorted((c for c in self.categories if c.startswith("S") and c[1:].isdigit()),
                              key=lambda c: int(c[1:]))
        self.tokenizer = AutoTokenizer.from_pretrained(str(path), local_files_only=True)
        self.model = AutoModelForCausalLM.from_pretrained(str(path), local_files_only=True).eval()

    def prompt(self, text: str) -> str:
        """The model's own chat template when it has one (Llama Guard's), else a plain instruction."""
        if getattr(self.tokenizer, "chat_template", None):
            rendered: str = self.tokenizer.apply_chat_template([{"role": "user", "content": text}],
                                                               tokenize=False)
            return rendered
        codes = ", ".join(f"{c}: {CATEGORIES[c]}" for c in self.hazards)
        return (f"Task: say whether the message is safe or unsafe under these categories: {codes}.\n"
                f"Message: {text}\nAnswer 'safe', or 'unsafe' and a line of category codes.\nAnswer:")

    def judge(self, text: str) -> str:
        import torch

        enc = self.tokenizer(self.prompt(text), return_tensors="pt")
        with torch.inference_mode():
            out = self.model.generate(**enc, max_new_tokens=self.max_new_tokens, do_sample=False,
                                      pad_token_id=self.tokenizer.pad_token_id or self.tokenizer.eos_token_id)
        answer: str = self.tokenizer.decode(out[0][enc["input_ids"].shape[1]:], skip_special_tokens=True)
        return answer

    def score(self, texts: list[str]) -> list[Scores]:
        """1.0 for each category the judge names, 0.0 for every other category it knows: "safe" is a score
        of its own, so ``fusion: mean`` averages it in rather than leaving the judge out."""
        return [{c: 0.0 for c in self.categories} | parse_judgement(self.judge(t), self.label_map) for t in texts]


@functools.cache
def _load(path: Path, label_items: tuple[tuple[str, str], ...]) -> SequenceBackend | CausalJudgeBackend:
    config = _check_folder(path)
    try:
        import transformers  # noqa: F401
    except ModuleNotFoundError as err:
        raise ModelLoadError("the transformers backend needs the [ml] extra and torch: "
                             "pip install torch 'clauseguard[ml]'") from err
    cls = CausalJudgeBackend if _is_causal(config) else SequenceBackend
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # a local folder only: never reach the Hub
    try:
        return cls(path, dict(label_items))
    except ModelLoadError:
        raise
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise ModelLoadError(f"cannot load the model in {path}: {err}") from err


def load_transformers(model_path: str | Path, label_map: Mapping[str, str] | None = None
                      ) -> SequenceBackend | CausalJudgeBackend:
    """The backend for the model folder ``model_path``, loaded once per process."""
    return _load(Path(model_path).expanduser().resolve(), tuple(sorted((label_map or {}).items())))
