"""Whether a URL a tenant chose may be called from inside the installation.

A tenant key can set its own LLM endpoint; the flow and the key check then call it from
the server's network. Left open, that reaches what only the server can: loopback,
private ranges, the cloud metadata address. A tenant's endpoint must therefore resolve
to public addresses only; the platform operator may set any endpoint.

The check runs twice: when the URL is saved (a clear error for the tenant), and on every
connection (`public_only_transport`), which resolves the name itself, checks every
address and connects to a checked one, so a name that resolves to a public address at
save time and to 127.0.0.1 later (DNS rebinding) is refused, not followed.
"""

from __future__ import annotations

import ipaddress
import socket
import ssl
from collections.abc import Iterable
from urllib.parse import urlsplit

import httpcore
import httpx


class EndpointRefusedError(ValueError):
    """The URL names, or resolves to, an address that is not public."""


# How a connection refused by public_only_transport's check starts its message.
REFUSED = "refused: "


_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_NAT64_LOCAL = ipaddress.ip_network("64:ff9b:1::/48")
_IPV4_COMPATIBLE = ipaddress.ip_network("::/96")

Address = ipaddress.IPv4Address | ipaddress.IPv6Address


def _embedded_ipv4(address: ipaddress.IPv6Address) -> list[ipaddress.IPv4Address]:
    """The IPv4 addresses an IPv6 address carries and a gateway would reach: mapped,
    IPv4-compatible, NAT64 (well-known prefix), 6to4, and both ends of Teredo."""
    found: list[ipaddress.IPv4Address] = []
    low32 = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    if address.ipv4_mapped is not None:
        found.append(address.ipv4_mapped)
    if address in _IPV4_COMPATIBLE or address in _NAT64:
        found.append(low32)
    if address.sixtofour is not None:
        found.append(address.sixtofour)
    if address.teredo is not None:
        found.extend(address.teredo)
    return found


def is_public(address: Address) -> bool:
    """Globally reachable, and so is every IPv4 address it stands for."""
    if not address.is_global:
        return False
    if isinstance(address, ipaddress.IPv4Address):
        return True
    # Python counts the local-use NAT64 prefix as global; it translates into the local network.
    if address in _NAT64_LOCAL:
        return False
    return all(v4.is_global for v4 in _embedded_ipv4(address))


def public_addresses(host: str) -> list[Address]:
    """Every address `host` resolves to; EndpointRefusedError unless all are public."""
    try:
        infos = socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise EndpointRefusedError(f"the host {host!r} does not resolve") from exc
    addresses = [ipaddress.ip_address(str(info[4][0]).split("%", 1)[0]) for info in infos]
    for address in addresses:
        if not is_public(address):
            raise EndpointRefusedError(
                f"the host {host!r} resolves to {address}, which is not a public address"
            )
    return addresses


def check_public_endpoint(url: str) -> None:
    """Raises EndpointRefusedError unless every address `url`'s host resolves to is public.

    This is the check made when the URL is saved; connections to it go through
    public_only_transport, which checks again as it connects.
    """
    host = urlsplit(url).hostname
    if not host:
        raise EndpointRefusedError("the URL has no host")
    public_addresses(host)


class _PublicOnlyBackend(httpcore.SyncBackend):
    """Connects only to checked public addresses of the name it was given."""

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.NetworkStream:
        try:
            addresses = public_addresses(host)
        except EndpointRefusedError as exc:
            raise httpcore.ConnectError(f"{REFUSED}{exc}") from exc
        # The first checked address, not the name: resolving again could answer otherwise.
        # TLS still verifies the certificate against the name (httpcore passes it as SNI).
        return super().connect_tcp(str(addresses[0]), port, timeout, local_address, socket_options)


def public_only_transport(verify: ssl.SSLContext | bool = True) -> httpx.HTTPTransport:
    """An httpx transport that reaches public addresses only, checked on every connection.
    No proxy from the environment: the proxy's address is not the endpoint's."""
    transport = httpx.HTTPTransport(verify=verify, trust_env=False)
    # httpx builds the connection pool itself and has no parameter for its network
    # backend; httpcore's pool reads this attribute for every new connection.
    transport._pool._network_backend = _PublicOnlyBackend()
    return transport
