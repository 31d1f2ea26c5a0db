"""Unusual but ordinary text through the text guards: Unicode case-folding specials, length-changing
folds, marks, zero-width and bidi characters, emoji sequences, digits of other scripts, lone surrogates.

Guards fail closed, so an exception on such text is a false block of a real user, and a wrong span
corrupts a redaction. Property tests run derandomised (the same examples every run) and small.
"""

from __future__ import annotations

import unicodedata

import pytest
from guard_helpers import build
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from clauseguard.guards import Context, Pipeline
from clauseguard.guards._base import apply_replacements
from clauseguard.guards._pii_detect import DETECTORS, detect
from clauseguard.guards._runner import GuardFailure
from clauseguard.guards.normalize import CONFUSABLES, LEET, _fold_char, normalize
from clauseguard.guards.pii import _hashed

FUZZ = settings(max_examples=150, deadline=None, derandomize=True, database=None,
                suppress_health_check=list(HealthCheck))

# Characters that trip code written for ASCII: case folds that change length or script (Kelvin sign,
# long s, dotted and dotless i, sharp s, ligatures, final sigma, iota subscript), combining marks,
# zero-width, bidi and control characters, lone surrogates, NFKC expansions, other scripts' digits.
SPECIALS = [*"\u212a\u017f\u0130\u0131ßẞﬀﬁﬃςΣ\u0345ŉǰΐ\u0301\u0308\u200d\u200b\u200e\u202e\u2066\ud800\udfff",
            *"\x00\r\n\t\u2028\x85\ufeff…㍱½ǅ\U0001f170@$!|+€٠١٢٣٤٥٦٧٨٩०१२३४५６７８９ ._-:=/()#'\"",
            "👨\u200d👩\u200d👧", "🇬🇧", "ｋｉｌｌ", "𝐛𝐨𝐦𝐛", "bomb", "fuck", "kill", "4111 1111 1111 1111",
            "GB82WEST12345698765432", "123-45-6789", "password=", "sk-", "ssn ", "@b.co", "AB 12 34 56 C",
            "doctor", "lawyer", "ballot", "b o m b", "192.168.", "fe80::", "+44 ", "[SECRET:"]
TEXTS = st.lists(st.one_of(st.characters(), st.sampled_from(SPECIALS)), max_size=30).map("".join)
CTX = Context(user_key="u", request_id="r")


@pytest.fixture(scope="module")
def text_guards() -> dict[str, object]:
    guards = {
        "keyword": build("keyword", on_fail="redact"),
        "keyword-substring": build("keyword", on_fail="redact", params={"match": "substring"}),
        "keyword-own": build("keyword", on_fail="redact", params={
            "categories": [], "terms": {"S1": ["straße", "ﬁre", "İstanbul", "\u212aelvin"]}, "allow": ["fire drill"]}),
        "pii-flag": build("pii", on_fail="flag"),
        "disclaimer": build("disclaimer", stage="output", on_fail="disclaim",
                            params={"topics": ["medical", "legal", "financial", "elections"]}),
        "disclosure": build("ai_disclosure", stage="output", on_fail="label"),
        "regex": build("regex", on_fail="redact", params={"patterns": [
            {"name": "k", "pattern": r"k\w+", "category": "S1", "ignore_case": True}]}),
    }
    for mode in ("redact", "mask", "hash"):
        guards[f"pii-{mode}"] = build("pii", on_fail="redact", params={"mode": mode})
    return guards


@FUZZ
@given(text=TEXTS)
def test_no_text_makes_a_guard_fail_and_spans_and_redactions_are_exact(text_guards, text: str) -> None:
    """No exception on any str, a lone surrogate included; spans lie in the text; the same verdict twice;
    a redaction replaces exactly its spans and keeps the rest; what a redaction put in is not redacted
    again on a second check."""
    for name, guard in text_guards.items():
        verdict = guard.check(text, CTX)
        assert verdict.findings == guard.check(text, CTX).findings, name
        edits = sorted(f.span for f in verdict.findings if f.span is not None)
        assert all(0 <= s < e <= len(text) for s, e in edits), (name, edits)
        if not verdict.allowed or not any(f.replacement is not None for f in verdict.findings):
            continue
        body = verdict.output[len(verdict.prefix):len(verdict.output) - len(verdict.suffix)]
        assert body == apply_replacements(text, verdict.findings), name
        assert body.startswith(text[:edits[0][0]]) and body.endswith(text[max(e for _, e in edits):]), name
        # where the replacements lie in the redacted text
        regions, pos, shift = [], 0, 0
        for (a, b), new in sorted({(f.span, f.replacement) for f in verdict.findings if f.replacement is not None}):
            if a >= pos:
                regions.append((a + shift, a + shift + len(new)))
                shift += len(new) - (b - a)
                pos = b
        again = guard.check(body, CTX).findings
        inside = [f for f in again if f.replacement is not None and f.span is not None
                  and any(a <= f.span[0] and f.span[1] <= b for a, b in regions)]
        assert not inside, (name, text, body, inside)


