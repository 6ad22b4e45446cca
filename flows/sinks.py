"""Dead letters: each batch in one pipelined round trip to the DLQ stream.

Once a letter is written, the entry it came from is finished (the source may forget it).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from functools import partial
from typing import Any, cast

import redis
from bytewax.outputs import DynamicSink, StatelessSinkPartition

from aiops.errors import TransientError
from aiops.retry import call_with_retries
from aiops.settings import Settings
from flows.items import DeadLetter

log = logging.getLogger(__name__)

Finished = Callable[[str, str], None]  # (stream, entry id) is done


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


class DeadLetterWriter:
    """Appends letters, retrying a Redis outage; raises when it lasts: the entries stay
    unfinished, so a resumed flow handles them again and the letters are not lost."""

    def __init__(self, settings: Settings, finished: Finished) -> None:
        if not settings.redis_url:
            raise ValueError("the flow needs AI_AGENTS_REDIS_URL")
        self._client = redis.Redis.from_url(
            settings.redis_url,
            socket_timeout=settings.redis_timeout_seconds,
            socket_connect_timeout=settings.redis_timeout_seconds,
        )
        self._stream = settings.dead_letter_stream
        self._maxlen = settings.stream_maxlen
        self._attempts = settings.flow_attempts
        self._base_delay = settings.flow_retry_base_seconds
        self._finished = finished

    def write(self, items: Sequence[DeadLetter]) -> None:
        if not items:
            return
        call_with_retries(
            partial(self._append, items), attempts=self._attempts, base_delay=self._base_delay
        )
        log.info("%d dead letters written to %s", len(items), self._stream)
        for item in items:
            stream, entry_id = item.fields.get("source_stream"), item.fields.get("source_id")
            if stream is not None and entry_id is not None:
                self._finished(_text(stream), _text(entry_id))

    def _append(self, items: Sequence[DeadLetter]) -> None:
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


class _DeadLetterPartition(StatelessSinkPartition[DeadLetter]):
    def __init__(self, writer: DeadLetterWriter) -> None:
        self._writer = writer

    def write_batch(self, items: list[DeadLetter]) -> None:
        """Raises when Redis stays down: the flow stops, and on restart it replays from its
        last snapshot, so the letters are not lost."""
        self._writer.write(items)

    def close(self) -> None:
        self._writer.close()


class DeadLetterSink(DynamicSink[DeadLetter]):
    def __init__(self, settings: Settings, finished: Finished) -> None:
        if not settings.redis_url:
            raise ValueError("the flow needs AI_AGENTS_REDIS_URL")
        self._settings = settings
        self._finished = finished

    def build(self, step_id: str, worker_index: int, worker_count: int) -> _DeadLetterPartition:
        return _DeadLetterPartition(DeadLetterWriter(self._settings, self._finished))
