"""Token-bucket edges: a clock that steps back, a refill summed in pieces, the bound on kept keys."""

from __future__ import annotations

from clauseguard.guards import Context, GuardSpec
from clauseguard.guards.rate_limit import MemoryBucketStore, RateLimitGuard


def _guard(now: list[float], **params: object) -> RateLimitGuard:
    return RateLimitGuard(GuardSpec(id="rl", type="rate_limit", params=params), clock=lambda: now[0])


def test_clock_stepping_back_does_not_refill_twice() -> None:
    """A wall clock (or another process's, for a shared store) that steps back an hour and returns must
    not count the hour again: no time has passed, so the spent bucket stays spent."""
    now = [10_000.0]
    guard = _guard(now, capacity=2, refill_per_second=1.0)
    user = Context(user_key="u")
    assert [guard.check("x", user).allowed for _ in range(3)] == [True, True, False]
    now[0] -= 3600.0
    assert not guard.check("x", user).allowed
    now[0] += 3600.0
    assert not guard.check("x", user).allowed
    now[0] += 1.0  # one second later, one token
    assert [guard.check("x", user).allowed for _ in range(2)] == [True, False]


def test_token_due_exactly_when_checks_split_the_wait() -> None:
    """Denied checks every 0.1 s sum the refill in pieces (0.9999999999999998 of a token at 5 s for
    0.2/s); the request at the due time still gets its token."""
    store = MemoryBucketStore()
    assert store.take("k", capacity=1, refill_per_second=0.2, now=0.0)
    t = 0.1
    while t < 5.0 - 1e-9:
        assert not store.take("k", capacity=1, refill_per_second=0.2, now=t)
        t += 0.1
    assert store.take("k", capacity=1, refill_per_second=0.2, now=5.0)
    assert not store.take("k", capacity=1, refill_per_second=0.2, now=5.0)


def test_kept_keys_are_bounded_least_recently_used_first() -> None:
    store = MemoryBucketStore(max_keys=3)
    for key in ("a", "b", "c"):
        assert store.take(key, capacity=1, refill_per_second=1e-9, now=0.0)
    assert not store.take("a", capacity=1, refill_per_second=1e-9, now=0.0)  # "a" used again: now the newest
    assert store.take("d", capacity=1, refill_per_second=1e-9, now=0.0)  # drops "b", the least recently used
    assert list(store._buckets) == ["c", "a", "d"]
    assert not store.take("a", capacity=1, refill_per_second=1e-9, now=0.0)  # still spent


def test_a_spent_bucket_says_rate_limited_and_when_to_retry() -> None:
    """A rate-limited verdict had empty metadata and a finding of no category: a backend could answer 429 only
    by matching guard ids, and had no Retry-After to send."""
    now = [0.0]
    guard = _guard(now, capacity=1, refill_per_second=0.5)
    user = Context(user_key="u")
    assert dict(guard.check("x", user).metadata) == {}
    verdict = guard.check("x", user)
    assert not verdict.allowed
    assert dict(verdict.metadata) == {"rate_limited": True, "retry_after": 2}
    assert verdict.findings[0].message == ("Too many requests: rate limit of 1 requests (+0.5/s) reached; "
                                           "try again in 2 seconds.")
    now[0] += 2.0  # retry_after is enough: a token is back
    assert guard.check("x", user).allowed


def test_retry_after_is_the_wait_for_one_token_rounded_up() -> None:
    assert [_guard([0.0], refill_per_second=r).retry_after for r in (0.5, 1.0, 1 / 3, 10.0, 0.001)] == \
        [2, 1, 3, 1, 1000]


def test_a_flagging_rate_limit_lets_through_with_the_same_metadata() -> None:
    guard = RateLimitGuard(GuardSpec(id="rl", type="rate_limit", on_fail="flag", message="Slow down.",
                                     params={"capacity": 1, "refill_per_second": 1.0}), clock=lambda: 0.0)
    guard.check("x", Context(user_key="u"))
    verdict = guard.check("x", Context(user_key="u"))
    assert verdict.allowed and verdict.action.value == "flag"
    assert dict(verdict.metadata) == {"rate_limited": True, "retry_after": 1}
    assert verdict.findings[0].message == "Slow down."  # a message of guards.yaml is used as it is


def test_the_pipeline_verdict_carries_the_rate_limit_metadata() -> None:
    from clauseguard.guards.pipeline import Pipeline

    pipeline = Pipeline([GuardSpec(id="rl", type="rate_limit", params={"capacity": 1}),
                         GuardSpec(id="kw", type="keyword", params={"terms": {"S9": ["detonator"]}})])
    pipeline.check_input("hello", Context(user_key="u"))
    verdict = pipeline.check_input("hello", Context(user_key="u"))
    assert not verdict.allowed and verdict.metadata["rate_limited"] is True and verdict.metadata["retry_after"] == 2
    assert verdict.to_dict()["metadata"] == {"rate_limited": True, "retry_after": 2}


def test_a_flagging_rate_limit_does_not_tell_the_user_to_wait() -> None:
    """With on_fail: flag the request goes on, yet the default message said "Too many requests: ... try again
    in 2 seconds"; it now says the limit was passed and the request flagged, as the generated message does."""
    spec = GuardSpec(id="rl", type="rate_limit", on_fail="flag", params={"capacity": 1, "refill_per_second": 0.5})
    guard = RateLimitGuard(spec, clock=lambda: 0.0)
    user = Context(user_key="u")
    guard.check("x", user)
    verdict = guard.check("x", user)
    assert verdict.allowed and dict(verdict.metadata) == {"rate_limited": True, "retry_after": 2}
    assert verdict.findings[0].message == "Over the rate limit: rate limit of 1 requests (+0.5/s) reached; flagged."
    blocking = _guard([0.0], capacity=1, refill_per_second=0.5)
    blocking.check("x", user)
    assert blocking.check("x", user).findings[0].message == ("Too many requests: rate limit of 1 requests (+0.5/s) "
                                                             "reached; try again in 2 seconds.")


def test_a_hand_written_rate_limit_without_a_message_says_when_to_try_again() -> None:
    """guards.yaml gave a blocking guard without clauses or message "Blocked by guard rl.", which hid the rate
    limit's own message (how long to wait) from a file written by hand."""
    from clauseguard.guards import Pipeline
    from clauseguard.guards.config import parse_guards

    pipeline = Pipeline(parse_guards("guards:\n  - {id: rl, type: rate_limit, stage: input, params: "
                                     "{capacity: 1, refill_per_second: 0.5}}\n"))
    pipeline.check_input("one", Context(user_key="u"))
    verdict = pipeline.check_input("two", Context(user_key="u"))
    assert not verdict.allowed and verdict.metadata["retry_after"] == 2
    assert verdict.findings[0].message.startswith("Too many requests: rate limit of 1 requests (+0.5/s) reached; "
                                                  "try again in 2 seconds")
    (keyword,) = parse_guards("guards:\n  - {id: kw, type: keyword}\n")
    assert keyword.message == "Blocked by guard kw."  # other guards keep the filler
