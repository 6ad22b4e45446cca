"""Standard Webhooks (standardwebhooks.com) signatures, checked on the raw body.

Headers `webhook-id`, `webhook-timestamp` (unix seconds) and `webhook-signature` (a
space-separated list of `v1,<base64 HMAC-SHA256>`, several during a rotation) sign
`{id}.{timestamp}.{body}` under the key that a `whsec_<base64>` secret encodes. Pure: the
caller passes the time.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

ID_HEADER = "webhook-id"
TIMESTAMP_HEADER = "webhook-timestamp"
SIGNATURE_HEADER = "webhook-signature"
SECRET_PREFIX = "whsec_"
DEFAULT_TOLERANCE_SECONDS = 300
# A sender lists one signature per secret it signs with; more than this is noise, and
# comparing each one against each secret would let a header make us do needless work.
_MAX_SIGNATURES = 8
_MAX_TIMESTAMP_DIGITS = 12  # unix seconds until the year 33658


class InvalidSignature(Exception):
    """Missing headers, or no listed signature matches any secret."""


class TimestampOutOfTolerance(Exception):
    """The signature is good but was made too long ago, or in the future."""

    def __init__(self, timestamp: int, now: float) -> None:
        offset = timestamp - int(now)
        when = "in the past" if offset < 0 else "in the future"
        super().__init__(
            f"timestamp {timestamp} is {offset:+d} s from now ({abs(offset)} s {when})"
        )
        self.timestamp = timestamp


@dataclass(frozen=True)
class Verified:
    message_id: str  # the delivery id: the same across the sender's retries
    timestamp: int
    signed_content: bytes


def signing_key(secret: str) -> bytes | None:
    """The HMAC key of a `whsec_<base64>` secret; None if the secret is not of that form."""
    if not secret.startswith(SECRET_PREFIX):
        return None
    try:
        key = base64.b64decode(secret[len(SECRET_PREFIX) :], validate=True)
    except (binascii.Error, ValueError):
        return None
    return key or None


def signed_content(message_id: str, timestamp: str, body: bytes) -> bytes:
    # "replace": header text never holds surrogates, but this must not raise if it did.
    return f"{message_id}.{timestamp}.".encode(errors="replace") + body


def sign(secret: str, message_id: str, timestamp: int, body: bytes) -> str:
    """`v1,<base64>` for one secret, as a sender puts it in `webhook-signature`."""
    key = signing_key(secret)
    if key is None:
        raise ValueError("a Standard Webhooks secret is 'whsec_' followed by base64")
    return "v1," + _signature(key, signed_content(message_id, str(timestamp), body))


def _signature(key: bytes, content: bytes) -> str:
    return base64.b64encode(hmac.new(key, content, hashlib.sha256).digest()).decode()


def _is_unix_seconds(text: str) -> bool:
    return 0 < len(text) <= _MAX_TIMESTAMP_DIGITS and text.isascii() and text.isdigit()


def _listed_signatures(header: str) -> list[bytes]:
    listed = []
    for item in header.split(" ")[:_MAX_SIGNATURES]:
        version, _, value = item.partition(",")
        if version == "v1" and value:
            listed.append(value.encode("ascii", errors="replace"))
    return listed


def verify(
    headers: Mapping[str, str],
    body: bytes,
    secrets: Sequence[str],
    *,
    now: float,
    tolerance_seconds: int = DEFAULT_TOLERANCE_SECONDS,
) -> Verified:
    """The verified delivery; raises InvalidSignature or TimestampOutOfTolerance.

    Headers are lower-cased. The signature is checked before the timestamp, so only a
    holder of the secret learns that its clock is off: to anyone else every failure
    looks the same.
    """
    message_id = headers.get(ID_HEADER, "")
    stamp = headers.get(TIMESTAMP_HEADER, "")
    header = headers.get(SIGNATURE_HEADER, "")
    if not (message_id and header and _is_unix_seconds(stamp)):
        raise InvalidSignature()
    content = signed_content(message_id, stamp, body)
    listed = _listed_signatures(header)
    # Every pair is compared, matched or not, so timing does not tell which secret is in use.
    found = False
    for secret in secrets:
        key = signing_key(secret)
        if key is None:
            continue
        expected = _signature(key, content).encode()
        for given in listed:
            if hmac.compare_digest(expected, given):
                found = True
    if not found:
        raise InvalidSignature()
    timestamp = int(stamp)
    if abs(now - timestamp) > tolerance_seconds:
        raise TimestampOutOfTolerance(timestamp, now)
    return Verified(message_id, timestamp, content)
