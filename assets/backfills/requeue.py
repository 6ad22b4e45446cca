"""Re-enqueueing recorded events into the backfill stream, once per backfill.

The event keeps its event_id, so the flow updates the same enhancement_history row; it
carries backfill=True and the operator's repost choice. A Redis marker per (backfill,
tenant, event), set in the same Lua call as the XADD, makes a retried or re-executed run
enqueue nothing twice. Backfill events go to their own stream per shard, which the flow
reads only when the live shard has nothing waiting.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date

import redis

from aiops.events import EVENT_FIELD, Event, EventKind, Ticket, shard_for, utcnow
from aiops.settings import Settings
from warehouse.analytics.layout import day_bounds
from warehouse.db import TenantConnection

MARKER_TTL_SECONDS = 30 * 24 * 3600
PROGRESS_EVERY = 100

_ENQUEUE_ONCE = """
if redis.call('SET', KEYS[1], '1', 'NX', 'EX', ARGV[1]) then
    return redis.call('XADD', KEYS[2], '*', ARGV[2], ARGV[3])
end
return false
"""

# A ticket re-enhanced once per backfill, from its latest event of the day.
_LATEST_EVENT_PER_TICKET = """
SELECT DISTINCT ON (ticket_id) event_id, ticket_id, source, kind, ticket
FROM enhancement_history
WHERE created_at >= %s AND created_at < %s
ORDER BY ticket_id, created_at DESC, id DESC
"""


@dataclass(frozen=True)
class Recorded:
    event_id: str
    ticket_id: str
    source: str
    kind: EventKind
    ticket: Ticket | None  # None: recorded before tickets were stored with their events


@dataclass
class Progress:
    selected: int = 0
    enqueued: int = 0
    already_enqueued: int = 0
    without_ticket: int = 0


def recorded_events(conn: TenantConnection, day: date) -> list[Recorded]:
    """The tenant's tickets first seen on `day` (UTC), each with its latest event."""
    return [
        Recorded(
            event_id=r["event_id"],
            ticket_id=r["ticket_id"],
            source=r["source"],
            kind=r["kind"],
            ticket=Ticket.model_validate(r["ticket"]) if r["ticket"] is not None else None,
        )
        for r in conn.execute(_LATEST_EVENT_PER_TICKET, day_bounds(day))
    ]


def backfill_event(tenant_id: str, recorded: Recorded, ticket: Ticket, *, repost: bool) -> Event:
    return Event(
        event_id=recorded.event_id,
        tenant_id=tenant_id,
        source=recorded.source,
        kind=recorded.kind,
        ticket=ticket,
        received_at=utcnow(),
        backfill=True,
        repost=repost,
    )


def marker_key(prefix: str, backfill_key: str, tenant_id: str, event_id: str) -> str:
    return f"{prefix}:backfill-sent:{backfill_key}:{tenant_id}:{event_id}"


def enqueue(
    client: redis.Redis,
    settings: Settings,
    tenant_id: str,
    recorded: Sequence[Recorded],
    *,
    backfill_key: str,
    repost: bool,
    on_progress: Callable[[Progress], None] = lambda _: None,
) -> Progress:
    stream = settings.backfill_stream_name(shard_for(tenant_id, settings.stream_shards))
    enqueue_once = client.register_script(_ENQUEUE_ONCE)
    progress = Progress(selected=len(recorded))
    for done, item in enumerate(recorded, start=1):
        if item.ticket is None:
            progress.without_ticket += 1
        else:
            event = backfill_event(tenant_id, item, item.ticket, repost=repost)
            marker = marker_key(settings.stream_prefix, backfill_key, tenant_id, item.event_id)
            entry = enqueue_once(
                keys=[marker, stream], args=[MARKER_TTL_SECONDS, EVENT_FIELD, event.to_json()]
            )
            if entry:
                progress.enqueued += 1
            else:
                progress.already_enqueued += 1
        if done % PROGRESS_EVERY == 0 or done == len(recorded):
            on_progress(progress)
    return progress
