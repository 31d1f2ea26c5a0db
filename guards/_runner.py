"""Running one guard so that it fails closed: an exception or a blown time budget is a block.

``GuardSpec.on_error`` may turn that block into a flag; it never becomes a silent pass. A guard that
overruns keeps running in its daemon thread (Python cannot kill a thread); its result is ignored.
The finding saying why is a :class:`GuardFailure`: its message (the exception's text) is for the
audit record and the operator, never for the end user.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from dataclasses import dataclass

from clauseguard.guards._base import Context, Guard
from clauseguard.guards._params import Action
from clauseguard.guards._verdict import Finding, Verdict

__all__ = ["GuardFailure", "arun_guard", "failure_verdict", "run_guard"]

log = logging.getLogger("clauseguard.guards")


@dataclass(frozen=True)
class GuardFailure(Finding):
    """A finding that a guard failed, timed out or misbehaved: not about the content, and its message
    is internal detail (an exception's text), so what users are shown is a generic block message."""


def failure_verdict(guard: Guard, content: str | bytes, reason: str) -> Verdict:
    """The fail-closed verdict: block (or flag when ``on_error: flag``) with a finding saying why."""
    action = Action(guard.spec.on_error)
    finding = GuardFailure(guard_id=guard.id, category=None, score=1.0, clause_ids=tuple(guard.spec.clauses),
                      message=reason, action=action)
    if action is Action.BLOCK:
        return Verdict(allowed=False, action=action, output=None, findings=(finding,), guard_id=guard.id)
    return Verdict(allowed=True, action=action, output=content, findings=(finding,), guard_id=guard.id)


def _checked(guard: Guard, content: str | bytes, verdict: object) -> Verdict:
    """A guard's own verdict, or a failure when it is not one the pipeline can act on (a custom guard's
    mistake must block, not crash the combination or let through what the guard meant to block)."""
    if not isinstance(verdict, Verdict):
        return failure_verdict(guard, content, f"guard {guard.id!r} returned {type(verdict).__name__}, "
                                               "not a Verdict")
    strays = [type(f).__name__ for f in verdict.findings if not isinstance(f, Finding)]
    if strays:
        return failure_verdict(guard, content, f"guard {guard.id!r} returned findings that are not Findings "
                                               f"({', '.join(strays)})")
    if verdict.allowed and (verdict.action is Action.BLOCK or any(f.action is Action.BLOCK for f in verdict.findings)):
        return failure_verdict(guard, content, f"guard {guard.id!r} returned an allowed verdict that blocks")
    return verdict


def _timeout_reason(guard: Guard) -> str:
    return f"guard {guard.id!r} exceeded its time budget of {guard.spec.timeout_ms:g} ms"


def _error_reason(guard: Guard, err: BaseException) -> str:
    log.warning("guard %s failed", guard.id, exc_info=err)
    return f"guard {guard.id!r} failed: {type(err).__name__}: {err}"


def run_guard(guard: Guard, content: str | bytes, context: Context) -> Verdict:
    """``guard.check`` under its time budget; failures become a fail-closed verdict."""
    timeout_ms = guard.spec.timeout_ms
    if timeout_ms is None:
        try:
            return _checked(guard, content, guard.check(content, context))
        except Exception as err:  # fail closed: any guard error is a decision, not a crash
            return failure_verdict(guard, content, _error_reason(guard, err))
    box: dict[str, object] = {}

    def target() -> None:
        try:
            box["verdict"] = guard.check(content, context)
        except Exception as err:  # reported below, in the caller's thread
            box["error"] = err

    worker = threading.Thread(target=target, name=f"guard-{guard.id}", daemon=True)
    worker.start()
    worker.join(min(timeout_ms / 1000.0, threading.TIMEOUT_MAX))  # a budget of years (or .inf) waits as long as it can
    if worker.is_alive():
        return failure_verdict(guard, content, _timeout_reason(guard))
    if "error" in box:
        return failure_verdict(guard, content, _error_reason(guard, box["error"]))  # type: ignore[arg-type]
    return _checked(guard, content, box.get("verdict"))


async def arun_guard(guard: Guard, content: str | bytes, context: Context) -> Verdict:
    """Async twin of :func:`run_guard`."""
    timeout_ms = guard.spec.timeout_ms
    outcome = _outcome(guard, content, context)
    try:
        verdict, error = await (outcome if timeout_ms is None else asyncio.wait_for(outcome, timeout_ms / 1000.0))
    except TimeoutError:  # the budget's: a TimeoutError the guard raised is in ``error``
        return failure_verdict(guard, content, _timeout_reason(guard))
    if error is not None:
        return failure_verdict(guard, content, _error_reason(guard, error))
    return _checked(guard, content, verdict)


async def _outcome(guard: Guard, content: str | bytes, context: Context) -> tuple[object, Exception | None]:
    """What ``guard.acheck`` returned or raised, so that its own errors (a TimeoutError of a model server
    it calls, say) are not taken for the time budget's."""
    try:
        return await guard.acheck(content, context), None
    except Exception as err:  # fail closed
        return None, err
