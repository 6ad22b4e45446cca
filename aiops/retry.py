"""Retrying transient failures: exponential backoff with full jitter.

Only aiops.errors.TransientError is retried; anything else, PermanentError included,
passes straight through. A server's Retry-After is honoured, but never by sleeping longer
than `max_delay`: a wait that long is handed back to the caller (the flow's own retry or
dead-letter path) instead of blocking a worker here.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import TypeVar

from aiops.errors import TransientError

log = logging.getLogger(__name__)

T = TypeVar("T")


def backoff_delay(
    retry: int, *, base_delay: float, max_delay: float, jitter: Callable[[], float]
) -> float:
    """Full jitter: uniform in [0, min(max_delay, base_delay * 2**retry)). `retry` counts from 0."""
    return jitter() * min(max_delay, base_delay * 2**retry)


def call_with_retries(
    fn: Callable[[], T],
    *,
    attempts: int,
    base_delay: float,
    max_delay: float = 30.0,
    sleep: Callable[[float], None] = time.sleep,
    jitter: Callable[[], float] = random.random,
) -> T:
    """Calls `fn` up to `attempts` times while it raises TransientError; re-raises the last one."""
    if attempts < 1:
        raise ValueError("attempts must be at least 1")
    for retry in range(attempts - 1):
        try:
            return fn()
        except TransientError as exc:
            delay = backoff_delay(retry, base_delay=base_delay, max_delay=max_delay, jitter=jitter)
            if exc.retry_after is not None:
                if exc.retry_after > max_delay:
                    raise
                delay = max(delay, exc.retry_after)
            log.info(
                "transient failure, retry %d of %d in %.2fs: %s",
                retry + 1,
                attempts - 1,
                delay,
                exc,
            )
            sleep(delay)
    return fn()


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds to wait from an HTTP Retry-After header (delta-seconds or HTTP-date), if valid."""
    if value is None:
        return None
    text = value.strip()
    if text.isdigit():
        return float(text)
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())
