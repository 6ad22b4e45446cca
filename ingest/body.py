"""Checks on the raw request before anything is parsed."""

from __future__ import annotations

import json
from typing import Any

from starlette.types import Receive

from ingest.rejection import Rejection


def is_json_media_type(content_type: str | None) -> bool:
    if not content_type:
        return False
    media = content_type.split(";", 1)[0].strip().lower()
    return media == "application/json" or (
        media.startswith("application/") and media.endswith("+json")
    )


def _too_large(limit: int) -> Rejection:
    return Rejection(413, "too_large", f"the webhook body is larger than {limit} bytes")


async def read_capped(receive: Receive, declared: str | None, limit: int) -> bytes:
    """The raw body from the ASGI `receive`, refusing a declared (Content-Length) or actual
    size over `limit` without buffering it."""
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise _too_large(limit)
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":  # http.disconnect
            raise Rejection(400, "disconnected", "the sender left before the body arrived")
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise _too_large(limit)
        chunks.append(chunk)
        if not message.get("more_body", False):
            return chunks[0] if len(chunks) == 1 else b"".join(chunks)


def _not_json(detail: str) -> Rejection:
    return Rejection(400, "bad_json", f"the webhook body is not valid JSON: {detail}")


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON value")


def _refuse_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    # json.loads keeps the last of repeated keys; an ITSM template that pastes ticket text
    # into the body unescaped would let a requester smuggle in a second "id" that way.
    found: dict[str, Any] = {}
    for key, value in pairs:
        if key in found:
            raise ValueError(f"the key {key!r} appears twice in one object")
        found[key] = value
    return found


# json.loads with options builds a decoder (and its scanner) per call; this one is reused.
_DECODER = json.JSONDecoder(
    parse_constant=_refuse_constant, object_pairs_hook=_refuse_duplicate_keys
)


def parse_json(body: bytes) -> Any:
    """JSON as RFC 8259 has it between systems: UTF-8, no NaN or Infinity, and (as the RFC
    advises for interoperability) unique keys in every object."""
    try:
        # json.loads(bytes) would also guess UTF-16 and UTF-32; a sender that uses them is
        # told so rather than half understood.
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise _not_json(f"it is not UTF-8 ({exc.reason} at byte {exc.start})") from exc
    try:
        if text.startswith("\ufeff"):  # what json.loads refuses before decoding
            raise json.JSONDecodeError("Unexpected UTF-8 BOM (decode using utf-8-sig)", text, 0)
        return _DECODER.decode(text)
    except RecursionError as exc:
        raise _not_json("it is nested too deeply") from exc
    except ValueError as exc:
        raise _not_json(str(exc)) from exc
