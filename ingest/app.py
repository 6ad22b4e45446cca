"""The ingest app factory: `uvicorn --factory ingest.app:create_app`."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Any

import redis.asyncio
from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialWithJitterBackoff
from starlette.types import Receive, Scope, Send

from aiops.collector import quiet_collector
from aiops.embedded import embedded_redis
from aiops.logs import configure_logging
from aiops.offline_docs import add_offline_docs
from aiops.process_health import status_path
from aiops.secrets import secret_box
from aiops.settings import Settings, get_settings
from aiops.tenant_directory import TenantDirectory
from aiops.tracing import configure_tracing
from ingest.context import IngestContext
from ingest.enqueue import EventQueue
from ingest.metrics import IngestMetrics
from ingest.pipelined import PipelinedRedis
from ingest.routes import health, metrics, webhooks
from itsm import registry
from itsm.base import ItsmPlugin


def _redis_client(url: str, settings: Settings) -> redis.asyncio.Redis:
    # One quick retry covers a dropped pooled connection (say, after a Redis restart);
    # more would keep the sender waiting for an answer that should be a prompt 503.
    return redis.asyncio.Redis.from_url(
        url,
        socket_timeout=settings.redis_timeout_seconds,
        socket_connect_timeout=settings.redis_timeout_seconds,
        retry=Retry(ExponentialWithJitterBackoff(cap=0.1, base=0.02), retries=1),
    )


class IngestApp(FastAPI):
    """FastAPI for health, metrics and the docs; webhook paths go to their endpoints first."""

    def __init__(self, plugins: list[ItsmPlugin], **options: Any) -> None:
        super().__init__(**options)
        self.plugins = plugins
        self._webhooks = webhooks.endpoints(plugins)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        endpoint = self._webhooks.get(scope["path"]) if scope["type"] == "http" else None
        if endpoint is None:
            await super().__call__(scope, receive, send)
        else:
            # The lifespan (run by FastAPI before any request is served) set the context.
            await endpoint.serve(self.state.ingest, scope, receive, send)

    def openapi(self) -> dict[str, Any]:
        if self.openapi_schema is None:
            schema = super().openapi()
            described = get_openapi(
                title=self.title,
                version=self.version,
                routes=[r for p in self.plugins for r in webhooks.described(p).routes],
            )
            schema["paths"].update(described["paths"])
            schema.setdefault("components", {}).setdefault("schemas", {}).update(
                described.get("components", {}).get("schemas", {})
            )
            self.openapi_schema = schema
        return self.openapi_schema


def create_app(settings: Settings | None = None) -> IngestApp:
    if settings is None:
        # Called by uvicorn (--factory): the process's entry point, after its imports.
        quiet_collector()
    settings = settings or get_settings()
    plugins = list(registry.PLUGINS.values())
    if not logging.getLogger().handlers:
        # uvicorn configures only its own loggers; a host that set up logging keeps it.
        configure_logging("ingest", settings.log_level, settings.log_format)
    configure_tracing(settings, "ingest")

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        with contextlib.ExitStack() as stack:
            url = settings.redis_url or stack.enter_context(embedded_redis(settings.state_dir))
            client = _redis_client(url, settings)
            queue_client = PipelinedRedis(url, settings.redis_timeout_seconds)
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
                    queue=EventQueue(queue_client, settings),
                    metrics=IngestMetrics(status_path(settings.state_dir)),
                )
                yield
            finally:
                await queue_client.aclose()
                await client.aclose()

    app = IngestApp(
        plugins, title="AI Ops ingest", lifespan=lifespan, docs_url=None, redoc_url=None
    )
    add_offline_docs(app)
    app.include_router(health.router)
    app.include_router(metrics.router)
    return app