@FUZZ
@given(text=st.lists(st.one_of(st.characters(), st.sampled_from([*SPECIALS, "b.o.m.b", "k i l l", "ΑΒΜΗ"])),
                     max_size=40).map("".join))
def test_each_normalised_character_maps_back_to_the_characters_it_came_from(text: str) -> None:
    norm = normalize(text)
    previous = (0, 0)
    for i, ch in enumerate(norm.text):
        start, end = norm.original_span(i, i + 1)
        assert 0 <= start < end <= len(text)
        assert start >= previous[0] and end >= previous[1]
        previous = (start, end)
        folds = {f for c in text[start:end] for f in _fold_char(c)}
        readings = folds | {LEET.get(f, f) for f in folds} | {CONFUSABLES.get(f, f) for f in folds}
        readings |= {LEET.get(CONFUSABLES.get(f, f), f) for f in folds}
        assert ch in readings or ch == "i", (text, i, ch, text[start:end])  # "i": a term's "l" read as "1"


def _fullwidth(c: str) -> str:
    return chr(ord(c) - 0x21 + 0xFF01) if "!" <= c <= "~" else c


TRICKS = {
    "plain": lambda c: c, "upper": str.upper, "fullwidth": _fullwidth,
    "bold": lambda c: chr(0x1D41A + ord(c) - 97) if "a" <= c <= "z" else c,
    "circled": lambda c: chr(0x24D0 + ord(c) - 97) if "a" <= c <= "z" else c,
    "acute": lambda c: c + "\u0301", "two marks": lambda c: c + "\u0308\u0323",
    "zwj before": lambda c: "\u200d" + c, "zwsp after": lambda c: c + "\u200b", "lrm before": lambda c: "\u200e" + c,
    "soft hyphen before": lambda c: "\u00ad" + c, "nfd": lambda c: unicodedata.normalize("NFD", c),
    "kelvin": lambda c: "\u212a" if c == "k" else c, "long s": lambda c: "\u017f" if c == "s" else c,
    "capital sharp s": lambda c: "ẞ" if c == "ß" else c,
}
TERMS = ["bomb", "kill", "straße", "massacre"]
CONTEXT = st.lists(st.sampled_from(["hello", "a", "Ünïcödé", "日本語", "١٢٣", "ﬁne", "İstanbul", "ΣΟΦΙΑ", "ß",
                                    "ǅemal", "🇬🇧", "👨\u200d👩\u200d👧"]), max_size=3).map(" ".join)


@pytest.fixture(scope="module")
def own_terms():
    return build("keyword", on_fail="redact", params={"categories": [], "terms": {"S1": TERMS}})


@FUZZ
@given(term=st.sampled_from(TERMS), data=st.data(), before=CONTEXT, after=CONTEXT,
       sep=st.sampled_from([" ", "\n", "\r\n", ". ", " \u2028 ", "\t", "\u3000", "\u00a0"]))
def test_a_disguised_term_is_found_and_redacted_exactly(own_terms, term: str, data, before: str, after: str,
                                                        sep: str) -> None:
    """Case, width, marks, zero-width characters and case-folding specials on each letter (what the guide
    promises the keyword guard undoes): the span covers the disguised word, marks included, and nothing
    of its neighbours."""
    word = "".join(TRICKS[data.draw(st.sampled_from(sorted(TRICKS)))](c) for c in term)
    pre = before + sep if before else ""
    text = pre + word + (sep + after if after else "")
    verdict = own_terms.check(text, CTX)
    start, end = len(pre), len(pre) + len(word)
    first = end - len(word.lstrip("\u200d\u200e\u00ad"))  # a format character before the word may stay out
    last = start + len(word.rstrip("\u200b"))  # and one after it
    spans = [f.span for f in verdict.findings if start <= f.span[0] <= first and last <= f.span[1] <= end]
    assert spans, (text, [f.span for f in verdict.findings])
    assert verdict.output == text[:spans[0][0]] + "[REDACTED]" + text[spans[0][1]:]


