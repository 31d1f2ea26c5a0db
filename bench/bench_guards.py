"""Guard benchmarks: keyword throughput, PII recall and speed, pipeline latency. Run on demand.

    .venv/bin/python bench/bench_guards.py            # prints tables, writes bench/results/guards.json
    .venv/bin/python bench/bench_guards.py --texts 500 --runs 200   # a quicker run

(a) Keyword: our keyword guard (one automaton over normalised text) against better-profanity loaded
    with the same word list, and against a naive loop of one precompiled ``re.search`` per term, on the
    same sentences (tweets and comments from shared/data when present, else generated).
(b) PII: recall per entity and throughput of our detectors against presidio-analyzer's recognizers
    (pattern-based, called directly: no NLP engine, no spaCy model), on synthetic labelled texts;
    detections on the clean sentences of (a) are counted as false positives.
(c) Pipeline: added latency, p50 and p99, of an output stage with every non-model guard on
    (keyword, pii, regex, disclaimer, ai_disclosure) for 2 KB texts.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import random
import re
import statistics
import string
import sys
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"
RESULTS = Path(__file__).parent / "results" / "guards.json"
ENTITIES = ("email", "phone", "credit_card", "iban", "ip_address", "us_ssn")


# -- texts -----------------------------------------------------------------------------------------


def _csv_column(path: Path, column: str) -> list[str]:
    if not path.exists():
        return []
    with path.open(encoding="utf-8", newline="") as fh:
        return [row[column] for row in csv.DictReader(fh) if row.get(column)]


def sentences(n: int, rng: random.Random) -> tuple[list[str], str]:
    """``n`` mixed sentences (clean and offensive) and where they came from."""
    pool = _csv_column(DATA / "davidson_hate_offensive" / "labeled_data.csv", "tweet")
    pool += _csv_column(DATA / "jigsaw_samples_detoxify" / "train.csv", "comment_text")
    pool = [" ".join(t.split())[:400] for t in pool]
    if len(pool) >= n:
        return rng.sample(pool, n), "shared/data (Davidson tweets, Jigsaw comments)"
    words = ["the", "cat", "sat", "on", "a", "mat", "damn", "hello", "world", "shit", "nice", "day"]
    return [" ".join(rng.choices(words, k=rng.randint(6, 30))) for _ in range(n)], "generated"


def timed(fn: Callable[[str], Any], texts: list[str], repeat: int = 3) -> tuple[float, list[Any]]:
    """Best wall time over ``repeat`` passes of ``fn`` over ``texts``, and the last results."""
    best, results = float("inf"), []
    for _ in range(repeat):
        start = time.perf_counter()
        results = [fn(t) for t in texts]
        best = min(best, time.perf_counter() - start)
    return best, results


# -- (a) keyword -------------------------------------------------------------------------------------


def bench_keyword(texts: list[str]) -> dict[str, Any]:
    from better_profanity import profanity

    from clauseguard.guards import Context, GuardSpec, create
    from clauseguard.guards._terms import shipped_terms

    terms = list(shipped_terms("profanity"))
    guard = create(GuardSpec(id="kw", type="keyword", stage="output", on_fail="flag",
                             params={"categories": ["profanity"]}))
    ctx = Context()
    profanity.load_censor_words(terms)
    patterns = [re.compile(r"\b" + re.escape(t) + r"\b", re.IGNORECASE) for t in terms]

    def naive(text: str) -> bool:
        return any(p.search(text) for p in patterns)

    runs = {
        "clauseguard keyword": lambda t: bool(guard.check(t, ctx).findings),
        "better-profanity": profanity.contains_profanity,
        "naive regex loop": naive,
    }
    out: dict[str, Any] = {"terms": len(terms), "texts": len(texts), "tools": {}}
    for name, fn in runs.items():
        seconds, flags = timed(fn, texts)
        out["tools"][name] = {"seconds": seconds, "texts_per_s": len(texts) / seconds, "flagged": sum(flags)}
    ours = out["tools"]["clauseguard keyword"]["texts_per_s"]
    for entry in out["tools"].values():
        entry["speed_vs_ours"] = entry["texts_per_s"] / ours
    return out


# -- (b) PII ---------------------------------------------------------------------------------------


def _luhn_complete(prefix: str, length: int, rng: random.Random) -> str:
    body = prefix + "".join(rng.choices(string.digits, k=length - len(prefix) - 1))
    total = 0
    for i, ch in enumerate(reversed(body + "0")):
        d = int(ch) * (2 if i % 2 else 1)
        total += d - 9 if d > 9 else d
    return body + str((10 - total % 10) % 10)


def _iban(country: str, length: int, rng: random.Random) -> str:
    bban = "".join(rng.choices(string.digits, k=length - 4))
    numeric = "".join(str(int(c, 36)) for c in bban + country + "00")
    check = 98 - int(numeric) % 97
    return f"{country}{check:02d}{bban}"


def _value(entity: str, rng: random.Random) -> str:
    if entity == "email":
        user = "".join(rng.choices(string.ascii_lowercase, k=rng.randint(3, 10)))
        return f"{user}.{rng.choice(['smith', 'lee', 'x'])}@{rng.choice(['example.com', 'mail.co.uk', 'corp.io'])}"
    if entity == "phone":
        return rng.choice([
            f"({rng.randint(201, 989)}) {rng.randint(200, 999)}-{rng.randint(1000, 9999)}",
            f"{rng.randint(201, 989)}-{rng.randint(200, 999)}-{rng.randint(1000, 9999)}",
            f"+44 20 {rng.randint(7000, 7999)} {rng.randint(1000, 9999)}",
            f"+1 {rng.randint(201, 989)} {rng.randint(200, 999)} {rng.randint(1000, 9999)}",
        ])
    if entity == "credit_card":
        if rng.random() < 0.2:  # American Express: 15 digits, grouped 4-6-5
            number = _luhn_complete(rng.choice(["34", "37"]), 15, rng)
            return f"{number[:4]} {number[4:10]} {number[10:]}" if rng.random() < 0.5 else number
        number = _luhn_complete(rng.choice(["4", "51", "55"]), 16, rng)
        return " ".join(number[i:i + 4] for i in range(0, 16, 4)) if rng.random() < 0.5 else number
    if entity == "iban":
        country, length = rng.choice([("DE", 22), ("GB", 22), ("FR", 27), ("NL", 18), ("ES", 24)])
        if country in ("GB", "NL"):  # bank code letters
            bank = "".join(rng.choices(string.ascii_uppercase, k=4))
            digits = "".join(rng.choices(string.digits, k=length - 8))
            bban = bank + digits
            numeric = "".join(str(int(c, 36)) for c in bban + country + "00")
            return f"{country}{98 - int(numeric) % 97:02d}{bban}"
        return _iban(country, length, rng)
    if entity == "ip_address":
        if rng.random() < 0.8:  # a host's address: not loopback (127/8) or multicast and reserved (224 up),
            first = rng.choice([n for n in range(1, 224) if n != 127])  # which the PII guard leaves alone by design
            return ".".join(str(n) for n in (first, *(rng.randint(1, 254) for _ in range(3))))
        return ":".join(f"{rng.randint(0, 65535):x}" for _ in range(8))
    area = rng.choice([n for n in range(1, 900) if n != 666])
    return f"{area:03d}-{rng.randint(1, 99):02d}-{rng.randint(1, 9999):04d}"


TEMPLATES = [
    "Please contact me about it: {v}. Thanks!",
    "my {label} is {v} if you need it",
    "Update the record with {v} before Friday.",
    "{v} was entered on the form yesterday",
]


def pii_corpus(per_entity: int, rng: random.Random) -> list[tuple[str, str, tuple[int, int]]]:
    """``(text, entity, span)`` with one labelled value per text."""
    corpus = []
    for entity in ENTITIES:
        for _ in range(per_entity):
            value = _value(entity, rng)
            template = rng.choice(TEMPLATES)
            head = template.split("{v}")[0].format(label=entity.replace("_", " "))
            text = head + value + template.split("{v}")[1].format(label=entity.replace("_", " "))
            corpus.append((text, entity, (len(head), len(head) + len(value))))
    return corpus


def _presidio() -> Callable[[str], list[tuple[str, int, int]]]:
    # presidio's email recognizer calls tldextract, which fetches the public suffix list unless told
    # to use the snapshot it ships; the variable is read when tldextract is first imported.
    os.environ.setdefault("TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS", "")
    from presidio_analyzer import predefined_recognizers as pr

    names = {"EMAIL_ADDRESS": "email", "PHONE_NUMBER": "phone", "CREDIT_CARD": "credit_card",
             "IBAN_CODE": "iban", "IP_ADDRESS": "ip_address", "US_SSN": "us_ssn"}
    recognizers = [pr.EmailRecognizer(), pr.PhoneRecognizer(), pr.CreditCardRecognizer(), pr.IbanRecognizer(),
                   pr.IpRecognizer(), pr.UsSsnRecognizer()]

    def run(text: str) -> list[tuple[str, int, int]]:
        return [(names[r.entity_type], r.start, r.end)
                for rec in recognizers for r in rec.analyze(text, list(names), None) if r.entity_type in names]

    return run


def _ours() -> Callable[[str], list[tuple[str, int, int]]]:
    from clauseguard.guards._pii_detect import detect

    return lambda text: [(e, s, t) for e, s, t, _ in detect(text, ENTITIES)]


def _overlaps(a: tuple[int, int], b: tuple[int, int]) -> bool:
    return a[0] < b[1] and b[0] < a[1]


def bench_pii(per_entity: int, clean: list[str], rng: random.Random) -> dict[str, Any]:
    corpus = pii_corpus(per_entity, rng)
    texts = [t for t, _, _ in corpus]
    out: dict[str, Any] = {"texts": len(texts), "clean_texts": len(clean), "tools": {}}
    for name, make in (("clauseguard pii", _ours), ("presidio patterns", _presidio)):
        detect = make()
        seconds, found = timed(detect, texts)
        recall = {}
        for entity in ENTITIES:
            rows = [(hits, span) for (_, e, span), hits in zip(corpus, found, strict=True) if e == entity]
            hit = sum(any(h[0] == entity and _overlaps((h[1], h[2]), span) for h in hits) for hits, span in rows)
            recall[entity] = hit / len(rows)
        _, false = timed(detect, clean, repeat=1)
        out["tools"][name] = {"recall": recall, "seconds": seconds, "texts_per_s": len(texts) / seconds,
                              "detections_on_clean": sum(len(f) for f in false)}
    return out


# -- (c) pipeline latency --------------------------------------------------------------------------


def _two_kb_texts(pool: list[str], n: int, rng: random.Random) -> list[str]:
    texts = []
    for _ in range(n):
        parts: list[str] = []
        while sum(len(p) + 1 for p in parts) < 2048:
            parts.append(rng.choice(pool))
        texts.append(" ".join(parts)[:2048])
    return texts


def bench_pipeline(pool: list[str], runs: int, rng: random.Random) -> dict[str, Any]:
    from clauseguard.guards import Context, GuardSpec, Pipeline

    pipeline = Pipeline([
        GuardSpec(id="kw", type="keyword", stage="output", on_fail="redact"),
        GuardSpec(id="pii", type="pii", stage="output", on_fail="redact"),
        GuardSpec(id="rx", type="regex", stage="output", on_fail="flag", params={"patterns": [
            {"name": "ticket", "pattern": r"TICKET-\d{3,}"}, {"name": "url", "pattern": r"https?://\S+"}]}),
        GuardSpec(id="disc", type="disclaimer", stage="output", on_fail="disclaim",
                  params={"topics": ["medical", "legal", "financial", "elections"]}),
        GuardSpec(id="ai", type="ai_disclosure", stage="output", on_fail="label"),
    ])
    texts = _two_kb_texts(pool, runs, rng)
    for t in texts[:10]:  # warm-up: term lists, automata, regexes
        pipeline.check_output(t, Context())
    times = []
    for t in texts:
        start = time.perf_counter()
        pipeline.check_output(t, Context())
        times.append((time.perf_counter() - start) * 1000)
    times.sort()
    return {"runs": runs, "chars": 2048, "guards": [g.spec.type for g in pipeline.guards],
            "p50_ms": statistics.median(times), "p99_ms": times[min(len(times) - 1, int(0.99 * len(times)))],
            "mean_ms": statistics.fmean(times)}


# -- report ----------------------------------------------------------------------------------------


def _table(headers: list[str], rows: Iterable[list[Any]]) -> str:
    rows = [[f"{c:.3g}" if isinstance(c, float) else str(c) for c in r] for r in rows]
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(headers)]
    line = lambda cells: "  ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True))  # noqa: E731
    return "\n".join([line(headers), line(["-" * w for w in widths]), *(line(r) for r in rows)])


def report(results: dict[str, Any]) -> str:
    kw, pii, pipe = results["keyword"], results["pii"], results["pipeline"]
    parts = [f"(a) keyword: {kw['texts']} texts ({results['texts_source']}), {kw['terms']} terms",
             _table(["tool", "texts/s", "x ours", "flagged"],
                    [[n, round(t["texts_per_s"]), t["speed_vs_ours"], t["flagged"]] for n, t in kw["tools"].items()]),
             f"\n(b) PII: {pii['texts']} labelled texts; detections on {pii['clean_texts']} clean texts",
             _table(["tool", *ENTITIES, "texts/s", "on clean"],
                    [[n, *(t["recall"][e] for e in ENTITIES), round(t["texts_per_s"]), t["detections_on_clean"]]
                     for n, t in pii["tools"].items()]),
             f"\n(c) pipeline, output stage, {pipe['chars']}-char texts, {pipe['runs']} runs: "
             f"p50 {pipe['p50_ms']:.2f} ms, p99 {pipe['p99_ms']:.2f} ms, mean {pipe['mean_ms']:.2f} ms "
             f"({', '.join(pipe['guards'])})"]
    return "\n".join(parts)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--texts", type=int, default=2000, help="sentences for (a)")
    parser.add_argument("--per-entity", type=int, default=300, help="labelled texts per PII entity for (b)")
    parser.add_argument("--runs", type=int, default=500, help="2 KB texts for (c)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--json", action="store_true", help="print the JSON result instead of the table")
    parser.add_argument("--out", type=Path, default=RESULTS, help="where to write the results")
    args = parser.parse_args(argv)
    rng = random.Random(args.seed)
    texts, source = sentences(args.texts, rng)
    results = {
        "machine": {"python": platform.python_version(), "platform": platform.platform(),
                    "cpus": os.cpu_count()},
        "texts_source": source,
        "keyword": bench_keyword(texts),
        "pii": bench_pii(args.per_entity, texts, rng),
        "pipeline": bench_pipeline(texts, args.runs, rng),
    }
    print(json.dumps(results, indent=2) if args.json else report(results))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    print(f"\nwrote {args.out.relative_to(ROOT) if args.out.is_relative_to(ROOT) else args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
