"""The in-flight window of one flow process, shared fairly by the tenants that wait.

Pure and I/O-free (a lock, no clock). Every shard partition of the process asks the one
window before it hands an event on, so tenants compete for the same slots whatever shard
they hash to. A slot goes to a tenant only while no other waiting tenant has fewer events
in flight: max-min fairness without a fixed per-tenant cap, so a tenant alone gets the
whole window (work-conserving) and a quiet tenant gets the next free slot during a flood.

The window's size adapts between `floor` and `capacity` (`adapt`, as each event
finishes), starting at the floor. Like CoDel, it reads a standing queue at the busy gate
(flows.gate), not a momentary one: events finish in bursts (answers that came back
together), and a burst's queue says nothing about the CPU. It shrinks by one while more
events have waited for the gate than the gate has slots at every finish of a round
(`floor` finishes): the CPU, not the window, is the bottleneck, and a larger window would
only make every event queue longer. It grows by one while the gate drained at least once
in the last round and events wait for a slot, so it doubles per round, as TCP's slow start
does. Full or not at that instant: a freed slot is taken only when a partition next hands
events on, and waiting for a full window at each finish had halved the growth. With a
1 s LLM an event waiting on the LLM holds a slot but no CPU, and the window stays as
large as keeps the CPU busy.
"""

from __future__ import annotations

import threading


class FairWindow:
    def __init__(self, capacity: int, floor: int | None = None) -> None:
        if capacity < 1:
            raise ValueError("the window needs at least one slot")
        self.capacity = capacity
        self.floor = min(capacity, floor or capacity)
        # From the floor up: a burst after an idle spell would otherwise put `capacity`
        # events at once into the queue for the CPU.
        self._limit = self.floor
        # Finishes in a row that saw a long queue at the gate, and that saw any queue.
        self._overloaded = 0
        self._fed = 0
        self._running: dict[str, int] = {}
        self._waiting: dict[str, int] = {}
        self._lock = threading.Lock()

    @property
    def in_flight(self) -> int:
        with self._lock:
            return sum(self._running.values())

    @property
    def limit(self) -> int:
        """The window's size now, between `floor` and `capacity`."""
        return self._limit

    def adapt(self, queued: int, slots: int) -> int:
        """One step of the size, given how many events wait for the busy gate and how many
        slots it has; returns the new size."""
        with self._lock:
            self._overloaded = self._overloaded + 1 if queued > slots else 0
            self._fed = self._fed + 1 if queued > 0 else 0
            if self._overloaded >= self.floor:
                self._limit = max(self.floor, self._limit - 1)
            elif self._fed < self.floor and self._waiting:
                self._limit = min(self.capacity, self._limit + 1)
            return self._limit

    def running(self, tenant: str) -> int:
        with self._lock:
            return self._running.get(tenant, 0)

    def wait(self, tenant: str, count: int = 1) -> None:
        """`count` more events of `tenant` are waiting for a slot."""
        with self._lock:
            self._waiting[tenant] = self._waiting.get(tenant, 0) + count

    def withdraw(self, tenant: str, count: int = 1) -> None:
        """`count` waiting events of `tenant` no longer wait (their partition closed)."""
        with self._lock:
            self._drop_waiting(tenant, count)

    def try_start(self, tenant: str) -> bool:
        """Takes a slot for one waiting event of `tenant`, if it is that tenant's turn."""
        with self._lock:
            if sum(self._running.values()) >= self._limit:
                return False
            mine = self._running.get(tenant, 0)
            for other, count in self._waiting.items():
                if other != tenant and count > 0 and self._running.get(other, 0) < mine:
                    return False
            self._running[tenant] = mine + 1
            self._drop_waiting(tenant, 1)
            return True

    def finish(self, tenant: str) -> None:
        """One event of `tenant` has left the window."""
        with self._lock:
            running = self._running.get(tenant, 0)
            if running < 1:
                raise ValueError(f"nothing of {tenant!r} is in flight")
            if running == 1:
                del self._running[tenant]
            else:
                self._running[tenant] = running - 1

    def _drop_waiting(self, tenant: str, count: int) -> None:
        left = self._waiting.get(tenant, 0) - count
        if left > 0:
            self._waiting[tenant] = left
        else:
            self._waiting.pop(tenant, None)
