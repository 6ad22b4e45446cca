"""One Redis connection per process that every webhook shares, its commands pipelined.

redis-py's asyncio client checks a connection out of its pool for each command and
costs about 200 µs of CPU per call here, more than all the rest of a webhook. The
webhook path needs only a few commands (EVALSHA, SCRIPT LOAD), so this client writes
each command to one shared connection as soon as it is asked and matches the replies in
order, as Redis sends them. Webhooks that arrive together reach Redis together, and one
AOF write and fsync (appendfsync always) covers them all before any of them is answered.

Errors are redis-py's exceptions, so callers treat both clients alike: ConnectionError
when Redis cannot be reached (one reconnect is tried first: a restarted Redis drops the
connection), TimeoutError past the timeout, ResponseError for an error reply.
"""

from __future__ import annotations

import asyncio
import random
import ssl
from collections import deque
from collections.abc import Awaitable
from typing import Any, NamedTuple, cast

from redis import exceptions
from redis.asyncio.connection import SSLConnection, parse_url

Reply = bytes | int | None | exceptions.ResponseError | list["Reply"]
Arg = str | bytes | int


class _Incomplete(Exception):
    """The buffer ends inside a reply: wait for more bytes."""


class Head(NamedTuple):
    """A command's first arguments as RESP bulk strings, encoded once for every call (the
    EVALSHA, script digest and key count of the webhook's one command)."""

    argument_count: int
    data: bytes


def head(*args: Arg) -> Head:
    return Head(len(args), _bulk_strings(args))


_NO_HEAD = Head(0, b"")


def _bulk_strings(args: tuple[Arg, ...]) -> bytes:
    parts = []
    for arg in args:
        # Most arguments are str: encoding them directly skips a str() call each.
        if type(arg) is str:
            data = arg.encode()
        else:
            data = arg if isinstance(arg, bytes) else str(arg).encode()
        parts.append(b"$%d\r\n%s\r\n" % (len(data), data))
    return b"".join(parts)


def encode(args: tuple[Arg, ...], first: Head = _NO_HEAD) -> bytes:
    """A command (`first`'s arguments, then `args`) as a RESP array of bulk strings."""
    return b"*%d\r\n%s%s" % (first.argument_count + len(args), first.data, _bulk_strings(args))


def parse(buffer: bytes | bytearray, start: int = 0) -> tuple[Reply, int]:
    """One RESP2 reply at `start` and the offset after it; raises _Incomplete."""
    line_end = buffer.find(b"\r\n", start)
    if line_end < 0:
        raise _Incomplete
    kind, line = buffer[start : start + 1], bytes(buffer[start + 1 : line_end])
    after = line_end + 2
    if kind == b"+":
        return line, after
    if kind == b"-":
        return exceptions.ResponseError(line.decode(errors="replace")), after
    if kind == b":":
        return int(line), after
    if kind == b"$":
        size = int(line)
        if size < 0:
            return None, after
        if len(buffer) < after + size + 2:
            raise _Incomplete
        return bytes(buffer[after : after + size]), after + size + 2
    if kind == b"*":
        count = int(line)
        if count < 0:
            return None, after
        items: list[Reply] = []
        for _ in range(count):
            item, after = parse(buffer, after)
            items.append(item)
        return items, after
    raise exceptions.ConnectionError(f"not a Redis reply (starts with {kind!r})")


class _Protocol(asyncio.Protocol):
    """One connection's commands in flight. A reply later than `timeout_seconds` fails its
    command with TimeoutError and closes the connection (a late reply would be matched to
    the next command). One timer per connection watches the oldest command, rather than
    asyncio.wait_for per command, which adds a timer and an event-loop hop to each."""

    def __init__(self, timeout_seconds: float) -> None:
        self.transport: asyncio.Transport | None = None
        self.waiting: deque[tuple[float, asyncio.Future[Reply]]] = deque()  # (deadline, reply)
        self.closed = False
        self._timeout = timeout_seconds
        self._watchdog: asyncio.TimerHandle | None = None
        self._buffer = bytearray()
        self._outgoing: list[bytes] = []

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports do not subclass asyncio's, but behave alike.
        self.transport = cast(asyncio.Transport, transport)

    def send(self, command: bytes) -> asyncio.Future[Reply]:
        """The future of the reply to `command`. Commands asked for in one turn of the event
        loop leave in one write, in the order asked, which is the order of the replies."""
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        if self.closed:
            future.set_exception(exceptions.ConnectionError("the Redis connection was lost"))
            return future
        if not self._outgoing:
            loop.call_soon(self._flush)
        self._outgoing.append(command)
        deadline = loop.time() + self._timeout
        self.waiting.append((deadline, future))
        if self._watchdog is None:
            self._watchdog = loop.call_at(deadline, self._expire)
        return future

    def _expire(self) -> None:
        self._watchdog = None
        if not self.waiting or self.closed:
            return
        loop = asyncio.get_running_loop()
        deadline = self.waiting[0][0]
        if deadline > loop.time():
            # The command it was set for was answered: watch the oldest one now waiting.
            self._watchdog = loop.call_at(deadline, self._expire)
            return
        while self.waiting and self.waiting[0][0] <= loop.time():
            _, future = self.waiting.popleft()
            if not future.done():
                future.set_exception(
                    exceptions.TimeoutError(f"Redis did not answer within {self._timeout} s")
                )
        self.close()  # the younger commands fail with ConnectionError, and are retried

    def _flush(self) -> None:
        if self.transport is not None and not self.closed:
            self.transport.write(b"".join(self._outgoing))
        self._outgoing.clear()

    def data_received(self, data: bytes) -> None:
        buffer = self._buffer
        buffer += data
        start = 0
        try:
            while start < len(buffer):
                reply, start = parse(buffer, start)
                _, future = self.waiting.popleft()
                if not future.done():  # its caller timed out and closed us; skip it
                    future.set_result(reply)
        except _Incomplete:
            pass
        except (exceptions.ConnectionError, IndexError, ValueError):
            # Garbage, or a reply nobody asked for: the stream cannot be trusted any more.
            self.close()
        del buffer[:start]

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self._watchdog is not None:
            self._watchdog.cancel()
            self._watchdog = None
        while self.waiting:
            _, future = self.waiting.popleft()
            if not future.done():
                future.set_exception(exceptions.ConnectionError("the Redis connection was lost"))

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.abort()  # connection_lost fails whoever still waits


