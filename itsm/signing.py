"""HMAC-SHA256 webhook signatures checked against every current secret (rotation)."""

from __future__ import annotations

import hmac
from collections.abc import Sequence


def hex_hmac_sha256(secret: str, body: bytes) -> str:
    # hmac.digest is OpenSSL's one-shot HMAC: the same bytes as hmac.new(...).hexdigest()
    # without building the Python HMAC object (a few µs per webhook).
    return hmac.digest(secret.encode(), body, "sha256").hex()


def matches_any_secret(signature: str | None, body: bytes, secrets: Sequence[str]) -> bool:
    """True if `signature` (hex, optionally "sha256="-prefixed) is HMAC-SHA256 of `body`
    under one of `secrets`. Empty secrets never match: they would make signing trivial."""
    if not signature:
        return False
    given = signature.strip()
    if given[:7].lower() == "sha256=":
        given = given[7:]
    given_bytes = given.lower().encode("ascii", errors="replace")
    # Every secret is checked, matched or not, so timing does not tell which one is in use.
    found = False
    for secret in secrets:
        if secret and hmac.compare_digest(hex_hmac_sha256(secret, body).encode(), given_bytes):
            found = True
    return found


_MAX_TOKEN = 1_000


def matches_token(token: str | None, secrets: Sequence[str]) -> bool:
    """True if `token` is one of `secrets` itself: for senders that cannot compute an HMAC
    (a bearer secret). Every secret is compared, so timing does not tell which one is in use."""
    if not token or len(token) > _MAX_TOKEN:
        return False
    given = token.strip().encode("utf-8", errors="replace")
    found = False
    for secret in secrets:
        if secret and hmac.compare_digest(secret.encode(), given):
            found = True
    return found
