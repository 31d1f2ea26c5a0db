"""Notices and takedowns: intake per regime, deadlines and queue, statements of reasons, DMCA timers
and strikes, complaints, transparency."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from clauseguard.guards.records import (
    NoticeError,
    RecordStore,
    decide,
    file_complaint,
    file_counter_notice,
    file_notice,
    get_notice,
    mark_restored,
    notice_queue,
    parse_notice,
    repeat_infringer_status,
    report_court_action,
    resolve_complaint,
    restore_due,
    restore_window,
    transparency_report,
)
from clauseguard.guards.records.business_days import add_business_days, us_federal_holidays

# what a restriction's statement of reasons needs besides its ground (DSA Art. 17(3)(a), (d)-(e))
SOR = {"explanation": "the material copies the notifier's work", "territorial_scope": "worldwide",
       "duration": "indefinite"}
NEW_YORK = ZoneInfo("America/New_York")
T0 = datetime(2025, 11, 21, 15, 0, tzinfo=UTC)  # a Friday before Thanksgiving week
CONTACT = {"name": "Ann Owner", "email": "ann@example.org"}
VALID: dict[str, dict[str, Any]] = {
    "dsa": {"regime": "dsa", "explanation": "defamatory claims", "urls": ["https://pixel.example/i/1"],
            "notifier_name": "Ann", "notifier_email": "ann@example.org", "good_faith_statement": True},
    "dmca": {"regime": "dmca", "signature": "/Ann Owner/", "copyrighted_work": "Photo 'Dawn'",
             "infringing_material": "a copy of Dawn", "urls": ["https://pixel.example/i/2"], "contact": CONTACT,
             "good_faith_statement": True, "accuracy_statement": True, "authority_under_penalty_of_perjury": True},
    "take_it_down": {"regime": "take_it_down", "signature": "/B. Person/", "depiction": "image of me",
                     "urls": ["https://pixel.example/i/3"], "non_consent_statement": True, "contact": CONTACT},
}
COUNTER = {"signature": "/Up Loader/", "removed_material": "Dawn remix", "former_location": "https://pixel.example/i/2",
           "mistake_statement_under_penalty_of_perjury": True, "name": "Up Loader", "address": "1 Main St, Town",
           "phone": "+1 555 0100", "consent_to_jurisdiction": True, "accepts_service_of_process": True}


def _without(regime: str, key: str, **changes: Any) -> dict[str, Any]:
    data = {k: v for k, v in VALID[regime].items() if k != key}
    return {**data, **changes}


@pytest.mark.parametrize(("data", "field"), [
    (_without("dsa", "explanation"), "explanation"),
    (_without("dsa", "urls"), "urls"),
    (_without("dsa", "urls", urls=[]), "urls"),
    (_without("dsa", "notifier_email"), "notifier_email"),
    (_without("dsa", "notifier_name"), "notifier_name"),
    (_without("dsa", "good_faith_statement", good_faith_statement=False), "good_faith_statement"),
    (_without("dmca", "signature"), "signature"),
    (_without("dmca", "copyrighted_work"), "copyrighted_work"),
    (_without("dmca", "infringing_material"), "infringing_material"),
    (_without("dmca", "urls"), "urls"),
    (_without("dmca", "contact"), "contact"),
    (_without("dmca", "contact", contact={"name": "A"}), "contact"),
    (_without("dmca", "good_faith_statement"), "good_faith_statement"),
    (_without("dmca", "accuracy_statement", accuracy_statement=False), "accuracy_statement"),
    (_without("dmca", "authority_under_penalty_of_perjury"), "authority_under_penalty_of_perjury"),
    (_without("take_it_down", "signature"), "signature"),
    (_without("take_it_down", "depiction"), "depiction"),
    (_without("take_it_down", "urls"), "urls"),
    (_without("take_it_down", "non_consent_statement"), "non_consent_statement"),
    (_without("take_it_down", "contact"), "contact"),
    ({"regime": "gdpr"}, "regime"),
])
def test_missing_element_is_named(data: dict[str, Any], field: str) -> None:
    with pytest.raises(NoticeError) as info:
        parse_notice(data)
    assert field in info.value.fields and field in str(info.value)


def test_dsa_identity_optional_only_for_child_sexual_abuse() -> None:
    data = _without("dsa", "notifier_name", notifier_email=None, concerns_child_sexual_abuse=True)
    assert parse_notice(data).notifier_name is None


@pytest.mark.parametrize(("regime", "hours", "legal"), [("dsa", 72, False), ("dmca", 24, False),
                                                         ("take_it_down", 48, True)])
def test_acknowledgement_deadlines(store: RecordStore, regime: str, hours: int, legal: bool) -> None:
    ack = file_notice(store, VALID[regime], received_at=T0)
    assert (ack.deadline - ack.received_at, ack.deadline_is_legal) == (timedelta(hours=hours), legal)
    assert ack.reference.startswith({"dsa": "DSA-", "dmca": "DMCA-", "take_it_down": "TID-"}[regime])
    assert get_notice(store, ack.reference).payload == parse_notice(VALID[regime]).model_dump(mode="json")


@pytest.mark.parametrize(("regime", "target", "hours", "legal"), [
    ("dsa", timedelta(hours=12), 12, False),
    ("dmca", timedelta(hours=36), 36, False),
    ("take_it_down", timedelta(days=30), 48, True),  # the law cannot be lengthened
    ("take_it_down", timedelta(hours=12), 12, False),  # but the operator may be faster
    ("take_it_down", timedelta(hours=48), 48, True),
])
def test_targets_are_configurable_but_the_law_is_not(store: RecordStore, regime: str, target: timedelta, hours: int,
                                                     legal: bool) -> None:
    ack = file_notice(store, VALID[regime], received_at=T0, targets={regime: target})
    assert (ack.deadline, ack.deadline_is_legal) == (T0 + timedelta(hours=hours), legal)


@pytest.mark.parametrize(("targets", "words"), [
    ({"DMCA": timedelta(hours=1)}, "unknown regime 'DMCA'; known: dsa, dmca, take_it_down"),
    ({"takedown": timedelta(hours=1)}, "unknown regime 'takedown'"),
    ({"dsa": 24}, "positive timedelta"),
    ({"dsa": timedelta(0)}, "positive timedelta"),
])
def test_bad_targets_are_refused(store: RecordStore, targets: dict[str, Any], words: str) -> None:
    with pytest.raises(NoticeError, match=words) as info:
        file_notice(store, VALID["dmca"], received_at=T0, targets=targets)
    assert info.value.fields == ("targets",)
    assert notice_queue(store) == []


def test_queue_is_ordered_by_deadline(store: RecordStore) -> None:
    refs = {r: file_notice(store, VALID[r], received_at=T0).reference for r in ("dsa", "take_it_down", "dmca")}
    assert [n.reference for n in notice_queue(store)] == [refs["dmca"], refs["take_it_down"], refs["dsa"]]


def test_statement_of_reasons_cites_clause_and_section(store: RecordStore, generated: dict[str, Any]) -> None:
    report = json.loads(generated["report"].read_text())
    ack = file_notice(store, VALID["dsa"], received_at=T0)
    sor = decide(store, notice_reference=ack.reference, restriction="removal", facts="Notice DSA under Art. 16",
                 automated_detection=True, automated_decision=False, clause_id="content/sexual-content",
                 report=generated["report"], legal_ground=None, **{**SOR, "territorial_scope": "EU"})
    ground = sor.to_dict()["contractual_ground"]
    clause = next(c for c in report["clauses"] if c["id"] == "content/sexual-content")
    doc = ground["document_id"]
    assert ground["section_number"] == clause["sections"][doc]
    assert ground["clause_id"] == "content/sexual-content" and ground["section_title"]
    assert f'section {clause["sections"][doc]} ("{clause["title"]}")' in ground["citation"]
    assert {r["kind"] for r in sor.redress} == {"internal_complaint", "out_of_court_settlement", "court"}
    assert sor.to_dict()["automated_means"] == {"detection": True, "decision": False}
    assert get_notice(store, ack.reference).status == "actioned"


@pytest.mark.parametrize(("kwargs", "field"), [
    ({"restriction": "removal", "facts": "x"}, "legal_ground"),
    ({"restriction": "removal", "facts": " ", "legal_ground": "x"}, "facts"),
    ({"restriction": "removal", "facts": "x", "clause_id": "content/sexual-content"}, "report"),
    ({"restriction": "removal", "facts": "x", "legal_ground": "x", "notice_reference": "DSA-NONE", **SOR},
     "notice_reference"),
    ({"restriction": "removal", "facts": "x", "legal_ground": "x", **SOR, "explanation": " "}, "explanation"),
    ({"restriction": "removal", "facts": "x", "legal_ground": "x", **SOR, "territorial_scope": None},
     "territorial_scope"),
    ({"restriction": "demotion", "facts": "x", "legal_ground": "x", **SOR, "duration": ""}, "duration"),
    # was a bare ValueError ("'delete' is not a valid Restriction") naming no field
    ({"restriction": "delete", "facts": "x", "legal_ground": "x", **SOR}, "restriction"),
])
def test_decision_needs_its_elements(store: RecordStore, kwargs: dict[str, Any], field: str) -> None:
    with pytest.raises(NoticeError) as info:
        decide(store, automated_detection=False, automated_decision=False, **kwargs)
    assert field in info.value.fields
    if field == "restriction":
        assert "'delete'" in str(info.value) and "removal" in str(info.value) and "none" in str(info.value)


@pytest.mark.parametrize("missing", ["explanation", "territorial_scope", "duration"])
def test_a_restriction_without_scope_duration_or_explanation_is_refused(store: RecordStore, missing: str) -> None:
    """A removal was stored with no explanation, territorial scope or duration, all of which DSA Art.
    17(3)(a), (d) and (e) require in its statement of reasons."""
    ack = file_notice(store, VALID["dmca"], received_at=T0)
    elements = {k: v for k, v in SOR.items() if k != missing}
    with pytest.raises(NoticeError, match=missing) as info:
        decide(store, notice_reference=ack.reference, restriction="removal", facts="notice received",
               legal_ground="17 U.S.C. §512(c)", automated_detection=False, automated_decision=False, **elements)
    assert info.value.fields == (missing,)
    assert get_notice(store, ack.reference).status == "open"  # nothing was decided


def test_no_action_needs_no_scope_and_offers_no_counter_notice(store: RecordStore) -> None:
    """restriction="none" on a DMCA notice offered a counter-notification, which file_counter_notice then
    refuses: nothing was taken down. An indefinite restriction says so in its duration."""
    ack = file_notice(store, VALID["dmca"], received_at=T0)
    sor = decide(store, notice_reference=ack.reference, restriction="none", facts="not infringing",
                 automated_detection=False, automated_decision=False)
    assert [r["kind"] for r in sor.redress] == ["internal_complaint", "out_of_court_settlement", "court"]
    ack2 = file_notice(store, VALID["dmca"], received_at=T0)
    taken = decide(store, notice_reference=ack2.reference, restriction="removal", facts="f", legal_ground="§512(c)",
                   automated_detection=False, automated_decision=False, **SOR)
    assert [r["kind"] for r in taken.redress][-1] == "dmca_counter_notice"
    assert taken.to_dict()["duration"] == "indefinite"


def test_unknown_clause_is_an_error(store: RecordStore, generated: dict[str, Any]) -> None:
    with pytest.raises(Exception, match="not in the generated documents"):
        decide(store, restriction="removal", facts="x", automated_detection=False, automated_decision=False,
               clause_id="content/no-such-clause", report=generated["report"], **SOR)


@pytest.mark.parametrize(("received", "not_before", "not_after"), [
    # Fri 21 Nov 2025: Thanksgiving (27 Nov) is skipped; 10th business day Mon 8 Dec, 14th Fri 12 Dec
    (T0, date(2025, 12, 9), date(2025, 12, 13)),
    # Mon 1 Dec 2025 late evening UTC: 10th business day Mon 15 Dec, 14th Fri 19 Dec
    (datetime(2025, 12, 1, 23, 59, tzinfo=UTC), date(2025, 12, 16), date(2025, 12, 20)),
    # Fri 19 Dec 2025: Christmas and New Year's Day skipped: 10th 6 Jan 2026, 14th 12 Jan 2026
    (datetime(2025, 12, 19, 9, tzinfo=UTC), date(2026, 1, 7), date(2026, 1, 13)),
])
def test_restore_window_in_business_days(received: datetime, not_before: date, not_after: date) -> None:
    lo, hi = restore_window(received)
    assert (lo, hi) == (datetime.combine(not_before, datetime.min.time(), NEW_YORK),
                        datetime.combine(not_after, datetime.min.time(), NEW_YORK))


@pytest.mark.parametrize(("received", "tz", "not_before"), [
    # Mon 1 Mar 2027 10:00 in New York: the 10th business day is Mon 15 Mar, which ends at midnight there
    # (04:00 UTC, daylight saving from 14 Mar); on UTC dates the window opened at 20:00 New York time
    (datetime(2027, 3, 1, 10, tzinfo=NEW_YORK), "America/New_York", datetime(2027, 3, 16, 4, tzinfo=UTC)),
    (datetime(2027, 3, 1, 10, tzinfo=NEW_YORK), "America/Los_Angeles", datetime(2027, 3, 16, 7, tzinfo=UTC)),
    # received Sunday evening in New York (already Monday in UTC): the day of receipt is the Sunday
    (datetime(2027, 3, 1, 2, tzinfo=UTC), "America/New_York", datetime(2027, 3, 13, 5, tzinfo=UTC)),
])
def test_restore_window_ends_days_in_a_us_time_zone(received: datetime, tz: str, not_before: datetime) -> None:
    """The window was counted on UTC dates: it opened hours before 10 business days had passed in the US."""
    assert restore_window(received, tz=tz)[0] == not_before


def test_an_unknown_time_zone_is_named() -> None:
    with pytest.raises(NoticeError, match="Mars/Olympus") as info:
        restore_window(T0, tz="Mars/Olympus")
    assert info.value.fields == ("tz",)


@pytest.mark.parametrize(("year", "day"), [(2021, date(2021, 12, 31)), (2026, date(2026, 7, 3)),
                                           (2025, date(2025, 11, 27)), (2025, date(2025, 1, 20))])
def test_observed_federal_holidays(year: int, day: date) -> None:
    assert day in us_federal_holidays(year)
    assert add_business_days(day - timedelta(days=1), 1) != day


def test_counter_notice_restore_and_court_action(store: RecordStore) -> None:
    ack = file_notice(store, VALID["dmca"], received_at=T0, uploader_key="user:k2:" + "1" * 64)
    decide(store, notice_reference=ack.reference, restriction="removal", facts="DMCA notice",
           automated_detection=False, automated_decision=False, legal_ground="17 U.S.C. §512(c)", decided_at=T0, **SOR)
    assert repeat_infringer_status(store, "user:k2:" + "1" * 64, now=T0).strikes == 1
    cn = file_counter_notice(store, ack.reference, COUNTER, received_at=T0 + timedelta(days=1))
    assert restore_due(store, now=cn.restore_not_before - timedelta(seconds=1)) == []
    with pytest.raises(NoticeError):
        mark_restored(store, cn.reference, at=cn.restore_not_before - timedelta(hours=1))
    assert [c.reference for c in restore_due(store, now=cn.restore_not_before)] == [cn.reference]
    mark_restored(store, cn.reference, at=cn.restore_not_before)
    assert repeat_infringer_status(store, "user:k2:" + "1" * 64, now=T0).strikes == 0  # withdrawn
    ack2 = file_notice(store, VALID["dmca"], received_at=T0)
    _take_down(store, ack2.reference)
    cn2 = file_counter_notice(store, ack2.reference, COUNTER, received_at=T0)
    report_court_action(store, cn2.reference, at=T0 + timedelta(days=2))
    assert restore_due(store, now=cn2.restore_not_after) == []


def _take_down(store: RecordStore, reference: str, restriction: str = "removal") -> None:
    decide(store, notice_reference=reference, restriction=restriction, facts="DMCA notice", legal_ground="§512(c)",
           automated_detection=False, automated_decision=False, decided_at=T0, **SOR)


def _countered(store: RecordStore) -> str:
    """A DMCA notice taken down and counter-noticed; returns the counter-notice reference."""
    ack = file_notice(store, VALID["dmca"], received_at=T0, uploader_key="user:k2:" + "3" * 64)
    _take_down(store, ack.reference)
    return file_counter_notice(store, ack.reference, COUNTER, received_at=T0).reference


def _restored(store: RecordStore) -> str:
    ref = _countered(store)
    mark_restored(store, ref, at=T0 + timedelta(days=30))
    return ref


def _decided_notice(store: RecordStore, restriction: str | None) -> str:
    ack = file_notice(store, VALID["dmca"], received_at=T0, uploader_key="user:k2:" + "3" * 64)
    if restriction is not None:
        _take_down(store, ack.reference, restriction)
    return ack.reference


# what the process does not allow: (what, setup returning a reference, refused call, field named)
REFUSED: list[tuple[str, Any, Any, str]] = [
    ("counter-notice on an open notice", lambda s: _decided_notice(s, None),
     lambda s, ref: file_counter_notice(s, ref, COUNTER), "notice_reference"),
    ("counter-notice on a rejected notice", lambda s: _decided_notice(s, "none"),
     lambda s, ref: file_counter_notice(s, ref, COUNTER), "notice_reference"),
    ("second counter-notice", lambda s: _decided_notice(s, "removal"),
     lambda s, ref: [file_counter_notice(s, ref, COUNTER) for _ in range(2)], "notice_reference"),
    ("second decision", lambda s: _decided_notice(s, "removal"), lambda s, ref: _take_down(s, ref),
     "notice_reference"),
    ("'none' after a takedown", lambda s: _decided_notice(s, "removal"), lambda s, ref: _take_down(s, ref, "none"),
     "notice_reference"),
    ("decision on a rejected notice", lambda s: _decided_notice(s, "none"), lambda s, ref: _take_down(s, ref),
     "notice_reference"),
    ("restored twice", _restored, lambda s, ref: mark_restored(s, ref, at=T0 + timedelta(days=31)),
     "counter_reference"),
    ("court action after restoration", _restored,
     lambda s, ref: report_court_action(s, ref, at=T0 + timedelta(days=31)), "counter_reference"),
    ("court action reported twice", _countered,
     lambda s, ref: [report_court_action(s, ref, at=T0 + timedelta(days=d)) for d in (1, 2)], "counter_reference"),
    ("court action before the counter-notice", _countered,
     lambda s, ref: report_court_action(s, ref, at=T0 - timedelta(days=1)), "at"),
    # each of these was accepted: a decision, counter-notice or outcome dated before what it answers
    ("decision before the notice", lambda s: _decided_notice(s, None),
     lambda s, ref: decide(s, notice_reference=ref, restriction="removal", facts="f", legal_ground="§512(c)",
                           automated_detection=False, automated_decision=False, decided_at=T0 - timedelta(days=3),
                           **SOR), "decided_at"),
    ("counter-notice before the notice", lambda s: _decided_notice(s, "removal"),
     lambda s, ref: file_counter_notice(s, ref, COUNTER, received_at=T0 - timedelta(days=30)), "received_at"),
    ("counter-notice before the takedown", lambda s: _late_takedown(s),
     lambda s, ref: file_counter_notice(s, ref, COUNTER, received_at=T0 + timedelta(hours=1)), "received_at"),
    ("complaint resolved before it was received", lambda s: _complaint(s),
     lambda s, ref: resolve_complaint(s, ref, "upheld", "reasons", at=T0), "at"),
]


def _late_takedown(store: RecordStore) -> str:
    """A notice received at T0 and taken down two hours later."""
    ack = file_notice(store, VALID["dmca"], received_at=T0)
    decide(store, notice_reference=ack.reference, restriction="removal", facts="f", legal_ground="§512(c)",
           automated_detection=False, automated_decision=False, decided_at=T0 + timedelta(hours=2), **SOR)
    return ack.reference


@pytest.mark.parametrize(("what", "setup", "call", "field"), REFUSED, ids=[r[0] for r in REFUSED])
def test_transitions_the_process_does_not_allow_are_refused(store: RecordStore, what: str, setup: Any, call: Any,
                                                            field: str) -> None:
    ref = setup(store)
    with pytest.raises(NoticeError) as info:
        call(store, ref)
    assert info.value.fields == (field,)


def test_one_notice_gives_one_strike_and_stays_queued_until_decided(store: RecordStore) -> None:
    uploader = "user:k2:" + "3" * 64
    ref = _decided_notice(store, None)
    with pytest.raises(NoticeError):
        file_counter_notice(store, ref, COUNTER)
    assert [n.reference for n in notice_queue(store)] == [ref]  # still waiting for its decision
    _take_down(store, ref)
    for restriction in ("removal", "none"):
        with pytest.raises(NoticeError):
            _take_down(store, ref, restriction)
    assert repeat_infringer_status(store, uploader, threshold=1, now=T0).strikes == 1
    assert get_notice(store, ref).status == "actioned"



def _complaint(store: RecordStore) -> str:
    sor = decide(store, restriction="removal", facts="x", legal_ground="y", automated_detection=True,
                 automated_decision=True, decided_at=T0, **SOR)
    return file_complaint(store, sor.reference, "wrong", received_at=T0 + timedelta(days=1))


# transitions that must happen once, even when two moderators (or two workers) try them at the same moment
ONCE: list[tuple[str, Any, Any]] = [
    ("decision", lambda s: _decided_notice(s, None), _take_down),
    ("counter-notice", lambda s: _decided_notice(s, "removal"), lambda s, ref: file_counter_notice(s, ref, COUNTER)),
    ("court action", _countered, lambda s, ref: report_court_action(s, ref, at=T0 + timedelta(days=1))),
    ("restoration", _countered, lambda s, ref: mark_restored(s, ref, at=T0 + timedelta(days=30))),
    ("complaint outcome", _complaint, lambda s, ref: resolve_complaint(s, ref, "upheld", "reasons")),
]


@pytest.mark.parametrize(("what", "setup", "call"), ONCE, ids=[o[0] for o in ONCE])
def test_two_concurrent_transitions_of_one_record_give_exactly_one(store: RecordStore, what: str, setup: Any,
                                                                   call: Any) -> None:
    """On PostgreSQL both transactions read the notice as "open" (no row lock), both passed the check and
    both wrote: one notice got two decisions and two strikes, two counter-notices, two restorations."""
    import contextlib
    import threading

    from sqlalchemy import event

    ref = setup(store)
    barrier, paused = threading.Barrier(2, timeout=1), threading.local()

    def pause_after_first_read(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        # each thread waits, after its first read, until the other has read too (or 1 s has passed, when
        # the other is blocked by a lock): without a lock both then act on what they read
        if statement.lstrip().upper().startswith("SELECT") and "FROM" in statement.upper() \
                and not getattr(paused, "done", False):
            paused.done = True
            with contextlib.suppress(threading.BrokenBarrierError):
                barrier.wait()

    outcomes: list[str] = []

    def attempt() -> None:
        try:
            call(store, ref)
            outcomes.append("done")
        except NoticeError:
            outcomes.append("refused")

    event.listen(store.engine, "after_cursor_execute", pause_after_first_read)
    try:
        threads = [threading.Thread(target=attempt) for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)
    finally:
        event.remove(store.engine, "after_cursor_execute", pause_after_first_read)
    assert sorted(outcomes) == ["done", "refused"], what
    if what == "decision":
        assert transparency_report(store)["decisions"]["total"] == 1
        assert repeat_infringer_status(store, "user:k2:" + "3" * 64, threshold=1, now=T0).strikes == 1


@pytest.mark.parametrize("missing", ["signature", "former_location", "phone", "consent_to_jurisdiction",
                                     "accepts_service_of_process", "mistake_statement_under_penalty_of_perjury"])
def test_counter_notice_elements(store: RecordStore, missing: str) -> None:
    ack = file_notice(store, VALID["dmca"], received_at=T0)
    with pytest.raises(NoticeError) as info:
        file_counter_notice(store, ack.reference, {k: v for k, v in COUNTER.items() if k != missing})
    assert missing in info.value.fields


@pytest.mark.parametrize(("days_apart", "threshold", "terminate"), [
    ([0, 10, 20], 3, True), ([0, 10], 3, False), ([0, 200, 400], 3, False), ([0, 1], 2, True)])
def test_repeat_infringer_threshold(store: RecordStore, days_apart: list[int], threshold: int,
                                    terminate: bool) -> None:
    from clauseguard.guards.records import record_strike

    for d in days_apart:
        record_strike(store, "user:k2:" + "2" * 64, at=T0 + timedelta(days=d))
    now = T0 + timedelta(days=max(days_apart))
    assert repeat_infringer_status(store, "user:k2:" + "2" * 64, threshold=threshold, now=now).terminate is terminate


@pytest.mark.parametrize(("delay", "accepted"), [(timedelta(days=1), True), (timedelta(days=181), True),
                                                 (timedelta(days=181, seconds=1), False),
                                                 (timedelta(days=185), False)])
def test_complaint_window_six_months(  # decided 31 Jan: the window ends 31 Jul (181 days)
    store: RecordStore, delay: timedelta, accepted: bool) -> None:
    sor = decide(store, restriction="account_suspension", facts="x", legal_ground="y", automated_detection=True,
                 automated_decision=True, decided_at=datetime(2025, 1, 31, tzinfo=UTC), **SOR)
    received = sor.decided_at + delay
    if accepted:
        ref = file_complaint(store, sor.reference, "I did nothing wrong", received_at=received)
        resolve_complaint(store, ref, "reversed", "the classifier was wrong")
        with pytest.raises(NoticeError, match="already resolved"):
            resolve_complaint(store, ref, "upheld", "again")
    else:
        with pytest.raises(NoticeError, match="6 months"):
            file_complaint(store, sor.reference, "late", received_at=received)


@pytest.mark.parametrize("how", ["decide", "record_informed"])
def test_complaint_window_counts_from_when_the_recipient_was_informed(store: RecordStore, how: str) -> None:
    """The six months of DSA Art. 20(1) were counted from decided_at, not (Art. 20(2)) from when the
    recipient was informed: a user told three days after the decision had a complaint refused 180 days
    after being told."""
    from clauseguard.guards.records import record_informed

    decided, informed = datetime(2027, 1, 1, 23, tzinfo=UTC), datetime(2027, 1, 4, 9, tzinfo=UTC)
    sor = decide(store, restriction="removal", facts="f", legal_ground="x", automated_detection=True,
                 automated_decision=False, decided_at=decided, **SOR,
                 **({"informed_at": informed} if how == "decide" else {}))
    if how == "record_informed":
        record_informed(store, sor.reference, at=informed)
        with pytest.raises(NoticeError, match="already records") as again:
            record_informed(store, sor.reference, at=informed + timedelta(days=1))
        assert again.value.fields == ("decision_reference",)
    assert file_complaint(store, sor.reference, "wrong", received_at=informed + timedelta(days=180))
    assert file_complaint(store, sor.reference, "wrong", received_at=datetime(2027, 7, 4, 9, tzinfo=UTC))
    with pytest.raises(NoticeError, match="recipient informed 2027-01-04"):
        file_complaint(store, sor.reference, "late", received_at=datetime(2027, 7, 4, 9, 1, tzinfo=UTC))


def test_informed_before_the_decision_is_refused(store: RecordStore) -> None:
    from clauseguard.guards.records import record_informed

    with pytest.raises(NoticeError) as info:
        decide(store, restriction="removal", facts="f", legal_ground="x", automated_detection=True,
               automated_decision=False, decided_at=T0, informed_at=T0 - timedelta(seconds=1), **SOR)
    assert info.value.fields == ("informed_at",)
    sor = decide(store, restriction="removal", facts="f", legal_ground="x", automated_detection=True,
                 automated_decision=False, decided_at=T0, **SOR)
    with pytest.raises(NoticeError) as info:
        record_informed(store, sor.reference, at=T0 - timedelta(days=1))
    assert info.value.fields == ("at",)


def test_repeat_infringer_window_is_twelve_calendar_months(store: RecordStore) -> None:
    """The window was 365 days while the policy says 12 months: across 29 February 2028 a strike made
    on 1 March 2027 at noon was no longer counted on 29 February 2028 at 18:00."""
    from clauseguard.guards.records import record_strike

    key = "user:k2:" + "b" * 64
    for at in (datetime(2027, 3, 1, 12, tzinfo=UTC), datetime(2027, 9, 1, tzinfo=UTC),
               datetime(2028, 2, 29, 12, tzinfo=UTC)):
        record_strike(store, key, at=at)
    status = repeat_infringer_status(store, key, now=datetime(2028, 2, 29, 18, tzinfo=UTC))
    assert (status.strikes, status.terminate, status.since) == (3, True, datetime(2027, 2, 28, 18, tzinfo=UTC))
    later = repeat_infringer_status(store, key, now=datetime(2028, 3, 1, 12, tzinfo=UTC))
    assert later.strikes == 2  # 1 March 2027 12:00 is exactly 12 months back: no longer counted
    assert repeat_infringer_status(store, key, window=timedelta(days=1), now=datetime(2028, 3, 1, tzinfo=UTC)
                                   ).strikes == 1  # an explicit timedelta still works


@pytest.mark.parametrize(("outcome", "strikes"), [("reversed", 0), ("upheld", 1), ("rejected", 1)])
def test_a_reversed_takedown_withdraws_its_strike(store: RecordStore, outcome: str, strikes: int) -> None:
    uploader = "user:k2:" + "3" * 64
    ack = file_notice(store, VALID["dmca"], received_at=T0, uploader_key=uploader)
    sor = decide(store, notice_reference=ack.reference, restriction="removal", facts="DMCA notice",
                 legal_ground="§512(c)", automated_detection=False, automated_decision=False, decided_at=T0, **SOR)
    assert repeat_infringer_status(store, uploader, threshold=1, now=T0).strikes == 1
    complaint = file_complaint(store, sor.reference, "it was my own song", received_at=T0 + timedelta(days=1))
    resolve_complaint(store, complaint, outcome, "reasons")
    assert repeat_infringer_status(store, uploader, threshold=1, now=T0 + timedelta(days=2)).strikes == strikes


def test_complaint_before_its_decision_is_refused(store: RecordStore) -> None:
    sor = decide(store, restriction="removal", facts="x", legal_ground="y", automated_detection=True,
                 automated_decision=True, decided_at=datetime(2025, 6, 1, tzinfo=UTC), **SOR)
    with pytest.raises(NoticeError, match="before the decision") as info:
        file_complaint(store, sor.reference, "wrong", received_at=sor.decided_at - timedelta(seconds=1))
    assert info.value.fields == ("received_at",)
    assert file_complaint(store, sor.reference, "wrong", received_at=sor.decided_at).startswith("CMP-")


def test_transparency_report(store: RecordStore) -> None:
    for hours, regime, restriction, auto in [(2, "dsa", "removal", True), (4, "dmca", "removal", False),
                                             (10, "dsa", "none", False)]:
        ack = file_notice(store, VALID[regime], received_at=T0)
        decide(store, notice_reference=ack.reference, restriction=restriction, facts="f", legal_ground="g",
               automated_detection=auto, automated_decision=auto, decided_at=T0 + timedelta(hours=hours), **SOR)
    decide(store, restriction="demotion", facts="own", legal_ground="g", automated_detection=True,
           automated_decision=False, decided_at=T0, **SOR)
    file_notice(store, VALID["take_it_down"], received_at=T0)
    rep = transparency_report(store)
    assert rep["notices"]["by_regime"] == {"dsa": 2, "dmca": 1, "take_it_down": 1}
    assert rep["notices"]["by_status"] == {"actioned": 2, "rejected": 1, "open": 1}
    assert rep["decisions"]["by_regime_and_outcome"] == {"dsa/action_taken": 1, "dmca/action_taken": 1,
                                                         "dsa/no_action": 1, "own_initiative/action_taken": 1}
    assert rep["decisions"]["median_hours_to_action"] == 4.0
    assert (rep["decisions"]["automated_detection"], rep["decisions"]["automated_decision"]) == (2, 1)


def test_a_closed_periods_report_does_not_change_later(store: RecordStore) -> None:
    """The report used each row's current state: January's report changed when a counter-notice received
    in January was restored in February, and counted that February restoration as January's."""
    jan = {"start": datetime(2027, 1, 1, tzinfo=UTC), "end": datetime(2027, 2, 1, tzinfo=UTC)}
    ack = file_notice(store, VALID["dmca"], received_at=datetime(2027, 1, 20, tzinfo=UTC))
    decide(store, notice_reference=ack.reference, restriction="removal", facts="f", legal_ground="§512(c)",
           automated_detection=False, automated_decision=False, decided_at=datetime(2027, 1, 21, tzinfo=UTC), **SOR)
    cn = file_counter_notice(store, ack.reference, COUNTER, received_at=datetime(2027, 1, 29, tzinfo=UTC))
    sor = decide(store, restriction="demotion", facts="own", legal_ground="g", automated_detection=True,
                 automated_decision=False, decided_at=datetime(2027, 1, 10, tzinfo=UTC), **SOR)
    complaint = file_complaint(store, sor.reference, "wrong", received_at=datetime(2027, 1, 30, tzinfo=UTC))
    before = transparency_report(store, **jan)
    mark_restored(store, cn.reference, at=cn.restore_not_before + timedelta(hours=1))
    resolve_complaint(store, complaint, "reversed", "wrong", at=datetime(2027, 2, 2, tzinfo=UTC))
    retract = file_notice(store, VALID["dmca"], received_at=datetime(2027, 1, 5, tzinfo=UTC))
    from clauseguard.guards.records import retract_notice

    retract_notice(store, retract.reference, at=datetime(2027, 2, 3, tzinfo=UTC))
    after = transparency_report(store, **jan)
    assert after["notices"]["by_status"] == {"counter_noticed": 1, "open": 1}
    assert after["counter_notices"] == before["counter_notices"] == {"total": 1, "restored": 0, "court_action": 0}
    assert after["complaints"]["by_outcome"] == before["complaints"]["by_outcome"] == {"pending": 1}
    feb = transparency_report(store, start=jan["end"], end=datetime(2027, 3, 1, tzinfo=UTC))
    assert (feb["counter_notices"]["restored"], feb["complaints"]["resolved"], feb["notices"]["retracted"]) == (1, 1, 1)
    assert transparency_report(store)["notices"]["by_status"] == {"restored": 1, "retracted": 1}


