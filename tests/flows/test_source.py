"""The shard partitions against real Redis: fair hand-on, read-ahead past a flood, bounded
memory, and resume state that re-runs exactly what had not finished."""

from __future__ import annotations

import socket
import time
from datetime import UTC, datetime

import redis

from aiops.events import EVENT_FIELD, Event
from aiops.settings import Settings
from flows.items import DeadLetter, Received
from flows.ledger import START, Mark
from flows.source import IDLE_WAIT, Acks, RedisStreamSource, ShardState
from flows.window import FairWindow
from tests.flows.events import event


def _settings(settings: Settings, **changes: object) -> Settings:
    return settings.model_copy(update={"stream_shards": 3, "flow_batch_size": 50, **changes})


def _add(client: redis.Redis, stream: str, item: Event) -> str:
    added = client.xadd(stream, {EVENT_FIELD: item.to_json()})
    assert isinstance(added, bytes)
    return added.decode()


def _tickets(items: list[Received | DeadLetter]) -> list[str]:
    return [i.event.ticket.id for i in items if isinstance(i, Received)]


def _drain(partition: object, rounds: int = 5) -> list[Received | DeadLetter]:
    """A few calls, spaced as Bytewax would after an idle read."""
    out: list[Received | DeadLetter] = []
    for _ in range(rounds):
        out += partition.next_batch()  # type: ignore[attr-defined]
        time.sleep(IDLE_WAIT.total_seconds())
    return out


def test_a_quiet_tenant_is_read_past_a_flood_on_its_shard_and_served_next(
    settings: Settings, redis_client: redis.Redis
) -> None:
    config = _settings(settings, flow_tenant_queue=3, flow_read_ahead=1_000)
    stream = config.stream_name(0)
    for n in range(40):
        _add(redis_client, stream, event("flood", f"f{n}", "x"))
    _add(redis_client, stream, event("quiet", "q0", "x"))
    window, acks = FairWindow(4), Acks()
    partition = RedisStreamSource(config, window, acks).build_part("s", stream, None)

    started = _drain(partition)
    assert _tickets(started) == ["f0", "q0", "f1", "f2"]
    assert window.in_flight == 4 and window.running("quiet") == 1

    # The flood's later events were kept as ids only; each is read again on its turn.
    for item in started:
        assert isinstance(item, Received)
        acks.finished(item.stream, item.entry_id)
    later = _drain(partition)
    assert _tickets(later) == ["f3", "f4", "f5", "f6"]
    assert all(isinstance(i, Received) and i.event.ticket.subject == "x" for i in later)
    partition.close()


def test_events_unfinished_at_a_snapshot_run_again_once_and_finished_ones_never(
    settings: Settings, redis_client: redis.Redis
) -> None:
    config = _settings(settings)
    stream = config.stream_name(1)
    for n in range(6):
        _add(redis_client, stream, event("t", str(n), "x"))
    window, acks = FairWindow(3), Acks()
    source = RedisStreamSource(config, window, acks)
    partition = source.build_part("s", stream, None)
    first = _drain(partition)
    assert _tickets(first) == ["0", "1", "2"]
    done = first[1]
    assert isinstance(done, Received)
    acks.finished(done.stream, done.entry_id)
    assert _tickets(_drain(partition)) == ["3"]
    snapshot = partition.snapshot()  # 0, 2, 3 in flight; 4, 5 waiting; 1 finished
    partition.close()

    resumed_window, resumed_acks = FairWindow(10), Acks()
    resumed = RedisStreamSource(config, resumed_window, resumed_acks).build_part(
        "s", stream, snapshot
    )
    again = _drain(resumed)
    assert _tickets(again) == ["0", "2", "3", "4", "5"]
    for item in again:
        assert isinstance(item, Received)
        resumed_acks.finished(item.stream, item.entry_id)
    assert _drain(resumed) == []
    final = resumed.snapshot()
    assert final.marks[stream].done == ()
    assert final.marks[stream].low == again[-1].entry_id  # type: ignore[union-attr]
    resumed.close()


