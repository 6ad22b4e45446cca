"""The slice of tenant configuration that ingest needs, projected into Redis.

Ingest must not query PostgreSQL per request, so whoever changes a tenant (the CLI, the
API) publishes its encrypted webhook secrets here, and `aiops up` republishes all of
them at start. Ingest reads this hash and caches it in memory for a short time.
"""

from __future__ import annotations

import asyncio
import base64
import json
import re
import time
from dataclasses import dataclass, field
from typing import Literal, cast

import redis
import redis.asyncio

from aiops.crypto import SecretBox

# The same rule as the CHECK on tenants.tenant_id: anything else cannot be a tenant.
TENANT_ID = re.compile(r"[a-z0-9][a-z0-9_-]{0,62}")
_CACHE_LIMIT = 10_000


WebhookScheme = Literal["native", "standard"]


@dataclass(frozen=True)
class TenantEntry:
    tenant_id: str
    source: str
    webhook_secrets: tuple[str, ...] = field(repr=False)
    # native: the ITSM plugin's own signature header; standard: Standard Webhooks.
    webhook_scheme: WebhookScheme = "native"
    # Webhooks accepted per minute; None means the platform default.
    rate_per_minute: int | None = None


def is_tenant_id(text: str) -> bool:
    return TENANT_ID.fullmatch(text) is not None


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _key(prefix: str, tenant_id: str) -> str:
    return f"{prefix}:tenant:{tenant_id}"


def secrets_context(tenant_id: str) -> str:
    return f"tenant:{tenant_id}:webhook_secrets"


def publish(
    client: redis.Redis,
    prefix: str,
    box: SecretBox,
    tenant_id: str,
    source: str,
    secrets: list[str],
    *,
    scheme: WebhookScheme = "native",
    rate_per_minute: int | None = None,
) -> None:
    sealed = box.encrypt(json.dumps(secrets), secrets_context(tenant_id))
    client.hset(
        _key(prefix, tenant_id),
        mapping={
            "source": source,
            "webhook_secrets": base64.b64encode(sealed).decode(),
            "webhook_scheme": scheme,
            "rate_per_minute": str(rate_per_minute or ""),
        },
    )


def remove(client: redis.Redis, prefix: str, tenant_id: str) -> None:
    client.delete(_key(prefix, tenant_id))


def sealed_secrets(client: redis.Redis, prefix: str, tenant_id: str) -> bytes | None:
    """The entry's webhook secrets still encrypted, to tell which master key sealed them."""
    sealed = cast(bytes | str | None, client.hget(_key(prefix, tenant_id), "webhook_secrets"))
    return base64.b64decode(sealed) if sealed is not None else None


class TenantDirectory:
    """Read side with a TTL cache, misses included, so unknown tenants cost no round trip.

    Raises the client's redis errors when Redis cannot be asked, and
    aiops.crypto.DecryptionError when an entry was sealed under a master key we lack.
    """

    def __init__(
        self, client: redis.asyncio.Redis, prefix: str, box: SecretBox, ttl_seconds: float
    ) -> None:
        self._client = client
        self._prefix = prefix
        self._box = box
        self._ttl = ttl_seconds
        self._cache: dict[str, tuple[float, TenantEntry | None]] = {}
        self._pending: dict[str, asyncio.Future[TenantEntry | None]] = {}

    async def lookup(self, tenant_id: str) -> TenantEntry | None:
        if not is_tenant_id(tenant_id):
            return None
        now = time.monotonic()
        hit = self._cache.get(tenant_id)
        if hit is not None and hit[0] > now:
            return hit[1]
        # One read per tenant at a time: when an entry expires (or at start) every webhook
        # of the tenant in flight would read and decrypt it, and open a connection to do so.
        pending = self._pending.get(tenant_id)
        if pending is None:
            pending = self._pending[tenant_id] = asyncio.ensure_future(self._read(tenant_id))
            pending.add_done_callback(lambda _: self._pending.pop(tenant_id, None))
        return await asyncio.shield(pending)

    async def _read(self, tenant_id: str) -> TenantEntry | None:
        source, sealed, scheme, rate = await self._client.hmget(
            _key(self._prefix, tenant_id),
            ["source", "webhook_secrets", "webhook_scheme", "rate_per_minute"],
        )
        entry = None
        if source is not None and sealed is not None:
            plain = self._box.decrypt(base64.b64decode(sealed), secrets_context(tenant_id))
            entry = TenantEntry(
                tenant_id,
                _text(source),
                tuple(json.loads(plain)),
                webhook_scheme=cast(WebhookScheme, _text(scheme or b"native")),
                rate_per_minute=int(rate) if rate else None,
            )
        if len(self._cache) >= _CACHE_LIMIT:
            self._cache.clear()
        self._cache[tenant_id] = (time.monotonic() + self._ttl, entry)
        return entry