def test_a_retracted_notice_withdraws_its_strike(store: RecordStore) -> None:
    """The terms say "a strike is withdrawn if the notice is retracted", but nothing recorded a retraction."""
    from clauseguard.guards.records import retract_notice

    uploader = "user:k2:" + "4" * 64
    ack = file_notice(store, VALID["dmca"], received_at=T0, uploader_key=uploader)
    _take_down(store, ack.reference)
    assert repeat_infringer_status(store, uploader, threshold=1, now=T0).strikes == 1
    with pytest.raises(NoticeError) as early:
        retract_notice(store, ack.reference, at=T0 - timedelta(seconds=1))
    assert early.value.fields == ("at",)
    retract_notice(store, ack.reference, at=T0 + timedelta(days=1))
    assert repeat_infringer_status(store, uploader, threshold=1, now=T0 + timedelta(days=1)).strikes == 0
    assert get_notice(store, ack.reference).status == "retracted"
    with pytest.raises(NoticeError, match="already retracted"):
        retract_notice(store, ack.reference)
    with pytest.raises(NoticeError):  # nothing is left to counter
        file_counter_notice(store, ack.reference, COUNTER)
    open_one = file_notice(store, VALID["dsa"], received_at=T0)
    retract_notice(store, open_one.reference, at=T0 + timedelta(hours=1))
    assert notice_queue(store) == []  # an open notice leaves the queue
    assert transparency_report(store)["notices"]["retracted"] == 2


