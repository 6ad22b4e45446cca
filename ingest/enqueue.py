"""The one Redis step that hands an event to the flows: dedupe and append, atomically."""

from __future__ import annotations

from dataclasses import dataclass

import redis.asyncio

from aiops.events import EVENT_FIELD, Event, shard_for
from aiops.settings import Settings

# Append first, then set the dedupe key: if XADD fails (wrong type, out of memory) no key
# is left behind that would turn the sender's retry into a lost "duplicate". A script runs
# atomically, so no other delivery of the same event can slip in between the two.
_DEDUPE_AND_APPEND = """
if redis.call('EXISTS', KEYS[1]) == 1 then
  return false
end
local id = redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[2], '*', ARGV[3], ARGV[4])
redis.call('SET', KEYS[1], id, 'EX', ARGV[1])
return id
"""


@dataclass(frozen=True)
class Enqueued:
    stream: str
    entry_id: str | None  # None: a duplicate, already enqueued earlier

    @property
    def duplicate(self) -> bool:
        return self.entry_id is None


def dedupe_key(prefix: str, tenant_id: str, event_id: str) -> str:
    return f"{prefix}:dedupe:{tenant_id}:{event_id}"


class EventQueue:
    def __init__(self, client: redis.asyncio.Redis, settings: Settings) -> None:
        self._script = client.register_script(_DEDUPE_AND_APPEND)
        self._settings = settings

    async def put(self, event: Event) -> Enqueued:
        """Raises the client's redis errors; then nothing was written."""
        settings = self._settings
        stream = settings.stream_name(shard_for(event.tenant_id, settings.stream_shards))
        entry_id = await self._script(
            keys=[dedupe_key(settings.stream_prefix, event.tenant_id, event.event_id), stream],
            args=[
                settings.dedupe_ttl_seconds,
                settings.stream_maxlen,
                EVENT_FIELD,
                event.to_json(),
            ],
        )
        return Enqueued(stream, entry_id.decode() if entry_id is not None else None)
