"""Redis going away and coming back, with a private Redis this test may stop."""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from fastapi.testclient import TestClient

from aiops.crypto import SecretBox
from aiops.embedded import embedded_redis
from aiops.events import shard_for
from aiops.settings import Settings
from aiops.tenant_directory import publish
from ingest.app import create_app
from tests.ingest import sdp
from tests.ingest.streams import stored_events

URL = "/webhook/servicedesk"


@pytest.fixture()
def redis_dir() -> Iterator[Path]:
    # Short path: unix socket paths are limited to about 100 characters.
    with tempfile.TemporaryDirectory(prefix="aiops-i-", dir="/tmp") as path:
        yield Path(path)


def _post(client: TestClient, tenant_id: str, ticket_id: str) -> tuple[int, dict[str, str], dict]:
    raw = sdp.body(ticket_id)
    response = client.post(
        URL,
        params={"tenant": tenant_id},
        content=raw,
        headers=sdp.headers(raw, delivery_id=f"d-{ticket_id}"),
    )
    return response.status_code, dict(response.headers), response.json()


def test_redis_down_is_a_503_and_nothing_is_lost_once_it_is_back(
    redis_dir: Path, settings: Settings, box: SecretBox, tenant_id: str
) -> None:
    with contextlib.ExitStack() as stack:
        first_redis = stack.enter_context(contextlib.ExitStack())
        url = first_redis.enter_context(embedded_redis(redis_dir))
        private = settings.model_copy(update={"redis_url": url})
        with redis.Redis.from_url(url) as direct:
            publish(direct, private.stream_prefix, box, tenant_id, "servicedesk", [sdp.SECRET])
        warm = stack.enter_context(TestClient(create_app(private)))
        assert _post(warm, tenant_id, "1")[0] == 202  # and the tenant is now in warm's cache

        first_redis.close()
        cold = stack.enter_context(TestClient(create_app(private)))
        # cold fails at the tenant lookup, warm (tenant cached) at the enqueue.
        for client in (cold, warm):
            status, headers, body = _post(client, tenant_id, "2")
            assert status == 503
            assert int(headers["retry-after"]) > 0
            assert "retry later" in body["detail"]
            assert client.get("/health/ready").status_code == 503

        with embedded_redis(redis_dir) as again, redis.Redis.from_url(again) as direct:
            assert again == url
            assert warm.get("/health/ready").status_code == 200
            assert _post(warm, tenant_id, "2")[2] == {"event_id": "d-2", "duplicate": False}
            assert _post(cold, tenant_id, "2")[2] == {"event_id": "d-2", "duplicate": True}
            stream = private.stream_name(shard_for(tenant_id, private.stream_shards))
            stored = [event.event_id for event in stored_events(direct, stream)]
    assert stored == ["d-1", "d-2"]
