"""The ServiceDesk Plus plugin: webhook verification and normalization, and its client.

SDP documents no webhook signing: an admin's custom trigger defines the payload and
headers. Our documented contract for that trigger:
- body `{"request": {<SDP v3 request object>}, "event": "created"|"updated"|"resolved"}`
  ("event" optional);
- header `X-ServiceDesk-Signature: [sha256=]<hex HMAC-SHA256(secret, raw body)>`;
- optional header `X-ServiceDesk-Delivery-Id`, stable across the trigger's retries.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import httpx

from aiops.events import EventKind, Ticket
from itsm.base import ConnectionField, ItsmConnection
from itsm.fields import header_delivery_id
from itsm.http import RetryPolicy
from itsm.servicedesk.client import FLAVORS, ServiceDeskClient
from itsm.servicedesk.normalize import normalize_webhook
from itsm.signing import matches_any_secret

SIGNATURE_HEADER = "x-servicedesk-signature"
DELIVERY_HEADER = "x-servicedesk-delivery-id"

_TEXT = {"type": ["string", "null"]}
_LOOKUP = {
    "anyOf": [{"type": "object", "properties": {"name": _TEXT}}, _TEXT],
}
_TIME = {
    "anyOf": [
        {"type": "object", "properties": {"value": {"type": "string", "pattern": "^[0-9]{1,13}$"}}},
        {"type": "null"},
    ]
}
WEBHOOK_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["request"],
    "properties": {
        "event": {"enum": ["created", "updated", "resolved"]},
        "request": {
            "type": "object",
            "description": "The SDP v3 request object (lenient: ids as numbers or strings, "
            "lookups as objects, plain names or null).",
            "required": ["id"],
            "properties": {
                "id": {"type": ["string", "integer"]},
                "subject": {"type": "string"},
                "description": {"type": "string", "description": "HTML"},
                "priority": _LOOKUP,
                "status": _LOOKUP,
                "category": _LOOKUP,
                "requester": {
                    "anyOf": [
                        {"type": "object", "properties": {"name": _TEXT, "email_id": _TEXT}},
                        _TEXT,
                    ]
                },
                "created_time": _TIME,
                "last_updated_time": _TIME,
                "resolved_time": _TIME,
                "resolution": {
                    "anyOf": [{"type": "object", "properties": {"content": _TEXT}}, _TEXT]
                },
                "udf_fields": {"type": "object"},
            },
        },
    },
}


CONNECTION_FIELDS: tuple[ConnectionField, ...] = (
    ConnectionField(
        "url",
        "the ServiceDesk Plus address",
        "ServiceDesk Plus address, e.g. https://sdp.acme.example. Without it the notes are "
        "stored (see `aiops history show`) but not posted to tickets.",
        target="base_url",
        example="https://sdp.acme.example",
    ),
    ConnectionField(
        "key",
        "ServiceDesk Plus API key",
        "Technician API key (on-premises authtoken) or Zoho OAuth token (cloud). Asked for "
        "when left out.",
        target="api_key",
    ),
    ConnectionField(
        "flavor",
        "which ServiceDesk Plus",
        "Which ServiceDesk Plus: onprem (on-premises) or cloud.",
        target="flavor",
        required=False,
        choices=tuple(FLAVORS),
        default="onprem",
    ),
)


class ServiceDeskPlugin:
    name = "servicedesk"
    title = "ServiceDesk Plus"
    webhook_schema = WEBHOOK_SCHEMA
    connection_fields = CONNECTION_FIELDS
    signature_header = "X-ServiceDesk-Signature"

    def __init__(self, retry: RetryPolicy | None = None) -> None:
        self._retry = retry

    def verify(self, headers: Mapping[str, str], body: bytes, secrets: Sequence[str]) -> bool:
        return matches_any_secret(headers.get(SIGNATURE_HEADER), body, secrets)

    def delivery_id(self, headers: Mapping[str, str]) -> str | None:
        return header_delivery_id(headers, DELIVERY_HEADER)

    def delivery_id_in_body(self, payload: Any) -> str | None:
        return None  # only in the headers

    def normalize(self, payload: Any, kind: EventKind | None = None) -> tuple[EventKind, Ticket]:
        return normalize_webhook(payload, kind)

    def client(self, connection: ItsmConnection, http: httpx.Client) -> ServiceDeskClient:
        return ServiceDeskClient(connection, http, self._retry)

    def setup_steps(self, urls: Mapping[str, str]) -> list[str]:
        return [
            "Point ServiceDesk Plus custom triggers at these URLs (HTTP POST, JSON body):",
            f"  new requests:       {urls['tickets']}",
            f"  resolved requests:  {urls['resolved_tickets']}",
            "",
            "Sign every body: header X-ServiceDesk-Signature = hex HMAC-SHA256(secret, body).",
        ]
