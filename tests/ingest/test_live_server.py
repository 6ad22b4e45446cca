"""Lies about the body that only a real HTTP server sees: raw bytes to uvicorn on loopback."""

from __future__ import annotations

import contextlib
import socket
from collections.abc import Iterator

import pytest
import redis

from aiops.settings import Settings
from ingest.app import create_app
from itsm.servicedesk import SIGNATURE_HEADER
from tests.ingest import sdp
from tests.ingest.live import exchange, live_server, read_answer, statuses
from tests.ingest.streams import enqueued_count

RAW = sdp.body("1001")


@pytest.fixture()
def address(settings: Settings, redis_client: redis.Redis) -> Iterator[tuple[str, int]]:
    with live_server(create_app(settings)) as served:
        yield served


def _head(tenant: str, *extra: str) -> bytes:
    lines = [
        f"POST /webhook/servicedesk?tenant={tenant} HTTP/1.1",
        "Host: 127.0.0.1",
        "Content-Type: application/json",
        f"{SIGNATURE_HEADER}: {sdp.headers(RAW)[SIGNATURE_HEADER]}",
        *extra,
    ]
    return "\r\n".join(lines).encode()


@pytest.mark.parametrize(
    ("extra", "body", "half_close"),
    [
        ([f"Content-Length: {len(RAW) + 100}"], RAW, True),  # promises more, then hangs up
        (["Content-Length: 10"], RAW, False),  # promises less: the rest is not a request
        (["Content-Length: abc"], RAW, False),
        (["Content-Length: -1"], RAW, False),
        (["Content-Length: 10", f"Content-Length: {len(RAW)}"], RAW, False),
        (["Content-Length: 10", "Transfer-Encoding: chunked"], b"5\r\nhello\r\n0\r\n\r\n", False),
    ],
    ids=["longer", "shorter", "not a number", "negative", "twice", "with chunked"],
)
def test_a_content_length_that_lies_stores_nothing_and_is_never_a_5xx(
    extra: list[str],
    body: bytes,
    half_close: bool,
    address: tuple[str, int],
    redis_client: redis.Redis,
    settings: Settings,
    tenant: str,
) -> None:
    answer = exchange(address, _head(tenant, *extra), body, half_close=half_close)

    answered = statuses(answer)
    # Only the sender that hung up gets no answer: it is no longer there to read one.
    assert answered or half_close, answer
    assert all(400 <= status < 500 for status in answered), answer
    assert enqueued_count(redis_client, settings.stream_prefix) == 0
    # The server is unharmed: the honest request after it is accepted.
    honest = exchange(
        address, _head(tenant, f"Content-Length: {len(RAW)}", "Connection: close"), RAW
    )
    assert statuses(honest) == [202]
    assert enqueued_count(redis_client, settings.stream_prefix) == 1


def test_a_declared_length_over_the_limit_is_answered_before_the_body_is_sent(
    address: tuple[str, int], redis_client: redis.Redis, settings: Settings, tenant: str
) -> None:
    head = _head(tenant, f"Content-Length: {settings.max_webhook_bytes + 1}")

    answer = exchange(address, head)  # no body at all

    assert statuses(answer) == [413]
    assert b"larger than" in answer
    assert enqueued_count(redis_client, settings.stream_prefix) == 0


def test_a_chunked_body_over_the_limit_is_cut_off_at_the_limit(
    address: tuple[str, int], redis_client: redis.Redis, settings: Settings, tenant: str
) -> None:
    chunk = b" " * 65536
    framed = f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n"
    sent = 0
    with socket.create_connection(address, timeout=10) as conn:
        conn.sendall(_head(tenant, "Transfer-Encoding: chunked") + b"\r\n\r\n")
        # The server may stop reading and answer (and close) before all of this is sent.
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            while sent <= settings.max_webhook_bytes * 4:
                conn.sendall(framed)
                sent += len(chunk)
        answer = read_answer(conn)

    assert statuses(answer) == [413]
    assert enqueued_count(redis_client, settings.stream_prefix) == 0
