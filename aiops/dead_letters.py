"""Reading the dead-letter stream and putting its events back on their shard streams.

One implementation for both front ends: `aiops dlq` and the management API (and so the
web console).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import redis

from aiops.events import EVENT_FIELD, REPLAYED_FROM_FIELD, shard_for
from aiops.settings import Settings


@dataclass(frozen=True)
class DeadLetter:
    entry_id: str
    event_json: str | None
    tenant_id: str | None
    event_id: str | None
    ticket_id: str | None
    fields: dict[str, str]  # what the flow recorded: error, error_kind, source_stream, ...


def _text(value: bytes | str) -> str:
    return value.decode(errors="replace") if isinstance(value, bytes) else value


Entries = Sequence[tuple[bytes | str | None, Mapping[bytes | str, bytes | str] | None]] | None


def parse(entry_id: bytes | str, raw: Mapping[bytes | str, bytes | str]) -> DeadLetter:
    """A stream entry as a DeadLetter; an event that is not even JSON is still shown."""
    fields = {_text(k): _text(v) for k, v in raw.items()}
    event_json = fields.pop(EVENT_FIELD, None)
    event: dict[str, object] = {}
    if event_json is not None:
        try:
            parsed = json.loads(event_json)
        except json.JSONDecodeError:
            parsed = None
        if isinstance(parsed, dict):
            event = parsed
    ticket = event.get("ticket")
    tenant = event.get("tenant_id") or fields.get("tenant_id")
    event_id = event.get("event_id") or fields.get("event_id")
    return DeadLetter(
        entry_id=_text(entry_id),
        event_json=event_json,
        tenant_id=str(tenant) if tenant else None,
        event_id=str(event_id) if event_id else None,
        ticket_id=str(ticket["id"]) if isinstance(ticket, dict) and "id" in ticket else None,
        fields=fields,
    )


def read(client: redis.Redis, settings: Settings, count: int) -> list[DeadLetter]:
    """The oldest `count` dead letters."""
    if count <= 0:
        return []
    return _parsed(client.xrange(settings.dead_letter_stream, count=count))


def fetch(client: redis.Redis, settings: Settings, entry_ids: Sequence[str]) -> list[DeadLetter]:
    """The named dead letters, in the order given; unknown ids are left out."""
    found: list[DeadLetter] = []
    for entry_id in entry_ids:
        found.extend(_parsed(client.xrange(settings.dead_letter_stream, entry_id, entry_id)))
    return found


def _parsed(entries: Entries) -> list[DeadLetter]:
    return [parse(eid, raw) for eid, raw in entries or [] if eid is not None and raw is not None]


class NotReplayable(ValueError):
    """The entry has no event, or no way to tell which stream it belongs on."""


def target_stream(settings: Settings, letter: DeadLetter) -> str | None:
    """The stream the event was read from (a live or backfill shard), else its tenant's shard."""
    source = letter.fields.get("source_stream")
    if source and source.startswith(f"{settings.stream_prefix}:"):
        return source
    if letter.tenant_id is not None:
        return settings.stream_name(shard_for(letter.tenant_id, settings.stream_shards))
    return None


def replay(client: redis.Redis, settings: Settings, letter: DeadLetter) -> str:
    """Appends the event to its stream and deletes the dead letter, atomically.

    Returns the stream. The copy names the dead letter it came from, so the flow's
    duplicate filter lets it through; its idempotency (one note per event) makes a
    replay of an event that had in fact been handled harmless. Undecodable events can be
    replayed too: after an upgrade the flow may understand them.
    """
    stream = target_stream(settings, letter)
    if letter.event_json is None or stream is None:
        raise NotReplayable(f"{letter.entry_id} holds no event with a tenant or source stream")
    with client.pipeline(transaction=True) as pipe:
        pipe.xadd(
            stream,
            {EVENT_FIELD: letter.event_json, REPLAYED_FROM_FIELD: letter.entry_id},
            maxlen=settings.stream_maxlen,
            approximate=True,
        )
        pipe.xdel(settings.dead_letter_stream, letter.entry_id)
        pipe.execute()
    return stream
