"""Unknown references raise NoticeNotFound: a NoticeError (and UserError) and a LookupError."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from clauseguard.errors import NoticeError, UserError
from clauseguard.guards.records import (
    NoticeNotFound,
    RecordStore,
    decide,
    file_complaint,
    file_counter_notice,
    get_decision,
    get_notice,
    mark_restored,
    record_informed,
    record_strike,
    report_court_action,
    resolve_complaint,
    retract_notice,
)
from tests.records.test_notices import COUNTER

UNKNOWN = "DSA-XXXXXXXXXX"
CALLS: list[tuple[str, Callable[[RecordStore], Any], str]] = [
    ("get_notice", lambda s: get_notice(s, UNKNOWN), "reference"),
    ("get_decision", lambda s: get_decision(s, UNKNOWN), "reference"),
    ("decide", lambda s: decide(s, notice_reference=UNKNOWN, restriction="removal", facts="f",
                                automated_detection=False, automated_decision=False, legal_ground="g",
                                explanation="e", territorial_scope="worldwide", duration="indefinite"),
     "notice_reference"),
    ("file_complaint", lambda s: file_complaint(s, UNKNOWN, "the decision is wrong"), "decision_reference"),
    ("resolve_complaint", lambda s: resolve_complaint(s, UNKNOWN, "upheld", "reasons"), "reference"),
    ("file_counter_notice", lambda s: file_counter_notice(s, UNKNOWN, COUNTER), "notice_reference"),
    ("report_court_action", lambda s: report_court_action(s, UNKNOWN), "counter_reference"),
    ("mark_restored", lambda s: mark_restored(s, UNKNOWN), "counter_reference"),
    ("record_strike", lambda s: record_strike(s, "user:k:1", notice_reference=UNKNOWN), "notice_reference"),
    ("retract_notice", lambda s: retract_notice(s, UNKNOWN), "reference"),
    ("record_informed", lambda s: record_informed(s, UNKNOWN), "decision_reference"),
]


def test_not_found_sits_in_the_error_tree() -> None:
    assert issubclass(NoticeNotFound, NoticeError) and issubclass(NoticeNotFound, UserError)
    assert issubclass(NoticeNotFound, LookupError) and issubclass(NoticeNotFound, ValueError)


@pytest.mark.parametrize(("name", "call", "field"), CALLS, ids=[c[0] for c in CALLS])
def test_unknown_references_raise_not_found(store: RecordStore, name: str, call: Callable[[RecordStore], Any],
                                            field: str) -> None:
    with pytest.raises(NoticeNotFound) as info:
        call(store)
    assert info.value.fields == (field,)
