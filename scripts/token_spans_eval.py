"""Toxic words, not only toxic sentences: does a token-level head trained on marked spans help?

    .venv/bin/python scripts/train_heads.py --out /tmp/heads      # writes the out-of-fold scores to its cache
    .venv/bin/python scripts/token_spans_eval.py build/demo/guards.yaml [--rtp /tmp/rtp.jsonl] [--weights 1,1.5,2]

MiniLM's mean pooling averages a comment's meaning and can lose its one insulting word. SemEval's toxic
spans mark those words. This fits a logistic regression over MiniLM's final-layer token states, a token
in a marked span against every other token of the posts (only posts train_heads.py does not sample, so
the feature is out of fold for every set; the benign texts' own tokens join the negatives with
``--benign-negatives``, which is in fold for the leave-one-dataset-out number and so only read the
eval-only sets then). A text's feature is its highest token logit. It is added, times a weight, to the
logits of the toxicity and S10 heads, and each is recalibrated to flag the same share of held-out benign
texts as the shipped head. Printed: harmful content vs benign leave-one-dataset-out (train_heads.py's
out-of-fold scores, as scripts/pipeline_lodo.py reads them), then each eval-only set as ``clauseguard
eval`` ranks it with the input guards of GUARDS (the classifier's categories and the keyword and PII
guards' findings). About 12 minutes on two cores. The model card's paragraph on toxic spans comes from it.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import train_heads as th

from clauseguard.guards import Context, Pipeline, create
from clauseguard.guards._clf_embedding import embed_windows, get_embedding, max_by_owner, rescale
from clauseguard.guards._embedder import BATCH, Embedder, _encodable, get_embedder
from clauseguard.guards.config import load_guards
from clauseguard.guards.eval import observe

MIXED_HEADS = ("toxicity", "S10")
EVAL_SETS = ["hate_functional", "harassment", "overrefusal_contrast", "risky_requests"]


def token_states(embedder: Embedder, texts: list[str]) -> Iterator[tuple[int, np.ndarray, list[tuple[int, int]]]]:
    """(index, final-layer states of its word pieces, their character offsets) per text, [CLS] and [SEP] left out."""
    encs = embedder.tokenizer.encode_batch([_encodable(t) or " " for t in texts])
    order = sorted(range(len(encs)), key=lambda i: len(encs[i].ids))
    for start in range(0, len(order), BATCH):
        chunk = order[start:start + BATCH]
        ids = [encs[i].ids for i in chunk]
        x, mask, mask_add = embedder.embedded(ids)
        t = mask.shape[1]
        for layer in embedder.layers:
            x = embedder._block(x, (len(ids), t), mask_add, layer)
        x = x.reshape(len(ids), t, embedder.dim)
        for row, i in enumerate(chunk):
            n = len(ids[row])
            yield i, x[row, 1:n - 1], encs[i].offsets[1:n - 1]


def span_rows(data: Path) -> list[dict[str, str]]:
    """Every toxic-spans post with a marked span that train_heads.py does not sample."""
    folder = data / "toxic_spans"
    marked = [r for r in th._rows(folder / "tsd_train.csv") if r["spans"] != "[]"]
    sampled = {r["text"] for r in th._sample(marked, 2000, "tsd")}
    return [r for name in ("tsd_train.csv", "tsd_trial.csv", "tsd_test.csv") for r in th._rows(folder / name)
            if r["spans"] != "[]" and r["text"] not in sampled]


def fit_token_head(embedder: Embedder, rows: list[dict[str, str]], benign: list[str]) -> tuple[np.ndarray, float]:
    from sklearn.linear_model import LogisticRegression

    xs, ys = [], []
    for i, states, offsets in token_states(embedder, [r["text"] for r in rows]):
        marked = set(json.loads(rows[i]["spans"]))
        xs.append(states)
        ys.append(np.array([any(c in marked for c in range(a, b)) for a, b in offsets], dtype=np.int8))
    for _, states, _ in token_states(embedder, benign):
        xs.append(states)
        ys.append(np.zeros(len(states), dtype=np.int8))
    x, y = np.concatenate(xs), np.concatenate(ys)
    print(f"token head: {len(rows)} posts, {len(y)} word pieces, {y.mean():.3f} in spans", file=sys.stderr)
    model = LogisticRegression(C=1.0, max_iter=300).fit(x, y)
    return model.coef_[0].astype(np.float32), float(model.intercept_[0])


def feature(embedder: Embedder, head: tuple[np.ndarray, float], texts: list[str]) -> np.ndarray:
    """The highest token logit of each text (the first 256 word pieces)."""
    w, b = head
    out = np.full(len(texts), -10.0)
    for i, states, _ in token_states(embedder, texts):
        if len(states):
            out[i] = float((states @ w + b).max())
    return out


def logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, 1e-6, 1 - 1e-6)
    return np.log(p / (1 - p))


def mixed(scores: np.ndarray, f: np.ndarray, weight: float, threshold: float) -> np.ndarray:
    return th.rescale(1 / (1 + np.exp(-(logit(scores) + weight * f))), threshold)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("guards", type=Path)
    ap.add_argument("--data", type=Path, default=th.ROOT.parent / "shared" / "data")
    ap.add_argument("--oof", type=Path, default=Path.home() / ".cache" / "clauseguard" / "train_heads" / "oof.npz")
    ap.add_argument("--rtp", type=Path, help="the RealToxicityPrompts mix that make_eval_sets.py --rtp writes")
    ap.add_argument("--weights", default="1,1.5,2")
    ap.add_argument("--benign-negatives", action="store_true",
                    help="train_heads.py's benign texts' word pieces join the token head's negatives")
    args = ap.parse_args(argv)
    weights = [0.0, *(float(w) for w in args.weights.split(","))]
    oof = np.load(args.oof)
    heads, scores, kinds = [str(h) for h in oof["heads"]], np.nan_to_num(oof["scores"]), oof["kinds"]
    examples = th.collect(args.data)
    if [e.group for e in examples] != [str(g) for g in oof["groups"]]:
        ap.error(f"{args.oof} was written for other data: run train_heads.py again")
    embedder = get_embedder()
    benign = kinds == "benign"
    head = fit_token_head(embedder, span_rows(args.data),
                          [e.text for e in examples if e.kind == "benign"] if args.benign_negatives else [])
    f_oof = feature(embedder, head, [e.text for e in examples])

    # Each mixed head is recalibrated to flag the share of held-out benign texts the shipped one flags.
    thresholds = {w: {h: th.threshold_for(mixed(scores[:, heads.index(h)], f_oof, w, 0.5), benign,
                                          float(np.mean(scores[:, heads.index(h)][benign] > 0.5)))
                      for h in MIXED_HEADS} for w in weights}
    positive = np.isin(kinds, ["hazard", "toxic", "harmful"]) & ~np.array([th.advice_only(e) for e in examples])
    harm = [j for j, h in enumerate(heads) if h not in th.INJECTION_HEADS]
    for w in weights:
        s = scores.copy()
        for h, t in thresholds[w].items():
            s[:, heads.index(h)] = mixed(s[:, heads.index(h)], f_oof, w, t)
        best = s[:, harm].max(axis=1)
        note = " (in fold: --benign-negatives)" if args.benign_negatives else ""
        print(f"weight {w}: harmful content vs benign, leave-one-dataset-out{note}: "
              f"{th.auroc(best[positive], best[benign])}")

    specs = [s for s in load_guards(args.guards) if s.stage == "input" and s.modality == "text"]
    categories = {c for s in specs if s.type == "classifier" for c in s.params["categories"]}
    others = Pipeline([create(s) for s in specs if s.type not in ("classifier", "rate_limit")])
    backend = get_embedding()
    names = [e.get("name", e["category"]) for e in backend.heads.manifest["heads"]]
    columns = [j for j, c in enumerate(backend.head_categories) if c in categories]
    paths = [th.OWN / "eval" / f"{n}.jsonl" for n in EVAL_SETS] + ([args.rtp] if args.rtp else [])
    for path in paths:
        rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
        texts, y = [r["text"] for r in rows], np.array([int(r["label"]) for r in rows])
        x, owner = embed_windows(backend.embedder, texts, backend.layers)
        probs = max_by_owner(rescale(backend.heads.probabilities(x), backend.thresholds), owner, len(texts))
        found = np.array([observe(others.check_input(t, Context()), label=0, category=None, latency_ms=0).score
                          for t in texts])
        f = feature(embedder, head, texts)
        cells = []
        for w in weights:
            p = probs.copy()
            for h, t in thresholds[w].items():
                p[:, names.index(h)] = mixed(p[:, names.index(h)], f, w, t)
            s = np.maximum(p[:, columns].max(axis=1), found)
            cells.append(f"{w}: {th.auroc(s[y == 1], s[y == 0])} (safe flagged {np.mean(s[y == 0] > 0.5):.3f})")
        print(f"{path.stem}: " + " | ".join(cells))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
