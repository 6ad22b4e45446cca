"""What ingest left in the real Redis."""

from __future__ import annotations

import redis

from aiops.events import EVENT_FIELD, Event, decode_event


def stored_events(client: redis.Redis, stream: str) -> list[Event]:
    entries = client.xrange(stream) or []
    return [decode_event(fields[EVENT_FIELD.encode()]) for _, fields in entries if fields]
