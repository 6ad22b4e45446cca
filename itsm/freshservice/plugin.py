"""The Freshservice plugin: webhook authentication and normalization, and its client.

Trust model. Freshservice cannot sign a webhook: a Workflow Automator's Trigger Webhook
node sends what its admin configured, nothing computed per request. So the request is
authenticated with what that node can send: the tenant's secret itself, either in a custom
header `X-AIOps-Webhook-Token: <secret>` or as the password of the node's basic
authentication ("Requires authentication"), compared in constant time against every
current secret (two during a rotation). Over HTTPS that keeps out anyone who does not know
the secret: a guessed or forged request is refused (401), and a request for one tenant
cannot be passed off as another's.

What it does not protect against: the secret is a bearer secret, not a signature. Anyone
who sees one request or the workflow's configuration (a proxy's log, another Freshservice
admin) can send any body until the secret is rotated, and nothing binds the body to the
secret: such a sender could have us enhance a ticket id of theirs with text of theirs,
i.e. add one private (agent-only) note to a ticket of that tenant per distinct body. There
is no timestamp, so a captured request can be replayed: within the dedupe window it is a
duplicate (the same derived event id, the same body digest) and makes no second note;
later it could re-enhance the same ticket once more. It can never choose the tenant's
Freshservice, the credentials, or a public reply: notes are private only.

Choices. Both header and basic auth are taken, because admins reach for "Requires
authentication" first and some proxies strip custom headers; we recommend the header
(README). The payload is the node's "Advanced" JSON with placeholders, so it is ours to
define, and the ticket number is read from the placeholder's display form ("#INC-42").
API key auth (basic `key:X`), the way Freshservice's admins give integrations access.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping, Sequence
from typing import Any

import httpx

from aiops.events import EventKind, Ticket
from itsm.base import ConnectionField, ItsmConnection
from itsm.fields import header_delivery_id
from itsm.freshservice.client import FreshserviceClient
from itsm.freshservice.normalize import normalize_webhook, ticket_number
from itsm.http import RetryPolicy
from itsm.signing import matches_token

TOKEN_HEADER = "x-aiops-webhook-token"
# Freshservice sends no delivery id; a sender in between that can, may.
DELIVERY_HEADER = "x-aiops-delivery-id"

_TEXT = {"type": ["string", "number", "null"]}
WEBHOOK_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["ticket"],
    "description": "The Workflow Automator body in the README (Trigger Webhook, Advanced).",
    "properties": {
        "event": {"enum": ["created", "resolved"]},
        "ticket": {
            "type": "object",
            "required": ["id"],
            "properties": {
                name: _TEXT
                for name in (
                    "id",
                    "subject",
                    "description",
                    "priority",
                    "status",
                    "type",
                    "category",
                    "tags",
                    "requester",
                    "requester_email",
                    "resolution",
                    "created_at",
                    "updated_at",
                )
            },
        },
    },
}

CONNECTION_FIELDS: tuple[ConnectionField, ...] = (
    ConnectionField(
        "url",
        "the Freshservice address",
        "Your Freshservice, e.g. https://acme.freshservice.com. Without it the notes are "
        "stored but not posted.",
        target="base_url",
        example="https://acme.freshservice.com",
    ),
    ConnectionField(
        "key",
        "Freshservice API key (Profile settings > Your API Key)",
        "The API key of the agent whose name the notes carry. Asked for when left out.",
        target="api_key",
    ),
)


def _basic_password(authorization: str | None) -> str | None:
    if not authorization or authorization[:6].lower() != "basic ":
        return None
    try:
        decoded = base64.b64decode(authorization[6:].strip(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        return None
    return decoded.partition(":")[2] or None


class FreshservicePlugin:
    name = "freshservice"
    title = "Freshservice"
    webhook_schema = WEBHOOK_SCHEMA
    connection_fields = CONNECTION_FIELDS
    signature_header = "X-AIOps-Webhook-Token"

    def __init__(self, retry: RetryPolicy | None = None) -> None:
        self._retry = retry

    def verify(self, headers: Mapping[str, str], body: bytes, secrets: Sequence[str]) -> bool:
        token = headers.get(TOKEN_HEADER)
        if token is not None:
            return matches_token(token, secrets)
        return matches_token(_basic_password(headers.get("authorization")), secrets)

    def delivery_id(self, headers: Mapping[str, str]) -> str | None:
        return header_delivery_id(headers, DELIVERY_HEADER)

    def delivery_id_in_body(self, payload: Any) -> str | None:
        return None  # Freshservice sends none; the derived id is stable

    def normalize(self, payload: Any, kind: EventKind | None = None) -> tuple[EventKind, Ticket]:
        return normalize_webhook(payload, kind)

    def ticket_id(self, shown: str) -> str:
        """The id webhooks and the API use for a ticket an export shows as "INC-42"."""
        return ticket_number(shown) or shown

    def client(self, connection: ItsmConnection, http: httpx.Client) -> FreshserviceClient:
        return FreshserviceClient(connection, http, self._retry)

    def setup_steps(self, urls: Mapping[str, str]) -> list[str]:
        return [
            "In Freshservice: Admin > Workflow Automator > New Automator (Ticket),",
            "  event 'Ticket is raised', action node Trigger Webhook:",
            f"    POST {urls['tickets']}",
            "  custom header X-AIOps-Webhook-Token: the secret below; encoding JSON,",
            '  Advanced content: the body in the README (section Freshservice), "event":',
            "  \"created\". A second automator, 'Status is changed to Resolved', with",
            '  "event": "resolved".',
            "",
            "Freshservice cannot sign: the secret itself travels in the header, so keep the",
            "URL on HTTPS and rotate the secret if a workflow's configuration leaks.",
        ]
