"""Running the enhancement flow in-process against the session's PostgreSQL and Redis."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import pytest
import redis
from bytewax.testing import run_main

from aiops.crypto import SecretBox
from aiops.events import Ticket
from aiops.settings import Settings
from flows.enhance import build_flow
from flows.items import Entry
from flows.runtime import FlowRuntime
from flows.source import RedisStreamSource
from tests.fakes.sdp_server import SdpServer
from warehouse import enhancements
from warehouse.db import Database
from warehouse.knowledge import Article, Host, upsert_articles, upsert_hosts
from warehouse.tenants import TenantConfig, create_tenant
from warehouse.tickets import upsert_tickets

SDP_KEY = "sdp-test-key"


@pytest.fixture()
def flow_settings(settings: Settings) -> Settings:
    return settings.model_copy(
        update={
            "flow_concurrency": 8,
            "tenant_cache_seconds": 0.0,
            "gather_timeout_seconds": 3.0,
            "llm_model": None,
            "llm_fallbacks": [],
        }
    )


@pytest.fixture()
def sdp() -> Iterator[SdpServer]:
    with SdpServer(flavor="onprem", api_key=SDP_KEY) as server:
        yield server


class Clock:
    """A monotonic clock the test moves by hand (set `now`)."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def put_entries(settings: Settings, entries: Sequence[Entry]) -> None:
    """`entries` on the first shard stream, in order, after emptying every shard's
    streams (Redis gives the entry ids): the source reads them all, so an entry another
    test left (a webhook's, on its tenant's shard) would run again here."""
    assert settings.redis_url is not None
    client = redis.Redis.from_url(settings.redis_url)
    try:
        for shard in range(settings.stream_shards):
            client.delete(settings.stream_name(shard), settings.backfill_stream_name(shard))
        stream = settings.stream_name(0)
        for item in entries:
            client.xadd(stream, dict(item.fields))
    finally:
        client.close()


def run_flow(settings: Settings, entries: Sequence[Entry]) -> FlowRuntime:
    """Runs the flow through the real Redis source until `entries` are all handled."""
    put_entries(settings, entries)
    runtime = FlowRuntime(settings)
    try:
        source = RedisStreamSource(settings, runtime.window, runtime.acks, stop_when_drained=True)
        run_main(build_flow(settings, source=source, runtime=runtime))
    finally:
        runtime.close()
    return runtime


def add_tenant(db: Database, box: SecretBox, tenant_id: str, **config: Any) -> TenantConfig:
    return create_tenant(
        db, box, TenantConfig(tenant_id=tenant_id, display_name=tenant_id, **config)
    )


def sdp_tenant(
    db: Database, box: SecretBox, tenant_id: str, sdp: SdpServer, **config: Any
) -> TenantConfig:
    return add_tenant(
        db,
        box,
        tenant_id,
        itsm_base_url=sdp.base_url,
        itsm_flavor="onprem",
        itsm_api_key=SDP_KEY,
        **config,
    )


def seed(
    db: Database,
    tenant_id: str,
    *,
    history: Sequence[Ticket] = (),
    articles: Sequence[Article] = (),
    hosts: Sequence[Host] = (),
) -> None:
    with db.tenant(tenant_id) as conn:
        upsert_tickets(conn, history, "import")
        upsert_articles(conn, articles)
        upsert_hosts(conn, hosts)


def recorded(db: Database, tenant_id: str, event_id: str) -> dict[str, Any]:
    with db.tenant(tenant_id) as conn:
        row = enhancements.get(conn, event_id)
    assert row is not None, f"no enhancement_history row for {event_id}"
    return dict(row)


def dead_letters(client: redis.Redis, settings: Settings) -> list[dict[str, str]]:
    entries: Any = client.xrange(settings.dead_letter_stream)
    return [
        {k.decode(): v.decode(errors="replace") for k, v in fields.items()} for _, fields in entries
    ]
