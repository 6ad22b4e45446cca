"""The Zendesk plugin: webhook verification and normalization, and its client.

Trust model. Zendesk signs every webhook, trigger and event alike:
`X-Zendesk-Webhook-Signature` = base64(HMAC-SHA256(signing secret as given,
`X-Zendesk-Webhook-Signature-Timestamp` + raw body)), checked in constant time against
every current secret (two during a rotation). The timestamp is signed, so it is checked
too: a delivery older or newer than the replay window (±5 minutes) is refused, which
bounds how long a captured request stays usable. A forged or altered body, or a signed one
re-dated, is refused (401). Inside the window a captured delivery resent as it was is a
duplicate of its delivery id (the event id of an event webhook, or
`X-Zendesk-Webhook-Invocation-Id` of a trigger's), and resent under another id, the replay
check of ingest (digest of the signed body) refuses it: no second note.
Whatever the body says, it is only read as a ticket to enhance: it cannot choose the
tenant's Zendesk, the credentials, or where a note goes but the ticket id, and notes are
private comments only.

Choices. The signing secret is the one Zendesk generates per webhook (Admin Center >
Webhooks > the webhook > Signing secret); we take it as the tenant's webhook secret rather
than generating our own, because Zendesk does not let an admin set it. Trigger webhooks
carry the body the admin configures (README, section Zendesk); event webhooks
(`zen:event-type:ticket.created`) need no body to configure but carry no comment text, so
the trigger is the documented way for solved tickets. API token auth (`email/token`), the
way Zendesk's admins hand integrations access, not OAuth.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

import httpx

from aiops.events import EventKind, Ticket
from itsm.base import ConnectionField, ItsmConnection
from itsm.fields import header_delivery_id
from itsm.http import RetryPolicy
from itsm.zendesk.client import ZendeskClient
from itsm.zendesk.normalize import delivery_id_in_body, normalize_webhook

SIGNATURE_HEADER = "x-zendesk-webhook-signature"
TIMESTAMP_HEADER = "x-zendesk-webhook-signature-timestamp"
DELIVERY_HEADER = "x-zendesk-webhook-invocation-id"
REPLAY_WINDOW_SECONDS = 300
_MAX_SIGNATURE = 200

_TEXT = {"type": ["string", "number", "null"]}
WEBHOOK_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "A Zendesk trigger webhook with the body in the README ({event, ticket}), "
    "or an event webhook's envelope (zen:event-type:ticket.*).",
    "properties": {
        "event": {"enum": ["created", "solved"]},
        "ticket": {
            "type": "object",
            "properties": {
                name: _TEXT
                for name in (
                    "id",
                    "subject",
                    "description",
                    "priority",
                    "status",
                    "type",
                    "tags",
                    "requester",
                    "requester_email",
                    "resolution",
                    "created_at",
                    "updated_at",
                )
            },
        },
        "type": {"type": "string", "examples": ["zen:event-type:ticket.created"]},
        "id": {"type": "string"},
        "subject": {"type": "string", "examples": ["zen:ticket:35436"]},
        "detail": {"type": "object"},
    },
}

CONNECTION_FIELDS: tuple[ConnectionField, ...] = (
    ConnectionField(
        "url",
        "the Zendesk address",
        "Your Zendesk, e.g. https://acme.zendesk.com. Without it the notes are stored but "
        "not posted.",
        target="base_url",
        example="https://acme.zendesk.com",
    ),
    ConnectionField(
        "email",
        "the e-mail of the agent the API token acts as",
        "The e-mail of the agent whose name the notes carry.",
        target="username",
        example="aiops@acme.example",
    ),
    ConnectionField(
        "token",
        "Zendesk API token (Admin Center > Apps and integrations > Zendesk API)",
        "Zendesk API token. Asked for when left out.",
        target="api_key",
    ),
)


def signature(secret: str, timestamp: str, body: bytes) -> str:
    """Zendesk's signature of a delivery: base64 HMAC-SHA256 over timestamp + body."""
    digest = hmac.new(secret.encode(), timestamp.encode() + body, hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def _within_window(timestamp: str, now: float, window: float) -> bool:
    try:
        sent = datetime.fromisoformat(timestamp.strip().replace("Z", "+00:00"))
    except ValueError:
        return False
    if sent.tzinfo is None:
        return False
    return abs(now - sent.timestamp()) <= window


class ZendeskPlugin:
    name = "zendesk"
    title = "Zendesk"
    webhook_schema = WEBHOOK_SCHEMA
    connection_fields = CONNECTION_FIELDS
    signature_header = "X-Zendesk-Webhook-Signature"

    def __init__(
        self,
        retry: RetryPolicy | None = None,
        *,
        clock: Callable[[], float] = time.time,
        window_seconds: float = REPLAY_WINDOW_SECONDS,
    ) -> None:
        self._retry = retry
        self._clock = clock
        self._window = window_seconds

    def verify(self, headers: Mapping[str, str], body: bytes, secrets: Sequence[str]) -> bool:
        given = headers.get(SIGNATURE_HEADER)
        timestamp = headers.get(TIMESTAMP_HEADER)
        if not given or not timestamp or len(given) > _MAX_SIGNATURE:
            return False
        found = False
        # Every secret is compared, so timing does not tell which one is in use.
        for secret in secrets:
            if secret and hmac.compare_digest(
                signature(secret, timestamp, body).encode(), given.strip().encode()
            ):
                found = True
        return found and _within_window(timestamp, self._clock(), self._window)

    def delivery_id(self, headers: Mapping[str, str]) -> str | None:
        return header_delivery_id(headers, DELIVERY_HEADER)

    def delivery_id_in_body(self, payload: Any) -> str | None:
        return delivery_id_in_body(payload)

    def normalize(self, payload: Any, kind: EventKind | None = None) -> tuple[EventKind, Ticket]:
        return normalize_webhook(payload, kind)

    def client(self, connection: ItsmConnection, http: httpx.Client) -> ZendeskClient:
        return ZendeskClient(connection, http, self._retry)

    def setup_steps(self, urls: Mapping[str, str]) -> list[str]:
        return [
            "In Zendesk Admin Center: Apps and integrations > Webhooks > Create webhook,",
            "  Trigger or automation, JSON, POST, endpoint:",
            f"    {urls['tickets']}",
            "Then Objects and rules > Triggers: 'Ticket is Created' -> Notify by webhook,",
            '  with the JSON body of the README (section Zendesk), "event": "created";',
            '  a second trigger \'Status changed to Solved\' with "event": "solved".',
            "",
            "Zendesk signs with a secret of its own (the webhook's Signing secret), so the",
            "secret below is replaced by it: run",
            "  aiops tenants rotate-webhook-secret <tenant> --secret-from-itsm",
            "  (paste the Signing secret), then aiops tenants finish-webhook-rotation <tenant>",
        ]
