"""What ingest left in the real Redis."""

from __future__ import annotations

import redis

from aiops.events import EVENT_FIELD, Event, decode_event


def stored_events(client: redis.Redis, stream: str) -> list[Event]:
    entries = client.xrange(stream) or []
    return [decode_event(fields[EVENT_FIELD.encode()]) for _, fields in entries if fields]


def enqueued_count(client: redis.Redis, prefix: str) -> int:
    """Entries in every event stream: what the flows would see."""
    return sum(client.xlen(stream) for stream in client.scan_iter(f"{prefix}:events:*"))
