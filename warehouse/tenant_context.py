"""The signed tenant context that row-level security verifies (migration 0005_security2).

A transaction names its tenant by setting `app.tenant_context` to
`<tenant>:<session binding>:<hex HMAC-SHA256 of "<tenant>:<session binding>">`. The key is
derived from the master key, so only a process holding the master key can make one; the
database keeps the same key in `tenancy.context_keys`, which only the owner reads, and
`tenancy.current_tenant()` (what the policies call) returns the tenant only if the HMAC
holds and the binding names the session it is used in. SQL run as the application role,
an injection included, can copy its own transaction's context but cannot make one for
another tenant.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass

import psycopg

from aiops.crypto import SecretBox, key_id

PURPOSE = b"tenant-context-v1"
SETTING = "app.tenant_context"
_BLOCK = 64  # SHA-256 block size


@dataclass(frozen=True)
class ContextKeys:
    """The key this process signs with, and every key the database should accept."""

    signing: bytes
    accepted: tuple[bytes, ...]


def context_keys(box: SecretBox) -> ContextKeys:
    signing, accepted = box.derived_keys(PURPOSE)
    return ContextKeys(signing, accepted)


def sign(key: bytes, tenant_id: str, binding: str) -> str:
    message = f"{tenant_id}:{binding}"
    mac = hmac.new(key, message.encode(), hashlib.sha256).hexdigest()
    return f"{message}:{mac}"


def _pads(key: bytes) -> tuple[bytes, bytes]:
    """(key XOR ipad, key XOR opad): HMAC as two plain SHA-256 passes, as the database does it."""
    padded = key.ljust(_BLOCK, b"\0")
    return bytes(b ^ 0x36 for b in padded), bytes(b ^ 0x5C for b in padded)


def install(owner_url: str, keys: ContextKeys) -> None:
    """Makes the database accept contexts signed under exactly `keys.accepted` (the owner's
    URL: nobody else may write, or read, that table). Run after every master key change."""
    with psycopg.connect(owner_url) as conn, conn.transaction():
        conn.execute("DELETE FROM tenancy.context_keys")
        for key in keys.accepted:
            inner, outer = _pads(key)
            conn.execute(
                "INSERT INTO tenancy.context_keys (key_id, inner_pad, outer_pad) "
                "VALUES (%s, %s, %s)",
                (key_id(key), inner, outer),
            )
