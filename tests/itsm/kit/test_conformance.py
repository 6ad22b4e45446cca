"""The conformance kit: every plugin in itsm.registry, through its own loopback stand-in.

Each test takes the plugin's kit material first (tests/itsm/kit/material.py), so a plugin
registered without it fails every test here, before any server is started.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import httpx
import pytest
import redis
from fastapi.testclient import TestClient

from aiops.crypto import SecretBox
from aiops.errors import PermanentError, TransientError
from aiops.events import Event, decode_event, derive_event_id, shard_for, utcnow
from aiops.settings import Settings
from aiops.tenant_directory import publish
from flows.pointers import read_pointed
from flows.writeback import marker, post_once, render_note_html
from ingest.app import create_app
from itsm import registry
from itsm.base import IgnoredEvent, ItsmClient, fetches_tickets
from tests.fakes.loopback import free_port
from tests.ingest.streams import enqueued_count, stored_events
from tests.itsm.kit.material import KitMaterial, Outcome, StandIn, fixture_cases, material_for

PLUGINS = sorted(registry.PLUGINS)
SECRET = "whsec_kit-tenant-secret-0d9f8e7c6b5a"
OTHER_SECRET = "whsec_kit-another-tenants-secret-1a2b"


@pytest.fixture(params=PLUGINS)
def name(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture()
def material(name: str) -> KitMaterial:
    return material_for(name)


@pytest.fixture()
def stand_in(material: KitMaterial) -> Iterator[StandIn]:
    with material.stand_in() as server:
        yield server


@pytest.fixture()
def http() -> Iterator[httpx.Client]:
    with httpx.Client() as client:
        yield client


def _client(name: str, stand_in: StandIn, http: httpx.Client, **key: str) -> ItsmClient:
    return registry.plugin(name).client(stand_in.connection(**key), http)


# Signatures -------------------------------------------------------------------------------


def test_the_plugin_has_kit_material(name: str) -> None:
    material_for(name)


def test_a_signed_body_is_accepted(name: str, material: KitMaterial) -> None:
    body = material.first("created")
    headers = _lower(material.sign(body, SECRET, "d-1"))
    assert registry.plugin(name).verify(headers, body, [SECRET])
    assert registry.plugin(name).verify(headers, body, [OTHER_SECRET, SECRET])  # rotation


def test_a_tampered_body_is_refused(name: str, material: KitMaterial) -> None:
    body = material.first("created")
    headers = _lower(material.sign(body, SECRET, "d-1"))
    tampered = body.replace(b"}", b' , "x": 1}', 1) if b"}" in body else body + b" "
    assert tampered != body
    if not material.body_signed:
        # A bearer secret covers no body (the plugin's trust model says so, and that TLS
        # is what keeps it intact); a secret off by one character must still fail.
        assert registry.plugin(name).verify(headers, tampered, [SECRET])
        near = _lower(material.sign(body, SECRET[:-1] + "X", "d-1"))
        assert not registry.plugin(name).verify(near, body, [SECRET])
        return
    assert not registry.plugin(name).verify(headers, tampered, [SECRET])
    assert not registry.plugin(name).verify(headers, body + b" ", [SECRET])


def test_another_secret_is_refused(name: str, material: KitMaterial) -> None:
    body = material.first("created")
    headers = _lower(material.sign(body, OTHER_SECRET, "d-1"))
    assert not registry.plugin(name).verify(headers, body, [SECRET])
    assert not registry.plugin(name).verify(headers, body, [""])


def test_a_missing_signature_is_refused(name: str, material: KitMaterial) -> None:
    body = material.first("created")
    signed = _lower(material.sign(body, SECRET, "d-1"))
    unsigned = {k: v for k, v in signed.items() if k == "content-type"}
    assert not registry.plugin(name).verify(unsigned, body, [SECRET])


def test_the_delivery_id_is_read_from_the_itsms_header(name: str, material: KitMaterial) -> None:
    body = material.first("created")
    headers = _lower(material.sign(body, SECRET, "delivery-42"))
    expected = "delivery-42" if material.delivery_ids else None
    assert registry.plugin(name).delivery_id(headers) == expected


# Through ingest ---------------------------------------------------------------------------


def _ingest(request: pytest.FixtureRequest, name: str) -> tuple[TestClient, str, Settings]:
    """An ingest app on the session's Redis and a tenant of this plugin (started only once
    the plugin's material is known to exist)."""
    settings: Settings = request.getfixturevalue("settings")
    client: redis.Redis = request.getfixturevalue("redis_client")
    box: SecretBox = request.getfixturevalue("box")
    tenant_id = f"kit-{uuid.uuid4().hex[:10]}"
    publish(client, settings.stream_prefix, box, tenant_id, name, [SECRET])
    app = TestClient(create_app(settings))
    request.addfinalizer(app.__exit__)
    app.__enter__()
    return app, tenant_id, settings


