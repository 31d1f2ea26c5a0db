"""A live server on 127.0.0.1 (uvicorn in a thread, a temporary SQLite file) and Debian's chromium.

The browser tests (``test_pages_browser.py``) skip only when ``/usr/bin/chromium`` or the
``playwright`` package is missing (``apt-get install chromium``; ``pip install playwright``).
Playwright never downloads a browser here: it drives the system chromium through
``executable_path``. Screenshots go to a temporary folder, or to ``CLAUSEGUARD_SCREENSHOTS``.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = Path("/usr/bin/chromium")
ROOT = Path(__file__).resolve().parents[2]
ADMIN_TOKEN = "browser-admin-token-0123456789abcdef"
CHROMIUM_ARGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]



@pytest.fixture(scope="module")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    import uvicorn

    from clauseguard.generator.build import render_outputs
    from clauseguard.generator.profile import load_profile
    from clauseguard.guards.server.app import create_app
    from clauseguard.guards.server.settings import ServerSettings

    folder = tmp_path_factory.mktemp("server")
    report = folder / "report.json"
    report.write_bytes(render_outputs(load_profile(ROOT / "examples/chat-assistant/profile.yaml"),
                                      formats=("md",))["report.json"])
    app = create_app(guards_path=ROOT / "tests/guards/fixtures/guards.yaml", db_url=f"sqlite:///{folder / 'r.db'}",
                     report_path=report, settings=ServerSettings(admin_token=ADMIN_TOKEN))
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("uvicorn did not start within 20 s")
        time.sleep(0.05)
    yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    server.should_exit = True
    thread.join(timeout=10)


# Module scope, not session: Playwright's sync API keeps an event loop running in this thread until it
# stops, and later tests that call asyncio.run() would fail.
@pytest.fixture(scope="module")
def browser_context(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(tmp_path_factory.mktemp("chromium-profile")), executable_path=str(CHROMIUM), args=CHROMIUM_ARGS,
            headless=True, viewport={"width": 1200, "height": 900}, accept_downloads=True)
        yield context
        context.close()


@pytest.fixture
def page(browser_context: Any) -> Iterator[Any]:
    """A fresh tab that fails the test on a console error (a CSP violation shows up there) or a failed
    sub-resource (the stylesheet). Error statuses of the pages themselves (422 forms) are expected."""
    tab = browser_context.new_page()
    problems: list[str] = []
    tab.on("console", lambda m: problems.append(m.text)
           if m.type == "error" and not m.text.startswith("Failed to load resource") else None)
    tab.on("pageerror", lambda e: problems.append(str(e)))
    tab.on("response", lambda r: problems.append(f"{r.status} {r.url}")
           if r.request.resource_type != "document" and r.status >= 400 else None)
    yield tab
    tab.close()
    assert problems == []


@pytest.fixture(scope="session")
def shots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = Path(os.environ.get("CLAUSEGUARD_SCREENSHOTS") or tmp_path_factory.mktemp("screenshots"))
    folder.mkdir(parents=True, exist_ok=True)
    return folder
