"""Tenant configuration with a short time-to-live: one lookup per tenant per TTL, not per event."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from warehouse.tenants import TenantConfig


class TenantCache:
    def __init__(
        self,
        load: Callable[[str], TenantConfig | None],
        ttl_seconds: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._load = load
        self._ttl = ttl_seconds
        self._clock = clock
        self._entries: dict[str, tuple[float, TenantConfig | None]] = {}
        self._lock = threading.Lock()

    def get(self, tenant_id: str) -> TenantConfig | None:
        now = self._clock()
        with self._lock:
            entry = self._entries.get(tenant_id)
        if entry is not None and now - entry[0] < self._ttl:
            return entry[1]
        config = self._load(tenant_id)
        with self._lock:
            self._entries[tenant_id] = (now, config)
        return config
