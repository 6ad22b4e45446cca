"""A DNS-rebinding name, as an attacker's DNS server would answer it: a public address for
the first lookups (the check when a URL is saved), then 127.0.0.1.

It stands in for the system resolver (`socket.getaddrinfo`), the one part of a rebinding
attack that cannot run on loopback; every other name resolves as usual.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

REBINDING_HOST = "llm.rebinding.test"
PUBLIC_ADDRESS = "8.8.8.8"


@contextmanager
def rebinding_dns(monkeypatch: pytest.MonkeyPatch, public_answers: int) -> Iterator[list[str]]:
    """Resolves REBINDING_HOST to PUBLIC_ADDRESS `public_answers` times, then to 127.0.0.1;
    yields the list of addresses it answered, in order."""
    real = socket.getaddrinfo
    answered: list[str] = []

    def getaddrinfo(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        if host != REBINDING_HOST:
            return real(host, port, *args, **kwargs)
        address = PUBLIC_ADDRESS if len(answered) < public_answers else "127.0.0.1"
        answered.append(address)
        return real(address, port, *args, **kwargs)

    with monkeypatch.context() as patched:
        patched.setattr(socket, "getaddrinfo", getaddrinfo)
        yield answered
