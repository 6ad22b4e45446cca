"""Writing a webhook's JSON answer straight to the ASGI server.

Starlette's Response builds and validates its header list and renders its body per
request; the webhook answers are small JSON documents with fixed headers, so they are
sent as two ASGI messages with the header list assembled from constants.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from json.encoder import encode_basestring
from typing import Any

from starlette.types import Send

_JSON = (b"content-type", b"application/json")
# json.dumps with options builds an encoder per call; this one is reused.
_ENCODER = json.JSONEncoder(ensure_ascii=False, allow_nan=False, separators=(",", ":"))


def render(content: Any) -> bytes:
    """JSON as Starlette's JSONResponse renders it: compact, UTF-8."""
    return _ENCODER.encode(content).encode()


def render_accepted(event_id: str, duplicate: bool) -> bytes:
    """render({"event_id": event_id, "duplicate": duplicate}), the answer to nearly every
    webhook, without the encoder's walk of a dict."""
    flag = b"true" if duplicate else b"false"
    return b'{"event_id":%s,"duplicate":%s}' % (encode_basestring(event_id).encode(), flag)


async def send_json(
    send: Send, status: int, body: bytes, headers: Sequence[tuple[bytes, bytes]] = ()
) -> None:
    """`body` is the answer's JSON, as render() gives it."""
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [_JSON, (b"content-length", b"%d" % len(body)), *headers],
        }
    )
    await send({"type": "http.response.body", "body": body})
