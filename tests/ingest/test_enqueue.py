"""The atomic dedupe-and-append step against the real Redis."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import redis
import redis.asyncio
from redis.exceptions import ResponseError

from aiops.events import Event, Ticket, shard_for, utcnow
from aiops.settings import Settings
from ingest.enqueue import EventQueue, dedupe_key
from tests.ingest.streams import stored_events

pytestmark = pytest.mark.anyio


@pytest.fixture()
async def queue(settings: Settings, redis_client: redis.Redis) -> AsyncIterator[EventQueue]:
    assert settings.redis_url is not None
    client = redis.asyncio.Redis.from_url(settings.redis_url)
    yield EventQueue(client, settings)
    await client.aclose()


def _event(tenant_id: str, event_id: str = "delivery-1") -> Event:
    return Event(
        event_id=event_id,
        tenant_id=tenant_id,
        source="servicedesk",
        kind="created",
        ticket=Ticket(id="42", subject="VPN down"),
        received_at=utcnow(),
    )


async def test_the_first_delivery_is_appended_to_the_tenants_shard(
    queue: EventQueue, redis_client: redis.Redis, settings: Settings, tenant_id: str
) -> None:
    event = _event(tenant_id)

    enqueued = await queue.put(event)

    stream = settings.stream_name(shard_for(tenant_id, settings.stream_shards))
    assert enqueued.stream == stream
    assert not enqueued.duplicate
    assert stored_events(redis_client, stream) == [event]
    assert redis_client.xlen(stream) == 1
    assert redis_client.get(dedupe_key(settings.stream_prefix, tenant_id, event.event_id)) == (
        str(enqueued.entry_id).encode()
    )
    ttl = redis_client.ttl(dedupe_key(settings.stream_prefix, tenant_id, event.event_id))
    assert 0 < ttl <= settings.dedupe_ttl_seconds


async def test_a_repeated_delivery_is_a_duplicate_and_appends_nothing(
    queue: EventQueue, redis_client: redis.Redis, settings: Settings, tenant_id: str
) -> None:
    first = await queue.put(_event(tenant_id))
    again = await queue.put(_event(tenant_id))
    other = await queue.put(_event(tenant_id, "delivery-2"))

    assert (first.duplicate, again.duplicate, other.duplicate) == (False, True, False)
    assert redis_client.xlen(first.stream) == 2


async def test_the_same_event_id_of_another_tenant_is_not_a_duplicate(
    queue: EventQueue, tenant_id: str
) -> None:
    assert not (await queue.put(_event(tenant_id))).duplicate
    assert not (await queue.put(_event(tenant_id + "-other"))).duplicate


async def test_a_failed_append_leaves_no_dedupe_key_behind(
    queue: EventQueue, redis_client: redis.Redis, settings: Settings, tenant_id: str
) -> None:
    stream = settings.stream_name(shard_for(tenant_id, settings.stream_shards))
    redis_client.set(stream, "not a stream")
    event = _event(tenant_id)

    with pytest.raises(ResponseError):
        await queue.put(event)

    assert not redis_client.exists(dedupe_key(settings.stream_prefix, tenant_id, event.event_id))
    redis_client.delete(stream)
    assert not (await queue.put(event)).duplicate


async def test_streams_are_capped_near_maxlen(
    settings: Settings, redis_client: redis.Redis, tenant_id: str
) -> None:
    assert settings.redis_url is not None
    client = redis.asyncio.Redis.from_url(settings.redis_url)
    capped = EventQueue(client, settings.model_copy(update={"stream_maxlen": 10}))
    try:
        for n in range(300):
            enqueued = await capped.put(_event(tenant_id, f"delivery-{n}"))
    finally:
        await client.aclose()

    # Approximate trimming drops whole internal nodes (100 entries each by default).
    assert redis_client.xlen(enqueued.stream) < 300
