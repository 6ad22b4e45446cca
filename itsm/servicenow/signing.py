"""The signature our ServiceNow business rule sends: HMAC-SHA256 over a timestamp, the
delivery id and the raw body, base64, with a replay window. Pure: the caller passes the time.

Signed content: `{timestamp}.{delivery_id}.{raw body}`, keyed with the tenant's webhook
secret as given (its UTF-8 bytes), which is what ServiceNow's
`GlideCertificateEncryption.generateMac(GlideStringUtil.base64Encode(secret),
"HmacSHA256", content)` computes. Headers: `X-AIOps-Timestamp` (unix seconds),
`X-AIOps-Delivery-Id`, `X-AIOps-Signature: v1=<base64>`.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Mapping, Sequence

TIMESTAMP_HEADER = "x-aiops-timestamp"
DELIVERY_HEADER = "x-aiops-delivery-id"
SIGNATURE_HEADER = "x-aiops-signature"
TOLERANCE_SECONDS = 300  # as Standard Webhooks: ±5 min of clock drift and queueing
_MAX_TIMESTAMP_DIGITS = 12
_MAX_DELIVERY_ID = 200
_MAX_SIGNATURES = 4


def signed_content(timestamp: str, delivery_id: str, body: bytes) -> bytes:
    return f"{timestamp}.{delivery_id}.".encode(errors="replace") + body


def signature(secret: str, timestamp: str, delivery_id: str, body: bytes) -> str:
    """`v1=<base64>` as the business rule puts it in X-AIOps-Signature."""
    mac = hmac.new(secret.encode(), signed_content(timestamp, delivery_id, body), hashlib.sha256)
    return "v1=" + base64.b64encode(mac.digest()).decode()


def _listed(header: str) -> list[bytes]:
    return [
        item.encode("ascii", errors="replace")
        for item in header.split(" ")[:_MAX_SIGNATURES]
        if item.startswith("v1=")
    ]


def verify(
    headers: Mapping[str, str],
    body: bytes,
    secrets: Sequence[str],
    *,
    now: float,
    tolerance_seconds: int = TOLERANCE_SECONDS,
) -> bool:
    """True if one secret signed this timestamp, delivery id and body, and the timestamp is
    within the window. Headers are lower-cased; every secret is compared, matched or not."""
    stamp = headers.get(TIMESTAMP_HEADER, "")
    delivery_id = headers.get(DELIVERY_HEADER, "")
    listed = _listed(headers.get(SIGNATURE_HEADER, ""))
    if not (
        listed
        and 0 < len(delivery_id) <= _MAX_DELIVERY_ID
        and 0 < len(stamp) <= _MAX_TIMESTAMP_DIGITS
        and stamp.isascii()
        and stamp.isdigit()
    ):
        return False
    found = False
    for secret in secrets:
        if not secret:
            continue
        expected = signature(secret, stamp, delivery_id, body).encode()
        for given in listed:
            if hmac.compare_digest(expected, given):
                found = True
    return found and abs(now - int(stamp)) <= tolerance_seconds
