from __future__ import annotations

import socket
from datetime import UTC, datetime

import redis

from aiops.settings import Settings
from flows.source import START, RedisStreamSource


def _settings(settings: Settings, **changes: object) -> Settings:
    return settings.model_copy(update={"stream_shards": 3, "flow_batch_size": 2, **changes})


def _read_all(source: RedisStreamSource, resume: dict[str, str | None]) -> dict[str, list[str]]:
    read: dict[str, list[str]] = {}
    for part in source.list_parts():
        partition = source.build_part("read_streams", part, resume.get(part))
        try:
            while batch := partition.next_batch():
                read.setdefault(part, []).extend(e.fields[b"n"].decode() for e in batch)
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

    resume: dict[str, str | None] = {}
    first = _read_all(source, resume)
    assert first == {config.stream_name(s): [f"{s}.{n}" for n in range(3)] for s in range(3)}

    redis_client.xadd(config.stream_name(1), {"n": "1.3"})
    assert _read_all(source, resume) == {config.stream_name(1): ["1.3"]}


def test_entries_carry_stream_id_and_raw_fields(
    settings: Settings, redis_client: redis.Redis
) -> None:
    config = _settings(settings)
    entry_id = redis_client.xadd(config.stream_name(0), {"event": b"\xff not utf-8"})
    partition = RedisStreamSource(config).build_part("s", config.stream_name(0), None)
    [entry] = partition.next_batch()
    assert entry == (config.stream_name(0), entry_id.decode(), {b"event": b"\xff not utf-8"})
    assert partition.snapshot() == entry_id.decode()
    partition.close()


def test_an_empty_stream_answers_at_once_and_asks_to_be_woken_a_little_later(
    settings: Settings, redis_client: redis.Redis
) -> None:
    config = _settings(settings)
    partition = RedisStreamSource(config).build_part("s", config.stream_name(2), None)
    before = datetime.now(UTC)
    assert partition.next_batch() == []
    awake = partition.next_awake()
    assert awake is not None and awake > before
    assert partition.snapshot() == START
    partition.close()


def test_redis_being_unreachable_backs_off_instead_of_failing(settings: Settings) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    config = _settings(settings, redis_url=f"redis://127.0.0.1:{port}/0")
    partition = RedisStreamSource(config).build_part("s", config.stream_name(0), "5-0")
    assert partition.next_batch() == []
    first_wait = partition.next_awake()
    assert partition.next_batch() == []
    second_wait = partition.next_awake()
    assert first_wait is not None and second_wait is not None and second_wait > first_wait
    assert partition.snapshot() == "5-0"
    partition.close()
