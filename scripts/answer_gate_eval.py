"""Does an answer comply? A compliance gate for the output stage, measured and not shipped.

    .venv/bin/python scripts/make_eval_sets.py --answers ../shared/data/gptfuzz /tmp/answers.jsonl \\
        --scored-answers /tmp/wheels /tmp/scored_answers.jsonl
    .venv/bin/python scripts/answer_gate_eval.py build/demo/guards.yaml /tmp/answers.jsonl \\
        /tmp/scored_answers.jsonl scripts/data/eval/forms_answers.jsonl scripts/data/eval/refusals.jsonl

At the output stage the harm heads judge an answer's topic, not whether it helps, so refusals that explain
the harm in their own words are blocked (model card). This fits a logistic regression over MiniLM's
sentence embedding of GPTFuzz's ``train.csv`` answers (to its questions 0-79; the eval-only answers are to
80-99), those that comply (1) against refusals and evasions (0), on the whole answer or on the answer
without its refusal clauses (what the output-stage heads read). Its probability is mixed into the score
that ``clauseguard eval`` gives each answer with the output guards of GUARDS, as the gate is mixed into
the heads: ``score ** (1 - w) * p_comply ** w``. Printed per set: AUROC, harmless answers blocked and
harmful ones caught at 0.5, and at the threshold that keeps the first set's recall at 0.5 unchanged.
About 15 minutes on two cores. The model card's paragraph on a compliance gate comes from it; the answer
gate that ships (``ANSWER_GATE`` in ``train_heads.py``) learns from more kinds of answer and harmful text.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import make_eval_sets as mes
import train_heads as th

from clauseguard.guards import Context, Pipeline
from clauseguard.guards._embedder import get_embedder
from clauseguard.guards._params import Stage
from clauseguard.guards._refusals import refusal_spans, without_refusals
from clauseguard.guards.eval import observe

WEIGHTS = (0.3, 0.5)


def stripped(texts: list[str]) -> list[str]:
    return [without_refusals(t, refusal_spans(t)) or " " for t in texts]


def shipped_scores(pipeline: Pipeline, texts: list[str]) -> np.ndarray:
    """Each answer's score as ``clauseguard eval --stage output`` ranks it."""
    out = []
    for n, text in enumerate(texts):
        context = Context(stage=Stage.OUTPUT, user_key=f"eval-{n}", ip_group=f"eval-{n}", request_id=f"eval-{n}")
        verdict = pipeline.check(text, stage=Stage.OUTPUT, context=context)
        out.append(observe(verdict, label=0, category=None, latency_ms=0).score)
    return np.array(out)


def rates(score: np.ndarray, y: np.ndarray, threshold: float) -> str:
    """AUROC; share of the harmless blocked; share of the harmful caught ("n/a" where a set lacks one side)."""
    blocked = f"{np.mean(score[y == 0] > threshold):.1%}" if (y == 0).any() else "n/a"
    caught = f"{np.mean(score[y == 1] > threshold):.1%}" if (y == 1).any() else "n/a"
    auroc = f"{th.auroc(score[y == 1], score[y == 0]):.3f}" if 0 < y.sum() < len(y) else "n/a"
    return f"{auroc}; {blocked}; {caught}"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("guards", type=Path)
    ap.add_argument("sets", type=Path, nargs="+", help="labelled answers; the first sets the matched threshold")
    ap.add_argument("--gptfuzz", type=Path, default=th.ROOT.parent / "shared" / "data" / "gptfuzz")
    args = ap.parse_args(argv)
    from sklearn.linear_model import LogisticRegression

    train = mes.gptfuzz_answers(args.gptfuzz, "train.csv")
    y_train = np.array([r["label"] for r in train])
    print(f"GPTFuzz train.csv: {len(train)} answers, {int(y_train.sum())} that comply", file=sys.stderr)
    embedder = get_embedder()
    pipeline = Pipeline.from_yaml(args.guards)
    data = []
    for path in args.sets:
        rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
        texts = [r["text"] for r in rows]
        data.append((path.stem, np.array([int(r["label"]) for r in rows]), shipped_scores(pipeline, texts), texts))
    print("set: AUROC; harmless blocked; harmful caught (at 0.5 | at the threshold keeping the first set's recall)")
    y0, s0 = data[0][1], data[0][2]
    recall = np.mean(s0[y0 == 1] > 0.5)  # the shipped guards' recall on the first set, at 0.5
    print("shipped:\n  " + "\n  ".join(f"{name}: {rates(s, y, 0.5)}" for name, y, s, _ in data))
    for reading, prepare in (("whole answer", list), ("refusal clauses left out", stripped)):
        gate = LogisticRegression(C=1.0, max_iter=3000, class_weight="balanced").fit(
            embedder.embed(prepare([r["text"] for r in train])), y_train)
        complies = [gate.predict_proba(embedder.embed(prepare(texts)))[:, 1] for _, _, _, texts in data]
        for w in WEIGHTS:
            mixed = [s ** (1 - w) * c ** w for (_, _, s, _), c in zip(data, complies, strict=True)]
            matched = float(np.quantile(mixed[0][y0 == 1], 1 - recall))
            cells = [f"{name}: {rates(m, y, 0.5)} | {rates(m, y, matched)}"
                     for (name, y, _, _), m in zip(data, mixed, strict=True)]
            print(f"{reading}, weight {w} (matched threshold {matched:.3f}):\n  " + "\n  ".join(cells))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
