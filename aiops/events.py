"""The event contract between ingest and flows: one JSON document per stream entry."""

from __future__ import annotations

import hashlib
import zlib
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

SCHEMA_VERSION = 1
EVENT_FIELD = "event"
# Set by a replay from the dead letters, so the flow's duplicate filter lets the copy through.
REPLAYED_FROM_FIELD = "replayed_from"

EventKind = Literal["created", "updated", "resolved"]


class Ticket(BaseModel):
    """A ticket as every ITSM plugin normalizes it."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(min_length=1, max_length=200)
    subject: str = Field(default="", max_length=2_000)
    description: str = Field(default="", max_length=200_000)
    priority: str | None = None
    status: str | None = None
    category: str | None = None
    requester: str | None = None
    requester_email: str | None = None
    tags: list[str] = Field(default_factory=list)
    resolution: str | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None
    resolved_at: datetime | None = None
    extra: dict[str, Any] = Field(default_factory=dict)

    @property
    def text(self) -> str:
        return f"{self.subject}\n{self.description}".strip()


class Event(BaseModel):
    model_config = ConfigDict(extra="forbid")

    schema_version: Literal[1] = 1
    event_id: str = Field(min_length=1, max_length=200)
    tenant_id: str = Field(min_length=1, max_length=64)
    source: str
    kind: EventKind
    ticket: Ticket
    received_at: datetime
    backfill: bool = False
    repost: bool = Field(default=True, description="Post a note even if one was posted before.")
    fetch: bool = Field(
        default=False,
        description="The webhook only named the ticket (its body is not trusted): the flow "
        "reads the ticket from the ITSM before using it.",
    )

    def to_json(self) -> str:
        return self.model_dump_json()

    def to_json_bytes(self) -> bytes:
        """to_json() as UTF-8, straight from the serializer: for a stream entry, which
        would otherwise decode it to text and encode it back."""
        return self.__pydantic_serializer__.to_json(self)


class UnknownEventError(ValueError):
    """The entry is not an event this consumer understands: it belongs in the dead letters."""


def decode_event(raw: bytes | str) -> Event:
    try:
        return Event.model_validate_json(raw)
    except ValidationError as exc:
        raise UnknownEventError(f"not a v{SCHEMA_VERSION} event: {exc.errors()[:3]}") from exc


def derive_event_id(tenant_id: str, ticket: Ticket, kind: EventKind) -> str:
    """Stable id when the ITSM sends no delivery id: same ticket state, same id."""
    stamp = ticket.updated_at or ticket.created_at
    basis = "\x1f".join([tenant_id, ticket.id, kind, stamp.isoformat() if stamp else ticket.text])
    return hashlib.sha256(basis.encode()).hexdigest()[:32]


def shard_for(tenant_id: str, shards: int) -> int:
    """adler32 is stable across processes and languages, unlike Python's hash()."""
    return zlib.adler32(tenant_id.encode()) % shards


def utcnow() -> datetime:
    return datetime.now(UTC)
