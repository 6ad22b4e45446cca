"""Checks on the raw request, fed through a real ASGI receive channel."""

from __future__ import annotations

import json

import pytest
from starlette.types import Message

from ingest.body import is_json_media_type, parse_json, read_capped
from ingest.rejection import Rejection

pytestmark = pytest.mark.anyio


class _Sender:
    """An ASGI receive channel that hands out `chunks` and counts what was taken."""

    def __init__(self, chunks: list[bytes]) -> None:
        self.chunks = chunks
        self.taken = 0

    async def __call__(self) -> Message:
        chunk = self.chunks[self.taken]
        self.taken += 1
        return {"type": "http.request", "body": chunk, "more_body": self.taken < len(self.chunks)}


class _Leaver:
    """An ASGI receive channel whose sender sends one chunk and then disconnects."""

    def __init__(self) -> None:
        self.messages: list[Message] = [
            {"type": "http.request", "body": b"ab", "more_body": True},
            {"type": "http.disconnect"},
        ]

    async def __call__(self) -> Message:
        return self.messages.pop(0)


async def test_the_body_is_read_whole_when_within_the_limit() -> None:
    sender = _Sender([b"ab", b"cd", b"e"])

    assert await read_capped(sender, None, limit=5) == b"abcde"


async def test_reading_stops_at_the_first_chunk_past_the_limit() -> None:
    sender = _Sender([b"x" * 4] * 100)

    with pytest.raises(Rejection) as caught:
        await read_capped(sender, None, limit=10)

    assert caught.value.status == 413
    assert sender.taken == 3


async def test_a_declared_length_over_the_limit_is_refused_unread() -> None:
    sender = _Sender([b"x"])

    with pytest.raises(Rejection) as caught:
        await read_capped(sender, "11", limit=10)

    assert caught.value.status == 413
    assert sender.taken == 0


async def test_a_sender_that_leaves_mid_body_is_a_400() -> None:
    with pytest.raises(Rejection) as caught:
        await read_capped(_Leaver(), "10", limit=100)

    assert (caught.value.status, caught.value.outcome) == (400, "disconnected")


@pytest.mark.parametrize(
    ("content_type", "is_json"),
    [
        ("application/json", True),
        ("Application/JSON; charset=UTF-8", True),
        ("application/cloudevents+json", True),
        ("text/json", False),
        ("text/plain", False),
        ("application/jsonp", False),
        ("", False),
        (None, False),
    ],
)
def test_json_media_types(content_type: str | None, is_json: bool) -> None:
    assert is_json_media_type(content_type) is is_json


@pytest.mark.parametrize("raw", [b"", b"{", b"\xff\xfe", b"[" * 100_000])
def test_what_is_not_json_is_a_400(raw: bytes) -> None:
    with pytest.raises(Rejection) as caught:
        parse_json(raw)

    assert caught.value.status == 400


@pytest.mark.parametrize(
    ("raw", "detail"),
    [
        (b"\xef\xbb\xbf{}", "Unexpected UTF-8 BOM (decode using utf-8-sig): line 1 column 1"),
        (b'{"a": NaN}', "NaN is not a JSON value"),
        (b'{"a": 1, "b": {"c": 2, "c": 3}}', "the key 'c' appears twice in one object"),
    ],
)
def test_a_400_says_what_is_wrong_with_the_json(raw: bytes, detail: str) -> None:
    with pytest.raises(Rejection) as caught:
        parse_json(raw)

    assert detail in caught.value.detail


def test_json_is_parsed_like_json_loads() -> None:
    raw = '{"a": [1, 2.5, true, null, "é\\u00e9"], "b": {"c": {}}}'
    assert parse_json(raw.encode()) == json.loads(raw)
