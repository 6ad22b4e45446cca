"""When a run over many tenants reports its progress in the run's log.

Dagster stores every log line as an event of the run (about 2 to 6 ms each with the
embedded SQLite storage here), so a line per tenant made the daily run grow with
tenants by more than the tenant's own work. The first tenant, then at most one line
every few seconds, and the last are reported instead.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

REPORT_EVERY_SECONDS = 5.0


@dataclass
class ProgressPace:
    """Says whether the tenant just finished is one to report."""

    total: int
    every_seconds: float = REPORT_EVERY_SECONDS
    clock: Callable[[], float] = time.monotonic
    _last: float | None = field(default=None, init=False)

    def due(self, done: int) -> bool:
        now = self.clock()
        if self._last is None or done >= self.total or now - self._last >= self.every_seconds:
            self._last = now
            return True
        return False
