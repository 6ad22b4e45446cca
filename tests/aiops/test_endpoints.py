"""Endpoints a tenant may choose: public addresses only."""

from __future__ import annotations

import pytest

from aiops.endpoints import EndpointRefusedError, check_public_endpoint


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8080/v1",
        "http://localhost/v1",
        "http://10.1.2.3/v1",
        "http://172.16.0.1/v1",
        "http://192.168.1.10:11434/v1",
        "http://169.254.169.254/latest/meta-data",
        "http://[::1]:8000/v1",
        "http://[fd00::1]/v1",
        "http://[::ffff:127.0.0.1]/v1",
        "http://0.0.0.0/v1",
        "http://[64:ff9b::7f00:1]/v1",  # NAT64 of 127.0.0.1
        "http://[64:ff9b::a9fe:a9fe]/v1",  # NAT64 of the metadata address
        "http://[64:ff9b:1::808:808]/v1",  # local-use NAT64, whatever it embeds
        "http://[2002:7f00:1::]/v1",  # 6to4 of 127.0.0.1
        "http://[2002:a00:1::1]/v1",  # 6to4 of 10.0.0.1
        "http://[2001:0:4136:e378:8000:63bf:80ff:fffe]/v1",  # Teredo, client 127.0.0.1
        "http://[::7f00:1]/v1",  # IPv4-compatible 127.0.0.1
        "http://[::c0a8:10a]/v1",  # IPv4-compatible 192.168.1.10
        "http://[::ffff:10.0.0.1]/v1",
        "http://[::ffff:169.254.169.254]/v1",
        "http:///v1",
    ],
)
def test_internal_addresses_are_refused(url: str) -> None:
    with pytest.raises(EndpointRefusedError):
        check_public_endpoint(url)


@pytest.mark.parametrize(
    "url",
    [
        "https://8.8.8.8/v1",
        "https://[2606:4700:4700::1111]/v1",
        "https://[64:ff9b::808:808]/v1",  # NAT64 of a public address
        "https://[2002:808:808::1]/v1",  # 6to4 of a public address
    ],
)
def test_public_addresses_pass(url: str) -> None:
    check_public_endpoint(url)
