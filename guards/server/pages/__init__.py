"""Server-rendered web pages: the founder's questionnaire, the public report form, the moderators' queue.

No front-end build and no JavaScript: plain HTML forms, Jinja2 with autoescape on everywhere, one CSS
file. Every page answers with a Content-Security-Policy that allows no script at all; the generated
documents are previewed inside ``<iframe sandbox srcdoc>`` so their HTML never shares the page.

One module per concern, one ``router`` for the app:

- :mod:`._render`: the Jinja2 environment, the headers of every page, the stylesheet;
- :mod:`._signing`: CSRF tokens and the moderators' signed session cookie;
- :mod:`._answers` and :mod:`.questionnaire`: the questionnaire, its preview and its zip download;
- :mod:`.report`: the public report form (DSA, DMCA, TAKE IT DOWN);
- :mod:`.moderation`: sign-in, the queue, one notice and its decision.

The templates and the stylesheet stay in ``guards/server/templates`` and ``guards/server/static``.
"""

from __future__ import annotations

from fastapi import APIRouter

from clauseguard.guards.server.pages import _render, moderation, questionnaire, report
from clauseguard.guards.server.pages._signing import CSRF_TTL_S, SECRET_ENV, SESSION_COOKIE

__all__ = ["CSRF_TTL_S", "SECRET_ENV", "SESSION_COOKIE", "router"]

router = APIRouter(include_in_schema=False)
for _module in (_render, questionnaire, report, moderation):
    router.include_router(_module.router)
