"""The dead-letter sink: each batch in one pipelined round trip to the DLQ stream."""

from __future__ import annotations

import logging
from functools import partial
from typing import Any, cast

import redis
from bytewax.outputs import DynamicSink, StatelessSinkPartition

from aiops.errors import TransientError
from aiops.retry import call_with_retries
from aiops.settings import Settings
from flows.items import DeadLetter

log = logging.getLogger(__name__)


class _DeadLetterPartition(StatelessSinkPartition[DeadLetter]):
    def __init__(
        self, client: redis.Redis, stream: str, maxlen: int, attempts: int, base_delay: float
    ) -> None:
        self._client = client
        self._stream = stream
        self._maxlen = maxlen
        self._attempts = attempts
        self._base_delay = base_delay

    def write_batch(self, items: list[DeadLetter]) -> None:
        """Retries a Redis outage, then raises: the flow stops, and on restart it replays
        from its last snapshot, so the letters are not lost."""
        if items:
            call_with_retries(
                partial(self._append, items), attempts=self._attempts, base_delay=self._base_delay
            )
            log.info("%d dead letters written to %s", len(items), self._stream)

    def _append(self, items: list[DeadLetter]) -> None:
        try:
            with self._client.pipeline(transaction=True) as pipe:
                for item in items:
                    fields = cast("dict[Any, Any]", item.fields)
                    pipe.xadd(self._stream, fields, maxlen=self._maxlen, approximate=True)
                pipe.execute()
        except (redis.ConnectionError, redis.TimeoutError) as exc:
            raise TransientError(f"dead-letter stream unavailable: {exc}") from exc

    def close(self) -> None:
        self._client.close()


class DeadLetterSink(DynamicSink[DeadLetter]):
    def __init__(self, settings: Settings) -> None:
        if not settings.redis_url:
            raise ValueError("the flow needs AI_AGENTS_REDIS_URL")
        self._redis_url = settings.redis_url
        self._stream = settings.dead_letter_stream
        self._maxlen = settings.stream_maxlen
        self._attempts = settings.flow_attempts
        self._base_delay = settings.flow_retry_base_seconds
        self._timeout = settings.redis_timeout_seconds

    def build(self, step_id: str, worker_index: int, worker_count: int) -> _DeadLetterPartition:
        client = redis.Redis.from_url(
            self._redis_url, socket_timeout=self._timeout, socket_connect_timeout=self._timeout
        )
        return _DeadLetterPartition(
            client, self._stream, self._maxlen, self._attempts, self._base_delay
        )
