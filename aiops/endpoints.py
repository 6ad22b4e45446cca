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
        if not is_public(address):
            raise EndpointRefusedError(
                f"the host {host!r} resolves to {address}, which is not a public address"
            )
