"""The ingest app under a real uvicorn on loopback, and raw HTTP/1.1 to talk to it."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator

import uvicorn
from starlette.types import ASGIApp


@contextlib.contextmanager
def live_server(app: ASGIApp) -> Iterator[tuple[str, int]]:
    """(host, port) of uvicorn serving `app`, lifespan included, until the block ends."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    config = uvicorn.Config(app, log_level="warning", access_log=False, timeout_graceful_shutdown=1)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [listener]}, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 20
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.02)
        yield "127.0.0.1", port
    finally:
        server.should_exit = True
        thread.join(timeout=20)
        listener.close()


def exchange(
    address: tuple[str, int], head: bytes, body: bytes = b"", *, half_close: bool = False
) -> bytes:
    """Sends `head` (request line and headers, without the blank line) and `body` as they
    are, lies included, then reads until the server closes or goes quiet."""
    with socket.create_connection(address, timeout=10) as conn:
        conn.sendall(head + b"\r\n\r\n" + body)
        if half_close:
            conn.shutdown(socket.SHUT_WR)
        return read_answer(conn)


def _has_response(received: bytes) -> bool:
    head, found, rest = received.partition(b"\r\n\r\n")
    if not found:
        return False
    for line in head.lower().split(b"\r\n"):
        if line.startswith(b"content-length:"):
            return len(rest) >= int(line.split(b":", 1)[1])
    return True


def read_answer(conn: socket.socket) -> bytes:
    """What the server sends until it closes, or goes quiet after a whole response."""
    conn.settimeout(10)
    received = b""
    with contextlib.suppress(TimeoutError, ConnectionResetError):
        while chunk := conn.recv(65536):
            received += chunk
            if _has_response(received):
                conn.settimeout(0.3)
    return received


def statuses(answer: bytes) -> list[int]:
    """The status code of every response in `answer`, in order."""
    return [
        int(line.split(b" ")[1]) for line in answer.split(b"\r\n") if line.startswith(b"HTTP/1.1 ")
    ]
