"""Building events and stream entries for the flow tests."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime
from typing import Any

from aiops.events import EVENT_FIELD, Event, EventKind, Ticket
from flows.items import Entry, Received

_entry_ms = itertools.count(1_700_000_000_000, 1_000)


def event(
    tenant_id: str,
    ticket_id: str,
    subject: str,
    description: str = "",
    *,
    kind: EventKind = "created",
    event_id: str | None = None,
    resolution: str | None = None,
    **extra: Any,
) -> Event:
    return Event(
        event_id=event_id or f"{tenant_id}-{ticket_id}-{kind}",
        tenant_id=tenant_id,
        source="servicedesk",
        kind=kind,
        ticket=Ticket(
            id=ticket_id, subject=subject, description=description, resolution=resolution
        ),
        received_at=datetime.now(UTC),
        **extra,
    )


def entry(item: Event | dict[str, str], stream: str = "aiops:events:0") -> Entry:
    """A stream entry as Redis would return it, one simulated second after the last."""
    fields = {EVENT_FIELD: item.to_json()} if isinstance(item, Event) else item
    raw = {k.encode(): v.encode() for k, v in fields.items()}
    return Entry(stream, f"{next(_entry_ms)}-0", raw)


def received(item: Event) -> Received:
    e = entry(item)
    return Received(e.stream, e.entry_id, item)


# A sandbox trace's stages, in production's order: the flow's own stages, each context
# source inside the gather, and what the sandbox shows of the model and the write-back.
TRACED_STAGES = [
    "mask",
    "agent",
    "begin",
    "noise",
    "gather",
    "similar_tickets",
    "kb_articles",
    "inventory",
    "monitoring",
    "triage",
    "prompt",
    "model",
    "write_back",
    "note",
]
