"""Per-tenant lookups (configuration, running agent versions) with a short time-to-live: one
lookup per tenant per TTL, not per event."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Generic, TypeVar

V = TypeVar("V")


class TenantCache(Generic[V]):
    def __init__(
        self,
        load: Callable[[str], V | None],
        ttl_seconds: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._load = load
        self._ttl = ttl_seconds
        self._clock = clock
        self._entries: dict[str, tuple[float, V | None]] = {}
        self._lock = threading.Lock()

    def get(self, tenant_id: str) -> V | None:
        now = self._clock()
        with self._lock:
            entry = self._entries.get(tenant_id)
        if entry is not None and now - entry[0] < self._ttl:
            return entry[1]
        config = self._load(tenant_id)
        with self._lock:
            self._entries[tenant_id] = (now, config)
        return config
