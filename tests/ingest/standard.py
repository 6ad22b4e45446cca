"""Webhook headers as a Standard Webhooks sender (e.g. a Svix-based ITSM) sends them."""

from __future__ import annotations

import time

from itsm.standard_webhooks import ID_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER, sign
from warehouse.tenants import new_webhook_secret

SECRET = new_webhook_secret()


def headers(
    raw: bytes,
    secret: str = SECRET,
    message_id: str = "msg_1",
    timestamp: int | None = None,
) -> dict[str, str]:
    """JSON content type and the three headers, signed under `secret` now (or `timestamp`)."""
    stamp = int(time.time()) if timestamp is None else timestamp
    return {
        "Content-Type": "application/json",
        ID_HEADER: message_id,
        TIMESTAMP_HEADER: str(stamp),
        SIGNATURE_HEADER: sign(secret, message_id, stamp, raw),
    }


# Another tenant's secret, valid in form.
OTHER_SECRET = new_webhook_secret()
