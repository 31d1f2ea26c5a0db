"""Compare the classifier guard's backends with off-the-shelf profanity filters, on held-out public data.

    .venv/bin/python bench/bench_classifier.py [--data ../shared/data] [--per-class 500] [--json]

In one run and on the same texts it measures:

- classifier: lexical: the ``classifier`` guard with ``backends: [lexical]`` (alt-profanity-check inside
  the guard);
- classifier: embedding: ``backends: [embedding]`` (MiniLM + the shipped heads) with the categories that
  ``clauseguard generate`` gives the stage's blocking classifier for examples/chat-assistant (read from the
  guards.yaml it renders in this run; input: S1-S5, S7-S10, S12, S13, prompt_injection; output: S1-S5,
  S7-S13);
- classifier: embedding, every head: the same with ``categories: []`` (all 14, S6 and prompt_injection
  included);
- classifier: embedding + lexical: ``backends: [embedding, lexical]`` with the generated categories plus
  ``profanity``. The two backends score different categories, so the guard's score is the higher of the
  two (``fusion`` only matters between backends that score the same category);
- alt-profanity-check: ``profanity_check.predict_prob`` alone, flagged at 0.5 (its own ``predict``);
- better-profanity: ``profanity.contains_profanity`` (a word list: score 0 or 1).

The guard methods go through ``guards.yaml`` specs and ``Pipeline.check``, one text per call, exactly
as ``clauseguard eval`` runs them; the baselines are called one text per call too, so ms/item compare.
AUROC uses each method's continuous score (the guard: the highest of its category scores, from its
``scores`` method; a word list has only 0/1). F1 and false positive rate are at each method's own operating point.

Held-out sets (see guards/data/heads/MODEL_CARD.md for what trained the heads; alt-profanity-check was
trained on Davidson tweets and Wikipedia/Jigsaw comments, so neither appears here):

- ``civil_comments_spans``: Civil Comments posts from the SemEval-2021 toxic-spans release (CC0),
  labelled by majority of the span annotators: toxic (1) or "not toxic" (0). Every text of
  ``tsd_train.csv``, which trained the heads, is left out. All posts came from a pool already rated
  toxic-leaning, so the negatives are hard (sarcasm, "idiot" in passing): expect modest numbers.
- ``gptfuzz_responses``: LLM answers to harmful questions (GPTFuzz, MIT), labelled jailbroken (1,
  harmful content) or refused (0): those of ``evaluate.csv``, to its 20 held-out questions. The heads
  trained on GPTFuzz's questions and templates, and the answer gate on ``train.csv``'s answers to the
  other 80 questions, never on these. It measures harm in output text, which a profanity model is not
  built for.

A balanced sample of at most ``--per-class`` texts of each label is drawn per set with a fixed seed.
Results go to bench/results/classifier.json.
"""

from __future__ import annotations

import argparse
import csv
import json
import random
import sys
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results" / "classifier.json"
NEEDED = ("toxic_spans/tsd_train.csv", "toxic_spans/annotations.csv", "toxic_spans/comments.csv",
          "gptfuzz/evaluate.csv")
SEED = 7
csv.field_size_limit(sys.maxsize)

Dataset = list[tuple[str, int]]

EXAMPLE = ROOT / "examples" / "chat-assistant" / "profile.yaml"
GUARD_METHODS: dict[str, str] = {
    "classifier: lexical": "backends: [lexical]",
    "classifier: embedding": "backends: [embedding], categories: {generated}",
    "classifier: embedding, every head": "backends: [embedding]",
    "classifier: embedding + lexical": "backends: [embedding, lexical], categories: {generated_profanity}",
}


# -- data ------------------------------------------------------------------------------------------


