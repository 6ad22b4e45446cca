"""Many tickets in flight at once, fairly: round-robin across tenants, capped per tenant.

`FairQueue` is the pure ordering; `run_fair` drives it over a thread pool. Bytewax
operators cannot be async, so a batch operator hands its batch to `run_fair` and gets the
results back once every item has finished.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable
from concurrent.futures import FIRST_COMPLETED, Executor, Future, wait
from typing import Generic, TypeVar

T = TypeVar("T")
R = TypeVar("R")


class FairQueue(Generic[T]):
    """Items grouped by key, handed out one key at a time in turn.

    A key with `per_key_limit` items in flight is passed over until one of them is
    released, so one busy tenant cannot hold every slot while others wait.
    """

    def __init__(self, items: Iterable[tuple[str, T]], per_key_limit: int) -> None:
        if per_key_limit < 1:
            raise ValueError("per_key_limit must be at least 1")
        self._limit = per_key_limit
        self._pending: dict[str, deque[T]] = {}
        for key, item in items:
            self._pending.setdefault(key, deque()).append(item)
        self._turns: deque[str] = deque(self._pending)
        self._in_flight: dict[str, int] = dict.fromkeys(self._pending, 0)

    def __len__(self) -> int:
        """Items not yet taken."""
        return sum(len(items) for items in self._pending.values())

    def take(self) -> tuple[str, T] | None:
        """The next item, from the next key in turn that may run one; None if none may."""
        for _ in range(len(self._turns)):
            key = self._turns[0]
            self._turns.rotate(-1)
            pending = self._pending[key]
            if pending and self._in_flight[key] < self._limit:
                self._in_flight[key] += 1
                return key, pending.popleft()
        return None

    def release(self, key: str) -> None:
        """One item of `key` has finished."""
        if self._in_flight.get(key, 0) < 1:
            raise ValueError(f"nothing of {key!r} is in flight")
        self._in_flight[key] -= 1


def run_fair(
    items: Iterable[tuple[str, T]],
    work: Callable[[T], R],
    executor: Executor,
    *,
    limit: int,
    per_key_limit: int,
) -> list[R]:
    """Runs `work` on every item, at most `limit` at once; results in completion order.

    `work` must not raise: it reports failures in its result, so one bad item cannot
    abandon the rest of the batch.
    """
    if limit < 1:
        raise ValueError("limit must be at least 1")
    queue = FairQueue(items, per_key_limit)
    running: dict[Future[R], str] = {}
    results: list[R] = []
    while len(queue) or running:
        while len(running) < limit and (picked := queue.take()) is not None:
            key, item = picked
            running[executor.submit(work, item)] = key
        done, _ = wait(running, return_when=FIRST_COMPLETED)
        for future in done:
            queue.release(running.pop(future))
            results.append(future.result())
    return results
