"""Endpoints a tenant chose are checked again on every connection: a name that passed the
check when it was saved and now resolves to loopback (DNS rebinding) is refused."""

from __future__ import annotations

import httpx
import pytest

from aiops.endpoints import REFUSED, check_public_endpoint, public_only_transport
from tests.fakes.openai_server import OpenAiServer
from tests.fakes.rebinding_dns import REBINDING_HOST, rebinding_dns

CHAT = {"model": "x", "messages": [{"role": "user", "content": "hi"}]}
AUTH = {"Authorization": "Bearer sk-x"}


def _rebound_url(server: OpenAiServer) -> str:
    return server.base_url.replace("127.0.0.1", REBINDING_HOST) + "/chat/completions"


def test_a_name_that_rebinds_to_loopback_after_the_check_is_refused_when_connecting(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with OpenAiServer(api_key="sk-x") as server, rebinding_dns(monkeypatch, 1) as answers:
        url = _rebound_url(server)
        check_public_endpoint(url)  # saved: the name looked public

        with (
            httpx.Client(transport=public_only_transport()) as guarded,
            pytest.raises(httpx.ConnectError) as refused,
        ):
            guarded.post(url, json=CHAT, headers=AUTH)
        assert str(refused.value).startswith(REFUSED)
        assert "127.0.0.1" in str(refused.value)
        assert answers == ["8.8.8.8", "127.0.0.1"]
        assert server.requests == [] and server.authorizations == []

        # The same lookup through an ordinary client would have reached loopback.
        with httpx.Client() as plain:
            assert plain.post(url, json=CHAT, headers=AUTH).status_code == 200
        assert server.authorizations == ["Bearer sk-x"]


def test_a_public_only_client_connects_to_the_address_it_checked(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The address checked is the address connected to: no second lookup to rebind."""
    with OpenAiServer(api_key="sk-x") as server, rebinding_dns(monkeypatch, 1) as answers:
        with (
            httpx.Client(transport=public_only_transport(), timeout=0.5) as guarded,
            pytest.raises(httpx.TransportError) as failed,
        ):
            guarded.post(_rebound_url(server), json=CHAT, headers=AUTH)
        # One lookup, answered public, then a connection attempt to 8.8.8.8 itself, which
        # this machine cannot reach: never a fresh lookup answered with 127.0.0.1.
        assert answers == ["8.8.8.8"]
        assert not str(failed.value).startswith(REFUSED)
        assert server.requests == []
