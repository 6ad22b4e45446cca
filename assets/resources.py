"""Resources every domain shares. Connections open inside a step, never at load time."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import redis
from dagster import ConfigurableResource, EnvVar
from pydantic import Field

from aiops.crypto import SecretBox, parse_key
from aiops.secrets import secret_box
from aiops.settings import Settings
from warehouse.db import Database
from warehouse.tenant_context import context_keys


class PostgresResource(ConfigurableResource):
    """The application role: every tenant's rows are read under row-level security."""

    database_url: str = Field(description="AI_AGENTS_DATABASE_URL: the application role.")
    encryption_key: str | None = Field(
        default=None,
        description="AI_AGENTS_ENCRYPTION_KEY, which signs tenant contexts; unset: the "
        "process's settings (the key generated in AI_AGENTS_STATE_DIR when embedded).",
    )

    @contextmanager
    def open(self) -> Iterator[Database]:
        if self.encryption_key is not None:
            box = SecretBox(parse_key(self.encryption_key))
        else:
            box = secret_box(Settings())
        key = context_keys(box).signing
        with Database(self.database_url, key, min_size=1, max_size=2) as db:
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