NAIVE = datetime(2026, 3, 2, 12, 0)  # datetime.utcnow() gives such a value: no time zone


@pytest.mark.parametrize(("name", "call"), [
    ("received_at", lambda s: file_notice(s, VALID["take_it_down"], received_at=NAIVE)),
    ("decided_at", lambda s: decide(s, restriction="removal", facts="f", automated_detection=False,
                                    automated_decision=False, legal_ground="law", decided_at=NAIVE, **SOR)),
    ("received_at", lambda s: restore_window(NAIVE)),
    ("now", lambda s: restore_due(s, now=NAIVE)),
    ("now", lambda s: repeat_infringer_status(s, "user:k:1", now=NAIVE)),
    ("start", lambda s: transparency_report(s, start=NAIVE)),
])
def test_a_naive_datetime_is_refused_not_read_as_local_time(store: RecordStore, monkeypatch: pytest.MonkeyPatch,
                                                          name: str, call: Any) -> None:
    """astimezone() read it as the machine's local time: on a server in New York a TAKE IT DOWN request
    received at 12:00 UTC was stored as 17:00, and its 48 legal hours ended five hours late."""
    import time

    monkeypatch.setenv("TZ", "America/New_York")
    time.tzset()
    try:
        with pytest.raises(ValueError, match=f"{name} is a naive datetime"):
            call(store)
    finally:
        monkeypatch.undo()
        time.tzset()
    assert notice_queue(store) == [] and transparency_report(store)["decisions"]["total"] == 0
