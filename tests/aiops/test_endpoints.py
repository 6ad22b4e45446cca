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
        "http:///v1",
    ],
)
def test_internal_addresses_are_refused(url: str) -> None:
    with pytest.raises(EndpointRefusedError):
        check_public_endpoint(url)


@pytest.mark.parametrize("url", ["https://8.8.8.8/v1", "https://[2606:4700:4700::1111]/v1"])
def test_public_addresses_pass(url: str) -> None:
    check_public_endpoint(url)
