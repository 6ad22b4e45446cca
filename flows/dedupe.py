"""Per-tenant filter for event ids seen recently: part of a shard partition's state.

Pure and I/O-free. "Recently" is measured in stream time (the entry ids' milliseconds), so
a resume from a recovery snapshot decides exactly as the first run did; reading the very
same stream entry again (it was unfinished at the snapshot) is not a repeat. Memory is
bounded by both a time window and a maximum number of ids per tenant.
"""

from __future__ import annotations

from collections.abc import Hashable

from flows.items import Received

MAX_IDS_PER_TENANT = 10_000


class RecentIds:
    """Event ids in the order first seen, each with the stream time and entry it came in."""

    def __init__(self, window_ms: int, max_ids: int = MAX_IDS_PER_TENANT) -> None:
        self.window_ms = window_ms
        self.max_ids = max_ids
        self.seen: dict[Hashable, tuple[int, str | None]] = {}
        self.now_ms = 0

    def admit(self, key: Hashable, at_ms: int, entry_id: str | None = None) -> bool:
        """True the first time `key` is offered within the window, or when it is offered
        again from the same entry `entry_id`; remembers it."""
        self.now_ms = max(self.now_ms, at_ms)
        self._forget_old()
        seen = self.seen.get(key)
        if seen is not None:
            return entry_id is not None and seen[1] == entry_id
        self.seen[key] = (self.now_ms, entry_id)
        if len(self.seen) > self.max_ids:
            del self.seen[next(iter(self.seen))]
        return True

    def _forget_old(self) -> None:
        horizon = self.now_ms - self.window_ms
        while self.seen:
            oldest = next(iter(self.seen))
            if self.seen[oldest][0] >= horizon:
                return
            del self.seen[oldest]


def is_fresh(recent: RecentIds, item: Received) -> bool:
    """True unless `item`'s event was seen recently in another entry.

    A backfill of an event, and a replay from the dead letters, are new attempts on
    purpose, so they are keyed apart from the original.
    """
    key = (item.event.event_id, item.event.backfill, item.replayed_from)
    return recent.admit(key, item.entry_ms, item.entry_id)
