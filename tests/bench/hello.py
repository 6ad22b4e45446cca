"""The floor for the ingest benchmark: a raw ASGI app that answers every request 200.

uvicorn tests.bench.hello:app
"""

from __future__ import annotations

from typing import Any

_BODY = b'{"status":"ok"}'
_START = {
    "type": "http.response.start",
    "status": 200,
    "headers": [(b"content-type", b"application/json"), (b"content-length", b"15")],
}


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    await send(_START)
    await send({"type": "http.response.body", "body": _BODY})
