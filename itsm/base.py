"""What every ticketing-system plugin provides."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import httpx

from aiops.events import EventKind, Ticket


@dataclass(frozen=True)
class FieldError:
    loc: tuple[str | int, ...]
    msg: str


class NormalizationError(ValueError):
    """The payload is not a ticket this plugin understands; `errors` says which fields."""

    def __init__(self, errors: Sequence[FieldError]) -> None:
        super().__init__("; ".join(f"{'.'.join(map(str, e.loc))}: {e.msg}" for e in errors))
        self.errors = list(errors)


@dataclass(frozen=True)
class ItsmConnection:
    base_url: str
    api_key: str = field(repr=False)
    flavor: str | None = None  # e.g. "onprem" or "cloud" for ServiceDesk Plus
    timeout_seconds: float = 15.0


class ItsmClient(Protocol):
    """Talks to one tenant's ITSM. Raises aiops.errors.TransientError / PermanentError."""

    def fetch_ticket(self, ticket_id: str) -> Ticket: ...

    def find_note(self, ticket_id: str, marker: str) -> str | None:
        """The id of a note on the ticket whose text contains `marker`, if any."""
        ...

    def add_note(self, ticket_id: str, body_html: str) -> str:
        """Posts an internal (technician-only) note; returns its id."""
        ...


class ItsmPlugin(Protocol):
    name: str
    # JSON Schema of the documented webhook body: ingest's OpenAPI shows it (and fuzzes it).
    webhook_schema: dict[str, Any]

    def verify(self, headers: Mapping[str, str], body: bytes, secrets: Sequence[str]) -> bool:
        """True if `body` is signed with one of `secrets`. Headers are lower-cased."""
        ...

    def delivery_id(self, headers: Mapping[str, str]) -> str | None:
        """The ITSM's own id for this delivery, stable across its retries, if it sends one."""
        ...

    def normalize(self, payload: Any, kind: EventKind | None = None) -> tuple[EventKind, Ticket]:
        """The event kind and ticket in a parsed webhook body; raises NormalizationError."""
        ...

    def client(self, connection: ItsmConnection, http: httpx.Client) -> ItsmClient: ...
