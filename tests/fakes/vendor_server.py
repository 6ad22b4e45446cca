"""What every ITSM stand-in shares: a JSON request handler, request recording, injected
failures (429 with Retry-After, 5xx, other 4xx) and dropping the connection after storing.

A subclass answers `route(request)` with a Reply, and names its error body in
`error_body(status, message)`. Routes that create a note call `take_failure()` first.
"""

from __future__ import annotations

import json
import threading
from collections import deque
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler
from typing import Any

from tests.fakes.loopback import LoopbackServer

Reply = tuple[int, dict[str, Any] | list[Any], dict[str, str]]  # status, JSON body, headers


@dataclass(frozen=True)
class Received:
    method: str
    path: str
    query: str
    headers: dict[str, str]  # names lower-cased
    body: bytes


class StoredButDropped(Exception):
    """Raised by a route after storing: the connection drops before any answer."""


class VendorServer(LoopbackServer):
    def __init__(self) -> None:
        super().__init__()
        self.retry_after_seconds = 1
        self._lock = threading.Lock()
        self._fail_next: deque[int] = deque()
        self._received: list[Received] = []

    # Test hooks ---------------------------------------------------------------------------

    def fail_next(self, *status_codes: int) -> None:
        """The next note writes answer these codes, in order, without creating a note."""
        with self._lock:
            self._fail_next.extend(status_codes)

    @property
    def received(self) -> list[Received]:
        """Every request, in order of arrival."""
        with self._lock:
            return list(self._received)

    @property
    def base_url(self) -> str:
        return self._root_url()

    # For subclasses -----------------------------------------------------------------------

    def route(self, request: Received) -> Reply:
        raise NotImplementedError

    def error_body(self, status: int, message: str) -> dict[str, Any]:
        return {"error": message}

    def take_failure(self) -> Reply | None:
        """The next injected failure, if any (call with the lock held)."""
        if not self._fail_next:
            return None
        code = self._fail_next.popleft()
        headers = {"Retry-After": str(self.retry_after_seconds)} if code == 429 else {}
        return code, self.error_body(code, f"simulated {code}"), headers

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # headers and body go out in separate writes

            def log_message(self, format: str, *args: Any) -> None:
                """Quiet: tests read results, not access logs."""

            def _answer(self, status: int, body: Any, headers: dict[str, str]) -> None:
                data = json.dumps(body).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json;charset=UTF-8")
                    self.send_header("Content-Length", str(len(data)))
                    for name, value in headers.items():
                        self.send_header(name, value)
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    self.close_connection = True  # the client gave up waiting

            def _handle(self, method: str) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                path, _, query = self.path.partition("?")
                request = Received(
                    method,
                    path,
                    query,
                    {k.lower(): v for k, v in self.headers.items()},
                    self.rfile.read(length) if length else b"",
                )
                with server._lock:
                    server._received.append(request)
                try:
                    reply = server.route(request)
                except StoredButDropped:
                    self.close_connection = True
                    return
                self._answer(*reply)

            def do_GET(self) -> None:
                self._handle("GET")

            def do_POST(self) -> None:
                self._handle("POST")

            def do_PUT(self) -> None:
                self._handle("PUT")

            def do_PATCH(self) -> None:
                self._handle("PATCH")

        return Handler
