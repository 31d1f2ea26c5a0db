"""Server-rendered web pages: the founder's questionnaire, the public report form, the moderators' queue.

No front-end build and no JavaScript: plain HTML forms, Jinja2 with autoescape on everywhere, one CSS
file. Every page answers with a Content-Security-Policy that allows no script at all; the generated
documents are previewed inside ``<iframe sandbox srcdoc>`` so their HTML never shares the page.

Forms carry a CSRF token: ``time.nonce.HMAC(secret, purpose|time|nonce)``, valid for two hours, bound
to the form's purpose (and, for moderators, to their session). Moderators log in with their bearer
token; the page keeps only a signed session in an HttpOnly, SameSite=Strict cookie (Secure over
https), never the token. The signing secret comes from ``CLAUSEGUARD_SESSION_SECRET`` (share it
between workers) or is drawn at random per app (sessions then end with the process).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import io
import json
import os
import secrets
import time
import zipfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import yaml
from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, FileSystemLoader, StrictUndefined
from pydantic import BaseModel, ValidationError
from sqlalchemy import select
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData

from clauseguard import __version__
from clauseguard.errors import UserError
from clauseguard.guards.server.state import ServerState, get_state
from clauseguard.guards.server.tokens import Principal, Role

__all__ = ["SECRET_ENV", "router"]

SECRET_ENV = "CLAUSEGUARD_SESSION_SECRET"
SESSION_COOKIE = "cg_session"
CSRF_TTL_S = 2 * 3600
SESSION_TTL_S = 8 * 3600
MODEL_ROWS = 3  # rows offered for models in the questionnaire (no JavaScript to add more)

_HERE = Path(__file__).parent
_CSP = ("default-src 'none'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; form-action 'self'; "
        "frame-ancestors 'none'; base-uri 'none'")
_STATIC = {"pages.css": "text/css; charset=utf-8"}

router = APIRouter(include_in_schema=False)
State = Annotated[ServerState, Depends(get_state)]


# ---- rendering ----------------------------------------------------------------------------------------


def _utc(value: datetime | str | None) -> str:
    if value is None:
        return ""
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


_env = Environment(loader=FileSystemLoader(_HERE / "templates"), autoescape=True, undefined=StrictUndefined,
                   trim_blocks=True, lstrip_blocks=True)
_env.filters["utc"] = _utc
_env.globals["version"] = __version__


def page(name: str, code: int = 200, **context: Any) -> HTMLResponse:
    """Render ``templates/name`` with the headers every page carries (no script, no framing, no cache)."""
    body = _env.get_template(name).render(**context)
    return HTMLResponse(body, status_code=code, headers={"Content-Security-Policy": _CSP,
                                                           "Cache-Control": "no-store"})


@router.get("/static/{name}")
async def static(name: str) -> Response:
    if name not in _STATIC:
        return page("error.html", 404, title="Not found", message="There is no such file.")
    return Response((_HERE / "static" / name).read_bytes(), media_type=_STATIC[name],
                    headers={"Cache-Control": "public, max-age=3600"})


# ---- signing: CSRF tokens and sessions -----------------------------------------------------------------


def _secret(request: Request) -> bytes:
    """The app's signing secret, drawn once per app unless the environment gives one."""
    app_state = request.app.state
    if not hasattr(app_state, "pages_secret"):
        configured = os.environ.get(SECRET_ENV, "")
        if configured and len(configured) < 32:
            raise UserError(f"{SECRET_ENV} must be at least 32 characters long")
        app_state.pages_secret = configured.encode() if configured else secrets.token_bytes(32)
    return app_state.pages_secret


def _mac(secret: bytes, message: str) -> str:
    return hmac.new(secret, message.encode(), hashlib.sha256).hexdigest()


def csrf_token(request: Request, purpose: str) -> str:
    stamp, nonce = str(int(time.time())), secrets.token_urlsafe(16)
    return f"{stamp}.{nonce}.{_mac(_secret(request), f'csrf|{purpose}|{stamp}|{nonce}')}"


