"""The flow's HTTP clients serve many tenants, so they keep no cookie a server sets: a
tenant's LLM endpoint or ITSM on a shared host could otherwise see another tenant's
cookie on its requests."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler

from aiops.settings import Settings
from flows.runtime import FlowRuntime
from flows.synthesis import openai_compat
from tests.fakes.loopback import LoopbackServer


class CookieSettingServer(LoopbackServer):
    """Answers every POST with a chat completion and every GET with {}, each setting a
    cookie; records the Cookie header of each request (None when absent)."""

    def __init__(self) -> None:
        super().__init__()
        self.cookies: list[str | None] = []
        self._lock = threading.Lock()

    @property
    def url(self) -> str:
        return self._root_url()

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self, body: dict[str, object]) -> None:
                with server._lock:
                    server.cookies.append(self.headers.get("Cookie"))
                data = json.dumps(body).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Set-Cookie", "session=tenant-a-secret; Path=/")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length", "0")))
                self._answer({"choices": [{"message": {"content": "a note"}}], "usage": {}})

            def do_GET(self) -> None:
                self._answer({})

            def log_message(self, format: str, *args: object) -> None:
                pass

        return Handler


def test_the_llm_client_sends_no_cookie_it_was_given() -> None:
    with CookieSettingServer() as server:
        for key in ("sk-tenant-a", "sk-tenant-b"):
            answer = openai_compat.complete(
                "openai/local",
                [{"role": "user", "content": "hi"}],
                api_base=server.url,
                api_key=key,
                timeout_seconds=5,
                max_tokens=10,
            )
            assert answer.text == "a note"
    assert server.cookies == [None, None]


def test_the_itsm_client_of_a_flow_thread_sends_no_cookie_it_was_given() -> None:
    runtime = FlowRuntime(Settings(database_url="postgresql://unused/none"))
    client = runtime._thread_http(public_only=False)
    with CookieSettingServer() as server:
        for _ in range(2):
            assert client.get(server.url + "/api/v3/requests/1").status_code == 200
    assert server.cookies == [None, None]
    assert not client.cookies