class _Lane:
    """One connection, opened when first needed and again after it is lost."""

    def __init__(self, options: dict[str, Any], timeout_seconds: float) -> None:
        self._options = options
        self._timeout = timeout_seconds
        self._protocol: _Protocol | None = None
        self._connecting: asyncio.Future[_Protocol] | None = None

    def call(self, command: bytes) -> Awaitable[Reply]:
        """The reply to `command`: a connected lane gives the reply's future itself, with no
        coroutine around it; one that must connect first, a coroutine."""
        protocol = self._protocol
        if protocol is None or protocol.closed:
            return self._connected_call(command)
        return protocol.send(command)

    async def _connected_call(self, command: bytes) -> Reply:
        protocol = await self._connection()
        return await protocol.send(command)

    def close(self) -> None:
        if self._protocol is not None:
            self._protocol.close()
            self._protocol = None

    async def _connection(self) -> _Protocol:
        protocol = self._protocol
        if protocol is not None and not protocol.closed:
            return protocol
        if self._connecting is None:
            self._connecting = asyncio.ensure_future(self._connect())
        connecting = self._connecting
        try:
            # Shielded: one caller giving up must not cancel the others' connection.
            self._protocol = await asyncio.shield(connecting)
        finally:
            if connecting.done():
                self._connecting = None
        return self._protocol

    async def _connect(self) -> _Protocol:
        options = self._options
        loop = asyncio.get_running_loop()

        def protocol_factory() -> _Protocol:
            return _Protocol(self._timeout)

        try:
            if "path" in options:
                opening = loop.create_unix_connection(protocol_factory, options["path"])
            else:
                tls = None
                if options.get("connection_class") is SSLConnection:
                    tls = ssl.create_default_context()
                    if options.get("ssl_cert_reqs") == "none":
                        tls.check_hostname = False
                        tls.verify_mode = ssl.CERT_NONE
                opening = loop.create_connection(
                    protocol_factory,
                    options.get("host", "localhost"),
                    options.get("port", 6379),
                    ssl=tls,
                )
            _, protocol = await asyncio.wait_for(opening, self._timeout)
        except (OSError, TimeoutError) as exc:
            raise exceptions.ConnectionError(
                f"cannot connect to Redis: {type(exc).__name__}"
            ) from exc
        password, db = options.get("password"), options.get("db")
        if password is not None:
            username = options.get("username")
            auth = ("AUTH", username, password) if username else ("AUTH", password)
            await self._checked(protocol, auth)
        if db:
            await self._checked(protocol, ("SELECT", db))
        return protocol

    async def _checked(self, protocol: _Protocol, args: tuple[Arg, ...]) -> None:
        reply = await protocol.send(encode(args))
        if isinstance(reply, exceptions.ResponseError):
            protocol.close()
            raise exceptions.ConnectionError(f"Redis refused {args[0]!s}: {reply}")


class PipelinedRedis:
    """Commands spread over a few connections (lanes): Redis reads at most 16 KB from one
    connection per turn of its event loop, so one connection alone would cap how many
    webhooks share an fsync."""

    def __init__(self, url: str, timeout_seconds: float, lanes: int = 4) -> None:
        options: dict[str, Any] = dict(parse_url(url))
        self._lanes = [_Lane(options, timeout_seconds) for _ in range(lanes)]
        self._turn = 0

    async def execute(self, *args: Arg, first: Head = _NO_HEAD) -> Reply:
        """The reply to one command (`first`'s arguments, then `args`); an error reply is
        raised as ResponseError."""
        self._turn = (self._turn + 1) % len(self._lanes)
        lane = self._lanes[self._turn]
        command = encode(args, first)
        try:
            reply = await lane.call(command)
        except exceptions.ConnectionError:
            # A connection Redis dropped (a restart, an idle timeout) fails its first use.
            await asyncio.sleep(random.uniform(0.02, 0.1))
            reply = await lane.call(command)
        if isinstance(reply, exceptions.ResponseError):
            raise reply
        return reply

    async def aclose(self) -> None:
        for lane in self._lanes:
            lane.close()
