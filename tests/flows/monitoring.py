"""A monitoring endpoint on loopback: JSON status per host asked for in `?hosts=a,b`."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import parse_qs, urlsplit

from tests.fakes.loopback import free_port


class MonitoringServer:
    def __init__(self) -> None:
        self.queries: list[list[str]] = []
        self.delay_seconds = 0.0
        self.details: dict[str, Any] = {}  # added to every host's status
        self._server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self._server is not None
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}/status"

    def __enter__(self) -> MonitoringServer:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                """Quiet."""

            def do_GET(self) -> None:
                query = parse_qs(urlsplit(self.path).query)
                hosts = [h for h in query.get("hosts", [""])[0].split(",") if h]
                server.queries.append(hosts)
                time.sleep(server.delay_seconds)
                body = json.dumps(
                    {
                        host: {"state": "DOWN", "checks": ["ping"], **server.details}
                        for host in hosts
                    }
                ).encode()
                try:
                    self.send_response(200)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                except (BrokenPipeError, ConnectionResetError):
                    self.close_connection = True  # the flow stopped waiting

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        assert self._server is not None
        self._server.shutdown()
        self._server.server_close()


def closed_port_url() -> str:
    """A loopback URL nothing listens on: connections are refused at once."""
    return f"http://127.0.0.1:{free_port()}/status"
