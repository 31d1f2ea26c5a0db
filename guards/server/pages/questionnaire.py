"""The founder's questionnaire: the questions of ``clauseguard init`` as a form, a preview, a zip download.

The preview shows each generated document inside ``<iframe sandbox srcdoc>`` so its HTML never shares
the page. The download holds every output plus the ``profile.yaml`` that regenerates them.
"""

from __future__ import annotations

import io
import json
import zipfile
from dataclasses import dataclass
from typing import Any

import yaml
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from starlette.concurrency import run_in_threadpool

from clauseguard import __version__
from clauseguard.errors import UserError
from clauseguard.guards.server.pages._answers import (
    MODEL_ROWS,
    build_profile,
    defaults,
    field_for,
    licences,
    model_blanks,
    questions,
    read_questionnaire,
)
from clauseguard.guards.server.pages._render import page, throttled
from clauseguard.guards.server.pages._signing import csrf_ok, csrf_refused, csrf_token
from clauseguard.guards.server.state import get_state
from clauseguard.guards.server.throttle import questionnaire as questionnaire_limit

__all__ = ["download_formats", "profile_yaml", "router"]

router = APIRouter(include_in_schema=False)


def _questionnaire_page(request: Request, values: dict[str, Any], errors: dict[str, str] | None = None,
                        documents: list[dict[str, str]] | None = None, status: int = 200) -> HTMLResponse:
    errors = errors or {}
    by_field: dict[str, list[str]] = {}
    for path, message in errors.items():
        by_field.setdefault(field_for(path), []).append(f"{path}: {message}")
    return page(request, "questionnaire.html", status, title="Your product's legal documents", questions=questions(),
                values=values, errors=errors, by_field=by_field, documents=documents or [],
                licences=licences(), model_rows=range(MODEL_ROWS),
                csrf=csrf_token(request, "questionnaire"))


@router.get("/questionnaire", response_class=HTMLResponse)
async def questionnaire(request: Request) -> HTMLResponse:
    """The questions of ``clauseguard init`` as a form."""
    return _questionnaire_page(request, {**defaults(), **model_blanks()})


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
        return _Answers({}, refused=csrf_refused(request))
    values, given, errors = read_questionnaire(form)
    profile, data, problems = (None, {}, {}) if errors else build_profile(given)
    if errors or problems:
        return _Answers(values, refused=_questionnaire_page(request, values, {**errors, **problems}, status=422))
    state = get_state(request)  # valid answers are rendered, which takes a while: throttled per client
    if (too_many := await throttled(request, state, questionnaire_limit(state.settings))) is not None:
        return _Answers(values, refused=too_many)
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
    """The answers as a ``profile.yaml``, stamped with the clauseguard version that wrote it."""
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
