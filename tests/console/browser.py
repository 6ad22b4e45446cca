"""A real headless Chromium driven over the DevTools protocol (websockets, no extra package).

The browser can reach nothing but loopback (a proxy that refuses, and no name resolving
but 127.0.0.1), so a page that needed the internet would show it. Uncaught script errors
are collected and fail the test that drove the page (`Page.problems`).
"""

from __future__ import annotations

import base64
import contextlib
import itertools
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
from websockets.sync.client import ClientConnection, connect

from tests.fakes.loopback import free_port

BROWSERS = ("chromium", "chromium-browser", "google-chrome")


def browser_binary() -> str:
    for name in BROWSERS:
        found = shutil.which(name)
        if found:
            return found
    raise AssertionError(
        f"no headless Chromium on this machine (looked for {', '.join(BROWSERS)}); install "
        "it with `apt-get install -y chromium`"
    )


class PageError(AssertionError):
    pass


class Page:
    def __init__(self, socket: ClientConnection) -> None:
        self._socket = socket
        self._ids = itertools.count(1)
        self.problems: list[str] = []
        self._finished: list[tuple[str, str]] = []
        self._urls: dict[str, str] = {}

    def send(self, method: str, **params: Any) -> dict[str, Any]:
        call_id = next(self._ids)
        self._socket.send(json.dumps({"id": call_id, "method": method, "params": params}))
        while True:
            message = json.loads(self._socket.recv(timeout=60))
            if message.get("id") == call_id:
                if "error" in message:
                    raise PageError(f"{method}: {message['error']}")
                result: dict[str, Any] = message.get("result", {})
                return result
            self._event(message)

    def _event(self, message: dict[str, Any]) -> None:
        method = message.get("method")
        params = message.get("params", {})
        if method == "Network.responseReceived":
            self._urls[params["requestId"]] = params["response"]["url"]
        elif method == "Network.loadingFinished" and params["requestId"] in self._urls:
            self._finished.append((params["requestId"], self._urls[params["requestId"]]))
        elif method == "Runtime.exceptionThrown":
            details = params.get("exceptionDetails", {})
            text = details.get("exception", {}).get("description") or details.get("text")
            self.problems.append(f"uncaught: {text}")
        elif method == "Log.entryAdded" and params.get("entry", {}).get("level") == "error":
            entry = params["entry"]
            if entry.get("source") == "network":
                return  # an API answer of 4xx the page handles (a tenant key asking 403)
            self.problems.append(
                f"{entry.get('source')}: {entry.get('text')} {entry.get('url', '')}"
            )

    def evaluate(self, expression: str) -> Any:
        """The value of a JavaScript expression (promises awaited)."""
        result = self.send(
            "Runtime.evaluate", expression=expression, awaitPromise=True, returnByValue=True
        )
        if "exceptionDetails" in result:
            raise PageError(f"{expression}: {result['exceptionDetails']}")
        return result.get("result", {}).get("value")

    def goto(self, url: str) -> None:
        self.send("Page.navigate", url=url)
        self.wait_for("document.readyState === 'complete'")

    def wait_for(self, condition: str, timeout: float = 20.0) -> Any:
        """Polls until the expression is truthy; returns its value."""
        deadline = time.monotonic() + timeout
        while True:
            value = self.evaluate(condition)
            if value:
                return value
            if time.monotonic() > deadline:
                body = self.evaluate("document.body ? document.body.innerText : ''")
                raise PageError(f"timed out waiting for {condition!r}; the page shows:\n{body}")
            time.sleep(0.1)

    def wait_text(self, selector: str, text: str, timeout: float = 20.0) -> str:
        """Waits until the element exists and its text contains `text`; returns the text."""
        found: str = self.wait_for(
            f"(() => {{ const e = document.querySelector({json.dumps(selector)}); "
            f"return e && e.innerText.includes({json.dumps(text)}) ? e.innerText : ''; }})()",
            timeout,
        )
        return found

    def text(self, selector: str) -> str:
        self.wait_for(f"!!document.querySelector({json.dumps(selector)})")
        found: str = self.evaluate(f"document.querySelector({json.dumps(selector)}).innerText")
        return found

    def fill(self, selector: str, value: str) -> None:
        """Types the value the way a person's input ends: value set, input and change fired."""
        self.wait_for(f"!!document.querySelector({json.dumps(selector)})")
        self.evaluate(
            f"(() => {{ const e = document.querySelector({json.dumps(selector)}); e.focus(); "
            f"e.value = {json.dumps(value)}; "
            "e.dispatchEvent(new Event('input', {bubbles: true})); "
            "e.dispatchEvent(new Event('change', {bubbles: true})); })()"
        )

    def click(self, selector: str) -> None:
        """A real mouse click at the element's centre, once the element is what that point
        shows (so a covered or hidden one fails, and one that content drawn meanwhile
        moved is clicked where it is now)."""
        box = self.wait_for(
            f"(() => {{ const e = document.querySelector({json.dumps(selector)}); "
            "if (!e || e.disabled) return null; e.scrollIntoView({block: 'center'}); "
            "const r = e.getBoundingClientRect(); "
            "if (!r.width || !r.height) return null; "
            "const x = r.x + r.width / 2, y = r.y + r.height / 2; "
            "return e.contains(document.elementFromPoint(x, y)) ? [x, y] : null; })()"
        )
        x, y = box
        for kind in ("mousePressed", "mouseReleased"):
            self.send("Input.dispatchMouseEvent", type=kind, x=x, y=y, button="left", clickCount=1)

    def responses(self) -> list[tuple[str, str]]:
        """(url, body) of every response the page has received in full so far."""
        self.evaluate("1")  # lets the events that arrived meanwhile be read
        bodies = []
        for request_id, url in self._finished:
            answer = self.send("Network.getResponseBody", requestId=request_id)
            body = answer["body"]
            if answer.get("base64Encoded"):
                body = base64.b64decode(body).decode("utf-8", "replace")
            bodies.append((url, body))
        return bodies

    def resize(self, width: int, height: int = 900) -> None:
        self.send(
            "Emulation.setDeviceMetricsOverride",
            width=width,
            height=height,
            deviceScaleFactor=1,
            mobile=False,
        )

    def screenshot(self, path: Path, whole_page: bool = True) -> None:
        if not whole_page:
            shot = self.send("Page.captureScreenshot", format="png")
        else:
            # The window's full width: left to itself, the capture is as wide as the page
            # beside its scroll bar, and cuts the right edge of what the page lays out.
            width, height = self.evaluate(
                "[window.innerWidth, document.documentElement.scrollHeight]"
            )
            shot = self.send(
                "Page.captureScreenshot",
                format="png",
                captureBeyondViewport=True,
                clip={"x": 0, "y": 0, "width": width, "height": height, "scale": 1},
            )
        path.write_bytes(base64.b64decode(shot["data"]))


