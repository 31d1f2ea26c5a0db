"""The transformers backend on each device this machine has, through clauseguard's own backend code.

    .venv/bin/python bench/bench_devices.py [--judge 1b|tiny] [--texts 64] [--json FILE]

Two models built at random in the shapes of real ones (nothing downloads; random weights score as fast
as trained ones):

- classifier: BERT-base (12 layers, 768 wide, 110M parameters), the shape of most toxicity and
  injection classifiers; ``--texts`` requests (scripts/data/benign_tricky.txt) scored in one
  ``score`` call; milliseconds per text.
- judge: Llama Guard 3 1B's shape (16 layers, 2048 wide, 1.2B parameters) with ``--judge 1b``, or a
  4-layer 256-wide one with ``--judge tiny`` (the default on a machine without a GPU, where the 1B
  judge takes seconds per text); up to 20 new tokens; milliseconds per text over 8 texts, judged one
  per call (a live service's prompts, and ``clauseguard eval``, which times each item), and all 8 in
  one call (``score`` of a batch: ``check_batch``), which the backend generates together, left-padded.

Each on the CPU (float32, this machine's threads) and, where torch sees one, on CUDA (bfloat16), with
the ratio between them. The tokenizers are word-level ones written here, so a "token" is a word.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
TEXTS = ROOT / "scripts" / "data" / "benign_tricky.txt"


def _tokenizer(size: int) -> Any:
    import transformers
    from tokenizers import Tokenizer, models, pre_tokenizers

    vocab = {"[PAD]": 0, "[UNK]": 1, "<eos>": 2} | {f"w{i}": i for i in range(3, size)}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    return transformers.PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="[UNK]", pad_token="[PAD]",
                                                eos_token="<eos>")


def _models(folder: Path, judge: str) -> dict[str, Path]:
    import torch
    import transformers

    torch.manual_seed(0)
    bert = transformers.BertConfig(id2label={0: "safe", 1: "toxic"}, label2id={"safe": 0, "toxic": 1})
    transformers.BertForSequenceClassification(bert).save_pretrained(folder / "classifier")
    _tokenizer(bert.vocab_size).save_pretrained(folder / "classifier")
    shape = (dict(hidden_size=2048, intermediate_size=8192, num_hidden_layers=16, num_attention_heads=32,
                  num_key_value_heads=8, vocab_size=128256) if judge == "1b" else
             dict(hidden_size=256, intermediate_size=1024, num_hidden_layers=4, num_attention_heads=4,
                  num_key_value_heads=4, vocab_size=32000))
    llama = transformers.LlamaConfig(max_position_embeddings=8192, bos_token_id=2, eos_token_id=2,
                                     pad_token_id=0, tie_word_embeddings=True, **shape)
    transformers.LlamaForCausalLM(llama).to(torch.bfloat16).save_pretrained(folder / "judge")
    _tokenizer(llama.vocab_size).save_pretrained(folder / "judge")
    return {"classifier": folder / "classifier", "judge": folder / "judge"}


def _timed(fn: Any, runs: int = 3) -> float:
    fn()  # warm-up: kernels, caches
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def _sync() -> None:
    import torch

    if torch.cuda.is_available():
        torch.cuda.synchronize()


def main(argv: list[str] | None = None) -> int:
    import torch

    from clauseguard.guards._clf_transformers import load_transformers

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--judge", choices=["1b", "tiny"], default="1b" if torch.cuda.is_available() else "tiny")
    ap.add_argument("--texts", type=int, default=64)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args(argv)
    lines = [t for t in TEXTS.read_text(encoding="utf-8").splitlines() if t.strip()]
    texts = (lines * (args.texts // len(lines) + 1))[:args.texts]
    devices = [("cpu", "float32")] + ([("cuda", "bfloat16")] if torch.cuda.is_available() else [])
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        folders = _models(Path(tmp), args.judge)
        for device, dtype in devices:
            classifier = load_transformers(folders["classifier"], device=device, dtype=dtype)
            per_text = _timed(lambda c=classifier: (c.score(texts), _sync())) / len(texts)
            rows.append({"model": "classifier (BERT-base)", "device": device, "dtype": dtype,
                         "ms_per_text": round(per_text * 1000, 2)})
            judge = load_transformers(folders["judge"], device=device, dtype=dtype)
            shape = "Llama Guard 3 1B shape" if args.judge == "1b" else "tiny"
            per_text = _timed(lambda j=judge: ([j.judge(t) for t in texts[:8]], _sync()), runs=1) / 8
            rows.append({"model": f"judge ({shape}), 1 per call", "device": device, "dtype": dtype,
                         "ms_per_text": round(per_text * 1000, 1)})
            per_text = _timed(lambda j=judge: (j._answers(texts[:8], "user"), _sync()), runs=1) / 8
            rows.append({"model": f"judge ({shape}), 8 per call", "device": device, "dtype": dtype,
                         "ms_per_text": round(per_text * 1000, 1)})
            del classifier, judge
    cpu = {r["model"]: r["ms_per_text"] for r in rows if r["device"] == "cpu"}
    for r in rows:
        r["cpu_over_this"] = round(cpu[r["model"]] / r["ms_per_text"], 1)
    name = torch.cuda.get_device_name() if torch.cuda.is_available() else "none"
    print(f"torch {torch.__version__}, {torch.get_num_threads()} CPU threads, GPU: {name}")
    print(f"{'model':<46} {'device':<6} {'dtype':<9} {'ms/text':>9} {'cpu/this':>9}")
    for r in rows:
        print(f"{r['model']:<46} {r['device']:<6} {r['dtype']:<9} {r['ms_per_text']:>9} {r['cpu_over_this']:>9}")
    if args.json:
        args.json.write_text(json.dumps({"torch": torch.__version__, "gpu": name, "rows": rows}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
