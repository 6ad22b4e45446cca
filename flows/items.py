"""What flows between the steps of the enhancement dataflow."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, NamedTuple

from aiops.events import Event

# Keys are bytes as read from Redis, or str when a test builds entries by hand.
RawFields = Mapping[Any, bytes | str]


class Entry(NamedTuple):
    """One Redis Streams entry as read: shard stream, entry id, the entry's fields."""

    stream: str
    entry_id: str
    fields: RawFields


@dataclass(frozen=True)
class Received:
    """A decoded event and where it came from."""

    stream: str
    entry_id: str
    event: Event
    replayed_from: str | None = None  # the dead-letter entry it was replayed from, if any
    traceparent: str | None = None  # the webhook's trace (W3C Trace Context), if traced

    @property
    def entry_ms(self) -> int:
        """Milliseconds part of the entry id: Redis's append time for this copy."""
        return int(self.entry_id.split("-", 1)[0])

    def dead_letter(self, error: str, error_kind: str) -> DeadLetter:
        event = self.event
        return DeadLetter(
            {
                "event": event.to_json(),
                "error": error,
                "error_kind": error_kind,
                "tenant_id": event.tenant_id,
                "event_id": event.event_id,
                "source_stream": self.stream,
                "source_id": self.entry_id,
            }
        )


@dataclass(frozen=True)
class DeadLetter:
    """The fields of one dead-letter stream entry."""

    fields: dict[str, bytes | str] = field(default_factory=dict)


OutcomeStatus = Literal["succeeded", "stored", "skipped", "failed"]


@dataclass(frozen=True)
class Outcome:
    """How one event ended; failures also go to the dead letters."""

    received: Received
    status: OutcomeStatus
    note_id: str | None = None
    error: str | None = None
    error_kind: str | None = None
    timings: dict[str, float] = field(default_factory=dict)
    skip_reason: str | None = None  # noise: why no note was made
    incident_tickets: int = 0  # size of the ongoing incident it seems part of, if any
    fields_written: tuple[str, ...] = ()  # triage fields set on the ticket
