"""The slice of tenant configuration that ingest needs, projected into Redis.

Ingest must not query PostgreSQL per request, so whoever changes a tenant (the CLI, the
API) publishes its encrypted webhook secrets here, and `aiops up` republishes all of
them at start. Ingest reads this hash and caches it in memory for a short time.
"""

from __future__ import annotations

import base64
import json
import time
from dataclasses import dataclass

import redis

from aiops.crypto import SecretBox


@dataclass(frozen=True)
class TenantEntry:
    tenant_id: str
    source: str
    webhook_secrets: tuple[str, ...]


def _key(prefix: str, tenant_id: str) -> str:
    return f"{prefix}:tenant:{tenant_id}"


def secrets_context(tenant_id: str) -> str:
    return f"tenant:{tenant_id}:webhook_secrets"


def publish(
    client: redis.Redis, prefix: str, box: SecretBox, tenant_id: str, source: str, secrets: list[str]
) -> None:
    sealed = box.encrypt(json.dumps(secrets), secrets_context(tenant_id))
    client.hset(
        _key(prefix, tenant_id),
        mapping={"source": source, "webhook_secrets": base64.b64encode(sealed).decode()},
    )


def remove(client: redis.Redis, prefix: str, tenant_id: str) -> None:
    client.delete(_key(prefix, tenant_id))


class TenantDirectory:
    """Read side with a TTL cache, misses included, so unknown tenants cost no round trip."""

    def __init__(self, client: redis.Redis, prefix: str, box: SecretBox, ttl_seconds: float) -> None:
        self._client = client
        self._prefix = prefix
        self._box = box
        self._ttl = ttl_seconds
        self._cache: dict[str, tuple[float, TenantEntry | None]] = {}

    def lookup(self, tenant_id: str) -> TenantEntry | None:
        now = time.monotonic()
        hit = self._cache.get(tenant_id)
        if hit is not None and hit[0] > now:
            return hit[1]
        raw = self._client.hgetall(_key(self._prefix, tenant_id))
        entry = None
        if raw:
            sealed = base64.b64decode(raw[b"webhook_secrets"])
            secrets = json.loads(self._box.decrypt(sealed, secrets_context(tenant_id)))
            entry = TenantEntry(tenant_id, raw[b"source"].decode(), tuple(secrets))
        if len(self._cache) > 10_000:
            self._cache.clear()
        self._cache[tenant_id] = (now + self._ttl, entry)
        return entry
