"""The management API served on loopback by uvicorn (lifespan included) against the
session's real PostgreSQL and Redis, and a headless Chromium to drive its console."""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import uvicorn

from aiops.settings import Settings
from api.app import create_app
from tests.console.browser import Page, chromium
from tests.fakes.loopback import free_port

# Where test_console writes the README's screenshots when asked:
# AIOPS_CONSOLE_SCREENSHOTS=docs pytest tests/console
SCREENSHOTS_ENV = "AIOPS_CONSOLE_SCREENSHOTS"


@contextlib.contextmanager
def serving(settings: Settings) -> Iterator[str]:
    port = free_port()
    config = uvicorn.Config(create_app(settings), host="127.0.0.1", port=port, log_level="warning")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "the API did not start"
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@pytest.fixture(scope="module")
def api_url(settings: Settings) -> Iterator[str]:
    with serving(settings) as url:
        yield url


@pytest.fixture()
def page() -> Iterator[Page]:
    with chromium() as opened:
        yield opened
        assert opened.problems == [], "script errors in the console"


@pytest.fixture()
def screenshots(tmp_path: Path) -> Path:
    chosen = os.environ.get(SCREENSHOTS_ENV)
    return Path(chosen) if chosen else tmp_path
