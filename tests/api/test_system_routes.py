"""Operator routes: system health (supervisor file, flow queue depth, failures) and the
dead-letter stream with replay, against the suite's real PostgreSQL and Redis."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
import redis
from fastapi.testclient import TestClient

from aiops.events import EVENT_FIELD, REPLAYED_FROM_FIELD, Event, Ticket, shard_for, utcnow
from aiops.process_health import ComponentState, status_path, write_status
from aiops.settings import Settings
from api.app import create_app
from flows.items import Received
from flows.metrics import FlowMetrics
from tests.analytics import seed
from tests.fakes.loopback import free_port
from warehouse.db import Database


def _text(value: bytes | str | None) -> str:
    assert value is not None
    return value.decode() if isinstance(value, bytes) else value


def entries(client: redis.Redis, stream: str) -> list[tuple[str, dict[str, str]]]:
    """A stream's entries as text: (entry id, fields)."""
    return [
        (_text(eid), {_text(k): _text(v) for k, v in (fields or {}).items()})
        for eid, fields in client.xrange(stream) or []
    ]


def dead_letter(
    client: redis.Redis, settings: Settings, tenant_id: str, event_id: str, ticket: str = "555"
) -> str:
    """A dead letter as the flow writes it for an event that failed permanently."""
    event = Event(
        event_id=event_id,
        tenant_id=tenant_id,
        source="servicedesk",
        kind="created",
        ticket=Ticket(id=ticket, subject="VPN down"),
        received_at=utcnow(),
    )
    stream = settings.stream_name(shard_for(tenant_id, settings.stream_shards))
    letter = Received(stream, "1700000000000-0", event).dead_letter(
        "ServiceDesk Plus answered 401 Unauthorized", "permanent"
    )
    return _text(client.xadd(settings.dead_letter_stream, letter.fields))  # type: ignore[arg-type]


def _register(client: TestClient, auth: dict[str, str], tenant_id: str) -> None:
    body = {"tenant_id": tenant_id, "display_name": tenant_id, "webhook_secret": "s" * 32}
    assert client.post("/tenants", json=body, headers=auth).status_code == 201


def _failed(db: Database, tenant_id: str, event_id: str, at: datetime, error: str) -> None:
    with db.tenant(tenant_id) as conn:
        seed.enhancement(conn, event_id, at, status="failed")
        conn.execute(
            "UPDATE enhancement_history SET error = %s, error_kind = 'permanent' "
            "WHERE event_id = %s",
            (error, event_id),
        )


@pytest.fixture()
def metered(settings: Settings) -> Iterator[tuple[Settings, FlowMetrics]]:
    """Settings pointing at a flow metrics endpoint that really serves, as the flow's does."""
    metrics = FlowMetrics()
    port = free_port()
    metrics.serve(port, "127.0.0.1")
    try:
        yield settings.model_copy(update={"flow_metrics_port": port}), metrics
    finally:
        metrics.stop()


def test_health_reports_processes_queue_depth_and_failures_of_every_tenant(
    metered: tuple[Settings, FlowMetrics],
    redis_client: redis.Redis,
    db: Database,
    tenant_id: str,
    auth: dict[str, str],
) -> None:
    settings, metrics = metered
    shard0 = settings.stream_name(0)
    metrics.queue_depth(shard0, 17)
    metrics.queue_depth(settings.backfill_stream_name(0), 3)
    write_status(
        status_path(settings.state_dir),
        [
            ComponentState("ingest", "running", 0),
            ComponentState("flow", "failing", 7, "exit code 1"),
        ],
    )
    redis_client.xadd(shard0, {EVENT_FIELD: "{}"})
    now = datetime.now(UTC)
    with TestClient(create_app(settings)) as client:
        _register(client, auth, tenant_id + "-a")
        _register(client, auth, tenant_id + "-b")
        _failed(db, tenant_id + "-a", "ev-old", now - timedelta(hours=2), "older failure")
        _failed(db, tenant_id + "-b", "ev-new", now - timedelta(minutes=1), "key revoked")
        dead_letter(redis_client, settings, tenant_id + "-a", "ev-dead")

        health = client.get("/system/health", headers=auth).json()

    status_path(settings.state_dir).unlink()
    assert health["status"] == "degraded"
    assert health["checks"] == {"postgres": "ok", "redis": "ok"}
    assert health["supervised"] is True
    assert [(c["name"], c["state"], c["restarts"]) for c in health["components"]] == [
        ("ingest", "running", 0),
        ("flow", "failing", 7),
    ]
    assert health["queue_depth"]["depth"] == {shard0: 17, settings.backfill_stream_name(0): 3}
    assert health["queue_depth"]["error"] is None
    assert health["stream_entries"][shard0] == 1
    assert health["dead_letters"] == 1
    mine = [f for f in health["recent_failures"] if f["tenant_id"].startswith(tenant_id)]
    assert [(f["tenant_id"], f["event_id"], f["error"]) for f in mine] == [
        (tenant_id + "-b", "ev-new", "key revoked"),
        (tenant_id + "-a", "ev-old", "older failure"),
    ]


