"""Each tenant's triage priors (how often each category, priority and type occurs in its
history), counted at most once per `ttl_seconds` per tenant.

Counting is one scan of the tenant's history (tens of milliseconds at 100,000 tickets), so
events read the last count: a prior moves slowly, and a count some minutes old weighs the
vote as well as a fresh one.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from flows.triage import Priors
from warehouse import triage as store
from warehouse.db import TenantConnection

TTL_SECONDS = 300.0


class HistoryPriors:
    def __init__(
        self, ttl_seconds: float = TTL_SECONDS, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._ttl = ttl_seconds
        self._clock = clock
        self._counted: dict[str, tuple[float, Priors]] = {}
        self._lock = threading.Lock()

    def get(self, conn: TenantConnection, tenant_id: str) -> Priors:
        """The tenant's priors; `conn` is the tenant's, used only when the count is stale."""
        now = self._clock()
        with self._lock:
            cached = self._counted.get(tenant_id)
        if cached is not None and now - cached[0] < self._ttl:
            return cached[1]
        # Counted outside the lock: two events of one tenant may both count, harmlessly.
        priors = store.value_counts(conn)
        with self._lock:
            self._counted[tenant_id] = (now, priors)
        return priors
