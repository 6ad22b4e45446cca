"""The one Redis step that hands an event to the flows: dedupe, replay check, the tenant's
rate limit and the append, atomically and in one round trip."""

from __future__ import annotations

import hashlib
from typing import Literal, NamedTuple

from redis.exceptions import ResponseError

from aiops.events import EVENT_FIELD, Event, shard_for
from aiops.settings import Settings
from ingest.pipelined import PipelinedRedis, head

# KEYS: dedupe (per event id), replay (per digest of what the signature covers), rate
# (the tenant's limiter state), stream. ARGV: ttl, maxlen, field, event, event id, rate,
# traceparent ('' for none: the entry then has no traceparent field).
#
# A known event id is a duplicate (the sender's retry); a known digest under a new event
# id is a replay (a captured body and signature resent with another delivery id, which the
# native scheme does not sign). Neither spends the tenant's rate budget.
#
# The limiter is GCRA: one webhook per 60/rate seconds, with a burst of up to `rate` at
# once. It keeps one number, the theoretical arrival time in microseconds of Redis's own
# clock, so every ingest replica shares the same limit whatever its own clock says.
#
# Append first, then set the keys: if XADD fails (wrong type, out of memory) no key is left
# behind that would turn the sender's retry into a lost "duplicate". A script runs
# atomically, so no other delivery of the same event can slip in between.
_ENQUEUE = """
if redis.call('EXISTS', KEYS[1]) == 1 then
  return {'duplicate'}
end
local original = redis.call('GET', KEYS[2])
if original then
  return {'replay', original}
end
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000000 + tonumber(clock[2])
local period = 60000000
local tat = tonumber(redis.call('GET', KEYS[3]) or now)
if tat < now then
  tat = now
end
local next_tat = tat + period / tonumber(ARGV[6])
local allowed_at = next_tat - period
if allowed_at > now then
  return {'rate_limited', string.format('%d', math.ceil((allowed_at - now) / 1000000))}
end
local id
if ARGV[7] ~= '' then
  id = redis.call('XADD', KEYS[4], 'MAXLEN', '~', ARGV[2], '*', ARGV[3], ARGV[4],
    'traceparent', ARGV[7])
else
  id = redis.call('XADD', KEYS[4], 'MAXLEN', '~', ARGV[2], '*', ARGV[3], ARGV[4])
end
redis.call('SET', KEYS[1], id, 'EX', ARGV[1])
redis.call('SET', KEYS[2], ARGV[5], 'EX', ARGV[1])
redis.call('SET', KEYS[3], string.format('%.0f', next_tat), 'PX',
  math.ceil((next_tat - now) / 1000))
return {'accepted', id}
"""

Outcome = Literal["accepted", "duplicate", "replay"]


class Enqueued(NamedTuple):
    stream: str
    outcome: Outcome
    entry_id: str | None = None  # the stream entry, when accepted
    original_event_id: str | None = None  # what a replay repeats

    @property
    def duplicate(self) -> bool:
        return self.outcome != "accepted"


class RateLimited(Exception):
    """The tenant is over its webhooks per minute; nothing was written."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(f"retry after {retry_after} s")
        self.retry_after = retry_after


def dedupe_key(prefix: str, tenant_id: str, event_id: str) -> str:
    return f"{prefix}:dedupe:{tenant_id}:{event_id}"


def replay_key(prefix: str, tenant_id: str, signed_digest: str) -> str:
    return f"{prefix}:replay:{tenant_id}:{signed_digest}"


def rate_key(prefix: str, tenant_id: str) -> str:
    return f"{prefix}:rate:{tenant_id}"


_SHA = hashlib.sha1(_ENQUEUE.encode()).hexdigest()
_KEY_COUNT = 4
_EVALSHA = head("EVALSHA", _SHA, _KEY_COUNT)
_EVAL = head("EVAL", _ENQUEUE, _KEY_COUNT)


class EventQueue:
    def __init__(self, client: PipelinedRedis, settings: Settings) -> None:
        self._client = client
        self._settings = settings
        # A signed timestamp stays acceptable for the tolerance: its replay must be caught
        # at least that long.
        self._ttl = max(settings.dedupe_ttl_seconds, settings.webhook_timestamp_tolerance_seconds)

    async def put(
        self,
        event: Event,
        *,
        signed_digest: str,
        rate_per_minute: int,
        traceparent: str | None = None,
    ) -> Enqueued:
        """`signed_digest` identifies what the signature covers; `traceparent` (W3C Trace
        Context) lets the flow continue this webhook's trace. Raises RateLimited, or the
        client's redis errors; then nothing was written."""
        settings = self._settings
        prefix = settings.stream_prefix
        tenant_id = event.tenant_id
        stream = settings.stream_name(shard_for(tenant_id, settings.stream_shards))
        keys_and_args = (
            dedupe_key(prefix, tenant_id, event.event_id),
            replay_key(prefix, tenant_id, signed_digest),
            rate_key(prefix, tenant_id),
            stream,
            self._ttl,
            settings.stream_maxlen,
            EVENT_FIELD,
            event.to_json_bytes(),
            event.event_id,
            rate_per_minute,
            traceparent or "",
        )
        try:
            answer = await self._client.execute(*keys_and_args, first=_EVALSHA)
        except ResponseError as exc:
            if not str(exc).startswith("NOSCRIPT"):
                raise
            # Redis restarted, or SCRIPT FLUSH: EVAL runs the script and caches it again.
            answer = await self._client.execute(*keys_and_args, first=_EVAL)
        # The script answers {outcome} or {outcome, text}.
        assert isinstance(answer, list)
        outcome, *rest = [item.decode() for item in answer if isinstance(item, bytes)]
        detail = rest[0] if rest else ""
        if outcome == "rate_limited":
            raise RateLimited(int(detail))
        if outcome == "replay":
            return Enqueued(stream, "replay", original_event_id=detail)
        if outcome == "duplicate":
            return Enqueued(stream, "duplicate")
        return Enqueued(stream, "accepted", entry_id=detail)
