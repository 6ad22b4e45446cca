"""Trimming the event streams by age.

The flow keeps its stream positions in its Bytewax recovery snapshots, where Redis cannot
see them, so the bound is conservative: only entries older than the retention window go
(an entry id starts with its XADD time in milliseconds). A flow that was down for longer
than the window would lose what it had not read; the window is days, outages are not.
"""

from __future__ import annotations

from datetime import datetime

import redis

_PAGE = 1000


def stream_keys(client: redis.Redis, prefix: str) -> list[str]:
    """Live and backfill shards, including shards of an earlier, larger shard count."""
    keys: set[str] = set()
    for kind in ("events", "backfill"):
        for key in client.scan_iter(match=f"{prefix}:{kind}:*", _type="STREAM"):
            keys.add(key.decode() if isinstance(key, bytes) else key)
    return sorted(keys)


def min_id(cutoff: datetime) -> str:
    """The first stream id at or after `cutoff`."""
    return f"{int(cutoff.timestamp() * 1000)}-0"


def count_before(client: redis.Redis, stream: str, first_kept: str) -> int:
    counted, start = 0, "-"
    while True:
        page = client.xrange(stream, min=start, max=f"({first_kept}", count=_PAGE) or []
        counted += len(page)
        if len(page) < _PAGE:
            return counted
        last = page[-1][0]
        assert last is not None
        start = "(" + (last.decode() if isinstance(last, bytes) else last)


def trim(client: redis.Redis, stream: str, cutoff: datetime, *, dry_run: bool) -> int:
    """Removes (or, dry, counts) the entries of `stream` added before `cutoff`."""
    first_kept = min_id(cutoff)
    if dry_run:
        return count_before(client, stream, first_kept)
    return int(client.xtrim(stream, minid=first_kept, approximate=False))
