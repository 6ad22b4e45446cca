"""Our real client against the SDP-shaped server, for both flavors."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from aiops.errors import PermanentError, TransientError
from itsm.base import ItsmConnection
from itsm.http import RetryPolicy
from itsm.registry import plugin
from itsm.servicedesk import ServiceDeskClient
from tests.conftest import FIXTURES
from tests.fakes.sdp_server import SdpServer

KEY = "tenant-sdp-key-0123456789"
REQUEST: dict[str, Any] = json.loads(
    (FIXTURES / "itsm" / "sdp_cloud_v3_get_request_response.json").read_text()
)["request"]
TICKET = REQUEST["id"]


@pytest.fixture(params=["onprem", "cloud"])
def sdp(request: pytest.FixtureRequest) -> Iterator[SdpServer]:
    with SdpServer(flavor=request.param, api_key=KEY) as server:
        server.add_request(REQUEST)
        yield server


@pytest.fixture()
def http() -> Iterator[httpx.Client]:
    with httpx.Client() as client:
        yield client


@pytest.fixture()
def sleeps() -> list[float]:
    return []


def make_client(
    sdp: SdpServer,
    http: httpx.Client,
    sleeps: list[float],
    *,
    api_key: str = KEY,
    attempts: int = 3,
    timeout: float = 5.0,
) -> ServiceDeskClient:
    connection = ItsmConnection(
        base_url=sdp.base_url + "/", api_key=api_key, flavor=sdp.flavor, timeout_seconds=timeout
    )
    return ServiceDeskClient(connection, http, RetryPolicy(attempts, 0.01, sleep=sleeps.append))


def test_add_note_posts_an_internal_note_with_the_flavors_wrapper(
    sdp: SdpServer, http: httpx.Client, sleeps: list[float]
) -> None:
    client = make_client(sdp, http, sleeps)
    note_id = client.add_note(TICKET, "<p>Try <b>restarting</b> the VPN client.</p>")
    [note] = sdp.notes(TICKET)
    assert note_id == str(note["id"])
    assert note["description"] == "<p>Try <b>restarting</b> the VPN client.</p>"
    assert note["show_to_requester"] is False
    assert note["notify_technician"] is False
    assert note["mark_first_response"] is False
    assert sdp.note_posts == 1
    assert sleeps == []


def test_the_server_refuses_the_other_flavors_wrapper(sdp: SdpServer, http: httpx.Client) -> None:
    other = "request_note" if sdp.flavor == "onprem" else "note"
    headers = {"Accept": "application/vnd.manageengine.sdp.v3+json"}
    headers |= {"authtoken": KEY} if sdp.flavor == "onprem" else {}
    headers |= {"Authorization": f"Zoho-oauthtoken {KEY}"} if sdp.flavor == "cloud" else {}
    url = f"{sdp.base_url}/api/v3/requests/{TICKET}/notes"
    note = {other: {"description": "x"}}
    wrong_wrapper = http.post(url, data={"input_data": json.dumps(note)}, headers=headers)
    assert wrong_wrapper.status_code == 400
    assert wrong_wrapper.json()["response_status"]["status"] == "failed"
    not_a_form = http.post(url, json=note, headers=headers)
    assert not_a_form.status_code == 400
    assert sdp.note_posts == 0


def test_find_note_returns_the_note_with_the_marker(
    sdp: SdpServer, http: httpx.Client, sleeps: list[float]
) -> None:
    client = make_client(sdp, http, sleeps)
    client.add_note(TICKET, "<p>Unrelated technician note</p>")
    wanted = client.add_note(TICKET, "<p>AI suggestion</p><p>[aiops:evt-42]</p>")
    assert client.find_note(TICKET, "[aiops:evt-42]") == wanted
    assert client.find_note(TICKET, "[aiops:evt-43]") is None


def test_find_note_reads_every_page(
    sdp: SdpServer, http: httpx.Client, sleeps: list[float]
) -> None:
    client = make_client(sdp, http, sleeps)
    for n in range(100):
        client.add_note(TICKET, f"<p>note {n}</p>")
    last = client.add_note(TICKET, "<p>[aiops:last]</p>")
    assert client.find_note(TICKET, "[aiops:last]") == last


def test_fetch_ticket(sdp: SdpServer, http: httpx.Client, sleeps: list[float]) -> None:
    ticket = make_client(sdp, http, sleeps).fetch_ticket(TICKET)
    assert ticket.id == TICKET
    assert ticket.subject == "Test create request"
    assert ticket.priority == "High"


def test_429_then_success_is_retried_after_retry_after(
    sdp: SdpServer, http: httpx.Client, sleeps: list[float]
) -> None:
    sdp.retry_after_seconds = 2
    sdp.fail_next(429)
    note_id = make_client(sdp, http, sleeps).add_note(TICKET, "<p>hello</p>")
    assert [str(n["id"]) for n in sdp.notes(TICKET)] == [note_id]
    assert len(sleeps) == 1
    assert sleeps[0] >= 2


def test_5xx_until_attempts_run_out_is_a_transient_error(
    sdp: SdpServer, http: httpx.Client, sleeps: list[float]
) -> None:
    sdp.fail_next(500, 502, 503)
    with pytest.raises(TransientError, match="503"):
        make_client(sdp, http, sleeps, attempts=3).add_note(TICKET, "<p>hello</p>")
    assert len(sleeps) == 2
    assert sdp.notes(TICKET) == []


def test_a_5xx_then_success_posts_once(
    sdp: SdpServer, http: httpx.Client, sleeps: list[float]
) -> None:
    sdp.fail_next(503)
    make_client(sdp, http, sleeps).add_note(TICKET, "<p>hello</p>")
    assert sdp.note_posts == 1


def test_a_timed_out_post_that_landed_is_not_posted_twice(
    sdp: SdpServer, http: httpx.Client, sleeps: list[float]
) -> None:
    sdp.note_delay_seconds = 1.0
    client = make_client(sdp, http, sleeps, timeout=0.2)
    note_id = client.add_note(TICKET, "<p>slow ITSM</p>")
    assert sdp.note_posts == 1
    assert [str(n["id"]) for n in sdp.notes(TICKET)] == [note_id]
    assert len(sleeps) == 1


def test_wrong_credentials_fail_fast_without_leaking_the_key(
    sdp: SdpServer, http: httpx.Client, sleeps: list[float]
) -> None:
    client = make_client(sdp, http, sleeps, api_key="wrong-key-abcdef")
    with pytest.raises(PermanentError, match="401") as caught:
        client.add_note(TICKET, "<p>hello</p>")
    assert "wrong-key-abcdef" not in str(caught.value)
    assert KEY not in str(caught.value)
    assert sleeps == []
    assert sdp.note_posts == 0


def test_unknown_ticket_fails_fast(sdp: SdpServer, http: httpx.Client, sleeps: list[float]) -> None:
    client = make_client(sdp, http, sleeps)
    with pytest.raises(PermanentError, match="404"):
        client.add_note("999", "<p>hello</p>")
    with pytest.raises(PermanentError, match="404"):
        client.fetch_ticket("999")
    with pytest.raises(PermanentError, match="404"):
        client.find_note("999", "marker")
    assert sleeps == []


def test_a_client_of_the_other_flavor_is_refused(
    sdp: SdpServer, http: httpx.Client, sleeps: list[float]
) -> None:
    other = "cloud" if sdp.flavor == "onprem" else "onprem"
    connection = ItsmConnection(base_url=sdp.base_url, api_key=KEY, flavor=other)
    client = ServiceDeskClient(connection, http, RetryPolicy(sleep=sleeps.append))
    with pytest.raises(PermanentError, match="401"):
        client.fetch_ticket(TICKET)


def test_an_unreachable_server_is_transient(http: httpx.Client, sleeps: list[float]) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    connection = ItsmConnection(base_url=f"http://127.0.0.1:{port}", api_key=KEY, flavor="cloud")
    client = ServiceDeskClient(connection, http, RetryPolicy(2, 0.01, sleep=sleeps.append))
    with pytest.raises(TransientError, match="unreachable"):
        client.fetch_ticket(TICKET)
    assert len(sleeps) == 1


def test_an_unknown_flavor_is_a_permanent_error(http: httpx.Client) -> None:
    connection = ItsmConnection(base_url="http://127.0.0.1:1", api_key=KEY, flavor=None)
    with pytest.raises(PermanentError, match="flavor"):
        ServiceDeskClient(connection, http)


def test_the_registry_builds_this_client(sdp: SdpServer, http: httpx.Client) -> None:
    servicedesk = plugin("servicedesk")
    assert servicedesk.name == "servicedesk"
    connection = ItsmConnection(base_url=sdp.base_url, api_key=KEY, flavor=sdp.flavor)
    assert servicedesk.client(connection, http).fetch_ticket(TICKET).id == TICKET
    with pytest.raises(KeyError, match=r"known plugins: .*jira, servicedesk"):
        plugin("lotus-notes")