@contextlib.contextmanager
def chromium(width: int = 1280, height: int = 900) -> Iterator[Page]:
    """One headless Chromium with one page, closed afterwards."""
    with tempfile.TemporaryDirectory(
        prefix="aiops-chromium-", ignore_cleanup_errors=True
    ) as profile:
        process = subprocess.Popen(
            [
                browser_binary(),
                "--headless",
                "--no-sandbox",  # the tests run as root
                "--disable-gpu",
                "--no-first-run",
                "--disable-extensions",
                "--disable-background-networking",
                f"--window-size={width},{height}",
                f"--user-data-dir={profile}",
                f"--proxy-server=http://127.0.0.1:{free_port()}",
                "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
                "--remote-debugging-port=0",
                "about:blank",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            # Its own process group, so its renderer and helper processes end with it.
            start_new_session=True,
        )
        try:
            port_file = Path(profile) / "DevToolsActivePort"
            deadline = time.monotonic() + 30
            while not port_file.exists() or not port_file.read_text().strip():
                assert process.poll() is None, "Chromium exited before it listened"
                assert time.monotonic() < deadline, "Chromium did not open its DevTools port"
                time.sleep(0.05)
            port = int(port_file.read_text().split()[0])
            targets = httpx.get(f"http://127.0.0.1:{port}/json/list", timeout=10).json()
            page_url = next(t["webSocketDebuggerUrl"] for t in targets if t["type"] == "page")
            with connect(page_url, max_size=None, open_timeout=30) as socket:
                page = Page(socket)
                page.send("Runtime.enable")
                page.send("Log.enable")
                page.send("Page.enable")
                # Response bodies are kept so a test can show no secret ever came back.
                page.send("Network.enable", maxTotalBufferSize=64_000_000)
                page.resize(width, height)
                yield page
        finally:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