def csrf_ok(request: Request, form: FormData, purpose: str) -> bool:
    """Whether the form carries a token made for ``purpose`` by this app less than two hours ago."""
    stamp, _, rest = str(form.get("csrf_token", "")).partition(".")
    nonce, _, mac = rest.partition(".")
    if not (stamp.isdigit() and nonce and mac) or time.time() - int(stamp) > CSRF_TTL_S:
        return False
    return hmac.compare_digest(mac, _mac(_secret(request), f"csrf|{purpose}|{stamp}|{nonce}"))


def _csrf_refused() -> HTMLResponse:
    return page("error.html", 403, title="Form expired",
                message="This form was not sent from this site or has expired. Go back, reload it and send it again.")


@dataclass(frozen=True)
class Session:
    principal: str
    role: Role
    sid: str


def _session_cookie(request: Request, principal: Principal) -> str:
    claims = {"p": principal.id, "r": principal.role.value, "sid": secrets.token_urlsafe(16),
              "exp": int(time.time()) + SESSION_TTL_S}
    body = base64.urlsafe_b64encode(json.dumps(claims, separators=(",", ":")).encode()).decode()
    return f"{body}.{_mac(_secret(request), 'session|' + body)}"


def _revoked(state: ServerState, principal_id: str) -> bool:
    from clauseguard.guards.server.tokens import api_tokens

    with state.engine.connect() as conn:
        row = conn.execute(select(api_tokens.c.revoked_at).where(api_tokens.c.id == principal_id)).first()
    return row is None or row.revoked_at is not None


def read_session(request: Request, state: ServerState) -> Session | None:
    """The moderator's session from the signed cookie; None if absent, forged, expired or revoked."""
    body, _, mac = request.cookies.get(SESSION_COOKIE, "").partition(".")
    if not body or not hmac.compare_digest(mac, _mac(_secret(request), "session|" + body)):
        return None
    claims = json.loads(base64.urlsafe_b64decode(body.encode()))
    session = Session(str(claims["p"]), Role(claims["r"]), str(claims["sid"]))
    if claims["exp"] < time.time() or not Principal(session.principal, session.role).may(Role.MODERATOR):
        return None
    if session.principal != "env" and _revoked(state, session.principal):
        return None
    return session


# ---- the founder's questionnaire ------------------------------------------------------------------------


def _questions() -> tuple[Any, ...]:
    from clauseguard.generator.questionnaire import QUESTIONS

    return QUESTIONS


