"""Our own partitioned Redis Streams source: one partition per shard stream.

Each partition owns its Redis client and its position (the last entry id it handed on),
which is its snapshot, so a resumed flow continues after the last entry of the last
snapshot. `next_batch` never blocks: XREAD without BLOCK; an empty read or a Redis error
sets `next_awake` a little ahead instead of spinning or sleeping.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import redis
from bytewax.inputs import FixedPartitionedSource, StatefulSourcePartition

from aiops.settings import Settings
from flows.items import Entry

log = logging.getLogger(__name__)

START = "0-0"
IDLE_WAIT = timedelta(milliseconds=150)
MAX_ERROR_WAIT = timedelta(seconds=5)


def _now() -> datetime:
    return datetime.now(UTC)


class _ShardPartition(StatefulSourcePartition[Entry, str]):
    def __init__(
        self,
        client: redis.Redis,
        stream: str,
        last_id: str,
        batch_size: int,
        now: Callable[[], datetime] = _now,
    ) -> None:
        self._client = client
        self._stream = stream
        self._last_id = last_id
        self._batch_size = batch_size
        self._now = now
        self._awake: datetime | None = None
        self._errors = 0

    def next_batch(self) -> list[Entry]:
        try:
            reply: Any = self._client.xread({self._stream: self._last_id}, count=self._batch_size)
        except redis.RedisError as exc:
            self._errors += 1
            wait = min(MAX_ERROR_WAIT, IDLE_WAIT * 2 ** min(self._errors, 6))
            log.warning(
                "reading %s failed (%s: %s); trying again in %.1fs",
                self._stream,
                type(exc).__name__,
                exc,
                wait.total_seconds(),
            )
            self._awake = self._now() + wait
            return []
        self._errors = 0
        entries: list[tuple[bytes, dict[bytes, bytes]]] = reply[0][1] if reply else []
        if not entries:
            self._awake = self._now() + IDLE_WAIT
            return []
        self._awake = None
        batch = [Entry(self._stream, entry_id.decode(), fields) for entry_id, fields in entries]
        self._last_id = batch[-1].entry_id
        return batch

    def next_awake(self) -> datetime | None:
        return self._awake

    def snapshot(self) -> str:
        return self._last_id

    def close(self) -> None:
        self._client.close()


class RedisStreamSource(FixedPartitionedSource[Entry, str]):
    """Items: Entry(stream, entry id, raw fields). Resume state: the last entry id read."""

    def __init__(self, settings: Settings) -> None:
        if not settings.redis_url:
            raise ValueError("the flow needs AI_AGENTS_REDIS_URL")
        self._redis_url = settings.redis_url
        self._streams = [settings.stream_name(i) for i in range(settings.stream_shards)]
        self._batch_size = settings.flow_batch_size
        self._timeout = settings.redis_timeout_seconds

    def list_parts(self) -> list[str]:
        return list(self._streams)

    def build_part(self, step_id: str, for_part: str, resume_state: str | None) -> _ShardPartition:
        client = redis.Redis.from_url(
            self._redis_url,
            socket_timeout=self._timeout,
            socket_connect_timeout=self._timeout,
        )
        return _ShardPartition(client, for_part, resume_state or START, self._batch_size)