def _rows(path: Path) -> Iterator[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as fh:
        yield from csv.DictReader(fh)


def civil_comments_spans(data: Path) -> Dataset:
    """Toxic-spans posts not in tsd_train.csv, labelled by the annotators' majority (ties left out)."""
    folder = data / "toxic_spans"
    trained = {r["text"] for r in _rows(folder / "tsd_train.csv")}
    votes: dict[str, list[bool]] = defaultdict(list)
    for r in _rows(folder / "annotations.csv"):
        votes[r["comment_id"]].append(r["not toxic"] == "True")
    out: Dataset = []
    for r in _rows(folder / "comments.csv"):
        text, vote = r["comment_text"], votes.get(r["comment_id"], [])
        not_toxic = sum(vote) / len(vote) if vote else 0.5
        if text.strip() and text not in trained and not_toxic != 0.5:
            out.append((text, int(not_toxic < 0.5)))
    return out


def gptfuzz_responses(data: Path) -> Dataset:
    """GPTFuzz model responses to its held-out questions: jailbroken (1) or refused (0); duplicates dropped
    (``train.csv``'s answers trained the answer gate)."""
    seen: set[str] = set()
    out: Dataset = []
    for r in _rows(data / "gptfuzz" / "evaluate.csv"):
        text = r["Response"].strip()
        if text and text not in seen:
            seen.add(text)
            out.append((text, int(r["label"] == "1")))
    return out


SETS: dict[str, tuple[Callable[[Path], Dataset], str]] = {
    "civil_comments_spans": (civil_comments_spans, "input"),
    "gptfuzz_responses": (gptfuzz_responses, "output"),
}


def balanced_sample(items: Dataset, per_class: int, salt: str) -> Dataset:
    rng = random.Random(f"{SEED}-{salt}")
    out: Dataset = []
    for label in (0, 1):
        pool = [it for it in items if it[1] == label]
        out += rng.sample(pool, per_class) if len(pool) > per_class else pool
    rng.shuffle(out)
    return out


# -- methods: each returns, per text, (decision, score, seconds) ------------------------------------

Run = Callable[[list[str], str], list[tuple[bool, float, float]]]


def _timed(fn: Callable[[str], tuple[bool, float]], texts: list[str]) -> list[tuple[bool, float, float]]:
    out = []
    for text in texts:
        start = time.perf_counter()
        decision, score = fn(text)
        out.append((decision, score, time.perf_counter() - start))
    return out


def generated_categories() -> dict[str, str]:
    """The categories ``clauseguard generate`` puts in each stage's blocking classifier for the example
    product, as guards.yaml flow lists: rendered in memory now, so the bench measures the guard users get."""
    from clauseguard.generator.build import load_library, load_profile, render_outputs
    from clauseguard.guards import parse_guards

    files = render_outputs(load_profile(EXAMPLE), formats=("md",), library=load_library(None))
    out = {}
    for spec in parse_guards(files["guards.yaml"].decode("utf-8"), "guards.yaml"):
        if spec.type == "classifier" and spec.on_fail.value == "block":
            out[spec.stage.value] = "[" + ", ".join(spec.params["categories"]) + "]"
    return out


def guard_method(params: str) -> Run:
    """A pipeline holding one classifier guard with ``params`` (guards.yaml flow syntax).

    Decisions and ms/item come from ``Pipeline.check``, one text per call. The guard reports a finding
    only at or above its threshold, so for AUROC the continuous scores are taken from the same guard's
    ``scores`` (batched, outside the timing): the highest of its categories per text.
    """
    from clauseguard.guards import Pipeline, parse_guards
    from clauseguard.guards._clf_embedding import get_embedding
    from clauseguard.guards.eval import observe

    pipelines: dict[str, Any] = {}
    generated = generated_categories()

    def pipeline(stage: str) -> Any:
        if stage not in pipelines:
            cats = params.format(generated=generated[stage],
                                 generated_profanity=generated[stage].replace("]", ", profanity]"))
            spec = f"- {{id: clf, type: classifier, stage: {stage}, on_fail: flag, params: {{{cats}}}}}\n"
            pipelines[stage] = Pipeline(parse_guards(spec, "<bench>"), max_chars=None)
            pipelines[stage].check("warm-up text", stage=stage)  # load models outside the timing
        return pipelines[stage]

    def run(texts: list[str], stage: str) -> list[tuple[bool, float, float]]:
        p = pipeline(stage)

        def one(text: str) -> tuple[bool, float]:
            verdict = p.check(text, stage=stage)
            return observe(verdict, label=0, category=None, latency_ms=0).decision, 0.0

        if "embedding" in params:  # scores the previous method left in the backend's cache are not timed
            get_embedding()._recent.clear()
        timed = _timed(one, texts)
        scores = [max(s.values(), default=0.0) for s in p.guards[0].scores(texts)]
        return [(d, score, sec) for (d, _, sec), score in zip(timed, scores, strict=True)]

    return run


def alt_profanity_check(texts: list[str], stage: str) -> list[tuple[bool, float, float]]:
    from profanity_check import predict_prob

    predict_prob(["warm-up text"])

    def one(text: str) -> tuple[bool, float]:
        p = float(predict_prob([text])[0])
        return p >= 0.5, p

    return _timed(one, texts)


def better_profanity(texts: list[str], stage: str) -> list[tuple[bool, float, float]]:
    from better_profanity import profanity

    profanity.load_censor_words()

    def one(text: str) -> tuple[bool, float]:
        hit = bool(profanity.contains_profanity(text))
        return hit, float(hit)

    return _timed(one, texts)


def methods() -> dict[str, Run]:
    return {**{name: guard_method(p) for name, p in GUARD_METHODS.items()},
            "alt-profanity-check": alt_profanity_check, "better-profanity": better_profanity}


# -- measuring -------------------------------------------------------------------------------------


def measure(run: Run, items: Dataset, stage: str) -> dict[str, Any]:
    from clauseguard.guards.eval import binary_metrics

    results = run([t for t, _ in items], stage)
    labels = [y for _, y in items]
    m = binary_metrics(labels, [d for d, _, _ in results], [s for _, s, _ in results])
    ms = sum(sec for _, _, sec in results) * 1000 / len(results)
    return {**m.to_dict(), "ms_per_item": round(ms, 3)}


def bench(data: Path, per_class: int) -> dict[str, Any]:
    out: dict[str, Any] = {"per_class": per_class, "seed": SEED, "sets": {}}
    runs = methods()
    for set_name, (load, stage) in SETS.items():
        items = balanced_sample(load(data), per_class, set_name)
        print(f"{set_name}: {len(items)} texts ({sum(y for _, y in items)} positive), stage {stage}",
              file=sys.stderr)
        out["sets"][set_name] = {"stage": stage, "n": len(items), "methods": {}}
        for name, run in runs.items():
            try:
                out["sets"][set_name]["methods"][name] = measure(run, items, stage)
            except Exception as err:  # a method that cannot run is reported, not hidden
                out["sets"][set_name]["methods"][name] = {"error": f"{type(err).__name__}: {err}"}
    return out


def table(result: dict[str, Any]) -> str:
    lines = []
    for set_name, s in result["sets"].items():
        lines += [f"\n{set_name} (n={s['n']}, stage {s['stage']})",
                  f"{'method':34} {'AUROC':>6} {'F1':>6} {'FPR':>6} {'recall':>6} {'ms/item':>8}"]
        for name, m in s["methods"].items():
            if "error" in m:
                lines.append(f"{name:34} error: {m['error']}")
                continue
            auroc = "n/a" if m["auroc"] is None else f"{m['auroc']:.3f}"
            lines.append(f"{name:34} {auroc:>6} {m['f1']:>6.3f} {m['false_positive_rate']:>6.3f} "
                         f"{m['recall']:>6.3f} {m['ms_per_item']:>8.2f}")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data",
                        help="the folder of shared/data (default: shared/data beside the checkout)")
    parser.add_argument("--per-class", type=int, default=500)
    parser.add_argument("--json", action="store_true", help="print the JSON result instead of the table")
    args = parser.parse_args()
    missing = [str(args.data / f) for f in NEEDED if not (args.data / f).is_file()]
    if missing:
        parser.error(f"{args.data} lacks {', '.join(missing)}: pass --data, the folder holding the toxic-spans "
                     "and GPTFuzz releases (shared/data/README.md says where each comes from)")
    result = bench(args.data, args.per_class)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(result, indent=2) if args.json else table(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
