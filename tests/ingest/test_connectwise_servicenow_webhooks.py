"""POST /webhook/connectwise (the callback URL's secret) and /webhook/servicenow (the
business rule's signature) through the real app into the real Redis."""

from __future__ import annotations

import json
import time
from pathlib import Path
from urllib.parse import quote

import pytest
import redis
from fastapi.testclient import TestClient

from aiops.crypto import SecretBox
from aiops.events import Event, shard_for
from aiops.redaction import redact_secrets
from aiops.settings import Settings
from aiops.tenant_directory import publish
from itsm.servicenow.signing import signature
from tests.ingest.streams import enqueued_count, stored_events

SECRET = "whsec_Y29ubmVjdHdpc2UtaW5nZXN0LXRlc3Qtc2VjcmV0IQ=="  # has + / = to URL-encode
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "itsm"
ADDED = (FIXTURES / "connectwise" / "callback_ticket_added.json").read_bytes()
JSON = {"Content-Type": "application/json"}


def _tenant(
    redis_client: redis.Redis, settings: Settings, box: SecretBox, tid: str, name: str
) -> str:
    publish(redis_client, settings.stream_prefix, box, tid, name, [SECRET])
    return tid


def _events(redis_client: redis.Redis, settings: Settings, tenant_id: str) -> list[Event]:
    return stored_events(
        redis_client, settings.stream_name(shard_for(tenant_id, settings.stream_shards))
    )


@pytest.fixture()
def cw_tenant(redis_client: redis.Redis, settings: Settings, box: SecretBox, tenant_id: str) -> str:
    return _tenant(redis_client, settings, box, tenant_id, "connectwise")


@pytest.fixture()
def sn_tenant(redis_client: redis.Redis, settings: Settings, box: SecretBox, tenant_id: str) -> str:
    return _tenant(redis_client, settings, box, tenant_id, "servicenow")


def test_a_callback_with_the_url_secret_is_stored_as_a_pointer(
    client: TestClient, redis_client: redis.Redis, settings: Settings, cw_tenant: str
) -> None:
    # As registered in ConnectWise: the secret URL-encoded in the callback URL's query.
    url = f"/webhook/connectwise?tenant={cw_tenant}&token={quote(SECRET, safe='')}"
    first = client.post(url, content=ADDED, headers=JSON)
    again = client.post(url, content=ADDED, headers=JSON)
    assert (first.status_code, again.status_code) == (202, 202), first.text
    assert again.json()["duplicate"] is True  # the same "added", delivered twice
    [event] = _events(redis_client, settings, cw_tenant)
    assert (event.source, event.kind, event.fetch, event.ticket.id) == (
        "connectwise",
        "created",
        True,
        "250314",
    )
    summary = json.loads(json.loads(ADDED)["Entity"])["summary"]
    assert summary not in event.model_dump_json()


@pytest.mark.parametrize(
    "token",
    [None, "", "whsec_not-the-secret", SECRET + "x", SECRET[:-1]],
    ids=["missing", "empty", "other", "longer", "shorter"],
)
def test_a_callback_without_the_right_secret_is_refused(
    client: TestClient,
    redis_client: redis.Redis,
    settings: Settings,
    cw_tenant: str,
    token: str | None,
) -> None:
    params = {"tenant": cw_tenant} | ({} if token is None else {"token": token})
    answer = client.post("/webhook/connectwise", params=params, content=ADDED, headers=JSON)
    assert answer.status_code == 401
    assert enqueued_count(redis_client, settings.stream_prefix) == 0


def test_an_update_of_an_open_ticket_is_answered_and_not_stored(
    client: TestClient, redis_client: redis.Redis, settings: Settings, cw_tenant: str
) -> None:
    body = (FIXTURES / "connectwise" / "callback_ticket_updated_open.json").read_bytes()
    answer = client.post(
        "/webhook/connectwise",
        params={"tenant": cw_tenant, "token": SECRET},
        content=body,
        headers=JSON,
    )
    assert answer.status_code == 202 and answer.json()["ignored"] is True
    assert enqueued_count(redis_client, settings.stream_prefix) == 0


def test_the_url_secret_is_masked_in_log_lines() -> None:
    line = f'"POST /webhook/connectwise?tenant=acme&token={quote(SECRET, safe="")} HTTP/1.1" 202'
    assert quote(SECRET, safe="") not in redact_secrets(line)


def test_a_signed_business_rule_delivery_is_stored_once(
    client: TestClient, redis_client: redis.Redis, settings: Settings, sn_tenant: str
) -> None:
    body = (FIXTURES / "servicenow" / "br_incident_created.json").read_bytes()
    stamp = str(int(time.time()))
    headers = JSON | {
        "X-AIOps-Timestamp": stamp,
        "X-AIOps-Delivery-Id": "9d385017c611228701d22104cc95c371-0",
        "X-AIOps-Signature": signature(SECRET, stamp, "9d385017c611228701d22104cc95c371-0", body),
    }
    url = f"/webhook/servicenow?tenant={sn_tenant}"
    assert client.post(url, content=body, headers=headers).json()["duplicate"] is False
    assert client.post(url, content=body, headers=headers).json()["duplicate"] is True
    [event] = _events(redis_client, settings, sn_tenant)
    assert (event.event_id, event.kind, event.fetch) == (
        "9d385017c611228701d22104cc95c371-0",
        "created",
        False,
    )


def test_a_business_rule_delivery_outside_the_window_is_refused(
    client: TestClient, redis_client: redis.Redis, settings: Settings, sn_tenant: str
) -> None:
    body = (FIXTURES / "servicenow" / "br_incident_created.json").read_bytes()
    stamp = str(int(time.time()) - 3600)
    headers = JSON | {
        "X-AIOps-Timestamp": stamp,
        "X-AIOps-Delivery-Id": "d-1",
        "X-AIOps-Signature": signature(SECRET, stamp, "d-1", body),
    }
    answer = client.post(f"/webhook/servicenow?tenant={sn_tenant}", content=body, headers=headers)
    assert answer.status_code == 401
    assert enqueued_count(redis_client, settings.stream_prefix) == 0
