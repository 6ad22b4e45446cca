from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from dagster import DagsterInstance

from aiops.embedded import ServiceUrls
from assets.resources import PostgresResource, RedisResource, WarehouseResource


@pytest.fixture()
def warehouse_dir(tmp_path: Path) -> Path:
    return tmp_path / "warehouse"


@pytest.fixture()
def resources(service_urls: ServiceUrls, warehouse_dir: Path, master_key: str) -> dict[str, Any]:
    """What deployed_resources() binds to AI_AGENTS_* variables, pointed at the fixtures."""
    return {
        "postgres": PostgresResource(
            database_url=service_urls.database_url, encryption_key=master_key
        ),
        "redis": RedisResource(redis_url=service_urls.redis_url),
        "warehouse": WarehouseResource(warehouse_dir=str(warehouse_dir)),
    }


@pytest.fixture()
def instance() -> Iterator[DagsterInstance]:
    with DagsterInstance.ephemeral() as dagster_instance:
        yield dagster_instance
