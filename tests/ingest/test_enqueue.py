"""The atomic dedupe-and-append step against the real Redis."""

from __future__ import annotations

import asyncio
import hashlib
import math
from collections.abc import AsyncIterator

import pytest
import redis
from redis.exceptions import ResponseError

from aiops.events import Event, Ticket, shard_for, utcnow
from aiops.settings import Settings
from ingest.enqueue import Enqueued, EventQueue, RateLimited, dedupe_key, rate_key, replay_key
from ingest.pipelined import PipelinedRedis
from tests.ingest.streams import stored_events

pytestmark = pytest.mark.anyio


@pytest.fixture()
async def queue(settings: Settings, redis_client: redis.Redis) -> AsyncIterator[EventQueue]:
    assert settings.redis_url is not None
    client = PipelinedRedis(settings.redis_url, settings.redis_timeout_seconds)
    yield EventQueue(client, settings)
    await client.aclose()


async def _put(
    queue: EventQueue, event: Event, *, digest: str | None = None, rate: int = 1_000_000
) -> Enqueued:
    """Each event signed differently unless `digest` says otherwise."""
    signed = digest or hashlib.sha256(event.event_id.encode()).hexdigest()
    return await queue.put(event, signed_digest=signed, rate_per_minute=rate)


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

    enqueued = await _put(queue, event)

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
    first = await _put(queue, _event(tenant_id))
    again = await _put(queue, _event(tenant_id))
    other = await _put(queue, _event(tenant_id, "delivery-2"))

    assert (first.duplicate, again.duplicate, other.duplicate) == (False, True, False)
    assert redis_client.xlen(first.stream) == 2


async def test_the_same_event_id_of_another_tenant_is_not_a_duplicate(
    queue: EventQueue, tenant_id: str
) -> None:
    assert not (await _put(queue, _event(tenant_id))).duplicate
    assert not (await _put(queue, _event(tenant_id + "-other"))).duplicate


async def test_a_failed_append_leaves_no_dedupe_key_behind(
    queue: EventQueue, redis_client: redis.Redis, settings: Settings, tenant_id: str
) -> None:
    stream = settings.stream_name(shard_for(tenant_id, settings.stream_shards))
    redis_client.set(stream, "not a stream")
    event = _event(tenant_id)

    with pytest.raises(ResponseError):
        await _put(queue, event)

    assert not redis_client.exists(dedupe_key(settings.stream_prefix, tenant_id, event.event_id))
    redis_client.delete(stream)
    assert not (await _put(queue, event)).duplicate


async def test_streams_are_capped_near_maxlen(
    settings: Settings, redis_client: redis.Redis, tenant_id: str
) -> None:
    assert settings.redis_url is not None
    client = PipelinedRedis(settings.redis_url, settings.redis_timeout_seconds)
    capped = EventQueue(client, settings.model_copy(update={"stream_maxlen": 10}))
    try:
        for n in range(300):
            enqueued = await _put(capped, _event(tenant_id, f"delivery-{n}"))
    finally:
        await client.aclose()

    # Approximate trimming drops whole internal nodes (100 entries each by default).
    assert redis_client.xlen(enqueued.stream) < 300


async def test_a_known_digest_under_a_new_event_id_is_a_replay_that_appends_nothing(
    queue: EventQueue, redis_client: redis.Redis, settings: Settings, tenant_id: str
) -> None:
    first = await _put(queue, _event(tenant_id, "delivery-1"), digest="same-signed-bytes")
    replay = await _put(queue, _event(tenant_id, "delivery-2"), digest="same-signed-bytes")

    assert (first.outcome, replay.outcome) == ("accepted", "replay")
    assert replay.duplicate
    assert replay.original_event_id == "delivery-1"
    assert [e.event_id for e in stored_events(redis_client, first.stream)] == ["delivery-1"]
    key = replay_key(settings.stream_prefix, tenant_id, "same-signed-bytes")
    assert 0 < redis_client.ttl(key) <= settings.dedupe_ttl_seconds
    assert not redis_client.exists(dedupe_key(settings.stream_prefix, tenant_id, "delivery-2"))


