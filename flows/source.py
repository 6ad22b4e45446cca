"""Our own partitioned Redis Streams source: one partition per shard.

A shard has a live stream and a backfill stream; the partition reads the backfill one only
when the live one has nothing waiting, so re-enhancement never delays new tickets. Each
partition owns its Redis client and its position in both streams (the last entry id it
handed on), which is its snapshot: a resumed flow continues after the last entries of the
last snapshot. `next_batch` never blocks: XREAD without BLOCK; an empty read or a Redis
error sets `next_awake` a little ahead instead of spinning or sleeping.

Every few seconds a partition counts the entries after its position in each of its
streams (queue_depth, the autoscaling signal): counted inside Redis by a script, so no
entry crosses the network, and capped, so a huge backlog cannot stall Redis.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

import redis
from bytewax.inputs import FixedPartitionedSource, StatefulSourcePartition

from aiops.settings import Settings
from flows.items import Entry

log = logging.getLogger(__name__)

START = "0-0"
IDLE_WAIT = timedelta(milliseconds=150)
MAX_ERROR_WAIT = timedelta(seconds=5)

Positions = dict[str, str]  # stream -> last entry id handed on

DEPTH_EVERY_SECONDS = 5.0
# Past this many waiting entries a stream reports the cap: far beyond any scaling
# threshold, and counting further would hold Redis up for every other client.
DEPTH_CAP = 10_000
_COUNT_AFTER = """
local n, cursor, cap = 0, ARGV[1], tonumber(ARGV[2])
while n < cap do
  local batch = redis.call('XRANGE', KEYS[1], '(' .. cursor, '+', 'COUNT', math.min(1000, cap - n))
  if #batch == 0 then break end
  n = n + #batch
  cursor = batch[#batch][1]
end
return n
"""


class SourceWatch(Protocol):
    """Where a partition reports that its worker is alive and how much is waiting."""

    def source_heartbeat(self) -> None: ...

    def queue_depth(self, stream: str, waiting: int) -> None: ...


class _Unwatched:
    def source_heartbeat(self) -> None:
        pass

    def queue_depth(self, stream: str, waiting: int) -> None:
        pass


def _now() -> datetime:
    return datetime.now(UTC)


class _ShardPartition(StatefulSourcePartition[Entry, Positions]):
    def __init__(
        self,
        client: redis.Redis,
        streams: Sequence[str],
        positions: Positions,
        batch_size: int,
        now: Callable[[], datetime] = _now,
        watch: SourceWatch | None = None,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._client = client
        self._streams = list(streams)  # in priority order
        self._positions = {stream: positions.get(stream, START) for stream in streams}
        self._batch_size = batch_size
        self._now = now
        self._awake: datetime | None = None
        self._errors = 0
        self._watch = watch or _Unwatched()
        self._monotonic = monotonic
        self._depth_due = 0.0
        self._count_after = client.register_script(_COUNT_AFTER)

    def next_batch(self) -> list[Entry]:
        self._watch.source_heartbeat()
        try:
            self._report_depth()
            for stream in self._streams:
                if batch := self._read(stream):
                    self._errors = 0
                    self._awake = None
                    return batch
        except redis.RedisError as exc:
            self._errors += 1
            wait = min(MAX_ERROR_WAIT, IDLE_WAIT * 2 ** min(self._errors, 6))
            log.warning(
                "reading %s failed (%s: %s); trying again in %.1fs",
                self._streams[0],
                type(exc).__name__,
                exc,
                wait.total_seconds(),
            )
            self._awake = self._now() + wait
            return []
        self._errors = 0
        self._awake = self._now() + IDLE_WAIT
        return []

    def _read(self, stream: str) -> list[Entry]:
        reply: Any = self._client.xread({stream: self._positions[stream]}, count=self._batch_size)
        entries: list[tuple[bytes, dict[bytes, bytes]]] = reply[0][1] if reply else []
        batch = [Entry(stream, entry_id.decode(), fields) for entry_id, fields in entries]
        if batch:
            self._positions[stream] = batch[-1].entry_id
        return batch

    def _report_depth(self) -> None:
        """Entries after this partition's position, per stream, every few seconds."""
        if self._monotonic() < self._depth_due:
            return
        self._depth_due = self._monotonic() + DEPTH_EVERY_SECONDS
        for stream in self._streams:
            waiting = self._count_after(keys=[stream], args=[self._positions[stream], DEPTH_CAP])
            self._watch.queue_depth(stream, int(waiting))

    def next_awake(self) -> datetime | None:
        return self._awake

    def snapshot(self) -> Positions:
        return dict(self._positions)

    def close(self) -> None:
        self._client.close()


class RedisStreamSource(FixedPartitionedSource[Entry, Positions]):
    """Items: Entry(stream, entry id, raw fields). Partitions: the live shard streams.
    Resume state: the last entry id read from each of the shard's two streams."""

    def __init__(self, settings: Settings, watch: SourceWatch | None = None) -> None:
        if not settings.redis_url:
            raise ValueError("the flow needs AI_AGENTS_REDIS_URL")
        self._redis_url = settings.redis_url
        self._streams = {
            settings.stream_name(i): (settings.stream_name(i), settings.backfill_stream_name(i))
            for i in range(settings.stream_shards)
        }
        self._batch_size = settings.flow_batch_size
        self._timeout = settings.redis_timeout_seconds
        self._watch = watch

    def list_parts(self) -> list[str]:
        return list(self._streams)

    def build_part(
        self, step_id: str, for_part: str, resume_state: Positions | None
    ) -> _ShardPartition:
        client = redis.Redis.from_url(
            self._redis_url,
            socket_timeout=self._timeout,
            socket_connect_timeout=self._timeout,
        )
        streams = self._streams[for_part]
        return _ShardPartition(
            client, streams, resume_state or {}, self._batch_size, watch=self._watch
        )
