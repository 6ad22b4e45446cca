"""Webhooks through the real app (TestClient) into the real Redis."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest
import redis
from fastapi.testclient import TestClient

from aiops.crypto import SecretBox, generate_key, parse_key
from aiops.events import Event, derive_event_id, shard_for
from aiops.settings import Settings
from aiops.tenant_directory import publish
from itsm.servicedesk import SIGNATURE_HEADER
from tests.ingest import sdp
from tests.ingest.streams import stored_events

URL = "/webhook/servicedesk"


def _events(redis_client: redis.Redis, settings: Settings, tenant_id: str) -> list[Event]:
    stream = settings.stream_name(shard_for(tenant_id, settings.stream_shards))
    return stored_events(redis_client, stream)


def _nothing_stored(redis_client: redis.Redis, settings: Settings) -> bool:
    prefix = settings.stream_prefix
    return not redis_client.keys(f"{prefix}:events:*") and not redis_client.keys(
        f"{prefix}:dedupe:*"
    )


def test_a_signed_webhook_lands_in_the_tenants_shard(
    client: TestClient, redis_client: redis.Redis, settings: Settings, tenant: str
) -> None:
    raw = sdp.body("1001")

    response = client.post(
        URL, params={"tenant": tenant}, content=raw, headers=sdp.headers(raw, delivery_id="d-1")
    )

    assert response.status_code == 202
    assert response.json() == {"event_id": "d-1", "duplicate": False}
    [event] = _events(redis_client, settings, tenant)
    assert (event.event_id, event.tenant_id, event.source, event.kind) == (
        "d-1",
        tenant,
        "servicedesk",
        "created",
    )
    assert event.ticket.id == "1001"
    assert event.ticket.subject == "VPN drops every few minutes"
    other_shards = [
        settings.stream_name(shard)
        for shard in range(settings.stream_shards)
        if shard != shard_for(tenant, settings.stream_shards)
    ]
    assert not any(redis_client.exists(stream) for stream in other_shards)


def test_a_repeated_delivery_is_a_duplicate_and_stored_once(
    client: TestClient, redis_client: redis.Redis, settings: Settings, tenant: str
) -> None:
    raw = sdp.body("1001")
    signed = sdp.headers(raw, delivery_id="d-1")

    first = client.post(URL, params={"tenant": tenant}, content=raw, headers=signed)
    again = client.post(URL, params={"tenant": tenant}, content=raw, headers=signed)

    assert (first.status_code, again.status_code) == (202, 202)
    assert again.json() == {"event_id": "d-1", "duplicate": True}
    assert len(_events(redis_client, settings, tenant)) == 1


def test_without_a_delivery_id_the_event_id_is_derived_and_stable(
    client: TestClient, redis_client: redis.Redis, settings: Settings, tenant: str
) -> None:
    raw = sdp.body("1001")

    first = client.post(URL, params={"tenant": tenant}, content=raw, headers=sdp.headers(raw))
    again = client.post(URL, params={"tenant": tenant}, content=raw, headers=sdp.headers(raw))

    [event] = _events(redis_client, settings, tenant)
    assert event.event_id == derive_event_id(tenant, event.ticket, "created")
    assert first.json() == {"event_id": event.event_id, "duplicate": False}
    assert again.json() == {"event_id": event.event_id, "duplicate": True}


def test_the_tenant_may_come_in_the_x_tenant_id_header(
    client: TestClient, redis_client: redis.Redis, settings: Settings, tenant: str
) -> None:
    raw = sdp.body("1001")

    response = client.post(URL, content=raw, headers={**sdp.headers(raw), "X-Tenant-Id": tenant})

    assert response.status_code == 202
    assert len(_events(redis_client, settings, tenant)) == 1


def test_the_resolved_ticket_endpoint_records_a_resolved_event(
    client: TestClient, redis_client: redis.Redis, settings: Settings, tenant: str
) -> None:
    raw = sdp.body("1001", event=None, resolution={"content": "<p>Replaced the router.</p>"})

    response = client.post(
        f"{URL}/resolved-ticket", params={"tenant": tenant}, content=raw, headers=sdp.headers(raw)
    )

    assert response.status_code == 202
    [event] = _events(redis_client, settings, tenant)
    assert event.kind == "resolved"
    assert event.ticket.resolution == "Replaced the router."


@pytest.fixture()
def other_tenant(
    redis_client: redis.Redis, settings: Settings, box: SecretBox, tenant_id: str
) -> Iterator[str]:
    other = tenant_id + "-other"
    publish(redis_client, settings.stream_prefix, box, other, "servicedesk", ["whsec_other"])
    yield other


@pytest.fixture()
def jira_tenant(
    redis_client: redis.Redis, settings: Settings, box: SecretBox, tenant_id: str
) -> Iterator[str]:
    jira = tenant_id + "-jira"
    publish(redis_client, settings.stream_prefix, box, jira, "jira", [sdp.SECRET])
    yield jira


@pytest.mark.parametrize(
    "case",
    [
        "bad signature",
        "missing signature",
        "another tenant's secret",
        "unknown tenant",
        "tenant of another ITSM",
        "not a tenant id",
    ],
)
def test_every_authentication_failure_gets_the_same_401_and_stores_nothing(
    case: str,
    client: TestClient,
    redis_client: redis.Redis,
    settings: Settings,
    tenant: str,
    other_tenant: str,
    jira_tenant: str,
) -> None:
    raw = sdp.body("1001")
    reference = client.post(
        URL, params={"tenant": tenant}, content=raw, headers=sdp.headers(raw, "whsec_wrong")
    )
    target, signing = {
        "bad signature": (tenant, "whsec_wrong"),
        "missing signature": (tenant, None),
        "another tenant's secret": (tenant, "whsec_other"),
        "unknown tenant": ("t-nobody", sdp.SECRET),
        "tenant of another ITSM": (jira_tenant, sdp.SECRET),
        "not a tenant id": ("Not A Tenant!", sdp.SECRET),
    }[case]

    response = client.post(
        URL, params={"tenant": target}, content=raw, headers=sdp.headers(raw, signing)
    )

    assert response.status_code == 401
    assert response.content == reference.content
    assert response.headers == reference.headers
    assert response.json() == {"detail": "unknown tenant or invalid signature"}
    assert _nothing_stored(redis_client, settings)


def test_a_missing_tenant_is_a_400_that_says_how_to_pass_it(client: TestClient) -> None:
    raw = sdp.body("1001")

    response = client.post(URL, content=raw, headers=sdp.headers(raw))

    assert response.status_code == 400
    detail = response.json()["detail"]
    assert "?tenant=" in detail
    assert "X-Tenant-Id" in detail


def test_disagreeing_tenant_query_and_header_are_a_400(
    client: TestClient, redis_client: redis.Redis, settings: Settings, tenant: str
) -> None:
    raw = sdp.body("1001")

    response = client.post(
        URL,
        params={"tenant": tenant},
        content=raw,
        headers={**sdp.headers(raw), "X-Tenant-Id": tenant + "-x"},
    )

    assert response.status_code == 400
    assert _nothing_stored(redis_client, settings)


def test_a_signed_body_that_is_not_json_is_a_400(
    client: TestClient, redis_client: redis.Redis, settings: Settings, tenant: str
) -> None:
    raw = b'{"request": {"id": '

    response = client.post(URL, params={"tenant": tenant}, content=raw, headers=sdp.headers(raw))

    assert response.status_code == 400
    assert response.json()["detail"].startswith("the webhook body is not valid JSON")
    assert _nothing_stored(redis_client, settings)


def test_an_invalid_ticket_is_a_422_naming_the_fields(
    client: TestClient, redis_client: redis.Redis, settings: Settings, tenant: str
) -> None:
    raw = sdp.body("", event="reopened", subject="", description="")

    response = client.post(URL, params={"tenant": tenant}, content=raw, headers=sdp.headers(raw))

    assert response.status_code == 422
    locations = {tuple(error["loc"]) for error in response.json()["detail"]}
    assert {
        ("body", "event"),
        ("body", "request", "id"),
        ("body", "request", "subject"),
    } <= locations
    assert _nothing_stored(redis_client, settings)


def test_a_body_declared_over_the_limit_is_a_413_before_anything_else(
    client: TestClient, redis_client: redis.Redis, settings: Settings, tenant: str
) -> None:
    raw = b" " * (settings.max_webhook_bytes + 1)

    response = client.post(URL, params={"tenant": tenant}, content=raw, headers=sdp.headers(raw))

    assert response.status_code == 413
    assert _nothing_stored(redis_client, settings)


def test_a_streamed_body_over_the_limit_is_a_413(
    client: TestClient, redis_client: redis.Redis, settings: Settings, tenant: str
) -> None:
    chunk = b" " * 65536

    def stream() -> Iterator[bytes]:
        for _ in range(settings.max_webhook_bytes // len(chunk) + 2):
            yield chunk

    response = client.post(
        URL,
        params={"tenant": tenant},
        content=stream(),
        headers={"Content-Type": "application/json"},
    )

    assert response.status_code == 413
    assert "content-length" not in {name.lower() for name in response.request.headers}
    assert _nothing_stored(redis_client, settings)


@pytest.mark.parametrize("content_type", [None, "text/plain", "application/x-www-form-urlencoded"])
def test_a_body_that_is_not_declared_json_is_a_415(
    content_type: str | None,
    client: TestClient,
    redis_client: redis.Redis,
    settings: Settings,
    tenant: str,
) -> None:
    raw = sdp.body("1001")
    headers = sdp.headers(raw)
    del headers["Content-Type"]
    if content_type is not None:
        headers["Content-Type"] = content_type

    response = client.post(URL, params={"tenant": tenant}, content=raw, headers=headers)

    assert response.status_code == 415
    assert _nothing_stored(redis_client, settings)


def test_json_with_a_charset_or_a_json_suffix_type_is_accepted(
    client: TestClient, tenant: str
) -> None:
    for number, content_type in enumerate(
        ["application/json; charset=utf-8", "application/vnd.sdp+json"]
    ):
        raw = sdp.body(str(number))
        headers = {**sdp.headers(raw), "Content-Type": content_type}
        response = client.post(URL, params={"tenant": tenant}, content=raw, headers=headers)
        assert response.status_code == 202


def test_secrets_sealed_under_another_master_key_are_a_503_not_a_crash(
    client: TestClient, redis_client: redis.Redis, settings: Settings, tenant_id: str
) -> None:
    stranger = SecretBox(parse_key(generate_key()))
    publish(redis_client, settings.stream_prefix, stranger, tenant_id, "servicedesk", [sdp.SECRET])
    raw = sdp.body("1001")

    response = client.post(URL, params={"tenant": tenant_id}, content=raw, headers=sdp.headers(raw))

    assert response.status_code == 503
    assert response.headers["Retry-After"].isdigit()
    assert _nothing_stored(redis_client, settings)


def test_each_webhook_logs_one_line_with_its_outcome_and_no_secrets(
    client: TestClient, tenant: str, caplog: pytest.LogCaptureFixture
) -> None:
    raw = sdp.body("1001")
    signed = sdp.headers(raw, delivery_id="d-1")
    forged = sdp.headers(raw, "whsec_wrong")

    with caplog.at_level(logging.DEBUG, logger="ingest"):
        client.post(URL, params={"tenant": tenant}, content=raw, headers=signed)
        client.post(URL, params={"tenant": tenant}, content=raw, headers=forged)

    lines = [r.getMessage() for r in caplog.records if r.name.startswith("ingest")]
    assert len(lines) == 2
    assert f"tenant={tenant}" in lines[0]
    assert "outcome=accepted" in lines[0]
    assert "event_id=d-1" in lines[0]
    assert "outcome=unauthorized" in lines[1]
    # Routine acceptances are DEBUG; a refusal is worth a WARNING.
    levels = [r.levelno for r in caplog.records if r.name.startswith("ingest")]
    assert levels == [logging.DEBUG, logging.WARNING]
    for secret_or_body in (
        sdp.SECRET,
        signed[SIGNATURE_HEADER],
        forged[SIGNATURE_HEADER],
        "VPN drops",
    ):
        assert secret_or_body.split("=")[-1] not in caplog.text


def test_metrics_count_outcomes_and_time_the_enqueue(client: TestClient, tenant: str) -> None:
    raw = sdp.body("1001")
    client.post(URL, params={"tenant": tenant}, content=raw, headers=sdp.headers(raw))
    client.post(URL, params={"tenant": tenant}, content=raw, headers=sdp.headers(raw))
    client.post(URL, params={"tenant": tenant}, content=raw, headers=sdp.headers(raw, None))

    response = client.get("/metrics")

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    text = response.text
    assert 'aiops_ingest_webhooks_total{outcome="accepted",source="servicedesk"} 1.0' in text
    assert 'aiops_ingest_webhooks_total{outcome="duplicate",source="servicedesk"} 1.0' in text
    assert 'aiops_ingest_webhooks_total{outcome="unauthorized",source="servicedesk"} 1.0' in text
    assert "aiops_ingest_enqueue_seconds_count 2.0" in text


def test_liveness_and_readiness(client: TestClient) -> None:
    assert client.get("/health").json() == {"status": "ok"}
    ready = client.get("/health/ready")
    assert ready.status_code == 200
    assert ready.json() == {"status": "ready", "degraded": {}}
