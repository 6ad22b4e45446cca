"""Writing a webhook's JSON answer straight to the ASGI server.

Starlette's Response builds and validates its header list and renders its body per
request; the webhook answers are small JSON documents with fixed headers, so they are
sent as two ASGI messages with the header list assembled from constants.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from starlette.types import Send

_JSON = (b"content-type", b"application/json")
# json.dumps with options builds an encoder per call; this one is reused.
_ENCODER = json.JSONEncoder(ensure_ascii=False, allow_nan=False, separators=(",", ":"))


def render(content: Any) -> bytes:
    """JSON as Starlette's JSONResponse renders it: compact, UTF-8."""
    return _ENCODER.encode(content).encode()


async def send_json(
    send: Send, status: int, content: Any, headers: Sequence[tuple[bytes, bytes]] = ()
) -> None:
    body = render(content)
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [_JSON, (b"content-length", b"%d" % len(body)), *headers],
        }
    )
    await send({"type": "http.response.body", "body": body})