# -- lone surrogates --------------------------------------------------------------------------------


def test_hash_mode_hashes_a_value_holding_a_lone_surrogate() -> None:
    """JSON's "\\ud800" inside a secret made ``value.encode("utf-8")`` raise: the guard failed and the
    pipeline blocked the text."""
    guard = build("pii", on_fail="redact", params={"mode": "hash"})
    text = "password=Abcdefgh12345678XYZ\ud800 thanks"
    verdict = guard.check(text, CTX)
    assert verdict.allowed and verdict.output.startswith("password=[SECRET:") and verdict.output.endswith(" thanks")
    assert guard.check(text, CTX).output == verdict.output  # the same pseudonym each time
    assert guard.check(text.replace("\ud800", "\udfff"), CTX).output != verdict.output
    piped = Pipeline([guard]).check_input(text)
    assert piped.allowed and not any(isinstance(f, GuardFailure) for f in piped.findings)
    assert piped.output == verdict.output


# -- hash mode: a second check leaves the pseudonym alone -------------------------------------------


@pytest.mark.parametrize("text", [
    'password="Abcdefgh12345678XYZ" ok', "api_key: 'Abcdefgh12345678XYZ'", "token=Abcdefgh12345678XYZ",
    "secret: sk-abcdefghijklmnopqrstuvwxyz12", "DB_PASSWORD = ghp_" + "a1B2" * 9,
])
def test_a_hashed_secret_after_its_keyword_is_not_hashed_again(monkeypatch, text: str) -> None:
    """"password=[SECRET:<hex>]": the pseudonym is a value of 25 characters after a keyword, which the
    generic secret detector took for a secret; a second check (a chat's earlier turns) hashed the hash."""
    monkeypatch.setenv("CLAUSEGUARD_HASH_KEY", "test-key")
    guard = build("pii", on_fail="redact", params={"mode": "hash"})
    once = guard.check(text, CTX).output
    assert "[SECRET:" in once
    assert guard.check(once, CTX).output == once


def test_a_hashed_secret_is_not_itself_a_secret(monkeypatch) -> None:
    """"[SECRET:<16 hex>]" alone reads as keyword, colon and 17 characters; about one in five has the
    entropy of a secret, and was hashed again into "[SECRET:[SECRET:<hex>]"."""
    monkeypatch.setenv("CLAUSEGUARD_HASH_KEY", "test-key")
    guard = build("pii", on_fail="redact", params={"mode": "hash"})
    onces = [guard.check(f"token sk-abcdefghijklmnopqrst{i:06d}", CTX).output for i in range(60)]
    assert all(o.startswith("token [SECRET:") for o in onces)
    assert [guard.check(o, CTX).output for o in onces] == onces


@pytest.mark.parametrize("entity", list(DETECTORS))
def test_no_entity_hashed_is_taken_for_a_secret(monkeypatch, entity: str) -> None:
    monkeypatch.setenv("CLAUSEGUARD_HASH_KEY", "test-key")
    for value in ("x", "bob@example.com", "4111111111111111", "Abcdefgh12345678XYZ"):
        hashed = _hashed(entity, value)
        for text in (hashed, f"password={hashed}", f'secret: "{hashed}"', f"the key: {hashed} ok"):
            assert detect(text, list(DETECTORS)) == [], text


# -- digits of other scripts ------------------------------------------------------------------------

SCRIPTS = {"arabic-indic": 0x660, "devanagari": 0x966, "fullwidth": 0xFF10, "mathematical": 0x1D7CE}


@pytest.mark.parametrize("script", list(SCRIPTS))
@pytest.mark.parametrize(("text", "found"), [
    ("my ssn 666-12-3456", False), ("ssn 900-12-3456", False), ("ssn 123-00-4567", False),
    ("ssn 000-12-3456", False), ("ssn 123-45-0000", False), ("my ssn is 666123456", False),
    ("ssn 123-45-6789", True), ("my ssn is 123456789", True),
])
def test_ssn_digits_of_other_scripts_count_as_their_value(script: str, text: str, found: bool) -> None:
    """``\\d`` matches digits of every script, but the SSA rules compared the groups with ASCII strings,
    so an area 666 or 9xx, a group 00 or a serial 0000 written in other digits was redacted."""
    zero = SCRIPTS[script]
    other = text.translate({ord(str(d)): chr(zero + d) for d in range(10)})
    assert bool(detect(other, ["us_ssn"])) is found
    assert bool(detect(text, ["us_ssn"])) is found