async def test_replays_are_remembered_at_least_as_long_as_the_timestamp_tolerance(
    settings: Settings, redis_client: redis.Redis, tenant_id: str
) -> None:
    assert settings.redis_url is not None
    client = PipelinedRedis(settings.redis_url, settings.redis_timeout_seconds)
    short = settings.model_copy(
        update={"dedupe_ttl_seconds": 10, "webhook_timestamp_tolerance_seconds": 300}
    )
    try:
        await _put(EventQueue(client, short), _event(tenant_id), digest="d")
    finally:
        await client.aclose()

    assert redis_client.ttl(replay_key(settings.stream_prefix, tenant_id, "d")) > 290
    assert redis_client.ttl(dedupe_key(settings.stream_prefix, tenant_id, "delivery-1")) > 290


def _redis_clock_us(redis_client: redis.Redis) -> int:
    """Redis's own clock, the one the limiter reads, in microseconds."""
    seconds, micros = redis_client.time()
    return seconds * 1_000_000 + micros


def _allowed_at_us(redis_client: redis.Redis, settings: Settings, tenant_id: str, rate: int) -> int:
    """When the limiter's stored state (the theoretical arrival time) lets the next one in."""
    stored = redis_client.get(rate_key(settings.stream_prefix, tenant_id))
    assert stored is not None
    return int(stored) + 60_000_000 // rate - 60_000_000


async def test_over_the_rate_nothing_is_written_and_retry_after_says_when_a_slot_frees(
    queue: EventQueue, redis_client: redis.Redis, settings: Settings, tenant_id: str
) -> None:
    # 2 a minute: a burst of 2, then one slot every 30 s (far longer than this test runs).
    accepted = [await _put(queue, _event(tenant_id, f"d-{n}"), rate=2) for n in range(2)]
    allowed_at = _allowed_at_us(redis_client, settings, tenant_id, 2)

    before = _redis_clock_us(redis_client)
    with pytest.raises(RateLimited) as caught:
        await _put(queue, _event(tenant_id, "d-2"), rate=2)
    after = _redis_clock_us(redis_client)

    # The script read Redis's clock between `before` and `after`: Retry-After is the wait
    # from then to the next slot, rounded up to whole seconds.
    assert math.ceil((allowed_at - after) / 1e6) <= caught.value.retry_after
    assert caught.value.retry_after <= math.ceil((allowed_at - before) / 1e6) <= 30
    assert redis_client.xlen(accepted[0].stream) == 2
    assert not redis_client.exists(dedupe_key(settings.stream_prefix, tenant_id, "d-2"))
    # Retries of accepted events still get their answer, and are not counted.
    assert (await _put(queue, _event(tenant_id, "d-0"), rate=2)).outcome == "duplicate"
    ttl_ms = redis_client.pttl(rate_key(settings.stream_prefix, tenant_id))
    assert 0 < ttl_ms <= 60_000


async def _outcome(queue: EventQueue, event: Event, rate: int) -> str | int:
    """The outcome ("accepted"), or the Retry-After of a refusal."""
    try:
        return (await _put(queue, event, rate=rate)).outcome
    except RateLimited as exc:
        return exc.retry_after


async def test_a_burst_takes_the_whole_budget_and_a_slot_frees_after_the_emission_interval(
    queue: EventQueue, redis_client: redis.Redis, settings: Settings, tenant_id: str
) -> None:
    # 60 a minute: a burst of 60, then one slot a second. All 61 deliveries are sent at
    # once; how many get in is checked against Redis's clock (which the limiter reads), so
    # a slow machine that stretches the burst over more than a second still agrees.
    started = _redis_clock_us(redis_client)
    answers = await asyncio.gather(
        *(_outcome(queue, _event(tenant_id, f"d-{n}"), 60) for n in range(61))
    )
    elapsed_seconds = (_redis_clock_us(redis_client) - started) / 1e6

    accepted = answers.count("accepted")
    assert 60 <= accepted <= 60 + math.floor(elapsed_seconds)
    assert all(answer == 1 for answer in answers if answer != "accepted")

    # Wait, by Redis's clock, until the limiter's state says the next slot is free.
    allowed_at = _allowed_at_us(redis_client, settings, tenant_id, 60)
    assert allowed_at - _redis_clock_us(redis_client) <= 1_000_000
    while _redis_clock_us(redis_client) < allowed_at:
        await asyncio.sleep(0.05)

    assert await _outcome(queue, _event(tenant_id, "late"), 60) == "accepted"


async def test_each_tenant_has_its_own_budget(queue: EventQueue, tenant_id: str) -> None:
    await _put(queue, _event(tenant_id), rate=1)
    with pytest.raises(RateLimited):
        await _put(queue, _event(tenant_id, "d-2"), rate=1)

    assert (await _put(queue, _event(tenant_id + "-b"), rate=1)).outcome == "accepted"
