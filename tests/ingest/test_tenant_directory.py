"""The tenant directory's read side against the real Redis."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
import redis
import redis.asyncio

from aiops.crypto import DecryptionError, SecretBox, generate_key, parse_key
from aiops.settings import Settings
from aiops.tenant_directory import TenantDirectory, is_tenant_id, publish, remove

pytestmark = pytest.mark.anyio


@pytest.fixture()
async def async_redis(
    settings: Settings, redis_client: redis.Redis
) -> AsyncIterator[redis.asyncio.Redis]:
    assert settings.redis_url is not None
    client = redis.asyncio.Redis.from_url(settings.redis_url)
    yield client
    await client.aclose()


async def test_lookup_returns_the_published_secrets(
    async_redis: redis.asyncio.Redis, redis_client: redis.Redis, box: SecretBox, tenant_id: str
) -> None:
    publish(redis_client, "aiops", box, tenant_id, "servicedesk", ["s1", "s2"])
    directory = TenantDirectory(async_redis, "aiops", box, ttl_seconds=30)

    entry = await directory.lookup(tenant_id)

    assert entry is not None
    assert (entry.tenant_id, entry.source, entry.webhook_secrets) == (
        tenant_id,
        "servicedesk",
        ("s1", "s2"),
    )
    assert "s1" not in repr(entry)


async def test_misses_and_hits_are_cached_until_the_ttl(
    async_redis: redis.asyncio.Redis, redis_client: redis.Redis, box: SecretBox, tenant_id: str
) -> None:
    cached = TenantDirectory(async_redis, "aiops", box, ttl_seconds=3600)
    uncached = TenantDirectory(async_redis, "aiops", box, ttl_seconds=0)
    assert await cached.lookup(tenant_id) is None

    publish(redis_client, "aiops", box, tenant_id, "servicedesk", ["s1"])
    assert await cached.lookup(tenant_id) is None
    assert await uncached.lookup(tenant_id) is not None

    remove(redis_client, "aiops", tenant_id)
    assert await uncached.lookup(tenant_id) is None


async def test_ids_that_cannot_be_tenants_never_reach_redis(
    async_redis: redis.asyncio.Redis, redis_client: redis.Redis, box: SecretBox
) -> None:
    # Published under a key a valid id could never produce: the lookup must not find it.
    redis_client.hset("aiops:tenant:Acme:x", mapping={"source": "servicedesk"})
    directory = TenantDirectory(async_redis, "aiops", box, ttl_seconds=30)

    assert await directory.lookup("Acme:x") is None
    assert not is_tenant_id("Acme:x")
    assert not is_tenant_id("")
    assert not is_tenant_id("a" * 64)
    assert is_tenant_id("acme-1_b")


async def test_an_entry_sealed_under_another_master_key_is_an_error(
    async_redis: redis.asyncio.Redis, redis_client: redis.Redis, box: SecretBox, tenant_id: str
) -> None:
    other = SecretBox(parse_key(generate_key()))
    publish(redis_client, "aiops", other, tenant_id, "servicedesk", ["s1"])
    directory = TenantDirectory(async_redis, "aiops", box, ttl_seconds=30)

    with pytest.raises(DecryptionError):
        await directory.lookup(tenant_id)


async def test_webhooks_waiting_for_one_tenant_read_its_entry_once(
    async_redis: redis.asyncio.Redis, redis_client: redis.Redis, box: SecretBox, tenant_id: str
) -> None:
    publish(redis_client, "aiops", box, tenant_id, "servicedesk", ["s1"])
    directory = TenantDirectory(async_redis, "aiops", box, ttl_seconds=3600)

    def reads() -> int:
        stats = redis_client.info("commandstats").get("cmdstat_hmget", {})
        return int(stats.get("calls", 0))

    before = reads()
    entries = await asyncio.gather(*(directory.lookup(tenant_id) for _ in range(50)))
    assert reads() - before == 1
    assert {entry.webhook_secrets if entry else None for entry in entries} == {("s1",)}


async def test_a_failed_read_fails_every_waiter_and_the_next_lookup_reads_again(
    async_redis: redis.asyncio.Redis, redis_client: redis.Redis, box: SecretBox, tenant_id: str
) -> None:
    other_key = SecretBox(parse_key(generate_key()))
    publish(redis_client, "aiops", other_key, tenant_id, "servicedesk", ["s1"])
    directory = TenantDirectory(async_redis, "aiops", box, ttl_seconds=3600)

    results = await asyncio.gather(
        *(directory.lookup(tenant_id) for _ in range(5)), return_exceptions=True
    )
    assert all(isinstance(result, DecryptionError) for result in results)

    publish(redis_client, "aiops", box, tenant_id, "servicedesk", ["s1"])
    entry = await directory.lookup(tenant_id)
    assert entry is not None and entry.webhook_secrets == ("s1",)
