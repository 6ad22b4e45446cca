"""Freshservice: what a Workflow Automator node can send to authenticate, the ticket
number in its placeholders, and our real client against the Freshservice-shaped stand-in."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from aiops.errors import PermanentError
from itsm.base import ItsmConnection, NormalizationError
from itsm.freshservice import TOKEN_HEADER, FreshserviceClient, FreshservicePlugin
from itsm.freshservice.normalize import ticket_number
from itsm.http import RetryPolicy
from tests.fakes.freshservice_server import FreshserviceServer

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "itsm" / "freshservice"
KEY = "fs-api-key-9a8b7c6d"
SECRET = "whsec_freshservice-tenant-secret-5e4d3c2b1a"
BODY = (FIXTURES / "workflow_ticket_created.json").read_bytes()


def _basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


@pytest.mark.parametrize(
    ("headers", "accepted"),
    [
        ({TOKEN_HEADER: SECRET}, True),
        ({"authorization": _basic("aiops", SECRET)}, True),
        ({TOKEN_HEADER: SECRET + "x"}, False),
        ({TOKEN_HEADER: ""}, False),
        ({"authorization": _basic(SECRET, "wrong")}, False),  # the secret as user name
        ({"authorization": "Basic not-base64!"}, False),
        ({"authorization": f"Bearer {SECRET}"}, False),
        ({}, False),
    ],
)
def test_the_secret_in_a_header_or_as_the_basic_auth_password(
    headers: dict[str, str], accepted: bool
) -> None:
    assert FreshservicePlugin().verify(headers, BODY, [SECRET]) is accepted


def test_a_wrong_header_is_not_rescued_by_basic_auth() -> None:
    headers = {TOKEN_HEADER: "wrong", "authorization": _basic("aiops", SECRET)}
    assert not FreshservicePlugin().verify(headers, BODY, [SECRET])


@pytest.mark.parametrize(
    ("given", "number"),
    [("#INC-1042", "1042"), ("SR-7", "7"), ("42", "42"), (42, "42"), ("INC", None), ("", None)],
)
def test_the_ticket_number_is_read_from_the_placeholders_display_form(
    given: object, number: str | None
) -> None:
    assert ticket_number(given) == number


def test_a_webhook_becomes_a_ticket_with_text_not_html() -> None:
    kind, ticket = FreshservicePlugin().normalize(json.loads(BODY))
    assert (kind, ticket.id, ticket.priority, ticket.tags) == (
        "created",
        "1042",
        "High",
        ["vpn", "remote-work"],
    )
    assert "<div>" not in ticket.description and "GlobalProtect" in ticket.description
    assert ticket.extra["display_id"] == "#INC-1042"
    bad = {"event": "created", "ticket": {"id": "the printer", "subject": "x"}}
    with pytest.raises(NormalizationError, match="ticket id"):
        FreshservicePlugin().normalize(bad)


def test_our_own_note_never_stands_in_for_the_resolution() -> None:
    payload = json.loads((FIXTURES / "workflow_ticket_resolved.json").read_text())
    kind, ticket = FreshservicePlugin().normalize(payload)
    assert kind == "resolved" and ticket.resolution is not None
    assert "Wi-Fi power saving" in ticket.resolution and "<p>" not in ticket.resolution
    payload["ticket"]["resolution"] = "<p>Try this ... [AI Ops ref e-77]</p>"
    assert FreshservicePlugin().normalize(payload)[1].resolution is None


# The client ----------------------------------------------------------------------------


@pytest.fixture()
def freshservice() -> Iterator[FreshserviceServer]:
    with FreshserviceServer(api_key=KEY) as server:
        ticket = json.loads((FIXTURES / "api_get_ticket_response.json").read_text())["ticket"]
        server.add_ticket(ticket)
        yield server


@pytest.fixture()
def http() -> Iterator[httpx.Client]:
    with httpx.Client() as client:
        yield client


def _client(server: FreshserviceServer, http: httpx.Client, key: str = KEY) -> FreshserviceClient:
    connection = ItsmConnection(server.base_url, key, timeout_seconds=5)
    return FreshserviceClient(connection, http, RetryPolicy(3, 0.01, sleep=lambda _: None))


def test_a_note_is_private_and_found_again_across_pages(
    freshservice: FreshserviceServer, http: httpx.Client
) -> None:
    client = _client(freshservice, http)
    for n in range(130):
        client.add_note("1042", f"<p>note {n}</p>")
    wanted = client.add_note("1042", "<p>Disable Wi-Fi power saving.</p><p>[ref f1]</p>")
    assert all(c["private"] for c in freshservice.conversations("1042"))
    assert client.find_note("1042", "[ref f1]") == wanted
    assert client.find_note("1042", "[ref f2]") is None
    [first, *_] = [r for r in freshservice.received if r.method == "POST"]
    assert first.path == "/api/v2/tickets/1042/notes"
    assert json.loads(first.body)["private"] is True


def test_a_public_reply_quoting_the_marker_is_not_our_note(
    freshservice: FreshserviceServer, http: httpx.Client
) -> None:
    http.post(
        f"{freshservice.base_url}/api/v2/tickets/1042/notes",
        json={"body": "<p>I got [ref f9] by mail</p>", "private": False},
        headers={"Authorization": _basic(KEY, "X")},
    )
    assert _client(freshservice, http).find_note("1042", "[ref f9]") is None


def test_a_slow_freshservice_gets_the_note_once(
    freshservice: FreshserviceServer, http: httpx.Client
) -> None:
    connection = ItsmConnection(freshservice.base_url, KEY, timeout_seconds=0.3)
    client = FreshserviceClient(connection, http, RetryPolicy(3, 0.01, sleep=lambda _: None))
    freshservice.note_delay_seconds = 1.0
    note_id = client.add_note("1042", "<p>only once</p>")
    assert freshservice.note_posts == 1
    assert [str(c["id"]) for c in freshservice.conversations("1042")] == [note_id]


def test_the_ticket_shows_codes_as_agents_see_them(
    freshservice: FreshserviceServer, http: httpx.Client
) -> None:
    ticket = _client(freshservice, http).fetch_ticket("1042")
    assert (ticket.priority, ticket.status, ticket.category) == ("High", "Open", "Network")


def test_the_credential_check(freshservice: FreshserviceServer, http: httpx.Client) -> None:
    _client(freshservice, http).check_credentials()
    with pytest.raises(PermanentError, match="401"):
        _client(freshservice, http, key="wrong").check_credentials()


def test_no_calls_left_holds_off_for_the_window(
    freshservice: FreshserviceServer, http: httpx.Client
) -> None:
    sleeps: list[float] = []
    connection = ItsmConnection(freshservice.base_url, KEY, timeout_seconds=5)
    client = FreshserviceClient(
        connection, http, RetryPolicy(3, 0.01, max_delay=120, sleep=sleeps.append)
    )
    freshservice.calls_left = 1
    client.fetch_ticket("1042")  # X-RateLimit-Remaining: 0, and no reset time
    client.fetch_ticket("1042")
    assert sleeps and 55 <= sleeps[0] <= 60