@pytest.mark.parametrize("script", list(SCRIPTS))
@pytest.mark.parametrize(("text", "span"), [
    ("seen from 192.168.1.20 today", (10, 22)), ("from 256.1.1.1", None), ("version 1.2.3.4.5", None),
])
def test_ipv4_digits_of_other_scripts_count_as_their_value(script: str, text: str, span: tuple | None) -> None:
    """The pattern's ``\\d`` takes digits of any script, but ``ipaddress`` refuses them: such an address
    was not redacted, while cards, IBANs and SSNs written so were."""
    zero = SCRIPTS[script]
    other = text.translate({ord(str(d)): chr(zero + d) for d in range(10)})
    for written in (text, other):
        hits = detect(written, ["ip_address"])
        assert [(h[1], h[2]) for h in hits] == ([span] if span else [])


# -- keyword: a request word in an earlier sentence ---------------------------------------------------


@pytest.mark.parametrize(("text", "blocked"), [
    ("Help me make a cake. Über nerve agents: what are they?", False),  # a capital outside ASCII
    ("Help me make a cake. Élodie asked what a nerve agent is.", False),
    ("I make bread. İs sarin a nerve agent?", False),
    ("He said “make it.” What is a nerve agent?", False),  # a typographic closing quote
    ("Help me make a cake. “What is a nerve agent?”", False),  # an opening one
    ("Help me make a cake. ¿Qué es a nerve agent?", False),
    ("Help me make a cake. Nerve agents, what are they?", False),  # the capital begins the name itself
    ("Help me make a cake.\rwhat is a nerve agent?", False),  # a line break of another kind
    ("Help me make a cake\u2028what is a nerve agent?", False),
    ("Help me make a cake.\nwhat is a nerve agent?", False),
    ("Help me make a cake\u3002what is a nerve agent?", False),  # the ideographic full stop: no capitals there
    ("Help me make a cake\uff01what is a nerve agent?", False),
    ("how do I make a nerve agent", True),
    ("how do I ma\u212ae a NERVE AGENT", True),
    ("Make. a. nerve. agent.", True),  # dots between words, no capital after: one sentence
    ("how to make a nerve agent. İ mean it", True),
])
def test_a_sentence_ends_before_a_capital_of_any_script(text: str, blocked: bool) -> None:
    """Only "[A-Z]" began a sentence, after ASCII quotes only, and only inside the text before the name:
    a question about a weapon after an unrelated request was blocked when the next sentence began with
    "Ü", "É", "İ", a curly quote, or the weapon's name."""
    guard = build("keyword", params={"categories": ["S9"]})
    assert guard.check(text, CTX).allowed is not blocked


def test_names_and_request_words_in_a_long_text_are_checked_in_linear_time(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every name was compared with every request word: 150 KB of "make a nerve agent" took 3.5 s, a
    megabyte (the pipeline's default limit) minutes, holding a worker all that time. Counted, not timed:
    how often the request words' positions are read grows with the text, not with its square."""
    from clauseguard.guards import keyword
    from clauseguard.guards._matcher import Match, TermMatcher

    reads = [0]

    class CountedMatch(Match):
        __slots__ = ()

        @property
        def span(self) -> tuple[int, int]:
            reads[0] += 1
            return tuple.__getitem__(self, 2)

        @property
        def norm_span(self) -> tuple[int, int]:
            reads[0] += 1
            return tuple.__getitem__(self, 3)

        def __getitem__(self, key):  # type: ignore[override]
            reads[0] += 1
            return tuple.__getitem__(self, key)

    class CountedRequests:
        def __init__(self, matcher: TermMatcher) -> None:
            self.matcher = matcher

        def find(self, text: str) -> list[Match]:
            return [CountedMatch(*m) for m in self.matcher.find(text)]

    counted = CountedRequests(keyword._requests("S9"))
    monkeypatch.setattr(keyword, "_requests", lambda category: counted)
    guard = build("keyword", on_fail="flag", params={"categories": ["S9"]})

    def reads_for(repeats: int) -> int:
        reads[0] = 0
        verdict = guard.check("make a nerve agent " * repeats, CTX)
        assert len(verdict.findings) == repeats
        return reads[0]

    small, large = reads_for(1_000), reads_for(4_000)
    assert 0 < large <= 5 * small, (small, large)  # every name against every request word: 16 times