def _shown(value: Any) -> Any:
    """A default as the form shows it: ``yes``/``no``, ISO dates, lists as lists."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list):
        return list(value)
    return "" if value is None else str(value)


def _defaults() -> dict[str, Any]:
    """Form values before any answer; defaults that depend on other answers are left blank."""
    from clauseguard.generator.questionnaire import _NO_DEFAULT  # the questionnaire's "no default" marker

    values: dict[str, Any] = {}
    for q in _questions():
        if q.when is None or not callable(q.default):
            default = q.default_for({})
            values[q.key] = "" if default is _NO_DEFAULT else _shown(default)
    return values


def _licences() -> list[str]:
    from clauseguard.generator.licences import known_licence_ids

    return [*sorted(known_licence_ids()), "other"]


def _read_models(form: FormData) -> list[dict[str, str]]:
    rows = []
    for i in range(MODEL_ROWS):
        entry = {k: str(form.get(f"models.{i}.{k}", "")).strip() for k in ("name", "license", "license_name")}
        if entry["name"]:
            rows.append({k: v for k, v in entry.items() if v})
    return rows


def _raw_answer(q: Any, form: FormData) -> Any:
    """The submitted answer to ``q``, or None when the field was left blank."""
    if q.kind == "list" and q.choices:
        return form.getlist(q.key)
    if q.kind == "models":
        return _read_models(form)
    value = str(form.get(q.key, "")).strip()
    return value or None


def read_questionnaire(form: FormData) -> tuple[dict[str, Any], dict[str, Any], dict[str, str]]:
    """``(values to show again, converted answers by key path, errors by key path)``."""
    values: dict[str, Any] = {}
    given: dict[str, Any] = {}
    errors: dict[str, str] = {}
    for q in _questions():
        raw = _raw_answer(q, form)
        values[q.key] = "" if raw is None else raw
        if raw is None:
            continue
        try:
            given[q.key] = q.convert(raw)
        except ValueError as err:
            errors[q.key] = str(err)
    for i in range(MODEL_ROWS):
        for k in ("name", "license", "license_name"):
            values[f"models.{i}.{k}"] = str(form.get(f"models.{i}.{k}", ""))
    return values, given, {**_unanswered(given), **errors}


def _unanswered(given: dict[str, Any]) -> dict[str, str]:
    """Questions always asked that have no default and got no answer (all named at once)."""
    from clauseguard.generator.questionnaire import _NO_DEFAULT  # the questionnaire's "no default" marker

    return {q.key: "an answer is required" for q in _questions()
            if q.when is None and q.required and q.default is _NO_DEFAULT and given.get(q.key) in (None, [])}


def _field_for(path: str) -> str:
    """The question whose field shows an error at ``path`` ("" for the top of the form)."""
    keys = [q.key for q in _questions()]
    if path in keys:
        return path
    parents = [k for k in keys if path.startswith(k + ".")]
    children = [k for k in keys if k.startswith(path + ".")]
    return max(parents, key=len) if parents else (children[0] if children else "")


def build_profile(given: dict[str, Any]) -> tuple[Any, dict[str, Any], dict[str, str]]:
    """The validated profile and its data from the answers, or ``(None, data, errors by key path)``."""
    from clauseguard.errors import ProfileError
    from clauseguard.generator.profile import Profile
    from clauseguard.generator.questionnaire import collect_answers

    try:
        data = collect_answers(given, ask=None)
    except ProfileError as err:
        key = next((q.key for q in _questions() if repr(q.key) in err.message), "")
        return None, {}, {key: err.message}
    try:
        return Profile.model_validate(data), data, {}
    except ValidationError as err:
        return None, data, {".".join(str(p) for p in e["loc"]): e["msg"].removeprefix("Value error, ")
                            for e in err.errors()}


def _questionnaire_page(request: Request, values: dict[str, Any], errors: dict[str, str] | None = None,
                        documents: list[dict[str, str]] | None = None, status: int = 200) -> HTMLResponse:
    errors = errors or {}
    by_field: dict[str, list[str]] = {}
    for path, message in errors.items():
        by_field.setdefault(_field_for(path), []).append(f"{path}: {message}")
    return page("questionnaire.html", status, title="Your product's legal documents", questions=_questions(),
                values=values, errors=errors, by_field=by_field, documents=documents or [],
                licences=_licences(), model_rows=range(MODEL_ROWS),
                csrf=csrf_token(request, "questionnaire"))


@router.get("/questionnaire", response_class=HTMLResponse)
async def questionnaire(request: Request) -> HTMLResponse:
    """The questions of ``clauseguard init`` as a form."""
    return _questionnaire_page(request, {**_defaults(), **_model_blanks()})


def _model_blanks() -> dict[str, str]:
    return {f"models.{i}.{k}": "" for i in range(MODEL_ROWS) for k in ("name", "license", "license_name")}


@dataclass(frozen=True)
class _Answers:
    """A submitted questionnaire: the profile and its data, or the page to answer instead."""

    values: dict[str, Any]
    profile: Any = None
    data: dict[str, Any] | None = None
    refused: HTMLResponse | None = None


async def _validated(request: Request) -> _Answers:
    form = await request.form()
    if not csrf_ok(request, form, "questionnaire"):
        return _Answers({}, refused=_csrf_refused())
    values, given, errors = read_questionnaire(form)
    profile, data, problems = (None, {}, {}) if errors else build_profile(given)
    if errors or problems:
        return _Answers(values, refused=_questionnaire_page(request, values, {**errors, **problems}, status=422))
    return _Answers(values, profile, data)


def _preview(profile: Any) -> list[dict[str, str]]:
    from clauseguard.generator.build import render_outputs

    files = render_outputs(profile, formats=("md", "html"))
    report = json.loads(files["report.json"])
    return [{"id": d["id"], "title": d.get("title", d["id"]),
             "html": files[f"documents/{d['id']}.html"].decode("utf-8")} for d in report["documents"]]


@router.post("/questionnaire/preview", response_class=HTMLResponse)
async def questionnaire_preview(request: Request) -> HTMLResponse:
    """Validate the answers and show the documents they generate."""
    answers = await _validated(request)
    if answers.refused is not None:
        return answers.refused
    try:
        documents = await run_in_threadpool(_preview, answers.profile)
    except UserError as err:
        return _questionnaire_page(request, answers.values, {"": str(err)}, status=422)
    return _questionnaire_page(request, answers.values, documents=documents)


def profile_yaml(data: dict[str, Any]) -> bytes:
    header = (f"# Risk profile written by the clauseguard questionnaire page (clauseguard {__version__}).\n"
              "# `clauseguard generate profile.yaml -o legal/` writes the documents from it again.\n")
    return (header + yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=100)).encode("utf-8")


def download_formats() -> tuple[str, ...]:
    """Every format, less DOCX when python-docx (the ``docx`` extra) is not installed on the server."""
    import importlib.util

    from clauseguard.generator.build import FORMATS

    return FORMATS if importlib.util.find_spec("docx") else tuple(f for f in FORMATS if f != "docx")


def _zip(profile: Any, data: dict[str, Any]) -> bytes:
    from clauseguard.generator.build import render_outputs

    files = {**render_outputs(profile, formats=download_formats()), "profile.yaml": profile_yaml(data)}
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path, content in files.items():
            archive.writestr(zipfile.ZipInfo(path, date_time=(1980, 1, 1, 0, 0, 0)), content,
                             compress_type=zipfile.ZIP_DEFLATED)
    return buffer.getvalue()


def _slug(name: str) -> str:
    slug = "".join(c if c.isascii() and c.isalnum() else "-" for c in name.lower()).strip("-")
    return "-".join(part for part in slug.split("-") if part)[:60] or "product"


@router.post("/questionnaire/download", response_model=None)
async def questionnaire_download(request: Request) -> Response:
    """Every output (documents in md/html/docx, guards.yaml, report.json, lock, profile.yaml) as a zip."""
    answers = await _validated(request)
    if answers.refused is not None:
        return answers.refused
    archive = await run_in_threadpool(_zip, answers.profile, answers.data)
    name = f"{_slug(answers.profile.product.name)}-legal.zip"
    return Response(archive, media_type="application/zip",
                    headers={"Content-Disposition": f'attachment; filename="{name}"', "Cache-Control": "no-store"})


# ---- the public report form ---------------------------------------------------------------------------

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
    return page("report.html", status, title="Report content", regime=regime, regimes=REGIME_TITLES,
                fields=report_fields(regime), values=values, errors=errors, csrf=csrf_token(request, "report"))


@router.get("/report", response_class=HTMLResponse)
async def report_form(request: Request, regime: str | None = None) -> HTMLResponse:
    """First the choice of regime (a link each), then that regime's form."""
    if regime not in REGIME_TITLES:
        return page("report_choose.html", title="Report content", regimes=REGIME_TITLES)
    return _report_page(request, regime, {}, {})


