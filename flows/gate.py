"""Few events at a time in their CPU-bound stages, the quietest tenant's first.

With the window full, every event in flight that is not waiting on the LLM or the ITSM
wants the GIL and a database connection, so each one's stages take as long as all of
theirs together: a quiet tenant's event waits behind a flooding tenant's, and so does the
thread that reads the streams. The gate lets `slots` events run those stages at once; the
others wait in a queue ordered by how many events their tenant has in flight (fewest
first, then first come), and a finishing holder hands its slot straight to the head of
the queue. A holder that waits on I/O midway (a context source) lends its slot meanwhile.

Pure apart from threading: no clock, no I/O.
"""

from __future__ import annotations

import heapq
import itertools
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager


class FairGate:
    def __init__(self, slots: int, weight: Callable[[str], int]) -> None:
        """`weight(tenant)`: the tenant's events in flight; the lightest waits least."""
        if slots < 1:
            raise ValueError("the gate needs at least one slot")
        self.slots = slots
        self._weight = weight
        self._free = slots
        self._queue: list[tuple[int, int, threading.Lock]] = []
        self._order = itertools.count()
        self._lock = threading.Lock()
        self._local = threading.local()

    @property
    def waiting(self) -> int:
        with self._lock:
            return len(self._queue)

    @contextmanager
    def hold(self, tenant: str) -> Iterator[None]:
        """A slot for the calling thread while the block runs (re-entrant)."""
        if getattr(self._local, "tenant", None) is not None:
            yield
            return
        self._acquire(tenant)
        self._local.tenant = tenant
        try:
            yield
        finally:
            self._local.tenant = None
            self._release()

    @contextmanager
    def lent(self) -> Iterator[None]:
        """While the block waits on I/O, the calling thread's slot (if any) serves another
        event; it is taken back, in turn, afterwards."""
        tenant: str | None = getattr(self._local, "tenant", None)
        if tenant is None:
            yield
            return
        self._local.tenant = None
        self._release()
        try:
            yield
        finally:
            self._acquire(tenant)
            self._local.tenant = tenant

    def _acquire(self, tenant: str) -> None:
        with self._lock:
            if self._free > 0 and not self._queue:
                self._free -= 1
                return
            turn = threading.Lock()
            turn.acquire()
            heapq.heappush(self._queue, (self._weight(tenant), next(self._order), turn))
        turn.acquire()  # released by the holder that hands its slot over

    def _release(self) -> None:
        with self._lock:
            if self._queue:
                _, _, turn = heapq.heappop(self._queue)
                turn.release()
            else:
                self._free += 1
