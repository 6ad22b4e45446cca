"""Webhook bodies and headers as a ServiceDesk Plus custom trigger sends them."""

from __future__ import annotations

import json
from typing import Any

from itsm.servicedesk import DELIVERY_HEADER, SIGNATURE_HEADER
from itsm.signing import hex_hmac_sha256

SECRET = "whsec_ingest-test-secret"


def request_object(ticket_id: str = "1001", **fields: Any) -> dict[str, Any]:
    return {
        "id": ticket_id,
        "subject": "VPN drops every few minutes",
        "description": "<div>Since this morning the VPN client disconnects.</div>",
        "priority": {"name": "High"},
        "requester": {"name": "Ann Lee", "email_id": "ann@example.com"},
        "created_time": {"value": "1732000000000", "display_value": "Nov 19, 2024"},
        "last_updated_time": {"value": "1732000100000"},
        **fields,
    }


def body(ticket_id: str = "1001", event: str | None = "created", **fields: Any) -> bytes:
    payload: dict[str, Any] = {"request": request_object(ticket_id, **fields)}
    if event is not None:
        payload["event"] = event
    return json.dumps(payload).encode()


def headers(
    raw: bytes, secret: str | None = SECRET, delivery_id: str | None = None
) -> dict[str, str]:
    """JSON content type, the signature under `secret` (none if None), the delivery id."""
    result = {"Content-Type": "application/json"}
    if secret is not None:
        result[SIGNATURE_HEADER] = "sha256=" + hex_hmac_sha256(secret, raw)
    if delivery_id is not None:
        result[DELIVERY_HEADER] = delivery_id
    return result
