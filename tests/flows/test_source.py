from __future__ import annotations

import socket
from datetime import UTC, datetime

import redis

from aiops.settings import Settings
from flows.items import Entry
from flows.source import START, RedisStreamSource


def _n(entry: Entry) -> str:
    value = entry.fields[b"n"]
    assert isinstance(value, bytes)
    return value.decode()


def _settings(settings: Settings, **changes: object) -> Settings:
    return settings.model_copy(update={"stream_shards": 3, "flow_batch_size": 2, **changes})


def _read_all(source: RedisStreamSource, resume: dict[str, dict[str, str]]) -> dict[str, list[str]]:
    read: dict[str, list[str]] = {}
    for part in source.list_parts():
        partition = source.build_part("read_streams", part, resume.get(part))
        try:
            while batch := partition.next_batch():
                read.setdefault(part, []).extend(_n(e) for e in batch)
            resume[part] = partition.snapshot()
        finally:
            partition.close()
    return read


def test_reads_every_shard_and_resumes_after_the_snapshot(
    settings: Settings, redis_client: redis.Redis
) -> None:
    config = _settings(settings)
    source = RedisStreamSource(config)
    assert source.list_parts() == [config.stream_name(i) for i in range(3)]
    for shard in range(3):
        for n in range(3):
            redis_client.xadd(config.stream_name(shard), {"n": f"{shard}.{n}"})

    resume: dict[str, dict[str, str]] = {}
    first = _read_all(source, resume)
    assert first == {config.stream_name(s): [f"{s}.{n}" for n in range(3)] for s in range(3)}

    redis_client.xadd(config.stream_name(1), {"n": "1.3"})
    assert _read_all(source, resume) == {config.stream_name(1): ["1.3"]}


def test_entries_carry_stream_id_and_raw_fields(
    settings: Settings, redis_client: redis.Redis
) -> None:
    config = _settings(settings)
    added = redis_client.xadd(config.stream_name(0), {"event": b"\xff not utf-8"})
    assert isinstance(added, bytes)
    entry_id = added.decode()
    partition = RedisStreamSource(config).build_part("s", config.stream_name(0), None)
    [entry] = partition.next_batch()
    assert entry == (config.stream_name(0), entry_id, {b"event": b"\xff not utf-8"})
    assert partition.snapshot()[config.stream_name(0)] == entry_id
    partition.close()


def test_the_backfill_stream_is_read_only_when_the_live_one_has_nothing_waiting(
    settings: Settings, redis_client: redis.Redis
) -> None:
    config = _settings(settings)
    live, backfill = config.stream_name(1), config.backfill_stream_name(1)
    for n in range(3):
        redis_client.xadd(backfill, {"n": f"b{n}"})
        redis_client.xadd(live, {"n": f"l{n}"})
    partition = RedisStreamSource(config).build_part("s", live, None)
    batches = [[(e.stream, _n(e)) for e in partition.next_batch()]]
    redis_client.xadd(live, {"n": "l3"})
    while batch := partition.next_batch():
        batches.append([(e.stream, _n(e)) for e in batch])
    assert batches == [
        [(live, "l0"), (live, "l1")],
        [(live, "l2"), (live, "l3")],
        [(backfill, "b0"), (backfill, "b1")],
        [(backfill, "b2")],
    ]
    resumed = RedisStreamSource(config).build_part("s", live, partition.snapshot())
    redis_client.xadd(backfill, {"n": "b3"})
    assert [e.fields[b"n"] for e in resumed.next_batch()] == [b"b3"]
    partition.close()
    resumed.close()


def test_an_empty_stream_answers_at_once_and_asks_to_be_woken_a_little_later(
    settings: Settings, redis_client: redis.Redis
) -> None:
    config = _settings(settings)
    partition = RedisStreamSource(config).build_part("s", config.stream_name(2), None)
    before = datetime.now(UTC)
    assert partition.next_batch() == []
    awake = partition.next_awake()
    assert awake is not None and awake > before
    assert partition.snapshot() == {
        config.stream_name(2): START,
        config.backfill_stream_name(2): START,
    }
    partition.close()


def test_redis_being_unreachable_backs_off_instead_of_failing(settings: Settings) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    config = _settings(settings, redis_url=f"redis://127.0.0.1:{port}/0")
    resume = {config.stream_name(0): "5-0", config.backfill_stream_name(0): "3-0"}
    partition = RedisStreamSource(config).build_part("s", config.stream_name(0), resume)
    assert partition.next_batch() == []
    first_wait = partition.next_awake()
    assert partition.next_batch() == []
    second_wait = partition.next_awake()
    assert first_wait is not None and second_wait is not None and second_wait > first_wait
    assert partition.snapshot() == resume
    partition.close()
