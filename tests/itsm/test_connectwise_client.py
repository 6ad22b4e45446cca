"""Our real ConnectWise client against the Manage REST API-shaped server, and the callbacks."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator

import httpx
import pytest

from aiops.errors import PermanentError, TransientError
from flows.writeback import marker, render_note_html
from itsm.base import IgnoredEvent, NormalizationError
from itsm.connectwise import (
    ConnectWiseClient,
    ConnectWiseSettings,
    api_root,
    is_closed,
    normalize_callback,
    ticket_from_service_ticket,
)
from itsm.http import RetryPolicy
from tests.fakes.connectwise_server import ConnectWiseServer
from tests.itsm.kit.material import OWN_FIXTURES

COMPANY, PUBLIC, PRIVATE, CLIENT_ID = "contoso_msp", "pubKey1", "priv-key-9f8e7d", "client-4c3b"
FIXTURE = OWN_FIXTURES / "connectwise"


@pytest.fixture()
def cw() -> Iterator[ConnectWiseServer]:
    with ConnectWiseServer(
        company=COMPANY, public_key=PUBLIC, private_key=PRIVATE, client_id=CLIENT_ID
    ) as server:
        server.add_ticket(
            {"id": 101, "summary": "VPN down", "closedFlag": False, "priority": {"name": "P2"}},
            description="Cannot connect since 9am.",
        )
        yield server


@pytest.fixture()
def http() -> Iterator[httpx.Client]:
    with httpx.Client() as client:
        yield client


@pytest.fixture()
def sleeps() -> list[float]:
    return []


def make_client(
    cw: ConnectWiseServer,
    http: httpx.Client,
    sleeps: list[float],
    *,
    private_key: str = PRIVATE,
    client_id: str = CLIENT_ID,
    attempts: int = 3,
) -> ConnectWiseClient:
    settings = ConnectWiseSettings(
        cw.base_url.removesuffix("/v4_6_release/apis/3.0"),  # the bare site URL, as admins type it
        COMPANY,
        PUBLIC,
        private_key,
        client_id,
        timeout_seconds=5.0,
    )
    return ConnectWiseClient(settings, http, RetryPolicy(attempts, 0.01, sleep=sleeps.append))


def test_a_note_goes_to_the_internal_tab_only(
    cw: ConnectWiseServer, http: httpx.Client, sleeps: list[float]
) -> None:
    note_marker = marker("evt-1")
    note_id = make_client(cw, http, sleeps).add_note("101", render_note_html("Try X.", note_marker))
    posts = [r for r in cw.received if r.method == "POST"]
    assert [json.loads(p.body) for p in posts] == [
        {
            "text": f"Try X.\n\n{note_marker}",
            "detailDescriptionFlag": False,
            "internalAnalysisFlag": True,
            "resolutionFlag": False,
            "processNotifications": False,
        }
    ]
    assert posts[0].path == "/v4_6_release/apis/3.0/service/tickets/101/notes"
    [note] = [n for n in cw.notes("101") if n["id"] == int(note_id)]
    assert note["internalAnalysisFlag"] and not note["detailDescriptionFlag"]


def test_every_call_sends_the_key_pair_and_the_client_id(
    cw: ConnectWiseServer, http: httpx.Client, sleeps: list[float]
) -> None:
    make_client(cw, http, sleeps).check_credentials()
    [request] = cw.received
    pair = base64.b64encode(f"{COMPANY}+{PUBLIC}:{PRIVATE}".encode()).decode()
    assert request.headers["authorization"] == f"Basic {pair}"
    assert request.headers["clientid"] == CLIENT_ID


@pytest.mark.parametrize(
    ("private_key", "client_id"), [("nope", CLIENT_ID), (PRIVATE, "someone-elses")]
)
def test_wrong_credentials_fail_fast_and_say_what_to_check(
    cw: ConnectWiseServer, http: httpx.Client, sleeps: list[float], private_key: str, client_id: str
) -> None:
    client = make_client(cw, http, sleeps, private_key=private_key, client_id=client_id)
    with pytest.raises(PermanentError, match=r"401.*client id") as caught:
        client.check_credentials()
    assert PRIVATE not in str(caught.value)
    assert sleeps == []


def test_find_note_looks_at_internal_notes_only(
    cw: ConnectWiseServer, http: httpx.Client, sleeps: list[float]
) -> None:
    client = make_client(cw, http, sleeps)
    note_id = client.add_note("101", render_note_html("x", marker("evt-2")))
    assert client.find_note("101", marker("evt-2")) == note_id
    assert client.find_note("101", marker("evt-20")) is None
    assert client.find_note("101", "Cannot connect") is None  # the Discussion is not ours


def test_fetch_ticket_reads_the_description_and_resolution_notes(
    cw: ConnectWiseServer, http: httpx.Client, sleeps: list[float]
) -> None:
    client = make_client(cw, http, sleeps)
    ticket = client.fetch_ticket("101")
    assert (ticket.subject, ticket.description, ticket.priority) == (
        "VPN down",
        "Cannot connect since 9am.",
        "P2",
    )
    assert not is_closed(ticket) and ticket.resolved_at is None
    cw.update_ticket("101", closedFlag=True, closedDate="2026-11-30T10:02:41Z")
    cw.add_resolution("101", "Re-issued the VPN certificate.")
    closed = client.fetch_ticket("101")
    assert is_closed(closed) and closed.resolution == "Re-issued the VPN certificate."
    assert closed.resolved_at is not None


def test_429_is_retried_after_retry_after(
    cw: ConnectWiseServer, http: httpx.Client, sleeps: list[float]
) -> None:
    cw.retry_after_seconds = 3
    cw.fail_next(429)
    make_client(cw, http, sleeps).add_note("101", "<p>x</p>")
    assert sleeps and sleeps[0] >= 3
    assert len([n for n in cw.notes("101") if n["internalAnalysisFlag"]]) == 1


def test_5xx_until_attempts_run_out_is_transient(
    cw: ConnectWiseServer, http: httpx.Client, sleeps: list[float]
) -> None:
    cw.fail_next(502, 502, 502)
    with pytest.raises(TransientError, match="502"):
        make_client(cw, http, sleeps).add_note("101", "<p>x</p>")


def test_a_timed_out_post_that_landed_is_not_posted_twice(
    cw: ConnectWiseServer, http: httpx.Client, sleeps: list[float]
) -> None:
    cw.note_delay_seconds = 0.5
    settings = ConnectWiseSettings(cw.base_url, COMPANY, PUBLIC, PRIVATE, CLIENT_ID, 0.2)
    client = ConnectWiseClient(settings, http, RetryPolicy(3, 0.01, sleep=sleeps.append))
    note_id = client.add_note("101", "<p>Slow.</p>")
    internal = [n for n in cw.notes("101") if n["internalAnalysisFlag"]]
    assert [str(n["id"]) for n in internal] == [note_id]


def test_an_unknown_ticket_and_a_malformed_id_are_permanent(
    cw: ConnectWiseServer, http: httpx.Client, sleeps: list[float]
) -> None:
    client = make_client(cw, http, sleeps)
    with pytest.raises(PermanentError, match="404"):
        client.fetch_ticket("999")
    with pytest.raises(PermanentError, match="integer"):
        client.fetch_ticket("../system/members")
    assert sleeps == []


def test_missing_settings_are_named(http: httpx.Client) -> None:
    with pytest.raises(PermanentError, match="public key, client id"):
        ConnectWiseClient(ConnectWiseSettings("https://na.example", "acme", "", "priv", ""), http)


def test_the_api_root_is_added_to_a_bare_site_url() -> None:
    assert api_root("https://api-na.myconnectwise.net/") == (
        "https://api-na.myconnectwise.net/v4_6_release/apis/3.0"
    )
    assert api_root("https://cw.example/v2024_1/apis/3.0") == "https://cw.example/v2024_1/apis/3.0"


# Callbacks --------------------------------------------------------------------------------


def test_a_callback_becomes_a_pointer_with_nothing_of_the_entity() -> None:
    body = json.loads((FIXTURE / "callback_ticket_added.json").read_text())
    kind, ticket = normalize_callback(body)
    assert (kind, ticket.id) == ("created", "250314")
    entity = json.loads(body["Entity"])
    assert entity["summary"] not in ticket.model_dump_json()
    # Two copies of the same "added" are the same event: no time in what the id derives from.
    assert normalize_callback(body) == (kind, ticket)


def test_an_update_of_an_open_ticket_is_ignored_and_one_of_a_closed_ticket_is_a_candidate() -> None:
    with pytest.raises(IgnoredEvent):
        normalize_callback(json.loads((FIXTURE / "callback_ticket_updated_open.json").read_text()))
    body = json.loads((FIXTURE / "callback_ticket_updated_closed.json").read_text())
    kind, ticket = normalize_callback(body)
    assert kind == "resolved" and ticket.resolution is None  # read later, from ConnectWise


@pytest.mark.parametrize(
    "body",
    [[], {"Action": "added"}, {"Action": "added", "ID": "12; DROP"}, {"Action": "moved", "ID": 5}],
)
def test_unreadable_callbacks_say_which_field(body: object) -> None:
    with pytest.raises(NormalizationError) as caught:
        normalize_callback(body)
    assert caught.value.errors


def test_a_service_ticket_and_its_notes_normalize() -> None:
    ticket = json.loads((FIXTURE / "service_ticket_closed.json").read_text())
    notes = json.loads((FIXTURE / "service_ticket_notes.json").read_text())
    read = ticket_from_service_ticket(ticket, notes)
    assert read.description.startswith("Since this morning Outlook")
    assert "Checked the account" not in read.description  # internal analysis stays out
    assert read.resolution and read.resolution.startswith("Cleared the cached credentials")
    assert read.extra["company"] == "Contoso" and read.extra["board"] == "Help Desk"
    assert read.resolved_at is not None and read.requester == "Abel Tuter"
