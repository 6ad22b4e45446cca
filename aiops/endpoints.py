"""Whether a URL a tenant chose may be called from inside the installation.

A tenant key can set its own LLM endpoint; the flow and the key check then call it from
the server's network. Left open, that reaches what only the server can: loopback,
private ranges, the cloud metadata address. A tenant's endpoint must therefore resolve
to public addresses only; the platform operator may set any endpoint.
"""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urlsplit


class EndpointRefusedError(ValueError):
    """The URL names, or resolves to, an address that is not public."""


def check_public_endpoint(url: str) -> None:
    """Raises EndpointRefusedError unless every address `url`'s host resolves to is public.

    The check is made when the URL is saved; a name that later resolves elsewhere (DNS
    rebinding) is outside what it can see, and egress rules in the cluster cover that.
    """
    host = urlsplit(url).hostname
    if not host:
        raise EndpointRefusedError("the URL has no host")
    try:
        infos = socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise EndpointRefusedError(f"the host {host!r} does not resolve") from exc
    for info in infos:
        address = ipaddress.ip_address(str(info[4][0]).split("%", 1)[0])
        if not address.is_global:
            raise EndpointRefusedError(
                f"the host {host!r} resolves to {address}, which is not a public address"
            )