@router.post("/report", response_class=HTMLResponse)
async def report_submit(request: Request, state: State) -> HTMLResponse:
    """Validate through the records' intake model, store the notice, acknowledge it."""
    from clauseguard.guards.records.notices import file_notice
    from clauseguard.guards.server.client import pseudonymous_ip

    form = await request.form()
    if not csrf_ok(request, form, "report"):
        return _csrf_refused()
    regime = str(form.get("regime", ""))
    if regime not in REGIME_TITLES:
        return page("report_choose.html", 422, title="Report content", regimes=REGIME_TITLES)
    data, values = read_report(regime, form)
    try:
        intake = _regime_models()[regime].model_validate(data)
    except ValidationError as err:
        errors = {".".join(str(p) for p in e["loc"]) or "": e["msg"] for e in err.errors()}
        return _report_page(request, regime, values, errors, status=422)
    ip_key = pseudonymous_ip(request, state.proxies, state.pseudonymizer)
    ack = await run_in_threadpool(file_notice, state.records, intake, notifier_ip_key=ip_key)
    return page("report_ack.html", 201, title="Report received", ack=ack, regime_title=REGIME_TITLES[regime])


# ---- the moderators' queue -----------------------------------------------------------------------------

_LOGIN = "/moderation/login"
_STATUSES = ("open", "counter_noticed", "actioned", "rejected", "restored")


