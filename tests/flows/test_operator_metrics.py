"""The metric names operators' dashboards use, read as Prometheus reads them: samples of
the flow's registry after a real in-process run, and queue depth from real Redis."""

from __future__ import annotations

import math
import threading

import redis
from prometheus_client import CollectorRegistry

from aiops.crypto import SecretBox
from aiops.settings import Settings
from flows.items import DeadLetter, Received
from flows.liveness import SuccessWindow, WorkerBeats
from flows.source import DEPTH_EVERY_SECONDS, Acks, RedisStreamSource
from flows.window import FairWindow
from tests.flows.conftest import Clock, add_tenant, run_flow
from tests.flows.events import entry, event
from warehouse.db import Database


def _sample(registry: CollectorRegistry, name: str, **labels: str) -> float | None:
    value = registry.get_sample_value(name, labels)
    return None if value is None else float(value)


def test_requests_duration_and_success_rate_per_tenant(
    flow_settings: Settings, db: Database, box: SecretBox, tenant_id: str
) -> None:
    good, unknown = f"{tenant_id}-ok", f"{tenant_id}-missing"
    add_tenant(db, box, good)
    entries = [entry(event(good, str(n), "Printer offline")) for n in range(3)]
    # No such tenant: fails permanently, but the event still counts for its tenant id.
    entries.append(entry(event(unknown, "9", "Who am I")))
    runtime = run_flow(flow_settings, entries)
    registry = runtime.metrics.registry

    requests = "enhancement_requests_total"
    assert _sample(registry, requests, tenant_id=good, status="stored") == 3
    assert _sample(registry, requests, tenant_id=unknown, status="failed") == 1
    assert _sample(registry, "enhancement_duration_seconds_count") == 4
    assert (_sample(registry, "enhancement_duration_seconds_sum") or 0) > 0
    assert _sample(registry, "enhancement_success_rate", tenant_id=good) == 1.0
    assert _sample(registry, "enhancement_success_rate", tenant_id=unknown) == 0.0


def test_a_replayed_event_counts_as_skipped_not_in_the_success_rate(
    flow_settings: Settings, db: Database, box: SecretBox, tenant_id: str
) -> None:
    add_tenant(db, box, tenant_id)
    one = entry(event(tenant_id, "1", "Disk full"))
    run_flow(flow_settings, [one])
    runtime = run_flow(flow_settings, [one])
    registry = runtime.metrics.registry
    assert _sample(registry, "enhancement_requests_total", tenant_id=tenant_id, status="skipped")
    assert _sample(registry, "enhancement_duration_seconds_count") == 0
    # A fresh process that only skipped has no rate for the tenant at all.
    assert _sample(registry, "enhancement_success_rate", tenant_id=tenant_id) is None


def test_success_rate_covers_the_window_only() -> None:
    clock = Clock()
    window = SuccessWindow(600, clock)
    assert math.isnan(window.rate("t"))
    window.add("t", False)
    clock.now = 300
    window.add("t", True)
    window.add("t", True)
    window.add("u", True)
    assert window.rate("t") == 2 / 3
    clock.now = 601  # the failure at 0 has left the window
    assert window.rate("t") == 1.0
    clock.now = 1000
    assert math.isnan(window.rate("t"))
    assert math.isnan(window.rate("u"))


def test_a_worker_is_active_while_reading_or_busy_and_not_after_going_quiet() -> None:
    clock = Clock()
    workers = WorkerBeats(60, clock)
    assert workers.active() == 0
    workers.beat()
    assert workers.active() == 1
    clock.now = 61
    assert workers.active() == 0
    with workers.busy():
        clock.now = 500  # a long batch: still alive
        assert workers.active() == 1
    clock.now = 559
    assert workers.active() == 1
    clock.now = 561
    assert workers.active() == 0


def test_an_event_on_a_pool_thread_keeps_the_worker_that_started_it_active() -> None:
    clock = Clock()
    workers = WorkerBeats(60, clock)
    worker = threading.get_ident()
    workers.beat()
    inside: list[int] = []

    def run() -> None:
        with workers.busy(worker):
            clock.now = 500
            inside.append(workers.active())

    pool_thread = threading.Thread(target=run)
    pool_thread.start()
    pool_thread.join()
    assert inside == [1]  # the worker, not the pool thread, and not both
    clock.now = 561
    assert workers.active() == 0


class _Watch:
    def __init__(self) -> None:
        self.depths: list[tuple[str, int]] = []
        self.beats = 0

    def source_heartbeat(self) -> None:
        self.beats += 1

    def queue_depth(self, stream: str, waiting: int) -> None:
        self.depths.append((stream, waiting))


def _finish(acks: Acks, letters: list[Received | DeadLetter]) -> None:
    """As the dead-letter sink does once it has written them."""
    for letter in letters:
        assert isinstance(letter, DeadLetter)
        acks.finished(str(letter.fields["source_stream"]), str(letter.fields["source_id"]))


def test_queue_depth_counts_entries_after_the_low_water_mark_also_after_a_resume(
    settings: Settings, redis_client: redis.Redis
) -> None:
    config = settings.model_copy(
        update={"stream_shards": 1, "flow_batch_size": 2, "stream_prefix": "depth"}
    )
    live, backfill = config.stream_name(0), config.backfill_stream_name(0)
    redis_client.delete(live, backfill)
    for n in range(5):
        redis_client.xadd(live, {"n": str(n)})
    redis_client.xadd(backfill, {"n": "b"})
    watch = _Watch()
    clock = Clock()
    acks = Acks()
    source = RedisStreamSource(config, FairWindow(4), acks, watch=watch)
    partition = source.build_part("read_streams", live, None)
    partition._monotonic = clock  # the test moves time by hand
    try:
        # Undecodable entries: handed on at once, finished once their letters are written.
        first = partition.next_batch()
        assert len(first) == 2
        assert watch.depths == [(live, 5), (backfill, 1)]
        _finish(acks, first[:1])
        second = partition.next_batch()  # within the interval: not counted again
        assert len(watch.depths) == 2
        clock.now = DEPTH_EVERY_SECONDS
        third = partition.next_batch()
        # Read but not finished is still waiting: only the first entry is below the mark.
        assert watch.depths[2:] == [(live, 4), (backfill, 1)]
        _finish(acks, [*first[1:], *second, *third])
        resume = partition.snapshot()
    finally:
        partition.close()
    assert watch.beats == 3

    # A resumed partition counts from its snapshot's mark, not the stream's start.
    resumed_watch = _Watch()
    resumed = RedisStreamSource(config, FairWindow(4), Acks(), watch=resumed_watch).build_part(
        "read_streams", live, resume
    )
    try:
        resumed.next_batch()
        assert resumed_watch.depths == [(live, 0), (backfill, 1)]
    finally:
        resumed.close()
