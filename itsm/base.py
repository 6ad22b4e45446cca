"""What every ticketing-system plugin provides.

A plugin is one package under itsm/ whose module docstring states its webhook trust
model: what a forged, replayed or altered delivery can and cannot make us do. Every
plugin in itsm.registry passes the conformance kit in tests/itsm/kit/ (docs/plugins.md).
"""

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


class IgnoredEvent(Exception):
    """A well-formed, signed delivery that must not produce a note or a history row (a
    comment, our own note coming back, an update that resolves nothing). Ingest answers
    202 and stores nothing, so the ITSM does not retry it."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class ItsmConnection:
    base_url: str
    api_key: str = field(repr=False)
    flavor: str | None = None  # e.g. "onprem" or "cloud" for ServiceDesk Plus
    # Who the key belongs to, where the ITSM authenticates with both (Jira Cloud: e-mail).
    username: str | None = None
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
        """The event kind and ticket in a parsed webhook body.

        Raises NormalizationError for a body this plugin cannot read (ingest answers 422),
        IgnoredEvent for one it reads but must not act on (ingest answers 202, stores nothing).
        """
        ...

    def client(self, connection: ItsmConnection, http: httpx.Client) -> ItsmClient: ...


def fetches_tickets(plugin: ItsmPlugin) -> bool:
    """True for a plugin whose webhook only points at a ticket (ConnectWise callbacks, which
    cannot be signed): its events carry `fetch`, and the flow reads the ticket through the
    plugin's client instead of trusting the body. A plugin says so with the class attribute
    `fetches_tickets = True`; the others need not declare it."""
    return getattr(plugin, "fetches_tickets", False) is True
