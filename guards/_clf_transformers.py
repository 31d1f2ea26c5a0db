"""Transformers backend: a local model folder, either a text classifier or a Llama Guard-style judge.

* ``AutoModelForSequenceClassification``: each label of ``config.id2label`` is mapped to a category
  (``label_map`` first, then a canonical id such as ``S10``, then a name that ``canonical_category`` knows:
  "toxic", "threat", the OpenAI moderation labels). Labels that map to nothing ("safe", "LABEL_0") are
  listed in ``unmapped`` and logged once at load, never guessed; a ``label_map`` key that names no label
  is a load error. Scores are the softmax over labels, the labels of one category adding up; per-label
  sigmoids when ``problem_type`` is multi-label or the model has one logit, a category keeping its
  highest label; a regression head's outputs as they are, clipped to [0, 1]. A text longer than the
  model's window is scored in overlapping windows, and each category keeps its highest window.
* ``AutoModelForCausalLM`` (Llama Guard 3 and alike): the model writes ``safe`` or ``unsafe`` and a
  line of hazard codes ("unsafe\\nS3,S10"); listed categories score 1.0. Llama Guard 3 uses our S1-S14;
  other code sets go through ``label_map``. An answer that parses as neither is a GuardError, so the
  pipeline fails closed. A text too long for the judge's context is judged in overlapping windows, and
  a category any window names scores 1.0. The answer ends at the first end-of-sequence token; one cut off at
  ``max_new_tokens`` without it is a GuardError (its last code may be cut short). At the output stage the
  text goes in as the assistant's turn (after an empty user turn), so the judge rates an answer as an
  answer. A chat template that reads each
  message's content as typed parts (Llama Guard 3 1B's and 4's) gets them; one that shows the text in
  neither form is a load error. The spellings of the judge's special tokens in a text ("<|eot_id|>") are
  broken by a space, so that a text cannot close its own turn and write the judge's answer.

``params.device`` (cpu by default; cuda, cuda:N, mps or auto) is where the model runs and ``params.dtype``
its precision (auto: the dtype its weights were saved in, float16 as float32 on the CPU); a device this
machine lacks is a load error.

Nothing downloads: the folder must hold ``config.json``, a fast tokenizer and weights that cover every
parameter of the model. Any failure to load is a ModelLoadError whose ``where`` is the guards.yaml key at
fault (``params.model_path``, ``params.label_map`` or ``params.device``) and whose message names the path.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import re
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from clauseguard.errors import GuardError, ModelLoadError
from clauseguard.guards._embedder import _encodable
from clauseguard.guards._fusion import Scores, unit_score
from clauseguard.guards._taxonomy import CATEGORIES, canonical_category
from clauseguard.guards._torch import dtype_kwargs, resolve_device, resolve_dtype, saved_dtype

__all__ = ["ROLES", "CausalJudgeBackend", "SequenceBackend", "load_transformers", "map_labels", "max_tokens",
           "parse_judgement"]

log = logging.getLogger("clauseguard.guards.classifier")

_TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "vocab.txt", "tokenizer.model", "vocab.json")
_SEPARATORS = re.compile(r"[\s,;]+")  # between the hazard codes of an answer: "S1,S10", "S1, S10", "S1;S10"
_PATH, _LABEL_MAP = "params.model_path", "params.label_map"
ROLES = ("user", "assistant")  # whose text a judge reads: a prompt (input stage) or an answer (output)
# A tokenizer that states no limit has model_max_length 1e30; anything this large means "none".
_NO_LIMIT = 1_000_000
# RoBERTa-style models number positions from padding_idx + 1 = 2, so two of their position embeddings
# never hold a token (roberta-base: 514 positions, 512 tokens).
_OFFSET_POSITIONS = frozenset({"roberta", "xlm-roberta", "xlm-roberta-xl", "camembert", "longformer",
                               "data2vec-text", "roberta-prelayernorm", "ibert", "mpnet", "xmod", "luke"})


def _category_of(label: str, label_map: Mapping[str, str]) -> str | None:
    if label in label_map:
        return label_map[label]
    return canonical_category(label)


def map_labels(id2label: Mapping[int, str], label_map: Mapping[str, str]) -> tuple[dict[int, str], list[str]]:
    """Label index -> category, and the labels that map to none. A ``label_map`` key that is no label of
    the model is a ModelLoadError: the label it was meant for would otherwise be dropped without a word."""
    labels = [str(label) for _, label in sorted(id2label.items())]
    unknown = sorted(set(label_map) - set(labels))
    if unknown:
        raise ModelLoadError(f"label_map names {unknown}, which the model has no label for; its labels: {labels}",
                             where=_LABEL_MAP)
    mapped, unmapped = {}, []
    for idx, label in sorted(id2label.items()):
        cat = _category_of(str(label), label_map)
        if cat is None:
            unmapped.append(str(label))
        elif cat not in CATEGORIES:
            raise ModelLoadError(f"label_map sends label {label!r} to unknown category {cat!r}; "
                                 f"known: {sorted(CATEGORIES)}", where=_LABEL_MAP)
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
    scores: Scores = {}
    for code in (c.strip(".") for c in _SEPARATORS.split(rest.strip()) if c.strip(".")):
        cat = label_map.get(code) or (code.upper() if code.upper() in CATEGORIES else None)
        if cat is None or cat not in CATEGORIES:  # "S1,10": the "10" was dropped, and S10 never scored
            raise GuardError(f"judge model named hazard code {code!r}, which maps to no category")
        scores[cat] = 1.0
    if not scores:
        raise GuardError(f"judge model answered 'unsafe' without hazard codes: {answer[:80]!r}")
    return scores


def max_tokens(tokenizer: Any, config: Any, cap: int | None = 512) -> int:
    """Tokens one pass of the model takes: the least of the tokenizer's ``model_max_length``, the model's
    positions (less the two RoBERTa-style models never use) and ``cap``; 512 where none is known."""
    limits = [] if cap is None else [cap]
    stated = getattr(tokenizer, "model_max_length", None)
    if isinstance(stated, int) and 0 < stated < _NO_LIMIT:
        limits.append(stated)
    positions = getattr(config, "max_position_embeddings", None)  # GPT-2's n_positions answers to it too
    if isinstance(positions, int) and positions > 0:
        limits.append(positions - (2 if getattr(config, "model_type", None) in _OFFSET_POSITIONS else 0))
    return min(limits) if limits else 512


def _check_folder(path: Path) -> dict[str, Any]:
    if not path.is_dir():
        raise ModelLoadError(f"model folder {path} does not exist", where=_PATH)
    config_path = path / "config.json"
    if not config_path.is_file():
        raise ModelLoadError(f"model folder {path} lacks config.json", where=_PATH)
    if not any((path / f).is_file() for f in _TOKENIZER_FILES):
        raise ModelLoadError(f"model folder {path} has no tokenizer (none of {list(_TOKENIZER_FILES)})",
                             where=_PATH)
    try:
        config = json.loads(config_path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise ModelLoadError(f"{config_path} is not valid JSON: {err}", where=_PATH) from err
    if not isinstance(config, dict):
        raise ModelLoadError(f"{config_path} must hold a JSON object, not {type(config).__name__}", where=_PATH)
    arch = config.get("architectures")
    if arch is not None and not (isinstance(arch, list) and all(isinstance(a, str) for a in arch)):
        raise ModelLoadError(f"{config_path}: 'architectures' must be a list of class names, not {arch!r}",
                             where=_PATH)
    multimodal = [a for a in arch or [] if a.endswith("ForConditionalGeneration")]
    if multimodal:  # Llama Guard 4 (Llama4ForConditionalGeneration): neither a classifier nor a causal LM
        raise ModelLoadError(f"the model in {path} is {multimodal[0]}, an image-and-text model, which the "
                             "transformers backend does not run: use a text classifier or a text-only judge "
                             "(…ForCausalLM, such as Llama Guard 3 8B or 1B)", where=_PATH)
    return config


def _is_causal(config: Mapping[str, Any]) -> bool:
    return any(a.endswith(("ForCausalLM", "LMHeadModel")) for a in config.get("architectures") or [])


def _load_model(auto: Any, path: Path, device: Any, dtype: Any) -> Any:
    """``auto.from_pretrained(path)`` in eval mode on ``device``; a ModelLoadError if the weights leave any
    parameter to transformers' random initialisation (a base encoder without its classification head, a
    renamed head), which it only warns about."""
    model, info = auto.from_pretrained(str(path), local_files_only=True, output_loading_info=True,
                                       **dtype_kwargs(dtype))
    # Weights tied to others (GPT-2's lm_head), buffers (position_ids) and keys the model itself declares
    # optional are filled without randomness; transformers 4.x lists some of them as missing.
    tied = getattr(model, "all_tied_weights_keys", None) or getattr(model, "_tied_weights_keys", None) or ()
    optional = getattr(model, "_keys_to_ignore_on_load_missing", None) or ()
    buffers = {name for name, _ in model.named_buffers()}
    random = sorted(k for k in info.get("missing_keys") or ()
                    if k not in buffers and k not in tied and not any(re.search(p, k) for p in optional))
    random += sorted(str(k[0] if isinstance(k, tuple) else k) for k in info.get("mismatched_keys") or ())
    if random:
        raise ModelLoadError(f"the weights in {path} lack {random[:8]}{' …' if len(random) > 8 else ''}, which "
                             "transformers would fill at random (a base model saved without its head?)", where=_PATH)
    return model.to(device).eval()


def _load_tokenizer(path: Path) -> Any:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(path), local_files_only=True)
    if not getattr(tokenizer, "is_fast", False):  # overflow windows and offsets need the Rust tokenizer
        raise ModelLoadError(f"the tokenizer in {path} is not a fast tokenizer; save one (tokenizer.json) with "
                             "AutoTokenizer.from_pretrained(...).save_pretrained(...)", where=_PATH)
    if tokenizer.pad_token is None:  # GPT-2 and Llama tokenizers have none; batches need one
        if tokenizer.eos_token is None:
            raise ModelLoadError(f"the tokenizer in {path} has neither a pad nor an end-of-sequence token",
                                 where=_PATH)
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


class SequenceBackend:
    """Any local AutoModelForSequenceClassification."""

    name = "transformers"
    windows_per_pass = 32  # windows of a batch that go through the model at once

    def __init__(self, path: Path, label_map: Mapping[str, str], device: Any, dtype: Any) -> None:
        from transformers import AutoModelForSequenceClassification

        self.path, self.device = path, device
        self.tokenizer = _load_tokenizer(path)
        # Padding on the right, as the model was trained to read a text: a tokenizer saved to pad on the left
        # moved a short text's positions in a batch (a GPT-2 classifier's "kill": 0.517 alone, 0.489 beside another).
        self.tokenizer.padding_side = "right"
        self.model = _load_model(AutoModelForSequenceClassification, path, device, dtype)
        # GPT-2-style heads find each text's last token by the pad id: it must be the one the tokenizer pads with
        # (a config's own pad id beside a tokenizer that pads with its end token read a padding position).
        self.model.config.pad_token_id = self.tokenizer.pad_token_id
        # The tokenizer's truncation and padding are settings of the one Rust tokenizer that every thread
        # shares: a call that turned truncation on while another cut its windows cut that text short.
        self._lock = threading.Lock()
        self.index_to_category, self.unmapped = map_labels(self.model.config.id2label, label_map)
        if not self.index_to_category:
            raise ModelLoadError(f"no label of the model in {path} maps to a category "
                                 f"(labels {self.unmapped}); give params.label_map", where=_LABEL_MAP)
        if self.unmapped:
            log.warning("model %s: labels %s map to no category and are ignored", path, self.unmapped)
        self.categories = frozenset(self.index_to_category.values())
        # transformers' own pipeline reads one logit as a sigmoid (softmax over one logit is always 1.0), and a
        # regression head's output as it is: the score it was trained to give (a sigmoid made 0.0 a 0.5).
        self.raw = self.model.config.problem_type == "regression"
        self.sigmoid = (self.raw or self.model.config.problem_type == "multi_label_classification"
                        or self.model.config.num_labels == 1)
        self.max_length = max_tokens(self.tokenizer, self.model.config)
        room = self.max_length - self.tokenizer.num_special_tokens_to_add()
        # A window cut at token offsets may take a few tokens more when tokenized alone (it can begin inside a
        # word): each leaves ``slack`` tokens spare, and overlaps the one before by at least as many.
        slack = min(8, room // 4)
        self.window = room - slack
        if self.window < 2:
            raise ModelLoadError(f"the model in {path} takes {self.max_length} tokens, which leaves no room for a "
                                 "text beside its special tokens", where=_PATH)
        self.overlap = min(max(self.window // 8, slack), self.window // 2)

    def windows(self, texts: list[str]) -> tuple[list[str], list[int]]:
        """Each text, or overlapping pieces of it that each fit the model, and the index of the text each came
        from. Cut at the offsets of every token of the whole text, not from the tokenizer's overflowing
        windows, which tokenizers 0.23.1 and 0.23.2 leave empty or short (huggingface/tokenizers#2091)."""
        spans = self.tokenizer(list(texts), add_special_tokens=False, return_offsets_mapping=True)["offset_mapping"]
        windows: list[str] = []
        owners: list[int] = []
        for owner, (text, offsets) in enumerate(zip(texts, spans, strict=True)):
            if not offsets:  # no tokens (empty, or only spaces): nothing to score, and no window of padding alone
                continue
            start = 0
            while True:
                end = min(start + self.window, len(offsets))
                windows.append(text if len(offsets) <= self.window else
                               text[offsets[start][0]:offsets[end - 1][1]])
                owners.append(owner)
                if end >= len(offsets):
                    break
                start += self.window - self.overlap
        return windows, owners

    def score(self, texts: list[str]) -> list[Scores]:
        """Each text's scores: the highest of its windows, per category (0.0 for a text without tokens)."""
        out: list[Scores] = [dict.fromkeys(self.categories, 0.0) for _ in texts]
        texts = [_encodable(t) for t in texts]  # a lone surrogate failed the whole batch
        with self._lock:
            windows, owners = self._fitting(*self.windows(texts))
            if not windows:
                return out
            enc = self.tokenizer(windows, padding=True, return_tensors="pt")  # never truncated: every token read
            if enc["input_ids"].shape[1] > self.max_length:  # _fitting should prevent it; fail closed
                raise GuardError(f"a window of the text takes {enc['input_ids'].shape[1]} tokens, more than the "
                                 f"{self.max_length} of the model in {self.path}")
            for owner, scores in zip(owners, self._score_windows(enc), strict=True):
                out[owner] = {c: max(s, out[owner][c]) for c, s in scores.items()}
        return out

    def _fitting(self, windows: list[str], owners: list[int]) -> tuple[list[str], list[int]]:
        """The windows, each that takes more than the model's tokens on its own cut in two overlapping halves
        (again, until it fits). A window may grow past ``slack`` when tokenized alone: with an NFKC normaliser
        (XLM-R's, ALBERT's) one character can become many tokens that share its offsets, and one cut inside
        it takes them all. Truncating such a window dropped its end, the text's own end for the last one."""
        if not windows:
            return windows, owners
        lengths = [len(ids) for ids in self.tokenizer(windows)["input_ids"]]
        if max(lengths) <= self.max_length:
            return windows, owners
        todo = [(w, o) for w, o, n in zip(windows, owners, lengths, strict=True) if n > self.max_length]
        fitted = [(w, o) for w, o, n in zip(windows, owners, lengths, strict=True) if n <= self.max_length]
        while todo:
            window, owner = todo.pop()
            if len(self.tokenizer(window)["input_ids"]) <= self.max_length:
                fitted.append((window, owner))
                continue
            offsets = self.tokenizer(window, add_special_tokens=False, return_offsets_mapping=True)["offset_mapping"]
            if len(offsets) < 2:
                raise GuardError(f"one piece of the text takes more than the {self.max_length} tokens of the model "
                                 f"in {self.path}")
            mid = len(offsets) // 2
            over = min(self.overlap, (len(offsets) - 1) // 4)  # each half strictly shorter than the whole
            todo += [(window[:offsets[mid + over - 1][1]], owner), (window[offsets[mid - over][0]:], owner)]
        return [w for w, _ in fitted], [o for _, o in fitted]

    def _score_windows(self, enc: Any) -> list[Scores]:
        import torch

        rows: list[list[float]] = []
        with torch.inference_mode():
            for start in range(0, len(enc["input_ids"]), self.windows_per_pass):
                batch = {k: v[start:start + self.windows_per_pass].to(self.device) for k, v in enc.items()}
                logits = self.model(**batch).logits.float()  # a half-precision model's too
                probs = logits if self.raw else torch.sigmoid(logits) if self.sigmoid else torch.softmax(logits, dim=-1)
                rows += probs.tolist()
        return [self._categories_of(row) for row in rows]

    def _categories_of(self, row: list[float]) -> Scores:
        # Softmax labels of one category are one event split in parts (HateXplain's "hate speech" and
        # "offensive"): they add up. Sigmoid labels are separate judgements: the highest stands.
        scores: Scores = {}
        for idx, cat in self.index_to_category.items():
            p = unit_score(row[idx], f"the model in {self.path}")
            scores[cat] = max(scores.get(cat, 0.0), p) if self.sigmoid else min(1.0, scores.get(cat, 0.0) + p)
        return scores


class CausalJudgeBackend:
    """A Llama Guard-style generative classifier: prompt in, "safe" / "unsafe\\nS1,S9" out."""

    name = "transformers"
    reads_roles = True  # ClassifierGuard passes role="assistant" at the output stage
    max_new_tokens = 20
    # Prompts generated together, left-padded: on a GPU a step costs about the same for 1 or 8 of them. A
    # pass holds at most this many tokens, padding included (one prompt longer than that goes alone): a judge
    # with a long context (Llama Guard 3: 128k tokens) would otherwise take eight windows that long at once.
    windows_per_pass = 8
    tokens_per_pass = 8192
    # A window re-tokenized inside the prompt may take a few tokens more than it did alone.
    slack = 8

    def __init__(self, path: Path, label_map: Mapping[str, str], device: Any, dtype: Any) -> None:
        from transformers import AutoModelForCausalLM

        self.path, self.device = path, device
        self.label_map = dict(label_map)
        unknown = sorted({c for c in self.label_map.values() if c not in CATEGORIES})
        if unknown:
            raise ModelLoadError(f"label_map sends codes to unknown categories {unknown}; known: {sorted(CATEGORIES)}",
                                 where=_LABEL_MAP)
        # S1-S14 (Llama Guard 3's own codes) and whatever label_map sends other codes to ("JB" -> prompt_injection)
        self.categories = frozenset(c for c in CATEGORIES if c.startswith("S")) | frozenset(self.label_map.values())
        self.hazards = sorted((c for c in self.categories if c.startswith("S") and c[1:].isdigit()),
                              key=lambda c: int(c[1:]))
        self.tokenizer = _load_tokenizer(path)
        self.model = _load_model(AutoModelForCausalLM, path, device, dtype)
        added = {i for i, t in self.tokenizer.added_tokens_decoder.items() if t.special}
        self.special_ids = (frozenset(self.tokenizer.all_special_ids) | added) - {self.tokenizer.unk_token_id}
        specials = sorted({self.tokenizer.convert_ids_to_tokens(i) for i in self.special_ids}, key=len, reverse=True)
        self.control = re.compile("|".join(map(re.escape, specials))) if specials else None
        stops = [self.tokenizer.eos_token_id, self.model.generation_config.eos_token_id, self.model.config.eos_token_id]
        self.end_ids = frozenset(i for s in stops for i in (s if isinstance(s, list) else [s]) if i is not None)
        self.parts = self._template_reads_parts()  # whether the template reads a message's content as typed parts
        self.max_length = max_tokens(self.tokenizer, self.model.config, cap=None)
        longest = max(len(self.prompt_ids("", role)) for role in ROLES)
        self.template_specials = {role: self._specials(self.prompt_ids("", role)) for role in ROLES}
        self.window = self.max_length - longest - self.max_new_tokens - self.slack
        if self.window < 16:
            raise ModelLoadError(f"the judge in {path} takes {self.max_length} tokens, and its prompt and answer "
                                 "leave no room for the text to judge", where=_PATH)

    def prompt(self, text: str, role: str = "user") -> str:
        """The model's own chat template when it has one (Llama Guard's), else a plain instruction.

        ``role`` is whose text it is: a user's prompt, or the assistant's answer, which goes after an empty
        user turn, so that Llama Guard judges the answer ("the last Agent message") and not a request."""
        text = self.defuse(text)
        if getattr(self.tokenizer, "chat_template", None):
            turns = ([{"role": "user", "content": ""}, {"role": "assistant", "content": text}]
                     if role == "assistant" else [{"role": "user", "content": text}])
            if self.parts:
                turns = [t | {"content": [{"type": "text", "text": t["content"]}]} for t in turns]
            rendered: str = self.tokenizer.apply_chat_template(turns, tokenize=False)
            return rendered
        codes = ", ".join(f"{c}: {CATEGORIES[c]}" for c in self.hazards)
        whose = "an AI assistant's reply" if role == "assistant" else "the message"
        return (f"Task: say whether {whose} is safe or unsafe under these categories: {codes}.\n"
                f"{'Reply' if role == 'assistant' else 'Message'}: {text}\n"
                "Answer 'safe', or 'unsafe' and a line of category codes.\nAnswer:")

    def _template_reads_parts(self) -> bool:
        """Whether the chat template needs each message's content as a list of typed parts (Llama Guard 3 1B's,
        3 Vision's and 4's read ``content | selectattr('type', 'equalto', 'text')``): given a plain string, such a
        template renders no text at all, and the judge rates an empty conversation "safe". A template that shows
        the text in neither form is a ModelLoadError: the judge would never see what it is to judge."""
        if not getattr(self.tokenizer, "chat_template", None):
            return False
        probe, failed = "clauseguardprobe", ""
        for parts in (False, True):
            self.parts = parts
            try:
                if all(probe in self.prompt(probe, role) for role in ROLES):
                    return parts
            except Exception as err:  # a template may raise on the form it does not read
                failed = f" ({type(err).__name__}: {err})"
        raise ModelLoadError(f"the chat template in {self.path} shows neither a message given as a string nor one "
                             f"given as text parts: the judge would never see the text{failed}", where=_PATH)

    def defuse(self, text: str) -> str:
        """``text`` with the spellings of the judge's control tokens broken by a space ("<|eot_id|>" becomes
        "< |eot_id|>"): spelled out in a prompt or an answer, they tokenized as the tokens themselves, and the
        text could close its own turn and write the judge's "safe"."""
        return text if self.control is None else self.control.sub(lambda m: f"{m[0][0]} {m[0][1:]}", text)

    def _specials(self, ids: list[int]) -> int:
        return sum(i in self.special_ids for i in ids)

    def prompt_ids(self, text: str, role: str = "user") -> list[int]:
        """The prompt's tokens. A chat template writes its own BOS: the tokenizer must not add another."""
        templated = bool(getattr(self.tokenizer, "chat_template", None))
        ids: list[int] = self.tokenizer(self.prompt(text, role), add_special_tokens=not templated)["input_ids"]
        return ids

    def windows(self, text: str) -> list[str]:
        """``text``, or overlapping pieces of it (by an eighth) that each fit in the prompt."""
        spans = self.tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)["offset_mapping"]
        if len(spans) <= self.window:
            return [text]
        step = self.window - self.window // 8
        return [text[spans[i][0]:spans[min(i + self.window, len(spans)) - 1][1]]
                for i in range(0, len(spans) - self.window + step, step)]

    def judge(self, text: str, role: str = "user") -> str:
        """The judge's answer for one text that fits its window."""
        return self._answers([text], role)[0][0]

    def _prompt_checked(self, text: str, role: str) -> list[int]:
        ids = self.prompt_ids(text, role)
        if len(ids) + self.max_new_tokens > self.max_length:  # windows() should prevent it; fail closed
            raise GuardError(f"the judge's prompt is {len(ids)} tokens, too long for its {self.max_length}")
        if self._specials(ids) != self.template_specials[role]:  # defuse() should prevent it; fail closed
            raise GuardError("the text to judge still holds control tokens of the judge's prompt")
        return ids

    def _answers(self, texts: list[str], role: str) -> list[tuple[str, bool]]:
        """The judge's answer to each text, up to its first end token, and whether it ran to ``max_new_tokens``
        without one. Prompts of similar length go through ``generate`` together, left-padded."""
        prompts = [self._prompt_checked(text, role) for text in texts]
        order = sorted(range(len(prompts)), key=lambda i: len(prompts[i]))
        out: list[tuple[str, bool]] = [("", False)] * len(prompts)
        while order:
            chosen = [order.pop(0)]  # the shortest left; then as many as fit beside it, each no shorter
            while (order and len(chosen) < self.windows_per_pass
                   and (len(chosen) + 1) * len(prompts[order[0]]) <= self.tokens_per_pass):
                chosen.append(order.pop(0))
            for i, answer in zip(chosen, self._generate([prompts[i] for i in chosen]), strict=True):
                out[i] = answer
        return out

    def _generate(self, prompts: list[list[int]]) -> list[tuple[str, bool]]:
        import torch

        pad = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else self.tokenizer.eos_token_id
        width = max(len(ids) for ids in prompts)
        input_ids = torch.tensor([[pad] * (width - len(ids)) + ids for ids in prompts], device=self.device)
        attention_mask = torch.tensor([[0] * (width - len(ids)) + [1] * len(ids) for ids in prompts],
                                      device=self.device)
        with torch.inference_mode():
            out = self.model.generate(input_ids=input_ids, attention_mask=attention_mask,
                                      max_new_tokens=self.max_new_tokens, do_sample=False, pad_token_id=pad)
        answers = []
        for row in out:
            new = row[width:].tolist()
            end = next((k for k, token in enumerate(new) if token in self.end_ids), None)
            answer: str = self.tokenizer.decode(new[:end], skip_special_tokens=True)
            cut = end is None and len(new) >= self.max_new_tokens and new[-1] not in self.special_ids
            answers.append((answer, cut))
        return answers

    def score(self, texts: list[str], *, role: str = "user") -> list[Scores]:
        """1.0 for each category the judge names in any window, 0.0 for every other category it knows:
        "safe" is a score of its own, so ``fusion: mean`` averages it in rather than leaving the judge out.
        ``role``: "user" for prompts, "assistant" for answers (see :meth:`prompt`)."""
        if role not in ROLES:
            raise ValueError(f"role must be one of {ROLES}, not {role!r}")
        texts = [_encodable(t) for t in texts]  # a lone surrogate failed the whole batch
        jobs = [(n, window) for n, text in enumerate(texts) for window in self.windows(self.defuse(text))]
        out: list[Scores] = [{c: 0.0 for c in self.categories} for _ in texts]
        for (n, _), (answer, cut) in zip(jobs, self._answers([w for _, w in jobs], role), strict=True):
            if cut:  # its last code may be cut short ("S1" of "S10"), and a category the guard checks lost
                raise GuardError(f"the judge's answer was cut off after {self.max_new_tokens} tokens: "
                                 f"{answer[:80]!r}")
            out[n] |= parse_judgement(answer, self.label_map)
        return out


@functools.cache
def _load(path: Path, label_items: tuple[tuple[str, str], ...], device_name: str, dtype_name: str
          ) -> SequenceBackend | CausalJudgeBackend:
    config = _check_folder(path)
    try:
        import transformers  # noqa: F401
    except ModuleNotFoundError as err:
        raise ModelLoadError("the transformers backend needs the [ml] extra and torch: "
                             "pip install torch 'clauseguard[ml]'") from err
    device = resolve_device(device_name)
    dtype = resolve_dtype(dtype_name, device, saved_dtype(config))
    cls = CausalJudgeBackend if _is_causal(config) else SequenceBackend
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # a local folder only: never reach the Hub
    try:
        return cls(path, dict(label_items), device, dtype)
    except ModelLoadError:
        raise
    except Exception as err:  # transformers, tokenizers and safetensors raise anything on a bad folder
        raise ModelLoadError(f"cannot load the model in {path}: {type(err).__name__}: {err}", where=_PATH) from err


def load_transformers(model_path: str | Path, label_map: Mapping[str, str] | None = None, *,
                      device: str = "cpu", dtype: str = "auto") -> SequenceBackend | CausalJudgeBackend:
    """The backend for the model folder ``model_path`` on ``device`` in ``dtype``, loaded once per process."""
    return _load(Path(model_path).expanduser().resolve(), tuple(sorted((label_map or {}).items())), device, dtype)
