"""HTTP clients that one thread keeps for every tenant it serves (the flow's LLM and ITSM
calls): no cookies (aiops.cookies), one TLS context for all of them, and for an address
a tenant chose, connections to public addresses only (aiops.endpoints).

A client per thread, not one pool for all: one pool shared by hundreds of threads spent
more CPU on its lock and its scan of connections than on the requests.
"""

from __future__ import annotations

import ssl
from functools import cache

import certifi
import httpx

from aiops.cookies import no_cookies
from aiops.endpoints import public_only_transport

DEFAULT_TIMEOUT_SECONDS = 5.0  # httpx's own default


@cache
def tls() -> ssl.SSLContext:
    """One TLS context for every client: building one (loading the CA bundle) costs more
    CPU than hundreds of requests."""
    return ssl.create_default_context(cafile=certifi.where())


def shared_client(
    public_only: bool, timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS
) -> httpx.Client:
    """A new client for a thread to keep. `public_only`: every connection is checked to
    reach a public address, and no proxy from the environment is used."""
    if public_only:
        return httpx.Client(
            timeout=timeout_seconds,
            transport=public_only_transport(tls()),
            trust_env=False,
            cookies=no_cookies(),
        )
    return httpx.Client(timeout=timeout_seconds, verify=tls(), cookies=no_cookies())
