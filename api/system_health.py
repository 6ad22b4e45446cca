"""What an operator sees of the running installation: processes, queues, recent failures.

Each part is read where it lives: the supervisor's status file (aiops.process_health), the
flow's own Prometheus endpoint for queue depth (only the flow knows its low-water marks),
Redis for stream lengths and the dead-letter count, and each tenant's history for its
latest failures. A part that cannot be read is reported as such, never as zero.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

import httpx
import redis
from prometheus_client.parser import text_string_to_metric_families

from aiops.process_health import ComponentState, read_status, status_path
from aiops.settings import Settings
from warehouse import enhancements
from warehouse.db import Database
from warehouse.tenants import list_tenant_ids

log = logging.getLogger(__name__)

QUEUE_DEPTH_METRIC = "queue_depth"
FLOW_METRICS_TIMEOUT_SECONDS = 2.0


@dataclass(frozen=True)
class QueueDepth:
    """Events not finished yet per stream, as the flow last counted them; `error` says why
    there is no figure (flow metrics off or unreachable)."""

    url: str | None
    depth: dict[str, int]
    error: str | None = None


@dataclass(frozen=True)
class Failure:
    tenant_id: str
    event_id: str
    ticket_id: str
    error_kind: str | None
    error: str | None
    created_at: datetime


def components(settings: Settings) -> list[ComponentState]:
    """Every component `aiops up` supervises; none when no supervisor runs here."""
    return read_status(status_path(settings.state_dir))


def flow_metrics_url(settings: Settings) -> str | None:
    if not settings.flow_metrics_port:
        return None
    # A flow bound to every interface is reached on loopback from beside it.
    host = "127.0.0.1" if settings.host in ("0.0.0.0", "::", "") else settings.host
    return f"http://{host}:{settings.flow_metrics_port}/metrics"


def parse_queue_depth(exposition: str) -> dict[str, int]:
    """queue_depth{queue_name} samples of a Prometheus text exposition, by stream."""
    depth: dict[str, int] = {}
    for family in text_string_to_metric_families(exposition):
        if family.name != QUEUE_DEPTH_METRIC:
            continue
        for sample in family.samples:
            stream = sample.labels.get("queue_name")
            if stream:
                depth[stream] = int(sample.value)
    return depth


def queue_depth(settings: Settings) -> QueueDepth:
    url = flow_metrics_url(settings)
    if url is None:
        return QueueDepth(None, {}, "the flow serves no metrics (AI_AGENTS_FLOW_METRICS_PORT=0)")
    try:
        response = httpx.get(url, timeout=FLOW_METRICS_TIMEOUT_SECONDS)
        response.raise_for_status()
    except httpx.HTTPError as exc:
        log.info("flow metrics at %s unreadable: %s", url, exc)
        return QueueDepth(url, {}, f"the flow's metrics at {url} did not answer ({exc})")
    return QueueDepth(url, parse_queue_depth(response.text))


def stream_lengths(client: redis.Redis, settings: Settings) -> dict[str, int]:
    """Entries kept in each live and backfill shard stream and the dead-letter stream
    (finished ones included, up to AI_AGENTS_STREAM_MAXLEN)."""
    names = [settings.stream_name(shard) for shard in range(settings.stream_shards)]
    names += [settings.backfill_stream_name(shard) for shard in range(settings.stream_shards)]
    names.append(settings.dead_letter_stream)
    with client.pipeline(transaction=False) as pipe:
        for name in names:
            pipe.xlen(name)
        lengths = pipe.execute()
    return {name: int(length) for name, length in zip(names, lengths, strict=True)}


def recent_failures(db: Database, limit: int) -> list[Failure]:
    """The newest failed enhancements over every tenant, one transaction per tenant
    (row-level security shows one tenant at a time)."""
    found: list[Failure] = []
    for tenant_id in list_tenant_ids(db):
        with db.tenant(tenant_id) as conn:
            rows = enhancements.recent(conn, limit=limit, status="failed")
        found += [
            Failure(
                tenant_id=tenant_id,
                event_id=row["event_id"],
                ticket_id=row["ticket_id"],
                error_kind=row["error_kind"],
                error=row["error"],
                created_at=row["created_at"],
            )
            for row in rows
        ]
    found.sort(key=lambda failure: failure.created_at, reverse=True)
    return found[:limit]
