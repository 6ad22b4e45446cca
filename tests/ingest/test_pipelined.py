"""The pipelined Redis client: RESP framing (pure), then against the real Redis and a
loopback server that never answers."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Iterator

import pytest
import redis
from redis.exceptions import ConnectionError, ResponseError, TimeoutError

from aiops.embedded import ServiceUrls
from ingest.pipelined import PipelinedRedis, _Incomplete, encode, head, parse

pytestmark = pytest.mark.anyio


def test_a_command_is_an_array_of_bulk_strings() -> None:
    assert encode(("SET", b"k\r\n", 42)) == b"*3\r\n$3\r\nSET\r\n$3\r\nk\r\n\r\n$2\r\n42\r\n"


def test_an_encoded_head_makes_the_same_command_as_its_arguments_would() -> None:
    whole = encode(("EVALSHA", "ab" * 20, 2, "k1", b"k2", 7, ""))
    assert encode(("k1", b"k2", 7, ""), head("EVALSHA", "ab" * 20, 2)) == whole
    assert encode((), head("PING")) == encode(("PING",)) == b"*1\r\n$4\r\nPING\r\n"


@pytest.mark.parametrize(
    ("wire", "reply"),
    [
        (b"+OK\r\n", b"OK"),
        (b":-7\r\n", -7),
        (b"$5\r\nab\r\nc\r\n", b"ab\r\nc"),
        (b"$-1\r\n", None),
        (b"*-1\r\n", None),
        (b"*3\r\n$8\r\naccepted\r\n:1\r\n*1\r\n$0\r\n\r\n", [b"accepted", 1, [b""]]),
    ],
)
def test_replies_parse_whole_and_none_of_their_prefixes_does(wire: bytes, reply: object) -> None:
    assert parse(wire + b"+next\r\n") == (reply, len(wire))
    for cut in range(len(wire)):
        with pytest.raises(_Incomplete):
            parse(wire[:cut])


def test_an_error_reply_is_a_response_error_value() -> None:
    error, end = parse(b"-NOSCRIPT No matching script\r\n")
    assert isinstance(error, ResponseError)
    assert str(error) == "NOSCRIPT No matching script"
    assert end == 30


@pytest.fixture()
def anyio_backend() -> str:
    return "asyncio"


async def test_concurrent_commands_each_get_their_own_reply(service_urls: ServiceUrls) -> None:
    client = PipelinedRedis(service_urls.redis_url, 5.0, lanes=3)
    try:
        replies = await asyncio.gather(*(client.execute("ECHO", f"m{n}") for n in range(500)))
    finally:
        await client.aclose()
    assert replies == [f"m{n}".encode() for n in range(500)]


async def test_answered_commands_keep_a_busy_connection_alive_past_the_timeout(
    service_urls: ServiceUrls,
) -> None:
    # The timeout watches the oldest unanswered command, not the connection's age: one
    # always busy for longer than the timeout, each command answered in time, never times
    # out. Each BLPOP on an empty list is answered (nil) after 0.2 s.
    client = PipelinedRedis(service_urls.redis_url, 0.5, lanes=1)
    try:
        started = time.monotonic()
        replies = []
        while time.monotonic() - started < 1.6:
            replies.append(await client.execute("BLPOP", "aiops-test:empty", "0.2"))
    finally:
        await client.aclose()
    assert len(replies) >= 4
    assert set(replies) == {None}


async def test_an_error_reply_is_raised_and_the_connection_stays_usable(
    service_urls: ServiceUrls, redis_client: redis.Redis
) -> None:
    redis_client.set("plain", "text")
    client = PipelinedRedis(service_urls.redis_url, 5.0, lanes=1)
    try:
        with pytest.raises(ResponseError, match="WRONGTYPE"):
            await client.execute("XADD", "plain", "*", "f", "v")
        assert await client.execute("GET", "plain") == b"text"
    finally:
        await client.aclose()


async def test_the_database_in_the_url_is_selected(
    service_urls: ServiceUrls, redis_client: redis.Redis
) -> None:
    url = service_urls.redis_url
    other = url + ("&" if "?" in url else "?") + "db=2"
    client = PipelinedRedis(other, 5.0)
    try:
        await client.execute("SET", "where", "db2")
    finally:
        await client.aclose()
    with redis.Redis.from_url(other) as direct:
        assert direct.get("where") == b"db2"
        direct.delete("where")
    assert redis_client.get("where") is None


async def test_nothing_listening_is_a_connection_error() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    client = PipelinedRedis(f"redis://127.0.0.1:{port}", 1.0)
    with pytest.raises(ConnectionError):
        await client.execute("PING")


@pytest.fixture()
def silent_server() -> Iterator[tuple[int, list[socket.socket]]]:
    """A loopback server that accepts connections and reads, but never answers."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    accepted: list[socket.socket] = []

    def serve() -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            accepted.append(conn)

    threading.Thread(target=serve, daemon=True).start()
    try:
        yield listener.getsockname()[1], accepted
    finally:
        listener.close()
        for conn in accepted:
            conn.close()


async def test_no_answer_within_the_timeout_is_a_timeout_and_the_next_call_reconnects(
    silent_server: tuple[int, list[socket.socket]],
) -> None:
    port, accepted = silent_server
    client = PipelinedRedis(f"redis://127.0.0.1:{port}", 0.3, lanes=1)
    started = time.monotonic()
    with pytest.raises(TimeoutError):
        await client.execute("PING")
    assert time.monotonic() - started < 2
    # A late answer would belong to the abandoned command: the connection is not reused.
    with pytest.raises(TimeoutError):
        await client.execute("PING")
    await client.aclose()
    assert len(accepted) == 2
