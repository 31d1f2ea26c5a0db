"""The public report form: a notice under the DSA, the DMCA or the TAKE IT DOWN Act, from anyone.

The fields of each regime are read from the records' intake model, and the submission is validated by
that same model, so the form and the API can never disagree about what a valid notice is.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse
from pydantic import BaseModel, ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData

from clauseguard.guards.server.pages._render import page, throttled
from clauseguard.guards.server.pages._signing import csrf_ok, csrf_refused, csrf_token
from clauseguard.guards.server.state import ServerState, get_state

__all__ = ["REGIME_TITLES", "read_report", "report_fields", "router"]

router = APIRouter(include_in_schema=False)
State = Annotated[ServerState, Depends(get_state)]

REGIME_TITLES = {"dsa": "Illegal content (EU Digital Services Act)", "dmca": "Copyright infringement (DMCA)",
                 "take_it_down": "Intimate image shared without consent (TAKE IT DOWN Act)"}
_LONG = {"explanation", "infringing_material", "copyrighted_work", "depiction", "non_consent_details"}
_LABELS = {"urls": "Where it is (one web address per line)", "explanation": "Why the content is illegal",
           "concerns_child_sexual_abuse": "The notice concerns child sexual abuse material (name and email optional)",
           "good_faith_statement": "I state in good faith that this notice is accurate and complete",
           "accuracy_statement": "The information in this notification is accurate",
           "authority_under_penalty_of_perjury":
               "Under penalty of perjury, I am authorised to act on behalf of the owner of the right",
           "non_consent_statement": "I believe in good faith that the depiction was published without consent",
           "category": "Kind of illegality (optional)",
           "notifier_name": "Your name (required unless the notice concerns child sexual abuse material)",
           "notifier_email": "Your email address (required unless the notice concerns child sexual abuse material)"}


def _regime_models() -> dict[str, type[BaseModel]]:
    from clauseguard.guards.records.intake import REGIMES

    return dict(REGIMES)


def _kind(annotation: Any) -> str:
    text = str(annotation)
    if annotation is bool:
        return "checkbox"
    if "list" in text:
        return "lines"
    return "contact" if "Contact" in text else "text"


def report_fields(regime: str) -> list[dict[str, Any]]:
    """The form fields of a regime, read from its intake model (labels, help, required, kind)."""
    from clauseguard.guards.records.intake import Contact

    fields = []
    for name, info in _regime_models()[regime].model_fields.items():
        if name == "regime":
            continue
        kind = _kind(info.annotation)
        field = {"name": name, "kind": "textarea" if name in _LONG else kind, "required": info.is_required(),
                 "label": _LABELS.get(name, name.replace("_", " ").capitalize()), "help": info.description or ""}
        if kind == "contact":
            field["parts"] = [{"name": f"{name}.{part}", "label": part.capitalize(), "required": sub.is_required()}
                              for part, sub in Contact.model_fields.items()]
        fields.append(field)
    return fields


def read_report(regime: str, form: FormData) -> tuple[dict[str, Any], dict[str, Any]]:
    """``(data for the intake model, values to show again)`` from the submitted form."""
    data: dict[str, Any] = {"regime": regime}
    values: dict[str, Any] = {}
    for field in report_fields(regime):
        name = field["name"]
        if field["kind"] == "checkbox":
            data[name] = values[name] = form.get(name) == "yes"
        elif field["kind"] == "contact":
            parts = {p["name"].split(".")[1]: str(form.get(p["name"], "")).strip() for p in field["parts"]}
            values.update({f"{name}.{k}": v for k, v in parts.items()})
            if any(parts.values()):
                data[name] = {k: v for k, v in parts.items() if v}
        else:
            text = values[name] = str(form.get(name, "")).strip()
            lines = [line.strip() for line in text.splitlines() if line.strip()]
            if field["kind"] == "lines" and lines:
                data[name] = lines
            elif field["kind"] != "lines" and text:
                data[name] = text
    return data, values


def _report_page(request: Request, regime: str, values: dict[str, Any], errors: dict[str, str],
                 status: int = 200) -> HTMLResponse:
    return page(request, "report.html", status, title="Report content", regime=regime, regimes=REGIME_TITLES,
                fields=report_fields(regime), values=values, errors=errors, csrf=csrf_token(request, "report"))


@router.get("/report", response_class=HTMLResponse)
async def report_form(request: Request, regime: str | None = None) -> HTMLResponse:
    """First the choice of regime (a link each), then that regime's form."""
    if regime not in REGIME_TITLES:
        return page(request, "report_choose.html", title="Report content", regimes=REGIME_TITLES)
    return _report_page(request, regime, {}, {})


@router.post("/report", response_class=HTMLResponse)
async def report_submit(request: Request, state: State) -> HTMLResponse:
    """Validate through the records' intake model, store the notice, acknowledge it."""
    from clauseguard.guards.records.notices import file_notice
    from clauseguard.guards.server.client import pseudonymous_ip
    from clauseguard.guards.server.throttle import intake as intake_limit

    form = await request.form()
    if not csrf_ok(request, form, "report"):
        return csrf_refused(request)
    regime = str(form.get("regime", ""))
    if regime not in REGIME_TITLES:
        return page(request, "report_choose.html", 422, title="Report content", regimes=REGIME_TITLES)
    data, values = read_report(regime, form)
    try:
        intake = _regime_models()[regime].model_validate(data)
    except ValidationError as err:
        errors = {".".join(str(p) for p in e["loc"]) or "": e["msg"] for e in err.errors()}
        return _report_page(request, regime, values, errors, status=422)
    if (refused := await throttled(request, state, intake_limit(state.settings))) is not None:
        return refused  # the intake throttle of POST /v1/notices: one bucket for the form and the API
    ip_key = pseudonymous_ip(request, state.proxies, state.pseudonymizer)
    ack = await run_in_threadpool(file_notice, state.records, intake, notifier_ip_key=ip_key)
    return page(request, "report_ack.html", 201, title="Report received", ack=ack, regime_title=REGIME_TITLES[regime])
