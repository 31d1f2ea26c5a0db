"""Decisions on content, each with a DSA Art. 17 statement of reasons.

Art. 17(3) asks for: (a) the restriction applied (and its territorial scope and duration); (b) the facts
and circumstances, including whether it followed a notice; (c) whether automated means were used, for
detection and for the decision; (d) the legal ground, for illegal content; (e) the contractual ground,
for content against the terms: here the clause id AND its section number and title in the generated
documents, looked up in report.json; (f) redress: internal complaint (Art. 20), out-of-court
settlement (Art. 21), and the courts.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

from sqlalchemy import select

from clauseguard.errors import NoticeError, NoticeNotFound
from clauseguard.guards.records._refs import locked, new_reference
from clauseguard.guards.records._types import aware_utc, not_before
from clauseguard.guards.records.lockfile import clause_section
from clauseguard.guards.records.models import Decision, Notice, Strike
from clauseguard.guards.records.store import RecordStore

__all__ = ["DEFAULT_REDRESS", "INDEFINITE", "Restriction", "StatementOfReasons", "decide", "get_decision"]


class Restriction(StrEnum):
    """Art. 17(1) restrictions, plus ``none`` for a notice that led to no action."""

    REMOVAL = "removal"
    DISABLED_ACCESS = "disabled_access"
    DEMOTION = "demotion"
    VISIBILITY = "visibility_restriction"
    MONETISATION = "monetisation_restriction"
    SERVICE_SUSPENSION = "service_suspension"
    ACCOUNT_SUSPENSION = "account_suspension"
    ACCOUNT_TERMINATION = "account_termination"
    NONE = "none"


DEFAULT_REDRESS: tuple[Mapping[str, str], ...] = (
    {"kind": "internal_complaint", "basis": "DSA Art. 20",
     "text": "You can complain to us about this decision, free of charge, within 6 months."},
    {"kind": "out_of_court_settlement", "basis": "DSA Art. 21",
     "text": "You can refer the dispute to a certified out-of-court dispute settlement body."},
    {"kind": "court", "basis": "DSA Art. 17(3)(f)", "text": "You can bring the matter before a court."},
)
_DMCA_REDRESS = {"kind": "dmca_counter_notice", "basis": "17 U.S.C. §512(g)(3)",
                 "text": "If you believe the material was removed by mistake or misidentification, you can send "
                         "a counter-notification."}


@dataclass(frozen=True)
class StatementOfReasons:
    reference: str
    decided_at: datetime
    restriction: str
    facts: str
    notice_reference: str | None
    automated_detection: bool
    automated_decision: bool
    legal_ground: str | None
    contractual_ground: Mapping[str, str] | None
    redress: tuple[Mapping[str, str], ...]
    territorial_scope: str | None = None
    duration: str | None = None
    explanation: str = ""
    extra: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"reference": self.reference, "decided_at": self.decided_at.isoformat(),
                "restriction": self.restriction, "territorial_scope": self.territorial_scope,
                "duration": self.duration, "facts": self.facts, "notice_reference": self.notice_reference,
                "automated_means": {"detection": self.automated_detection, "decision": self.automated_decision},
                "legal_ground": self.legal_ground, "contractual_ground": dict(self.contractual_ground or {}) or None,
                "explanation": self.explanation, "redress": [dict(r) for r in self.redress]}


def _restriction(value: Restriction | str) -> Restriction:
    """``value`` as a :class:`Restriction`; another value is a :class:`NoticeError` listing the allowed ones."""
    try:
        return Restriction(value)
    except ValueError as err:
        allowed = ", ".join(r.value for r in Restriction)
        raise NoticeError(f"restriction {value!r} is not one of the DSA Art. 17(1) restrictions: {allowed}",
                          fields=("restriction",)) from err


def _grounds(restriction: Restriction, legal_ground: str | None, clause_id: str | None,
             report: str | Path | Mapping[str, Any] | None) -> dict[str, str] | None:
    if restriction is not Restriction.NONE and not (legal_ground or clause_id):
        raise NoticeError("a restriction needs a legal ground (Art. 17(3)(d)) or a contractual ground "
                          "(Art. 17(3)(e)): give legal_ground or clause_id", fields=("legal_ground", "clause_id"))
    if clause_id is None:
        return None
    if report is None:
        raise NoticeError("clause_id needs report (report.json) to cite its section", fields=("report",))
    return clause_section(report, clause_id).to_dict()


INDEFINITE = "indefinite"  # the duration of a restriction with no end (Art. 17(3)(a)), said explicitly


def _check_restriction_elements(restriction: Restriction, explanation: str, territorial_scope: str | None,
                                duration: str | None) -> None:
    """A restriction's statement needs why (Art. 17(3)(d)/(e) "explanations"), where and for how long
    (Art. 17(3)(a)): a missing one is a :class:`NoticeError` naming it."""
    if restriction is Restriction.NONE:
        return
    missing = [name for name, value in (("explanation", explanation), ("territorial_scope", territorial_scope),
                                        ("duration", duration)) if not (value or "").strip()]
    if missing:
        raise NoticeError(f"a restriction's statement of reasons needs {', '.join(missing)} (DSA Art. 17(3)(a): its "
                          "territorial scope and duration, or duration \"indefinite\"; Art. 17(3)(d)-(e): an "
                          "explanation of why the content is illegal or against the terms)", fields=tuple(missing))


def _notice(session: Any, reference: str | None) -> Notice | None:
    if reference is None:
        return None
    # FOR UPDATE: a second decider waits here until the first commits and then reads the new status (on
    # PostgreSQL both would read "open" and write two decisions; SQLite ignores it, BEGIN IMMEDIATE serialises)
    row = locked(session, Notice, reference, "notice", "notice_reference")
    if row.status != "open":
        raise NoticeError(f"notice {reference} is already decided (status {row.status}); a notice gets one "
                          "decision: challenge it by a complaint (DSA Art. 20) or a counter-notification "
                          "(17 U.S.C. §512(g))", fields=("notice_reference",))
    return row


def decide(store: RecordStore, *, restriction: Restriction | str, facts: str, automated_detection: bool,
           automated_decision: bool, notice_reference: str | None = None, legal_ground: str | None = None,
           clause_id: str | None = None, report: str | Path | Mapping[str, Any] | None = None,
           explanation: str = "", territorial_scope: str | None = None, duration: str | None = None,
           uploader_key: str | None = None, decided_at: datetime | None = None,
           informed_at: datetime | None = None) -> StatementOfReasons:
    """Record a decision and its statement of reasons; closes the notice it answers.

    Only an open notice can be decided (:class:`NoticeError` otherwise), so one notice never yields
    two decisions or two strikes. A restriction other than ``none`` needs ``explanation``,
    ``territorial_scope`` and ``duration`` (``"indefinite"`` when it has no end). A DMCA takedown (a
    restriction on a ``dmca`` notice) with a known uploader also records a strike and offers a
    counter-notification among the redress. ``informed_at`` is when the recipient was told (the
    complaint window counts from it, DSA Art. 20(2); by default from ``decided_at``); set it later
    with :func:`~.complaints.record_informed`.
    """
    restriction = _restriction(restriction)
    if not facts.strip():
        raise NoticeError("facts and circumstances are required (Art. 17(3)(b))", fields=("facts",))
    contractual = _grounds(restriction, legal_ground, clause_id, report)
    when = aware_utc(decided_at, "decided_at")
    informed = None if informed_at is None else aware_utc(informed_at, "informed_at")
    if informed is not None:
        not_before(informed, when, "informed_at", "the recipient cannot be informed of a decision before it is "
                   "taken", "decided")
    with store.session(write=True) as s:
        notice = _notice(s, notice_reference)  # first: an unknown notice is "not found" whatever the body says
        _check_restriction_elements(restriction, explanation, territorial_scope, duration)
        if notice is not None:
            not_before(when, notice.received_at, "decided_at", "a decision cannot be taken before the notice it "
                       "answers", "received")
        uploader = uploader_key or (notice.uploader_key if notice else None)
        # a counter-notification answers material taken down (§512(g)(1)): none is offered for "none"
        takedown = notice is not None and notice.regime == "dmca" and restriction is not Restriction.NONE
        redress = DEFAULT_REDRESS + ((_DMCA_REDRESS,) if takedown else ())
        sor = StatementOfReasons(new_reference("SOR"), when, restriction.value, facts, notice_reference,
                                 automated_detection, automated_decision, legal_ground, contractual, redress,
                                 territorial_scope, duration, explanation)
        s.add(Decision(reference=sor.reference, notice_id=notice.id if notice else None, decided_at=when,
                       informed_at=informed,
                       restriction=restriction.value,
                       outcome="no_action" if restriction is Restriction.NONE else "action_taken",
                       automated_detection=automated_detection, automated_decision=automated_decision,
                       statement=sor.to_dict(), uploader_key=uploader))
        if notice is not None:
            notice.status = "rejected" if restriction is Restriction.NONE else "actioned"
            if notice.regime == "dmca" and restriction is not Restriction.NONE and uploader:
                s.add(Strike(uploader_key=uploader, notice_id=notice.id, at=when, withdrawn=False))
    return sor


def get_decision(store: RecordStore, reference: str) -> Decision:
    with store.session() as s:
        row = s.execute(select(Decision).where(Decision.reference == reference)).scalar_one_or_none()
    if row is None:
        raise NoticeNotFound(f"no decision with reference {reference!r}", fields=("reference",))
    return row
