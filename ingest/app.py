"""The ingest app factory: `uvicorn --factory ingest.app:create_app`."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator

import redis.asyncio
from fastapi import FastAPI
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialWithJitterBackoff

from aiops.embedded import embedded_redis
from aiops.logs import configure_logging
from aiops.offline_docs import add_offline_docs
from aiops.process_health import status_path
from aiops.secrets import secret_box
from aiops.settings import Settings, get_settings
from aiops.tenant_directory import TenantDirectory
from ingest.context import IngestContext
from ingest.enqueue import EventQueue
from ingest.metrics import IngestMetrics
from ingest.routes import health, metrics, webhooks
from itsm import registry


def _redis_client(url: str, settings: Settings) -> redis.asyncio.Redis:
    # One quick retry covers a dropped pooled connection (say, after a Redis restart);
    # more would keep the sender waiting for an answer that should be a prompt 503.
    return redis.asyncio.Redis.from_url(
        url,
        socket_timeout=settings.redis_timeout_seconds,
        socket_connect_timeout=settings.redis_timeout_seconds,
        retry=Retry(ExponentialWithJitterBackoff(cap=0.1, base=0.02), retries=1),
    )


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    plugins = list(registry.PLUGINS.values())
    if not logging.getLogger().handlers:
        # uvicorn configures only its own loggers; a host that set up logging keeps it.
        configure_logging("ingest")

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        with contextlib.ExitStack() as stack:
            url = settings.redis_url or stack.enter_context(embedded_redis(settings.state_dir))
            client = _redis_client(url, settings)
            try:
                app.state.ingest = IngestContext(
                    settings=settings,
                    redis=client,
                    tenants=TenantDirectory(
                        client,
                        settings.stream_prefix,
                        secret_box(settings),
                        settings.tenant_cache_seconds,
                    ),
                    queue=EventQueue(client, settings),
                    metrics=IngestMetrics(status_path(settings.state_dir)),
                )
                yield
            finally:
                await client.aclose()

    app = FastAPI(title="AI Ops ingest", lifespan=lifespan, docs_url=None, redoc_url=None)
    add_offline_docs(app)
    app.include_router(health.router)
    app.include_router(metrics.router)
    for plugin in plugins:
        app.include_router(webhooks.webhook_router(plugin))
    return app
