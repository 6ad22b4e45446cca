"""What every ticketing-system plugin provides.

A plugin is one package under itsm/ whose module docstring states its webhook trust
model: what a forged, replayed or altered delivery can and cannot make us do. Every
plugin in itsm.registry passes the conformance kit in tests/itsm/kit/ (docs/plugins.md).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

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


# Optional capabilities: a client has them when it has the method; plugins without them
# still pass the kit, and the flow goes without (no field written, the fix not looked up).

TRIAGE_FIELDS = ("category", "priority", "type")
# What a plugin lists in its optional `capabilities` attribute; the kit checks each one.
SET_FIELDS = "set_fields"
LAST_FIX = "last_fix"


def capabilities(plugin: object) -> frozenset[str]:
    """The optional capabilities a plugin declares (none, if it declares nothing)."""
    return frozenset(getattr(plugin, "capabilities", ()))


@runtime_checkable
class FieldWriter(Protocol):
    """Writes triage suggestions into the ticket's own fields."""

    # Of TRIAGE_FIELDS, the ones this ITSM has a field for.
    writable_fields: tuple[str, ...]

    def set_fields(self, ticket_id: str, fields: Mapping[str, str]) -> None:
        """Sets each field (a name from writable_fields) to the named value."""
        ...


@runtime_checkable
class FixReader(Protocol):
    """Reads what fixed a resolved ticket when its resolution field only names a status."""

    def last_fix(self, ticket_id: str) -> str | None:
        """Plain text of the ticket's last technician note or comment that is not ours."""
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
