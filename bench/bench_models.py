"""Speed of the model-backed guards on this machine's CPUs, against the issue's aims.

    .venv/bin/python bench/bench_models.py [--runs 5] [--json]

- embedding first load (aim: 3 s at most): a fresh Python process imports and builds the embedding
  backend (numpy forward pass, tokenizer, weights, heads) and scores one text;
- embedding, short texts batched (aim: 5 ms per text at most): ``EmbeddingBackend.score`` on 256 short
  requests in one call, median of ``--runs``;
- the same with ``CLAUSEGUARD_EMBED_THREADS=2`` (BLAS on two threads; the default is one, see
  guards/_embedder.py);
- embedding, one text per call: the same texts one ``score`` call each, as a server without batching;
- the peer: ``SentenceTransformer.encode`` of the same model on the same texts (torch, all cores), the
  reference implementation that our numpy forward pass replaces;
- image_nsfw with opennsfw (aim: 100 ms per 512x512 image at most): ``ImageNsfwGuard.check`` on an
  encoded PNG, decode included; and image_mark: ``mark_image`` writing XMP and PNG text chunks.

The texts are the first 256 lines of scripts/data/benign_tricky.txt (about 14 word pieces each); the
score cache of the backend is cleared before each timed call, so every text is embedded every time.
Results go to bench/results/models.json.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results" / "models.json"
TEXTS = ROOT / "scripts" / "data" / "benign_tricky.txt"

COLD = """
import time
started = time.perf_counter()
from clauseguard.guards._clf_embedding import get_embedding
get_embedding().score(["How do I kill a Python process?"])
print(time.perf_counter() - started)
"""

GUARD_COLD = """
import time
started = time.perf_counter()
from clauseguard.guards import Context, GuardSpec, create
create(GuardSpec(id="c", type="classifier")).check("How do I kill a Python process?", Context())
print(time.perf_counter() - started)
"""

PEER_COLD = """
import time
started = time.perf_counter()
from sentence_transformers import SentenceTransformer
from clauseguard.guards._embedder import default_model_dir
SentenceTransformer(str(default_model_dir()), device="cpu").encode(["How do I kill a Python process?"])
print(time.perf_counter() - started)
"""


def _texts(n: int = 256) -> list[str]:
    lines = [x for x in TEXTS.read_text(encoding="utf-8").splitlines() if x.strip() and not x.startswith("#")]
    return lines[:n]


def first_load_s(code: str = COLD) -> float:
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)
    return float(out.stdout.strip().splitlines()[-1])


def embedding(runs: int) -> dict[str, Any]:
    from clauseguard.guards._clf_embedding import get_embedding

    backend = get_embedding()
    texts = _texts()
    tokens = statistics.mean(len(e.ids) for e in backend.embedder.tokenizer.encode_batch(texts))
    backend.score(texts[:16])  # warm up BLAS and the allocator

    def batched(threads: int) -> float:
        backend.embedder.threads = threads
        times = []
        for _ in range(runs):
            backend._recent.clear()
            started = time.perf_counter()
            backend.score(texts)
            times.append((time.perf_counter() - started) * 1000 / len(texts))
        return round(statistics.median(times), 2)

    one, two = batched(1), batched(2)
    backend.embedder.threads = 1
    backend._recent.clear()
    started = time.perf_counter()
    for text in texts[:64]:
        backend.score([text])
    single = (time.perf_counter() - started) * 1000 / 64
    return {"texts": len(texts), "mean_word_pieces": round(tokens, 1),
            "batched_ms_per_text": one, "batched_ms_per_text_2_threads": two, "single_ms_per_text": round(single, 2)}


def sentence_transformers(runs: int) -> dict[str, Any] | None:
    try:
        from sentence_transformers import SentenceTransformer
    except ModuleNotFoundError:
        return None
    from clauseguard.guards._embedder import default_model_dir

    model = SentenceTransformer(str(default_model_dir()), device="cpu")
    texts = _texts()
    model.encode(texts[:16], batch_size=32)
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        model.encode(texts, batch_size=32, normalize_embeddings=True)
        times.append((time.perf_counter() - started) * 1000 / len(texts))
    return {"batched_ms_per_text": round(statistics.median(times), 2),
            "first_load_s": round(first_load_s(PEER_COLD), 2)}


def images(runs: int) -> dict[str, Any]:
    sys.path.insert(0, str(ROOT / "tests" / "guards"))
    from fixtures.images.generate import encode, text_on_white

    from clauseguard.guards._base import Context
    from clauseguard.guards._params import GuardSpec
    from clauseguard.guards.image_mark import mark_image
    from clauseguard.guards.image_nsfw import ImageNsfwGuard

    data = encode(text_on_white(512))
    guard = ImageNsfwGuard(GuardSpec.model_validate({"id": "nsfw", "type": "image_nsfw", "stage": "output",
                                                     "modality": "image", "params": {"backend": "opennsfw"}}))
    guard.check(data, Context())

    def per_call(fn: Any) -> float:
        times = []
        for _ in range(runs):
            started = time.perf_counter()
            fn()
            times.append((time.perf_counter() - started) * 1000)
        return round(statistics.median(times), 2)

    return {"image_nsfw_ms_512": per_call(lambda: guard.check(data, Context())),
            "image_mark_ms_512": per_call(lambda: mark_image(data))}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--json", action="store_true", help="print the JSON result instead of the table")
    args = parser.parse_args()
    result: dict[str, Any] = {"first_load_s": round(first_load_s(), 2),
                              "guard_first_load_s": round(first_load_s(GUARD_COLD), 2),
                              "embedding": embedding(args.runs),
                              "sentence_transformers": sentence_transformers(args.runs), "images": images(args.runs)}
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    e, st, im = result["embedding"], result["sentence_transformers"], result["images"]
    rows = [("embedding first load (fresh process)", f"{result['first_load_s']:.2f} s", "<= 3 s"),
            ("classifier guard first load, with its language check (fresh process)",
             f"{result['guard_first_load_s']:.2f} s", ""),
            (f"embedding, {e['texts']} short texts batched ({e['mean_word_pieces']} word pieces)",
             f"{e['batched_ms_per_text']:.2f} ms/text", "<= 5 ms"),
            ("embedding, batched, CLAUSEGUARD_EMBED_THREADS=2",
             f"{e['batched_ms_per_text_2_threads']:.2f} ms/text", ""),
            ("embedding, one text per call", f"{e['single_ms_per_text']:.2f} ms/text", ""),
            ("sentence-transformers encode, batched (peer)",
             "not installed" if st is None else f"{st['batched_ms_per_text']:.2f} ms/text", ""),
            ("sentence-transformers first load (peer, fresh process)",
             "not installed" if st is None else f"{st['first_load_s']:.2f} s", ""),
            ("image_nsfw (opennsfw), 512x512 PNG", f"{im['image_nsfw_ms_512']:.1f} ms", "<= 100 ms"),
            ("image_mark, 512x512 PNG", f"{im['image_mark_ms_512']:.1f} ms", "")]
    width = max(len(r[0]) for r in rows)
    print(f"{'measurement':{width}}  {'result':>16}  aim")
    for name, value, aim in rows:
        print(f"{name:{width}}  {value:>16}  {aim}")
    if st is not None:
        one, two = (st["batched_ms_per_text"] / e[k] for k in ("batched_ms_per_text", "batched_ms_per_text_2_threads"))
        print(f"\nnumpy forward pass vs sentence-transformers (torch, all cores), batched: {one:.2f}x as fast "
              f"on one thread, {two:.2f}x on two")
    return 0


if __name__ == "__main__":
    sys.exit(main())
