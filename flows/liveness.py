"""Pure bookkeeping behind two operator metrics: success share per tenant, live workers.

Both are computed when Prometheus scrapes, from what happened in the last few minutes, so
a tenant or worker that went quiet does not keep showing its last value forever.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager

Clock = Callable[[], float]


class SuccessWindow:
    """Share of finished events that succeeded, per tenant, over the last `seconds`."""

    def __init__(self, seconds: float, clock: Clock = time.monotonic) -> None:
        self._seconds = seconds
        self._clock = clock
        self._lock = threading.Lock()
        self._events: dict[str, deque[tuple[float, bool]]] = {}

    def add(self, tenant_id: str, succeeded: bool) -> None:
        with self._lock:
            self._events.setdefault(tenant_id, deque()).append((self._clock(), succeeded))

    def rate(self, tenant_id: str) -> float:
        """NaN when the tenant finished nothing in the window: no rate, so no alert."""
        with self._lock:
            events = self._events.get(tenant_id)
            if events is None:
                return math.nan
            horizon = self._clock() - self._seconds
            while events and events[0][0] < horizon:
                events.popleft()
            if not events:
                return math.nan
            return sum(ok for _, ok in events) / len(events)


class WorkerBeats:
    """Workers seen reading their streams within `seconds`, or busy with a batch now."""

    def __init__(self, seconds: float, clock: Clock = time.monotonic) -> None:
        self._seconds = seconds
        self._clock = clock
        self._lock = threading.Lock()
        self._last: dict[int, float] = {}
        self._busy: dict[int, int] = {}

    def beat(self) -> None:
        with self._lock:
            self._last[threading.get_ident()] = self._clock()

    @contextmanager
    def busy(self, worker: int | None = None) -> Iterator[None]:
        """A worker with events in flight is alive even though it reads nothing meanwhile.

        `worker`: the thread id of the worker the work is for (an event runs on a pool
        thread, not on the worker that started it); this thread by default."""
        worker = threading.get_ident() if worker is None else worker
        with self._lock:
            self._busy[worker] = self._busy.get(worker, 0) + 1
        try:
            yield
        finally:
            with self._lock:
                self._busy[worker] -= 1
                if not self._busy[worker]:
                    del self._busy[worker]
                self._last[worker] = self._clock()

    def active(self) -> int:
        with self._lock:
            horizon = self._clock() - self._seconds
            recent = {w for w, at in self._last.items() if at >= horizon}
            return len(recent | set(self._busy))
