"""An OpenAI-compatible chat completions server on loopback, for driving litellm for real.

POST /v1/chat/completions with `Authorization: Bearer <key>`, answering in the documented
`chat.completion` shape with `usage`. The reply is derived from the request so a test can
prove its prompt arrived: it quotes the first line of the last user message. Errors are
`{"error": {"message", "type", "param", "code"}}`: 401 for a key other than `api_key`
(quoting it masked, as OpenAI does), 403 for one in `forbidden_keys`, 500 for a model in
`fail_models`.

    with OpenAiServer(api_key="sk-test") as llm:
        litellm.completion(
            model="openai/gpt-4o-mini", api_base=llm.base_url, api_key="sk-test", messages=...
        )
"""

from __future__ import annotations

import copy
import itertools
import json
import threading
import time
from http.server import BaseHTTPRequestHandler
from typing import Any

from tests.fakes.loopback import LoopbackServer

Reply = tuple[int, dict[str, Any]]


def _error(message: str, kind: str, code: str | None = None) -> dict[str, Any]:
    return {"error": {"message": message, "type": kind, "param": None, "code": code}}


def _masked(key: str) -> str:
    """As OpenAI quotes a wrong key back: its start and end, starred in between."""
    return key[:8] + "*" * max(0, len(key) - 12) + key[-4:] if len(key) > 12 else "*" * len(key)


def _text(content: Any) -> str:
    """Message content is a string or a list of parts like {"type": "text", "text": ...}."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(
            part["text"]
            for part in content
            if isinstance(part, dict) and isinstance(part.get("text"), str)
        )
    return ""


def reply_for(messages: list[dict[str, Any]]) -> str:
    """The deterministic completion for these messages."""
    users = [_text(m.get("content")) for m in messages if m.get("role") == "user"]
    first_line = next((line.strip() for line in (users[-1] if users else "").splitlines()), "")
    return (
        f"Suggested next steps for: {first_line}\n"
        "1. Confirm the scope and impact with the requester.\n"
        "2. Check the similar tickets listed above for the fix that worked."
    )


class OpenAiServer(LoopbackServer):
    def __init__(self, api_key: str = "sk-test") -> None:
        super().__init__()
        self.api_key = api_key
        self.fail_models: set[str] = set()
        # Keys answered with 403, as OpenAI does for a key it knows but will not serve.
        self.forbidden_keys: set[str] = set()
        self.delay_seconds = 0.0
        # Seconds to answer a request whose messages contain the key (one slow call).
        self.delays_by_text: dict[str, float] = {}
        # Lines appended to every reply, as a model following the prompt's format adds them.
        self.reply_suffix = ""
        self._lock = threading.Lock()
        self._requests: list[dict[str, Any]] = []
        self._authorizations: list[str] = []
        self._ids = itertools.count(1)

    @property
    def requests(self) -> list[dict[str, Any]]:
        """Bodies of the chat completion requests received, authorized or not, in order."""
        with self._lock:
            return copy.deepcopy(self._requests)

    @property
    def authorizations(self) -> list[str]:
        """The Authorization headers of those requests, in the same order."""
        with self._lock:
            return list(self._authorizations)

    @property
    def base_url(self) -> str:
        return self._root_url() + "/v1"

    def _complete(self, authorization: str, raw_body: bytes) -> Reply:
        try:
            body = json.loads(raw_body)
        except ValueError:
            return 400, _error(
                "We could not parse the JSON body of your request.", "invalid_request_error"
            )
        if not isinstance(body, dict):
            return 400, _error("The request body must be a JSON object.", "invalid_request_error")
        with self._lock:
            self._requests.append(copy.deepcopy(body))
            self._authorizations.append(authorization)
            serial = next(self._ids)
        given = authorization.removeprefix("Bearer ")
        if given in self.forbidden_keys:
            return 403, _error(
                "Country, region, or territory not supported",
                "request_forbidden",
                "unsupported_country_region_territory",
            )
        if authorization != f"Bearer {self.api_key}":
            return 401, _error(
                f"Incorrect API key provided: {_masked(given)}. You can find your API key "
                "at https://platform.openai.com/account/api-keys.",
                "invalid_request_error",
                "invalid_api_key",
            )
        model, messages = body.get("model"), body.get("messages")
        if not isinstance(model, str) or not isinstance(messages, list) or not messages:
            return 400, _error(
                "'model' and a non-empty 'messages' are required.", "invalid_request_error"
            )
        if body.get("stream"):
            return 400, _error("This stand-in does not stream.", "invalid_request_error")
        text = " ".join(_text(m.get("content")) for m in messages if isinstance(m, dict))
        delay = max([self.delay_seconds, *(s for k, s in self.delays_by_text.items() if k in text)])
        if delay:
            time.sleep(delay)
        if model in self.fail_models:
            return 500, _error(
                "The server had an error while processing your request.", "server_error"
            )
        content = reply_for(messages) + self.reply_suffix
        prompt_tokens = sum(
            len(_text(m.get("content")).split()) for m in messages if isinstance(m, dict)
        )
        completion_tokens = len(content.split())
        return 200, {
            "id": f"chatcmpl-test{serial}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": model,
            "system_fingerprint": None,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": content, "refusal": None},
                    "logprobs": None,
                    "finish_reason": "stop",
                }
            ],
            "usage": {
                "prompt_tokens": prompt_tokens,
                "completion_tokens": completion_tokens,
                "total_tokens": prompt_tokens + completion_tokens,
            },
        }

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # headers and body go out in separate writes

            def log_message(self, format: str, *args: Any) -> None:
                """Quiet: tests read results, not access logs."""

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw_body = self.rfile.read(length) if length else b""
                if self.path.split("?")[0].rstrip("/") == "/v1/chat/completions":
                    status, body = server._complete(
                        self.headers.get("Authorization") or "", raw_body
                    )
                else:
                    status, body = 404, _error(f"Unknown path {self.path}", "invalid_request_error")
                data = json.dumps(body).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    self.close_connection = True  # the client gave up waiting

        return Handler
