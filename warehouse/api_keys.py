"""Tenant API keys: `aiok_<tenant_id>.<key_id>.<secret>`; only a SHA-256 of the secret is kept.

The tenant a token names becomes the transaction's tenant before the key is looked up, so
row-level security itself decides whether the key exists: a token that pairs one tenant's
prefix with another tenant's key id finds nothing.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import string
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from aiops.tenant_directory import is_tenant_id
from warehouse.db import Database, TenantConnection

Scope = Literal["read", "admin"]
SCOPES: tuple[Scope, ...] = ("read", "admin")
TOKEN_PREFIX = "aiok_"
KEY_ID_LENGTH = 16
_KEY_ID = re.compile(r"[A-Za-z0-9]{8,32}")
_SECRET = re.compile(r"[A-Za-z0-9_-]{20,100}")
# A hash no secret matches in practice: unknown keys cost the same comparison as known ones.
_NO_KEY = hashlib.sha256(b"no such key").digest()


@dataclass(frozen=True)
class ApiKey:
    """A stored key, as it may be shown: never its secret, nor the hash of it."""

    key_id: str
    tenant_id: str
    name: str
    scope: Scope
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


@dataclass(frozen=True)
class NewApiKey:
    """A key just made: the token exists only here, to be shown once."""

    key: ApiKey
    token: str = field(repr=False)


@dataclass(frozen=True)
class TokenParts:
    tenant_id: str
    key_id: str
    secret: str = field(repr=False)


class UnknownTenantError(Exception):
    pass


def parse_token(token: str) -> TokenParts | None:
    """The three parts of a well-formed token, or None (tenant ids and secrets have no dots)."""
    if not token.startswith(TOKEN_PREFIX):
        return None
    parts = token[len(TOKEN_PREFIX) :].split(".")
    if len(parts) != 3:
        return None
    tenant_id, key_id, secret = parts
    if not (is_tenant_id(tenant_id) and _KEY_ID.fullmatch(key_id) and _SECRET.fullmatch(secret)):
        return None
    return TokenParts(tenant_id, key_id, secret)


def _digest(secret: str) -> bytes:
    return hashlib.sha256(secret.encode()).digest()


def _new_key_id() -> str:
    alphabet = string.ascii_letters + string.digits
    return "".join(secrets.choice(alphabet) for _ in range(KEY_ID_LENGTH))


_COLUMNS = "key_id, tenant_id, name, scope, created_at, last_used_at, revoked_at"


def create_key(conn: TenantConnection, name: str, scope: Scope) -> NewApiKey:
    """A new key of the connection's tenant; its token is returned here and nowhere else."""
    if scope not in SCOPES:
        raise ValueError(f"scope must be one of {', '.join(SCOPES)}, not {scope!r}")
    tenant = conn.execute("SELECT tenant_id FROM tenant_configs").fetchone()
    if tenant is None:
        raise UnknownTenantError("the connection's tenant is not registered")
    key_id, secret = _new_key_id(), secrets.token_urlsafe(32)
    row = conn.execute(
        f"""
        INSERT INTO api_keys (key_id, tenant_id, name, scope, secret_sha256)
        VALUES (%s, current_setting('app.current_tenant_id', true), %s, %s, %s)
        RETURNING {_COLUMNS}
        """,
        (key_id, name, scope, _digest(secret)),
    ).fetchone()
    assert row is not None
    key = ApiKey(**row)
    return NewApiKey(key=key, token=f"{TOKEN_PREFIX}{key.tenant_id}.{key_id}.{secret}")


def list_keys(conn: TenantConnection) -> list[ApiKey]:
    """The connection's tenant's keys, revoked ones included, oldest first."""
    rows = conn.execute(f"SELECT {_COLUMNS} FROM api_keys ORDER BY created_at, key_id").fetchall()
    return [ApiKey(**row) for row in rows]


def revoke_key(conn: TenantConnection, key_id: str) -> ApiKey | None:
    """Revokes the key (again is a no-op that keeps the first time); None if it is unknown."""
    row = conn.execute(
        f"""
        UPDATE api_keys SET revoked_at = coalesce(revoked_at, now())
        WHERE key_id = %s RETURNING {_COLUMNS}
        """,
        (key_id,),
    ).fetchone()
    return ApiKey(**row) if row is not None else None


def authenticate(db: Database, token: str) -> ApiKey | None:
    """The live key the token stands for, or None: malformed, unknown, wrong secret, revoked."""
    parts = parse_token(token)
    if parts is None:
        return None
    with db.tenant(parts.tenant_id) as conn:
        row = conn.execute(
            f"SELECT {_COLUMNS}, secret_sha256 FROM api_keys WHERE key_id = %s",
            (parts.key_id,),
        ).fetchone()
        stored = bytes(row["secret_sha256"]) if row is not None else _NO_KEY
        matches = hmac.compare_digest(_digest(parts.secret), stored)
        if row is None or not matches or row["revoked_at"] is not None:
            return None
        # At most one write a minute per key, not one per request.
        conn.execute(
            "UPDATE api_keys SET last_used_at = now() WHERE key_id = %s "
            "AND (last_used_at IS NULL OR last_used_at < now() - interval '1 minute')",
            (parts.key_id,),
        )
    del row["secret_sha256"]
    return ApiKey(**row)
