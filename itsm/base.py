"""What every ticketing-system plugin provides.

A plugin is one package under itsm/ whose module docstring states its webhook trust
model: what a forged, replayed or altered delivery can and cannot make us do. Every
plugin in itsm.registry passes the conformance kit in tests/itsm/kit/ (docs/plugins.md).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, runtime_checkable

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


# Where a declared setting lands in ItsmConnection: one of its named attributes, or under
# its name in `options` (plain) or `secrets` (encrypted at rest, never shown).
Target = Literal["base_url", "api_key", "username", "flavor", "option", "secret"]


@dataclass(frozen=True)
class ConnectionField:
    """One setting a tenant gives for its ITSM connection. The CLI offers it as
    `--<plugin>-<name>` (secrets asked for by hidden prompt when left out), the API takes
    it by its target (`itsm_base_url`, ..., `itsm_options[name]`, `itsm_secrets[name]`)."""

    name: str
    label: str  # what it is, for prompts and errors: "Zendesk API token"
    help: str
    target: Target = "option"
    example: str = ""
    required: bool = True
    flavors: tuple[str, ...] = ()  # asked for only with these flavors (all when empty)
    choices: tuple[str, ...] = ()
    default: str | None = None

    @property
    def secret(self) -> bool:
        return self.target in ("api_key", "secret")


@dataclass(frozen=True)
class ItsmConnection:
    base_url: str
    api_key: str = field(repr=False)
    flavor: str | None = None  # e.g. "onprem" or "cloud" for ServiceDesk Plus
    # Who the key belongs to, where the ITSM authenticates with both (Jira Cloud: e-mail).
    username: str | None = None
    timeout_seconds: float = 15.0
    # The plugin's own settings (ConnectionField target "option"), e.g. a company id.
    options: Mapping[str, str] = field(default_factory=dict)
    # Secrets beyond api_key (target "secret"), e.g. an OAuth client secret.
    secrets: Mapping[str, str] = field(default_factory=dict, repr=False)


class ItsmClient(Protocol):
    """Talks to one tenant's ITSM. Raises aiops.errors.TransientError / PermanentError."""

    def check_credentials(self) -> None:
        """One cheap authenticated read the vendor documents, made when credentials are
        saved: PermanentError if the ITSM refuses them, TransientError if unreachable."""
        ...

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
    title: str  # as its admins know it: "ServiceDesk Plus"
    # What a tenant sets up for write-back; the CLI and API offer exactly these.
    connection_fields: tuple[ConnectionField, ...]
    signature_header: str  # the header the ITSM (or its admin's rule) signs webhooks in
    # JSON Schema of the documented webhook body: ingest's OpenAPI shows it (and fuzzes it).
    webhook_schema: dict[str, Any]

    def verify(self, headers: Mapping[str, str], body: bytes, secrets: Sequence[str]) -> bool:
        """True if `body` is signed with one of `secrets`. Headers are lower-cased."""
        ...

    def delivery_id(self, headers: Mapping[str, str]) -> str | None:
        """The ITSM's own id for this delivery, stable across its retries, if it sends one."""
        ...

    def delivery_id_in_body(self, payload: Any) -> str | None:
        """The delivery id the parsed body carries, where the ITSM puts it there (Zendesk
        event webhooks: the event id); it wins over delivery_id(headers). Else None."""
        ...

    def normalize(self, payload: Any, kind: EventKind | None = None) -> tuple[EventKind, Ticket]:
        """The event kind and ticket in a parsed webhook body.

        Raises NormalizationError for a body this plugin cannot read (ingest answers 422),
        IgnoredEvent for one it reads but must not act on (ingest answers 202, stores nothing).
        """
        ...

    def client(self, connection: ItsmConnection, http: httpx.Client) -> ItsmClient: ...

    def setup_steps(self, urls: Mapping[str, str]) -> list[str]:
        """What the ITSM's admin configures to send webhooks to `urls` (`tickets`,
        `resolved_tickets`), as lines to print; the signing secret is printed after them."""
        ...


def fetches_tickets(plugin: ItsmPlugin) -> bool:
    """True for a plugin whose webhook only points at a ticket (ConnectWise callbacks, which
    cannot be signed): its events carry `fetch`, and the flow reads the ticket through the
    plugin's client instead of trusting the body. A plugin says so with the class attribute
    `fetches_tickets = True`; the others need not declare it."""
    return getattr(plugin, "fetches_tickets", False) is True
