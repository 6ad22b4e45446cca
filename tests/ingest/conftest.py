"""An ingest app against the session's real Redis, and a tenant published for it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import redis
from fastapi.testclient import TestClient

from aiops.crypto import SecretBox
from aiops.settings import Settings
from aiops.tenant_directory import publish
from ingest.app import create_app
from tests.ingest import standard
from tests.ingest.sdp import SECRET


@pytest.fixture()
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture()
def tenant(redis_client: redis.Redis, settings: Settings, box: SecretBox, tenant_id: str) -> str:
    """A ServiceDesk Plus tenant whose webhooks are signed with SECRET."""
    publish(redis_client, settings.stream_prefix, box, tenant_id, "servicedesk", [SECRET])
    return tenant_id


@pytest.fixture()
def standard_tenant(
    redis_client: redis.Redis, settings: Settings, box: SecretBox, tenant_id: str
) -> str:
    """A tenant whose webhooks are signed the Standard Webhooks way with standard.SECRET."""
    standard_id = tenant_id + "-std"
    publish(
        redis_client,
        settings.stream_prefix,
        box,
        standard_id,
        "servicedesk",
        [standard.SECRET],
        scheme="standard",
    )
    return standard_id


@pytest.fixture()
def client(settings: Settings, redis_client: redis.Redis) -> Iterator[TestClient]:
    with TestClient(create_app(settings)) as test_client:
        yield test_client
