"""Leave-one-dataset-out AUROC of a generated guards.yaml's input stage, as ``clauseguard eval`` scores it.

    .venv/bin/python scripts/train_heads.py --out /tmp/heads        # writes the out-of-fold scores to its cache
    .venv/bin/python scripts/pipeline_lodo.py build/demo/guards.yaml [--oof ~/.cache/clauseguard/train_heads/oof.npz]

train_heads.py's numbers are the heads' alone. ``clauseguard eval`` ranks each text by the highest score any
input guard gives it: the classifier's categories (each head's out-of-fold score, from heads that never saw
the text's data set), prompt_injection among them when the guard lists it, and the findings of the keyword
and PII guards (1.0 each). This prints harmful content (hazard prompts, toxic comments, harmful posts; not
the advice-only requests) against every benign text, for the heads alone, with the other guards, and with
the injection head's scores too, and by held-out positive set.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import train_heads as th

from clauseguard.guards import Context, Pipeline, create
from clauseguard.guards._clf_embedding import line_count
from clauseguard.guards.config import load_guards
from clauseguard.guards.eval import observe


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("guards", type=Path)
    ap.add_argument("--data", type=Path, default=th.ROOT.parent / "shared" / "data")
    ap.add_argument("--oof", type=Path, default=Path.home() / ".cache" / "clauseguard" / "train_heads" / "oof.npz")
    args = ap.parse_args(argv)
    oof = np.load(args.oof)
    heads, scores, kinds = [str(h) for h in oof["heads"]], oof["scores"], oof["kinds"]
    examples = th.collect(args.data)
    if [e.group for e in examples] != [str(g) for g in oof["groups"]]:
        ap.error(f"{args.oof} was written for other data: run train_heads.py again")
    specs = [s for s in load_guards(args.guards) if s.stage == "input" and s.modality == "text"]
    categories = {c for s in specs if s.type == "classifier" for c in s.params["categories"]}
    others = Pipeline([create(s) for s in specs if s.type not in ("classifier", "rate_limit")])
    found = np.array([observe(others.check_input(e.text, Context()), label=0, category=None, latency_ms=0).score
                      for e in examples])
    harm = np.nanmax(scores[:, [j for j, h in enumerate(heads)
                                if h not in th.INJECTION_HEADS and th.head_category(h) in categories]], axis=1)
    harm = np.nan_to_num(harm)
    # as at run time: a text of fewer than th.LINES lines is prompt_injection's, a longer one the line head's
    short = np.array([line_count(e.text) < th.LINES for e in examples], dtype=bool)
    injection = np.nan_to_num(np.where(short, scores[:, heads.index("prompt_injection")],
                                       scores[:, heads.index(th.LINES_HEAD)]))
    # the plain texts (one-word replies, pasted code, short insults) and the personas are left out, as
    # train_heads.py's numbers do
    plain = np.array([e.group.startswith(th.POOLED_LEFT_OUT) for e in examples], dtype=bool)
    advice = np.array([th.advice_only(e) for e in examples], dtype=bool)
    positive = np.isin(kinds, ["hazard", "toxic", "harmful"]) & ~advice & ~plain
    benign = (kinds == "benign") & ~plain
    fused = np.maximum(harm, found)
    with_injection = np.maximum(fused, injection) if "prompt_injection" in categories else fused
    print(f"input guards besides the classifier: {[s.id for s in specs if s.type not in ('classifier', 'rate_limit')]}")
    print(f"their findings: benign {np.mean(found[benign] > 0):.4f}, harmful {np.mean(found[positive] > 0):.4f}")
    for name, score in (("heads of the configured categories", harm), ("with the other input guards", fused),
                        ("with prompt_injection's scores too (as eval ranks)", with_injection)):
        print(f"harmful content vs benign, {name}: {th.auroc(score[positive], score[benign])}")
    groups = np.array([e.group for e in examples])
    for g in sorted(set(groups[positive])):
        chosen = positive & (groups == g)
        both = [th.auroc(score[chosen], score[benign]) for score in (fused, with_injection)]
        print(f"  {g}: {both[0]} / {both[1]}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