def test_a_delivery_id_is_stored_once_through_ingest(
    request: pytest.FixtureRequest, name: str, material: KitMaterial
) -> None:
    app, tenant_id, settings = _ingest(request, name)
    body = material.first("created")
    headers = material.sign(body, SECRET, "kit-delivery-1")
    url = f"/webhook/{name}"
    first = app.post(url, params={"tenant": tenant_id}, content=body, headers=headers)
    again = app.post(url, params={"tenant": tenant_id}, content=body, headers=headers)
    assert (first.status_code, again.status_code) == (202, 202), first.text
    assert (first.json()["duplicate"], again.json()["duplicate"]) == (False, True)
    redis_client: redis.Redis = request.getfixturevalue("redis_client")
    stream = settings.stream_name(shard_for(tenant_id, settings.stream_shards))
    [event] = stored_events(redis_client, stream)
    if material.delivery_ids:
        assert (event.event_id, event.source) == ("kit-delivery-1", name)
    else:  # no delivery id from this ITSM: the id derived from the ticket's state dedupes
        expected = derive_event_id(tenant_id, event.ticket, event.kind)
        assert (event.event_id, event.source) == (expected, name)
    refused = app.post(
        url,
        params={"tenant": tenant_id},
        content=body,
        headers=material.sign(body, OTHER_SECRET, "x"),
    )
    assert refused.status_code == 401


def test_events_that_must_not_make_a_note_are_answered_202_and_not_stored(
    request: pytest.FixtureRequest, name: str, material: KitMaterial
) -> None:
    ignored = [p for p, outcome in material.fixtures.items() if outcome == "ignored"]
    if not ignored:
        return  # this ITSM's webhook contract has no such events (ServiceDesk Plus)
    app, tenant_id, settings = _ingest(request, name)
    for n, path in enumerate(ignored):
        body = path.read_bytes()
        answer = app.post(
            f"/webhook/{name}",
            params={"tenant": tenant_id},
            content=body,
            headers=material.sign(body, SECRET, f"ignored-{n}"),
        )
        assert answer.status_code == 202, (path.name, answer.text)
        assert answer.json().get("ignored") is True, path.name
    redis_client: redis.Redis = request.getfixturevalue("redis_client")
    assert enqueued_count(redis_client, settings.stream_prefix) == 0


def test_an_unsigned_webhook_is_fetched_not_trusted(
    request: pytest.FixtureRequest, name: str, material: KitMaterial, stand_in: StandIn
) -> None:
    if material.pointer is None:
        assert not fetches_tickets(registry.plugin(name))  # signed: its body is the ticket
        return
    ticket_id = stand_in.add_ticket()
    app, tenant_id, settings = _ingest(request, name)
    body = material.pointer(ticket_id)
    answer = app.post(
        f"/webhook/{name}",
        params={"tenant": tenant_id},
        content=body,
        headers=material.sign(body, SECRET, "pointer-1"),
    )
    assert answer.status_code == 202, answer.text
    redis_client: redis.Redis = request.getfixturevalue("redis_client")
    [event] = stored_events(
        redis_client, settings.stream_name(shard_for(tenant_id, settings.stream_shards))
    )
    assert event.fetch and event.ticket.id == ticket_id
    assert "FORGED" not in event.model_dump_json()  # nothing of the body but the id
    with httpx.Client() as http:
        read = read_pointed(event, _client(name, stand_in, http))
    assert not read.fetch and read.ticket.id == ticket_id
    assert "FORGED" not in read.model_dump_json()
    assert read.ticket.subject == "kit ticket"  # what the ITSM holds


# Fixtures ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("plugin_name", "path", "outcome"),
    fixture_cases(PLUGINS),
    ids=lambda value: value.name if isinstance(value, Path) else str(value),
)
def test_every_fixture_normalizes_to_its_outcome_and_a_valid_event(
    plugin_name: str, path: Path, outcome: Outcome
) -> None:
    plugin = registry.plugin(plugin_name)
    payload = json.loads(path.read_text())
    if outcome == "ignored":
        with pytest.raises(IgnoredEvent):
            plugin.normalize(payload)
        return
    kind, ticket = plugin.normalize(payload)
    assert kind == outcome
    event = Event(
        event_id=derive_event_id("kit", ticket, kind),
        tenant_id="kit",
        source=plugin_name,
        kind=kind,
        ticket=ticket,
        received_at=utcnow(),
    )
    assert decode_event(event.to_json()) == event  # the contract as the flow reads it
    assert ticket.text
    if kind == "resolved" and ticket.resolution is not None:
        assert ticket.resolution.strip() not in ("Done", "Fixed", "Resolved")


