"""Resources every domain shares. Connections open inside a step, never at load time."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import redis
from dagster import ConfigurableResource, EnvVar
from pydantic import Field

from aiops.settings import Settings
from warehouse.db import Database


class PostgresResource(ConfigurableResource):
    """The application role: every tenant's rows are read under row-level security."""

    database_url: str = Field(description="AI_AGENTS_DATABASE_URL: the application role.")

    @contextmanager
    def open(self) -> Iterator[Database]:
        with Database(self.database_url, min_size=1, max_size=2) as db:
            yield db


class RedisResource(ConfigurableResource):
    redis_url: str = Field(description="AI_AGENTS_REDIS_URL")

    @contextmanager
    def client(self) -> Iterator[redis.Redis]:
        client = redis.Redis.from_url(self.redis_url)
        try:
            yield client
        finally:
            client.close()

    def stream_settings(self) -> Settings:
        """Stream names and shard count as ingest and the flow see them (AI_AGENTS_STREAM_*)."""
        return Settings(redis_url=self.redis_url)


class WarehouseResource(ConfigurableResource):
    warehouse_dir: str = Field(description="AI_AGENTS_WAREHOUSE_DIR: Parquet, DuckDB, indexes.")

    @property
    def root(self) -> Path:
        return Path(self.warehouse_dir)


def deployed_resources() -> dict[str, ConfigurableResource]:
    """Bound to the environment of the process that runs a step, not the one that loads."""
    return {
        "postgres": PostgresResource(database_url=EnvVar("AI_AGENTS_DATABASE_URL")),
        "redis": RedisResource(redis_url=EnvVar("AI_AGENTS_REDIS_URL")),
        "warehouse": WarehouseResource(warehouse_dir=EnvVar("AI_AGENTS_WAREHOUSE_DIR")),
    }