def _to_login() -> RedirectResponse:
    return RedirectResponse(_LOGIN, status_code=303, headers={"Cache-Control": "no-store"})


def _login_page(request: Request, error: str = "", status: int = 200) -> HTMLResponse:
    return page("login.html", status, title="Moderators' sign-in", error=error, csrf=csrf_token(request, "login"))


@router.get("/moderation/login", response_class=HTMLResponse)
async def login_form(request: Request) -> HTMLResponse:
    return _login_page(request)


@router.post("/moderation/login", response_model=None)
async def login(request: Request, state: State) -> Response:
    """Check the token once; keep only a signed session (the token never reaches a page or a cookie)."""
    form = await request.form()
    if not csrf_ok(request, form, "login"):
        return _csrf_refused()
    principal = await run_in_threadpool(state.tokens.verify, str(form.get("token", "")).strip())
    if principal is None or not principal.may(Role.MODERATOR):
        return _login_page(request, "That token is not valid for moderation.", status=401)
    response = RedirectResponse("/moderation", status_code=303)
    response.set_cookie(SESSION_COOKIE, _session_cookie(request, principal), max_age=SESSION_TTL_S,
                        path="/moderation", httponly=True, samesite="strict", secure=request.url.scheme == "https")
    return response


@router.post("/moderation/logout", response_model=None)
async def logout(request: Request, state: State) -> Response:
    session = read_session(request, state)
    form = await request.form()
    if session is not None and not csrf_ok(request, form, f"moderation|{session.sid}"):
        return _csrf_refused()
    response = _to_login()
    response.delete_cookie(SESSION_COOKIE, path="/moderation", httponly=True, samesite="strict",
                           secure=request.url.scheme == "https")
    return response


def _queue(state: ServerState, status: str) -> list[Any]:
    from clauseguard.guards.records.notices import notice_queue

    return notice_queue(state.records, status=status, limit=500)


@router.get("/moderation", response_model=None)
async def moderation_queue(request: Request, state: State, status: str = "open") -> Response:
    """Notices by deadline, nearest first; overdue ones marked. Without a session: the sign-in page."""
    session = await run_in_threadpool(read_session, request, state)
    if session is None:
        return _to_login()
    status = status if status in _STATUSES else "open"
    notices = await run_in_threadpool(_queue, state, status)
    return page("queue.html", title="Moderation queue", notices=notices, status=status, statuses=_STATUSES,
                now=datetime.now(UTC), session=session, csrf=csrf_token(request, f"moderation|{session.sid}"))


def _clause_options(state: ServerState) -> list[tuple[str, list[dict[str, str]]]]:
    """The clauses a decision may cite, by document (the terms first) and section number, from report.json."""
    from clauseguard.guards.records.lockfile import clause_section, load_report

    if state.report_path is None:
        return []
    report = load_report(state.report_path)
    groups: dict[str, list[dict[str, str]]] = {}
    for clause in report.get("clauses", []):
        if clause.get("sections"):
            cited = clause_section(report, clause["id"]).to_dict()
            groups.setdefault(cited["document_title"], []).append(cited)
    for options in groups.values():
        options.sort(key=lambda o: [int(p) if p.isdigit() else 0 for p in o["section_number"].split(".")])
    return sorted(groups.items(), key=lambda g: g[1][0]["document_id"] != "terms-of-use")


