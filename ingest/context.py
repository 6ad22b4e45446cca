"""What the lifespan owns and the routes use."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

import redis.asyncio
from fastapi import Depends, Request

from aiops.settings import Settings
from aiops.tenant_directory import TenantDirectory
from ingest.enqueue import EventQueue
from ingest.metrics import IngestMetrics


@dataclass(frozen=True)
class IngestContext:
    settings: Settings
    redis: redis.asyncio.Redis
    tenants: TenantDirectory
    queue: EventQueue
    metrics: IngestMetrics


async def get_context(request: Request) -> IngestContext:
    # async: FastAPI runs a plain `def` dependency in its thread pool, a hop per request.
    context: IngestContext = request.app.state.ingest
    return context


Context = Annotated[IngestContext, Depends(get_context)]
