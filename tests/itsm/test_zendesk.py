"""Zendesk: the signature's replay window, event ids, and our real client against the
Zendesk-shaped stand-in (private comments, cursor pages, rate-limit headers, the check)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from aiops.errors import PermanentError, TransientError
from itsm.base import ItsmConnection
from itsm.http import RetryPolicy
from itsm.zendesk import (
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    ZendeskClient,
    ZendeskPlugin,
    signature,
)
from tests.conftest import FIXTURES as SHARED_FIXTURES
from tests.fakes.zendesk_server import ZendeskServer

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "itsm" / "zendesk"
SHARED = SHARED_FIXTURES / "itsm"
EMAIL = "agent@acme.example"
TOKEN = "zd-token-0a1b2c3d4e5f"
SECRET = "dGhpcyBpcyBhIHplbmRlc2sgc2lnbmluZyBzZWNyZXQ="
NOW = datetime(2026, 3, 2, 12, 0, 0, tzinfo=UTC)


def _pair() -> str:
    return base64.b64encode(f"{EMAIL}/token:{TOKEN}".encode()).decode()


def _headers(body: bytes, at: datetime, secret: str = SECRET) -> dict[str, str]:
    stamp = at.strftime("%Y-%m-%dT%H:%M:%SZ")
    return {SIGNATURE_HEADER: signature(secret, stamp, body), TIMESTAMP_HEADER: stamp}


def test_zendesks_documented_signature_is_reproduced() -> None:
    # base64(HMAC-SHA256(secret, timestamp + body)), computed independently.
    body, stamp = b'{"a":1}', "2021-03-25T05:09:27Z"
    expected = base64.b64encode(
        hmac.new(SECRET.encode(), stamp.encode() + body, hashlib.sha256).digest()
    ).decode()
    assert signature(SECRET, stamp, body) == expected


@pytest.mark.parametrize(
    ("sent", "accepted"),
    [
        (NOW, True),
        (NOW - timedelta(seconds=299), True),
        (NOW + timedelta(seconds=299), True),
        (NOW - timedelta(seconds=301), False),
        (NOW + timedelta(seconds=301), False),
    ],
)
def test_the_signed_timestamp_bounds_a_replay(sent: datetime, accepted: bool) -> None:
    plugin = ZendeskPlugin(clock=NOW.timestamp)
    body = (FIXTURES / "trigger_ticket_created.json").read_bytes()
    assert plugin.verify(_headers(body, sent), body, [SECRET]) is accepted


def test_a_re_dated_delivery_is_refused() -> None:
    plugin = ZendeskPlugin(clock=NOW.timestamp)
    body = (FIXTURES / "trigger_ticket_created.json").read_bytes()
    old = _headers(body, NOW - timedelta(hours=2))
    redated = {**old, TIMESTAMP_HEADER: NOW.strftime("%Y-%m-%dT%H:%M:%SZ")}
    assert not plugin.verify(redated, body, [SECRET])
    assert not plugin.verify({**old, TIMESTAMP_HEADER: "yesterday"}, body, [SECRET])


def test_an_event_webhook_is_known_by_its_event_id() -> None:
    plugin = ZendeskPlugin()
    event = json.loads((FIXTURES / "event_ticket_created.json").read_text())
    trigger = json.loads((FIXTURES / "trigger_ticket_created.json").read_text())
    assert plugin.delivery_id_in_body(event) == "cbe4028c-7239-495d-b020-f22348516046"
    assert plugin.delivery_id_in_body(trigger) is None
    kind, ticket = plugin.normalize(event)
    assert (kind, ticket.id, ticket.priority, ticket.tags) == (
        "created",
        "35440",
        "Normal",
        ["drive-mapping", "reimage"],
    )


def test_the_solved_trigger_brings_the_fix_as_resolution() -> None:
    payload = json.loads((FIXTURES / "trigger_ticket_solved.json").read_text())
    kind, ticket = ZendeskPlugin().normalize(payload)
    assert kind == "resolved"
    assert ticket.resolution is not None and "EnableADAL" in ticket.resolution
    assert ticket.tags == ["outlook", "mfa", "m365"]
    # Posted to the resolved route while still open: nothing to record.
    payload["ticket"]["status"] = "Open"
    with pytest.raises(Exception, match="not solved"):
        ZendeskPlugin().normalize(payload, "resolved")


# The client ----------------------------------------------------------------------------


@pytest.fixture()
def zendesk() -> Iterator[ZendeskServer]:
    with ZendeskServer(email=EMAIL, token=TOKEN) as server:
        ticket = json.loads((FIXTURES / "api_get_ticket_response.json").read_text())["ticket"]
        server.add_ticket(ticket)
        yield server


@pytest.fixture()
def http() -> Iterator[httpx.Client]:
    with httpx.Client() as client:
        yield client


def _client(
    zendesk: ZendeskServer, http: httpx.Client, sleeps: list[float], token: str = TOKEN
) -> ZendeskClient:
    connection = ItsmConnection(zendesk.base_url, token, username=EMAIL, timeout_seconds=5)
    return ZendeskClient(connection, http, RetryPolicy(3, 0.01, sleep=sleeps.append))


def test_a_note_is_a_private_html_comment_found_again_by_its_marker(
    zendesk: ZendeskServer, http: httpx.Client
) -> None:
    client = _client(zendesk, http, [])
    note_id = client.add_note("35436", "<p>Clear the cached credentials.</p><p>[ref e1]</p>")
    [comment] = zendesk.comments("35436")
    assert comment["public"] is False and str(comment["id"]) == note_id
    assert client.find_note("35436", "[ref e1]") == note_id
    assert client.find_note("35436", "[ref e2]") is None
    [put] = [r for r in zendesk.received if r.method == "PUT"]
    assert put.path == "/api/v2/tickets/35436.json"
    assert json.loads(put.body)["ticket"]["comment"]["public"] is False


def test_a_public_reply_quoting_the_marker_is_not_our_note(
    zendesk: ZendeskServer, http: httpx.Client
) -> None:
    client = _client(zendesk, http, [])
    customer = {"ticket": {"comment": {"body": "I saw [ref e9] in an e-mail"}}}  # public
    http.put(
        f"{zendesk.base_url}/api/v2/tickets/35436.json",
        json=customer,
        headers={"Authorization": "Basic " + _pair()},
    )
    assert zendesk.comments("35436")[0]["public"] is True
    assert client.find_note("35436", "[ref e9]") is None


def test_every_page_of_comments_is_read(zendesk: ZendeskServer, http: httpx.Client) -> None:
    client = _client(zendesk, http, [])
    for n in range(120):
        client.add_note("35436", f"<p>note {n}</p>")
    last = client.add_note("35436", "<p>[ref last]</p>")
    assert client.find_note("35436", "[ref last]") == last


def test_a_slow_zendesk_gets_the_note_once(zendesk: ZendeskServer, http: httpx.Client) -> None:
    connection = ItsmConnection(zendesk.base_url, TOKEN, username=EMAIL, timeout_seconds=0.3)
    client = ZendeskClient(connection, http, RetryPolicy(3, 0.01, sleep=lambda _: None))
    zendesk.comment_delay_seconds = 1.0
    note_id = client.add_note("35436", "<p>only once</p>")
    assert zendesk.comment_posts == 1
    assert [str(c["id"]) for c in zendesk.comments("35436")] == [note_id]


def test_no_calls_left_holds_off_until_the_reset(
    zendesk: ZendeskServer, http: httpx.Client
) -> None:
    sleeps: list[float] = []
    client = _client(zendesk, http, sleeps)
    zendesk.calls_left, zendesk.reset_seconds = 1, 7
    client.fetch_ticket("35436")  # answered with ratelimit-remaining: 0
    client.fetch_ticket("35436")
    assert sleeps and 6 <= sleeps[0] <= 7
    zendesk.calls_left, zendesk.reset_seconds = 1, 600
    client.fetch_ticket("35436")
    with pytest.raises(TransientError) as raised:
        client.fetch_ticket("35436")  # a wait longer than max_delay is handed back
    assert raised.value.retry_after is not None and raised.value.retry_after > 500


def test_429_honours_retry_after(zendesk: ZendeskServer, http: httpx.Client) -> None:
    sleeps: list[float] = []
    zendesk.retry_after_seconds = 2
    zendesk.fail_next(429)
    _client(zendesk, http, sleeps).add_note("35436", "<p>after the wait</p>")
    assert sleeps and sleeps[0] >= 2
    assert len(zendesk.comments("35436")) == 1


def test_the_credential_check_wants_an_agent(zendesk: ZendeskServer, http: httpx.Client) -> None:
    _client(zendesk, http, []).check_credentials()
    with pytest.raises(PermanentError, match="401"):
        _client(zendesk, http, [], token="wrong").check_credentials()
    zendesk.role = "end-user"
    with pytest.raises(PermanentError, match="not an agent"):
        _client(zendesk, http, []).check_credentials()


def test_a_ticket_is_read_through_the_api(zendesk: ZendeskServer, http: httpx.Client) -> None:
    ticket = _client(zendesk, http, []).fetch_ticket("35436")
    assert (ticket.id, ticket.priority, ticket.status, ticket.category) == (
        "35436",
        "High",
        "New",
        "Incident",
    )
    with pytest.raises(PermanentError, match="404"):
        _client(zendesk, http, []).fetch_ticket("404404")


def test_the_update_has_the_shape_zendesk_documents(
    zendesk: ZendeskServer, http: httpx.Client
) -> None:
    documented = json.loads((SHARED / "zendesk_ticket_update_add_comment_request.json").read_text())
    _client(zendesk, http, []).add_note("35436", "<p>x</p>")
    [put] = [r for r in zendesk.received if r.method == "PUT"]
    sent = json.loads(put.body)
    assert sent.keys() == documented.keys() == {"ticket"}
    assert sent["ticket"].keys() == documented["ticket"].keys() == {"comment"}
    # Ours adds what the sample leaves to its default: a private, HTML comment.
    assert sent["ticket"]["comment"] == {"html_body": "<p>x</p>", "public": False}
