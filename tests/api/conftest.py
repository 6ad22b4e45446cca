"""The management app in-process (lifespan included) against the session's real servers."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import redis
from fastapi.testclient import TestClient

from aiops.settings import Settings
from api.app import create_app


@pytest.fixture()
def client(
    settings: Settings, redis_client: redis.Redis, sandbox_worker: None
) -> Iterator[TestClient]:
    """The app, with a sandbox worker running beside it."""
    with TestClient(create_app(settings)) as test_client:
        yield test_client


@pytest.fixture()
def client_without_worker(settings: Settings, redis_client: redis.Redis) -> Iterator[TestClient]:
    with TestClient(create_app(settings)) as test_client:
        yield test_client


@pytest.fixture()
def auth(settings: Settings) -> dict[str, str]:
    assert settings.admin_token is not None
    return {"Authorization": f"Bearer {settings.admin_token.get_secret_value()}"}