def _notice_view(state: ServerState, reference: str) -> tuple[Any, dict[str, Any] | None]:
    from clauseguard.guards.records.models import Decision, Notice

    with state.records.session() as s:
        notice = s.execute(select(Notice).where(Notice.reference == reference)).scalar_one_or_none()
        if notice is None:
            return None, None
        decision = s.execute(select(Decision).where(Decision.notice_id == notice.id)
                             .order_by(Decision.decided_at.desc())).scalars().first()
        return notice, (decision.statement if decision else None)


async def _notice_page(request: Request, state: State, session: Session, reference: str,
                       values: dict[str, Any] | None = None, errors: dict[str, str] | None = None,
                       status: int = 200) -> HTMLResponse:
    from clauseguard.guards.records.statements import DEFAULT_REDRESS, Restriction

    notice, statement = await run_in_threadpool(_notice_view, state, reference[:40])
    if notice is None:
        return page("error.html", 404, title="Not found", message="There is no notice with that reference.")
    return page("notice.html", status, title=f"Notice {notice.reference}", notice=notice, statement=statement,
                now=datetime.now(UTC), restrictions=[r.value for r in Restriction], redress=DEFAULT_REDRESS,
                clauses=await run_in_threadpool(_clause_options, state), values=values or {},
                errors=errors or {}, session=session, csrf=csrf_token(request, f"moderation|{session.sid}"))


@router.get("/moderation/notices/{reference}", response_model=None)
async def moderation_notice(reference: str, request: Request, state: State) -> Response:
    """One notice; its decision form while open, its statement of reasons once decided."""
    session = await run_in_threadpool(read_session, request, state)
    if session is None:
        return _to_login()
    return await _notice_page(request, state, session, reference)


def read_decision(form: FormData) -> dict[str, Any]:
    """The decision form as the API's ``DecisionBody`` fields (blank optional fields left out)."""
    data: dict[str, Any] = {"automated_detection": form.get("automated_detection") == "yes",
                            "automated_decision": form.get("automated_decision") == "yes"}
    for name in ("restriction", "facts", "legal_ground", "clause_id", "explanation", "territorial_scope",
                 "duration"):
        text = str(form.get(name, "")).strip()
        if text:
            data[name] = text
    return data


@router.post("/moderation/notices/{reference}/decision", response_model=None)
async def moderation_decide(reference: str, request: Request, state: State) -> Response:
    """Decide through the same model and records call as the API; then show the statement of reasons."""
    from clauseguard.errors import NoticeError
    from clauseguard.guards.records.statements import decide
    from clauseguard.guards.server.moderation import DecisionBody

    session = await run_in_threadpool(read_session, request, state)
    if session is None:
        return _to_login()
    form = await request.form()
    if not csrf_ok(request, form, f"moderation|{session.sid}"):
        return _csrf_refused()
    data = read_decision(form)
    try:
        body = DecisionBody.model_validate(data)
        await run_in_threadpool(lambda: decide(state.records, notice_reference=reference[:40],
                                               report=state.report_path, **body.model_dump()))
    except ValidationError as err:
        errors = {".".join(str(p) for p in e["loc"]): e["msg"] for e in err.errors()}
        return await _notice_page(request, state, session, reference, data, errors, status=422)
    except NoticeError as err:
        errors = {f: err.message for f in err.fields} or {"": err.message}
        return await _notice_page(request, state, session, reference, data, errors, status=422)
    except UserError as err:
        return await _notice_page(request, state, session, reference, data, {"clause_id": err.message}, status=422)
    return RedirectResponse(f"/moderation/notices/{reference[:40]}", status_code=303)
