"""The ConnectWise PSA plugin: callback authentication, the pointer it becomes, its client.

Callbacks. An admin (or `aiops`' README steps) registers a ticket callback with
`POST /system/callbacks`:

    {"description": "AI Ops", "type": "Ticket", "level": "Board", "objectId": <board id>,
     "url": "https://<ingest host>/webhook/connectwise?tenant=<tenant id>&token=<secret>",
     "inactiveFlag": false}

(`level: "Owner"` with `objectId: 1` for every board). ConnectWise then POSTs
`{"Action": "added"|"updated"|"deleted", "Type": "ticket", "ID": <id>, "Entity": "...",
...}` to that URL whenever a ticket on the board is saved. It adds no header of ours and
no signature we can rely on: newer releases send `x-content-signature`, but its key is
downloaded from a URL named in the callback body itself (`Metadata.key_url`), so a forger
simply names his own key. What authenticates a callback is the URL's per-tenant secret
(`token`, the tenant's webhook secret URL-encoded), compared in constant time against
every current secret.

Trust model. The URL secret is a bearer secret: whoever reads the callback URL (the
callback record in ConnectWise, a proxy's access log; ours mask `token=`) can send
callbacks until the secret is rotated (`aiops tenants rotate-webhook-secret`, then
re-register the callback). That is why nothing in a callback body is believed: the
event carries only the ticket id and the kind, and the flow reads the ticket itself from
the tenant's ConnectWise with the tenant's keys (`fetches_tickets`; ingest never calls
ConnectWise). So a forged callback can at most make us read one of the tenant's own
tickets and, for an "added", enhance it once (a second "added" of the same ticket is a
duplicate); it cannot choose the text we prompt with, the text we store in the history,
whether a ticket counts as closed, or where a note goes. A forged id of a ticket that does
not exist fails as a permanent error into the dead letters.

Choices, and why. Board-level callbacks, because MSPs run one board per service (Help
Desk, Projects) and want AI notes on the help desk only. Internal-analysis notes (the
Internal tab), never the Discussion, which is sent to the contact. Resolved tickets come
from "updated" callbacks of closed tickets, read back from ConnectWise: the resolution is
the ticket's Resolution-flagged notes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal

import httpx

from aiops.events import EventKind, Ticket
from itsm.base import ConnectionField, ItsmConnection
from itsm.connectwise.client import ConnectWiseClient, ConnectWiseSettings
from itsm.connectwise.normalize import normalize_callback
from itsm.http import RetryPolicy
from itsm.signing import matches_token
from itsm.url_token import URL_TOKEN_HEADER

WEBHOOK_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "A ConnectWise PSA ticket callback. Only ID and Action are read; the "
    "ticket itself is fetched from ConnectWise. Authenticate with ?token=<secret> in the URL.",
    "required": ["ID"],
    "properties": {
        "MessageId": {"type": "string"},
        "Action": {"enum": ["added", "updated", "deleted"]},
        "Type": {"type": "string", "examples": ["ticket"]},
        "ID": {"type": ["integer", "string"]},
        "CompanyId": {"type": "string"},
        "MemberId": {"type": "string"},
        "Entity": {"type": ["string", "object", "null"], "description": "Not trusted."},
    },
}


CONNECTION_FIELDS: tuple[ConnectionField, ...] = (
    ConnectionField(
        "url",
        "the ConnectWise site's API address",
        "Site API address, e.g. https://api-na.myconnectwise.net (/v4_6_release/apis/3.0 "
        "is added). Without it the notes are stored but not posted.",
        target="base_url",
        example="https://api-na.myconnectwise.net",
    ),
    ConnectionField(
        "company",
        "the company id you log in with",
        "Company id, as on the ConnectWise login page.",
        example="acme",
    ),
    ConnectionField(
        "public_key",
        "the API member's public key",
        "Public key of the API member's key pair (System > Members > API Members > API Keys).",
        target="username",
    ),
    ConnectionField(
        "private_key",
        "the API member's private key",
        "Private key of that key pair. Asked for when left out.",
        target="api_key",
    ),
    ConnectionField(
        "client_id",
        "the integration's client id",
        "Client id from developer.connectwise.com > ClientID (sent on every call).",
    ),
)


class ConnectWisePlugin:
    name = "connectwise"
    title = "ConnectWise PSA"
    webhook_schema = WEBHOOK_SCHEMA
    connection_fields = CONNECTION_FIELDS
    signature_header = "none: the callback URL carries the secret (?token=)"
    # The callback body is a pointer: the flow reads the ticket (itsm.base.fetches_tickets).
    fetches_tickets: Literal[True] = True

    def __init__(self, retry: RetryPolicy | None = None) -> None:
        self._retry = retry

    def verify(self, headers: Mapping[str, str], body: bytes, secrets: Sequence[str]) -> bool:
        return matches_token(headers.get(URL_TOKEN_HEADER), secrets)

    def delivery_id(self, headers: Mapping[str, str]) -> str | None:
        return None  # ConnectWise sends none: the id derived from ticket and time dedupes

    def delivery_id_in_body(self, payload: Any) -> str | None:
        # Not MessageId: the body is not trusted, and a sender's id would let it pick what
        # dedupes; the id derived from the ticket makes every copy of an "added" one event.
        return None

    def normalize(self, payload: Any, kind: EventKind | None = None) -> tuple[EventKind, Ticket]:
        return normalize_callback(payload, kind)

    def client(self, connection: ItsmConnection, http: httpx.Client) -> ConnectWiseClient:
        return ConnectWiseClient(
            settings_from(connection),
            http,
            self._retry,
        )

    def setup_steps(self, urls: Mapping[str, str]) -> list[str]:
        return [
            "ConnectWise cannot sign callbacks: the callback URL carries the secret. As the",
            "API member, POST /system/callbacks (README, ConnectWise PSA) with",
            '  "type": "Ticket", "level": "Board", "objectId": <board id>,',
            f'  "url": "{urls["tickets"]}&token=<secret>"',
            "where <secret> is the signing secret below, URL-encoded",
            "(+ as %2B, / as %2F, = as %3D). AI Ops then reads each ticket from ConnectWise.",
        ]


def settings_from(connection: ItsmConnection) -> ConnectWiseSettings:
    return ConnectWiseSettings(
        base_url=connection.base_url,
        company_id=connection.options.get("company", ""),
        public_key=connection.username or "",
        private_key=connection.api_key,
        client_id=connection.options.get("client_id", ""),
        timeout_seconds=connection.timeout_seconds,
    )