def test_health_says_why_queue_depth_is_unknown(
    settings: Settings, redis_client: redis.Redis, auth: dict[str, str]
) -> None:
    unreachable = settings.model_copy(update={"flow_metrics_port": free_port()})
    with TestClient(create_app(unreachable)) as client:
        health = client.get("/system/health", headers=auth).json()
    with TestClient(create_app(settings)) as client:
        off = client.get("/system/health", headers=auth).json()

    assert health["queue_depth"]["depth"] == {}
    assert "did not answer" in health["queue_depth"]["error"]
    assert "AI_AGENTS_FLOW_METRICS_PORT=0" in off["queue_depth"]["error"]
    assert health["supervised"] is False and health["components"] == []


def test_dead_letters_are_listed_and_replayed_onto_their_stream(
    client: TestClient,
    redis_client: redis.Redis,
    settings: Settings,
    tenant_id: str,
    auth: dict[str, str],
) -> None:
    entry = dead_letter(redis_client, settings, tenant_id, "ev-dead", ticket="T-9")
    kept = dead_letter(redis_client, settings, tenant_id, "ev-kept")

    page = client.get("/dead-letters", headers=auth).json()
    replayed = client.post(f"/dead-letters/{entry}/replay", headers=auth)
    again = client.post(f"/dead-letters/{entry}/replay", headers=auth)

    assert page["total"] == 2
    first = page["letters"][0]
    assert (first["entry_id"], first["tenant_id"], first["event_id"], first["ticket_id"]) == (
        entry,
        tenant_id,
        "ev-dead",
        "T-9",
    )
    assert first["fields"]["error_kind"] == "permanent" and first["replayable"] is True
    stream = settings.stream_name(shard_for(tenant_id, settings.stream_shards))
    assert replayed.status_code == 200, replayed.text
    assert replayed.json() == {"entry_id": entry, "event_id": "ev-dead", "stream": stream}
    [(_, fields)] = entries(redis_client, stream)
    assert fields[REPLAYED_FROM_FIELD] == entry
    assert '"ev-dead"' in fields[EVENT_FIELD]
    remaining = [eid for eid, _ in entries(redis_client, settings.dead_letter_stream)]
    assert remaining == [kept]
    assert again.status_code == 404 and "GET /dead-letters" in again.json()["detail"]


def test_a_dead_letter_without_an_event_stays_and_says_why(
    client: TestClient, redis_client: redis.Redis, settings: Settings, auth: dict[str, str]
) -> None:
    entry = _text(redis_client.xadd(settings.dead_letter_stream, {"error": "no event here"}))

    listed = client.get("/dead-letters", headers=auth).json()["letters"]
    response = client.post(f"/dead-letters/{entry}/replay", headers=auth)

    assert listed[0]["replayable"] is False
    assert response.status_code == 409 and "holds no event" in response.json()["detail"]
    assert redis_client.xlen(settings.dead_letter_stream) == 1
    assert client.post("/dead-letters/not-an-id/replay", headers=auth).status_code == 422


def test_history_filters_by_status_time_and_ticket(
    client: TestClient, db: Database, tenant_id: str, auth: dict[str, str]
) -> None:
    _register(client, auth, tenant_id)
    now = datetime.now(UTC).replace(microsecond=0)
    with db.tenant(tenant_id) as conn:
        seed.enhancement(conn, "ev-1", now - timedelta(days=3), ticket_id="T-1")
        seed.enhancement(conn, "ev-2", now - timedelta(days=2), ticket_id="T-2", status="failed")
        seed.enhancement(conn, "ev-3", now - timedelta(days=1), ticket_id="T-1", status="failed")

    def events(**query: str) -> list[str]:
        response = client.get(f"/tenants/{tenant_id}/enhancements", params=query, headers=auth)
        assert response.status_code == 200, response.text
        return [row["event_id"] for row in response.json()]

    since = (now - timedelta(days=2, hours=1)).isoformat()
    until = (now - timedelta(days=1, hours=1)).isoformat()
    assert events() == ["ev-3", "ev-2", "ev-1"]
    assert events(status="failed") == ["ev-3", "ev-2"]
    assert events(since=since) == ["ev-3", "ev-2"]
    assert events(since=since, until=until) == ["ev-2"]
    assert events(status="failed", ticket_id="T-1") == ["ev-3"]
    bad = client.get(f"/tenants/{tenant_id}/enhancements?status=lost", headers=auth)
    assert bad.status_code == 422