def test_repeats_are_dropped_and_undecodable_or_resolved_entries_pass_at_once(
    settings: Settings, redis_client: redis.Redis
) -> None:
    config = _settings(settings)
    stream = config.stream_name(2)
    same = event("t", "1", "x")
    _add(redis_client, stream, same)
    _add(redis_client, stream, same)
    redis_client.xadd(stream, {EVENT_FIELD: "{broken"})
    _add(redis_client, stream, event("t", "2", "y", kind="resolved", resolution="done"))
    window, acks = FairWindow(1), Acks()
    partition = RedisStreamSource(config, window, acks).build_part("s", stream, None)
    out = _drain(partition)
    assert len([i for i in out if isinstance(i, DeadLetter)]) == 1
    assert sorted(_tickets(out)) == ["1", "2"]
    partition.close()


def test_reading_ahead_stops_at_its_bound(settings: Settings, redis_client: redis.Redis) -> None:
    config = _settings(settings, flow_read_ahead=10, flow_tenant_queue=2)
    stream = config.stream_name(0)
    for n in range(30):
        _add(redis_client, stream, event("flood", f"f{n}", "x"))
    _add(redis_client, stream, event("quiet", "q", "x"))
    window = FairWindow(1)
    partition = RedisStreamSource(config, window, Acks()).build_part("s", stream, None)
    assert _tickets(_drain(partition, rounds=20)) == ["f0"]
    assert partition.snapshot().marks[stream] == Mark(START, ())
    assert window.running("quiet") == 0  # beyond the bound: not read yet
    partition.close()


def test_the_backfill_stream_is_read_only_when_no_live_event_waits(
    settings: Settings, redis_client: redis.Redis
) -> None:
    config = _settings(settings)
    live, backfill = config.stream_name(1), config.backfill_stream_name(1)
    _add(redis_client, backfill, event("t", "b0", "x", backfill=True))
    for n in range(3):
        _add(redis_client, live, event("t", f"l{n}", "x"))
    window, acks = FairWindow(1), Acks()
    partition = RedisStreamSource(config, window, acks).build_part("s", live, None)
    order: list[str] = []
    for _ in range(4):
        batch = _drain(partition)
        order += _tickets(batch)
        for item in batch:
            assert isinstance(item, Received)
            acks.finished(item.stream, item.entry_id)
    assert order == ["l0", "l1", "l2", "b0"]
    partition.close()


def test_an_empty_stream_answers_at_once_and_asks_to_be_woken_a_little_later(
    settings: Settings, redis_client: redis.Redis
) -> None:
    config = _settings(settings)
    source = RedisStreamSource(config, FairWindow(1), Acks())
    partition = source.build_part("s", config.stream_name(2), None)
    before = datetime.now(UTC)
    assert partition.next_batch() == []
    awake = partition.next_awake()
    assert awake is not None and awake > before
    assert partition.snapshot().marks == {
        config.stream_name(2): Mark(),
        config.backfill_stream_name(2): Mark(),
    }
    partition.close()


def test_redis_being_unreachable_backs_off_and_a_snapshot_of_the_old_shape_resumes(
    settings: Settings,
) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    config = _settings(settings, redis_url=f"redis://127.0.0.1:{port}/0")
    old = {config.stream_name(0): "5-0", config.backfill_stream_name(0): "3-0"}
    source = RedisStreamSource(config, FairWindow(1), Acks())
    partition = source.build_part("s", config.stream_name(0), old)  # type: ignore[arg-type]
    assert partition.next_batch() == []
    first_wait = partition.next_awake()
    assert partition.next_batch() == []
    second_wait = partition.next_awake()
    assert first_wait is not None and second_wait is not None and second_wait > first_wait
    assert partition.snapshot() == ShardState(
        {config.stream_name(0): Mark("5-0"), config.backfill_stream_name(0): Mark("3-0")}, {}
    )
    partition.close()
