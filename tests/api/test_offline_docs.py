"""/docs and /redoc of ingest and the API render in a real headless Chromium that can reach
nothing but loopback: every asset comes from the project's own server, none from a CDN."""

from __future__ import annotations

import contextlib
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import uvicorn

from aiops.settings import Settings
from api.app import create_app as create_api
from ingest.app import create_app as create_ingest
from tests.console.browser import browser_binary
from tests.fakes.loopback import free_port


@contextlib.contextmanager
def _serving(app: Any) -> Iterator[str]:
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "the app did not start"
        time.sleep(0.05)
    try:
        yield base
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def _rendered(url: str) -> str:
    """The DOM after the page's scripts ran, with every non-loopback request failing: a
    proxy that refuses connections, and no name resolving but loopback's."""
    with tempfile.TemporaryDirectory(prefix="aiops-chromium-") as profile:
        done = subprocess.run(
            [
                browser_binary(),
                "--headless",
                "--no-sandbox",  # the tests run as root
                "--disable-gpu",
                "--no-first-run",
                f"--user-data-dir={profile}",
                f"--proxy-server=http://127.0.0.1:{free_port()}",
                "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
                "--virtual-time-budget=15000",
                "--dump-dom",
                url,
            ],
            capture_output=True,
            text=True,
            timeout=120,
        )
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


@pytest.fixture(scope="module")
def running(settings: Settings) -> Iterator[dict[str, str]]:
    with _serving(create_ingest(settings)) as ingest, _serving(create_api(settings)) as api:
        yield {"ingest": ingest, "api": api}


@pytest.mark.parametrize("which", ["ingest", "api"])
def test_swagger_ui_renders_the_operations_offline(running: dict[str, str], which: str) -> None:
    base = running[which]
    page = httpx.get(f"{base}/docs", timeout=10).text
    assert "cdn." not in page and "https://" not in page

    dom = _rendered(f"{base}/docs")

    assert 'class="swagger-ui"' in dom
    assert 'data-path="/health/ready"' in dom  # an operation, drawn from openapi.json


@pytest.mark.parametrize("which", ["ingest", "api"])
def test_redoc_renders_the_operations_offline(running: dict[str, str], which: str) -> None:
    base = running[which]
    page = httpx.get(f"{base}/redoc", timeout=10).text
    assert "cdn." not in page and "fonts.googleapis" not in page

    dom = _rendered(f"{base}/redoc")

    assert "/health/ready" in dom and "redoc" in dom.lower()
