"""Per-tenant filter for event ids seen recently: the state of a tenant-keyed stateful step.

Pure and I/O-free. "Recently" is measured in stream time (the entry ids' milliseconds), so
a replay from a recovery snapshot decides exactly as the first run did. Memory is bounded
by both a time window and a maximum number of ids per tenant.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable

from flows.items import Received

MAX_IDS_PER_TENANT = 10_000


class RecentIds:
    """Event ids in the order first seen, each with the stream time it was seen at."""

    def __init__(self, window_ms: int, max_ids: int = MAX_IDS_PER_TENANT) -> None:
        self.window_ms = window_ms
        self.max_ids = max_ids
        self.seen: dict[Hashable, int] = {}
        self.now_ms = 0

    def admit(self, key: Hashable, at_ms: int) -> bool:
        """True the first time `key` is offered within the window; remembers it."""
        self.now_ms = max(self.now_ms, at_ms)
        self._forget_old()
        if key in self.seen:
            return False
        self.seen[key] = self.now_ms
        if len(self.seen) > self.max_ids:
            del self.seen[next(iter(self.seen))]
        return True

    def _forget_old(self) -> None:
        horizon = self.now_ms - self.window_ms
        while self.seen:
            oldest = next(iter(self.seen))
            if self.seen[oldest] >= horizon:
                return
            del self.seen[oldest]


def drop_seen(
    window_ms: int, state: RecentIds | None, item: Received
) -> tuple[RecentIds, Iterable[Received]]:
    """Mapper for `op.stateful_flat_map`: passes an event on unless seen recently.

    A backfill of an event, and a replay from the dead letters, are new attempts on
    purpose, so they are keyed apart from the original.
    """
    recent = state if state is not None else RecentIds(window_ms)
    key = (item.event.event_id, item.event.backfill, item.replayed_from)
    return recent, ([item] if recent.admit(key, item.entry_ms) else [])
