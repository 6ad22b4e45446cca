"""Credentials in ticket text never reach the stream (nor Redis's append-only file); the
tenant is named once."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import parse_qsl

import pytest
import redis
from fastapi.testclient import TestClient

from aiops.events import shard_for
from aiops.settings import Settings
from ingest.routes.webhooks import _tenant_parameters
from tests.ingest import sdp
from tests.ingest.streams import enqueued_count, stored_events

URL = "/webhook/servicedesk"
PASSWORD = "Vq7#pLm2!zR9"
API_KEY = "sk-live-4f9aA8bC7dE6fG5hI4jK3lM2nO1p"


def _appended(state_dir: Path) -> bytes:
    """Everything the embedded Redis wrote to disk."""
    return b"".join(p.read_bytes() for p in (state_dir / "redis").rglob("*") if p.is_file())


def test_credentials_are_masked_before_the_stream_and_its_file(
    client: TestClient,
    redis_client: redis.Redis,
    settings: Settings,
    tenant: str,
    state_dir: Path,
) -> None:
    marker = f"printer-{tenant}"
    raw = sdp.body(
        "77",
        subject=f"{marker} login fails, password: {PASSWORD}",
        description=f"<div>my key is {API_KEY} and pwd={PASSWORD}</div>",
        udf_fields={"note": f"password={PASSWORD}"},
    )

    response = client.post(URL, params={"tenant": tenant}, content=raw, headers=sdp.headers(raw))

    assert response.status_code == 202, response.text
    stream = settings.stream_name(shard_for(tenant, settings.stream_shards))
    entries = redis_client.xrange(stream)
    assert entries
    values = [value for _, fields in entries for value in (fields or {}).values()]
    assert all(isinstance(value, bytes) for value in values)
    stored = b"".join(value for value in values if isinstance(value, bytes))
    assert PASSWORD.encode() not in stored and API_KEY.encode() not in stored
    [event] = stored_events(redis_client, stream)
    assert marker in event.ticket.subject and "[REDACTED:" in event.ticket.description
    on_disk = _appended(state_dir)
    # The file holds the entry (the marker is there), but not the credentials in it.
    assert marker.encode() in on_disk
    assert PASSWORD.encode() not in on_disk and API_KEY.encode() not in on_disk


@pytest.mark.parametrize(
    ("query", "headers"),
    [
        ("tenant={t}&tenant={t}", {}),
        ("tenant={t}&tenant=other", {}),
        ("tenant=other&tenant={t}", {}),
        ("", {"X-Tenant-Id": "{t}"}),  # paired with a second header below
    ],
)
def test_a_tenant_named_twice_is_refused(
    client: TestClient,
    redis_client: redis.Redis,
    settings: Settings,
    tenant: str,
    query: str,
    headers: dict[str, str],
) -> None:
    raw = sdp.body("78")
    sent = [(k, v.format(t=tenant)) for k, v in {**sdp.headers(raw), **headers}.items()]
    if headers:
        sent.append(("X-Tenant-Id", "other"))
    url = f"{URL}?{query.format(t=tenant)}" if query else URL

    response = client.post(url, content=raw, headers=sent)

    assert response.status_code == 400, response.text
    assert "once" in response.json()["detail"]
    assert enqueued_count(redis_client, settings.stream_prefix) == 0


@pytest.mark.parametrize(
    "query",
    [
        b"",
        b"tenant=acme",
        b"tenant=",
        b"tenant",
        b"&&tenant=a&&",
        b"tenant=a=b",
        b"tenantx=a&tenant=b&xtenant=c",
        b"tenant=a&tenant=b",
        b"tenant=a%2Db",
        b"tenant=a+b&tenant=%zz",
        b"tenant=caf\xe9",
        b"xtenant=a",
        b"tenant=a;tenant=b",
    ],
)
def test_the_query_tenants_are_read_as_parse_qsl_reads_them(query: bytes) -> None:
    expected = [
        value
        for name, value in parse_qsl(query.decode("latin-1"), keep_blank_values=True)
        if name == "tenant"
    ]
    assert _tenant_parameters(query) == expected
