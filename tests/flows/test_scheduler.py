from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from flows.scheduler import FairQueue, run_fair


def test_takes_tenants_in_turn_so_a_noisy_tenant_does_not_go_first() -> None:
    items = [("noisy", f"n{i}") for i in range(5)] + [("a", "a0"), ("b", "b0"), ("a", "a1")]
    queue = FairQueue(items, per_key_limit=10)
    order = [queue.take() for _ in range(len(items))]
    assert [picked[1] for picked in order if picked] == [
        "n0",
        "a0",
        "b0",
        "n1",
        "a1",
        "n2",
        "n3",
        "n4",
    ]
    assert queue.take() is None
    assert len(queue) == 0


def test_a_tenant_at_its_limit_waits_until_one_of_its_items_is_released() -> None:
    queue = FairQueue([("t", 1), ("t", 2), ("t", 3), ("u", 9)], per_key_limit=2)
    assert [queue.take(), queue.take(), queue.take()] == [("t", 1), ("u", 9), ("t", 2)]
    assert queue.take() is None  # t has two in flight, u has nothing left
    queue.release("t")
    assert queue.take() == ("t", 3)
    queue.release("u")
    with pytest.raises(ValueError, match="nothing of 'u' is in flight"):
        queue.release("u")


def _observe_concurrency(
    items: list[tuple[str, int]], limit: int, per_key_limit: int
) -> tuple[list[int], int, dict[str, int]]:
    lock = threading.Lock()
    barrier_hits = threading.Event()
    running: dict[str, int] = {}
    peak_by_key: dict[str, int] = {}
    peak = 0
    key_of = {value: key for key, value in items}

    def work(value: int) -> int:
        nonlocal peak
        key = key_of[value]
        with lock:
            running[key] = running.get(key, 0) + 1
            peak_by_key[key] = max(peak_by_key.get(key, 0), running[key])
            peak = max(peak, sum(running.values()))
            reached = peak >= limit
        if reached:
            barrier_hits.set()
        # Hold each slot until the pool has filled up (or it clearly cannot).
        barrier_hits.wait(timeout=0.2)
        with lock:
            running[key] -= 1
        return value * 10

    with ThreadPoolExecutor(max_workers=limit * 2) as pool:
        results = run_fair(items, work, pool, limit=limit, per_key_limit=per_key_limit)
    return results, peak, peak_by_key


def test_runs_items_concurrently_within_both_limits() -> None:
    items = [("noisy", i) for i in range(12)] + [("quiet", 100 + i) for i in range(3)]
    results, peak, peak_by_key = _observe_concurrency(items, limit=4, per_key_limit=3)
    assert sorted(results) == sorted(value * 10 for _, value in items)
    assert 1 < peak <= 4
    assert peak_by_key["noisy"] <= 3
    assert peak_by_key["quiet"] <= 3