# Write-back -------------------------------------------------------------------------------


def test_a_note_is_internal_only(name: str, stand_in: StandIn, http: httpx.Client) -> None:
    ticket = stand_in.add_ticket()
    note_marker = marker("kit-evt-1")
    note_id = _client(name, stand_in, http).add_note(
        ticket, render_note_html("Check the VPN profile.", note_marker)
    )
    [note] = stand_in.notes(ticket)
    assert note.internal
    assert note_id
    assert "Check the VPN profile." in note.body


def test_a_crash_between_post_and_record_finds_the_note_again(
    name: str, stand_in: StandIn, http: httpx.Client
) -> None:
    ticket = stand_in.add_ticket()
    client = _client(name, stand_in, http)
    note_marker = marker("kit-evt-crash")
    body = render_note_html("Restart the print spooler.", note_marker)

    def crash(_note_id: str) -> None:
        raise RuntimeError("the flow died before recording the note")

    with pytest.raises(RuntimeError):
        post_once(
            client, ticket, body, note_marker, known_note_id=None, may_exist=False, record=crash
        )
    recorded: list[str] = []
    # The attempt after a crash may find a note the crashed one posted, so it looks.
    again = post_once(
        client,
        ticket,
        body,
        note_marker,
        known_note_id=None,
        may_exist=True,
        record=recorded.append,
    )
    assert recorded == [again]
    assert len(stand_in.notes(ticket)) == 1
    assert client.find_note(ticket, marker("kit-evt-other")) is None


@pytest.mark.parametrize("status", [429, 500, 502, 503])
def test_transient_answers_are_retried(
    name: str, stand_in: StandIn, http: httpx.Client, status: int
) -> None:
    ticket = stand_in.add_ticket()
    stand_in.fail_next(status)
    _client(name, stand_in, http).add_note(ticket, render_note_html("x", marker("kit-retry")))
    assert len(stand_in.notes(ticket)) == 1


@pytest.mark.parametrize("status", [400, 403, 404, 409])
def test_other_4xx_are_permanent_and_not_retried(
    name: str, stand_in: StandIn, http: httpx.Client, status: int
) -> None:
    ticket = stand_in.add_ticket()
    stand_in.fail_next(status)
    with pytest.raises(PermanentError, match=str(status)):
        _client(name, stand_in, http).add_note(ticket, render_note_html("x", marker("kit-4xx")))
    # A retry would have succeeded: the stand-in fails only the first post.
    assert stand_in.notes(ticket) == []


def test_credentials_are_checked_with_one_authenticated_read(
    name: str, stand_in: StandIn, http: httpx.Client
) -> None:
    _client(name, stand_in, http).check_credentials()
    with pytest.raises(PermanentError, match="401"):
        _client(
            name, stand_in, http, api_key="wrong-" + stand_in.credentials[0]
        ).check_credentials()
    nowhere = replace(stand_in.connection(), base_url=f"http://127.0.0.1:{free_port()}")
    with pytest.raises(TransientError):
        registry.plugin(name).client(nowhere, http).check_credentials()


def test_no_credential_reaches_a_log_line(
    request: pytest.FixtureRequest,
    name: str,
    material: KitMaterial,
    stand_in: StandIn,
    http: httpx.Client,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    ticket = stand_in.add_ticket()
    client = _client(name, stand_in, http)
    stand_in.fail_next(429, 503)
    client.add_note(ticket, render_note_html("x", marker("kit-log")))
    stand_in.fail_next(500, 500, 500)
    with pytest.raises(Exception):  # noqa: B017 - any failure will do; its log is what counts
        client.add_note(ticket, render_note_html("y", marker("kit-log-2")))
    with pytest.raises(PermanentError):
        _client(name, stand_in, http, api_key="wrong-" + stand_in.credentials[0]).fetch_ticket(
            ticket
        )
    app, tenant_id, _ = _ingest(request, name)
    body = material.first("created")
    for secret in (SECRET, OTHER_SECRET):
        app.post(
            f"/webhook/{name}",
            params={"tenant": tenant_id},
            content=body,
            headers=material.sign(body, secret, "kit-log"),
        )
    logged = "\n".join(record.getMessage() + (record.exc_text or "") for record in caplog.records)
    assert logged, "nothing was logged: the check below would prove nothing"
    for credential in (*stand_in.credentials, SECRET, OTHER_SECRET):
        assert credential not in logged


def _lower(headers: dict[str, str]) -> dict[str, str]:
    return {k.lower(): v for k, v in headers.items()}
