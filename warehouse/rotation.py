"""Master key rotation: every secret at rest re-encrypted under the current key.

One short transaction per tenant (row-level security shows one tenant at a time), with
the row locked so that a change made meanwhile is not overwritten. Blobs already under
the current key are left alone, so a run that stops half way is simply run again. The
tenant's Redis directory entry (what ingest reads) is sealed again too.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import redis
from psycopg import sql

from aiops import tenant_directory
from aiops.crypto import DecryptionError, SecretBox, sealed_key_id
from warehouse.db import Database
from warehouse.tenants import (
    SEALED_COLUMNS,
    get_tenant,
    list_tenant_ids,
    publish_tenant,
    sealed_context,
)


class RotationKeysError(Exception):
    """The keys this process holds give rotation nothing to rotate from."""


class UndecryptableSecretError(Exception):
    """A secret does not decrypt under any key held; names the tenant and field, never
    the secret."""

    def __init__(self, tenant_id: str, column: str, key_id: str, held: bool) -> None:
        self.tenant_id, self.column, self.key_id = tenant_id, column, key_id
        why = (
            f"fails authentication under master key {key_id} (damaged, or copied from another row)"
            if held
            else f"is sealed under master key {key_id}, which this process does not hold"
        )
        super().__init__(f"tenant {tenant_id!r}: {column} {why}")


@dataclass(frozen=True)
class TenantRotation:
    """What one tenant needed; in a dry run, what it would have needed."""

    tenant_id: str
    reencrypted: int = 0
    current: int = 0
    republished: bool = False


def check_keys(box: SecretBox) -> None:
    if not box.older_key_ids:
        raise RotationKeysError(
            f"the current master key ({box.current_key_id}) is the only one held, so there is "
            "nothing to rotate from: set the new key as AI_AGENTS_ENCRYPTION_KEY and the old "
            "one in AI_AGENTS_PREVIOUS_ENCRYPTION_KEYS, restart every process, then rotate"
        )


def _held(box: SecretBox, key_id: str) -> bool:
    return key_id == box.current_key_id or key_id in box.older_key_ids


def reseal(box: SecretBox, tenant_id: str, column: str, blob: bytes) -> bytes | None:
    """The blob re-encrypted under the current key; None when it is under it already."""
    if box.is_current(blob):
        return None
    context = sealed_context(tenant_id, column)
    try:
        plain = box.decrypt(blob, context)
    except DecryptionError:
        key_id = sealed_key_id(blob)
        raise UndecryptableSecretError(tenant_id, column, key_id, _held(box, key_id)) from None
    return box.encrypt(plain, context)


_COLUMNS = sql.SQL(", ").join(sql.Identifier(c) for c in SEALED_COLUMNS)


def rotate_tenant(
    db: Database,
    box: SecretBox,
    client: redis.Redis,
    prefix: str,
    tenant_id: str,
    *,
    dry_run: bool = False,
) -> TenantRotation:
    with db.tenant(tenant_id) as conn:
        row = conn.execute(
            sql.SQL("SELECT {} FROM tenant_configs FOR UPDATE").format(_COLUMNS)
        ).fetchone()
        if row is None:
            return TenantRotation(tenant_id)
        resealed: dict[str, bytes] = {}
        current = 0
        for column in SEALED_COLUMNS:
            if row[column] is None:
                continue
            new = reseal(box, tenant_id, column, bytes(row[column]))
            if new is None:
                current += 1
            else:
                resealed[column] = new
        if resealed and not dry_run:
            assignments = sql.SQL(", ").join(
                sql.SQL("{} = %s").format(sql.Identifier(c)) for c in resealed
            )
            conn.execute(
                sql.SQL("UPDATE tenant_configs SET {}").format(assignments),
                list(resealed.values()),
            )
    entry = tenant_directory.sealed_secrets(client, prefix, tenant_id)
    stale = entry is None or not box.is_current(entry)
    if stale and not dry_run:
        config = get_tenant(db, box, tenant_id)
        if config is not None:
            publish_tenant(client, prefix, box, config)
    return TenantRotation(tenant_id, len(resealed), current, stale)


@dataclass
class KeyUsage:
    """How many secrets each master key (by id) seals, in the database and in Redis."""

    current_key_id: str
    older_key_ids: tuple[str, ...]
    tenants: int = 0
    database: Counter[str] = field(default_factory=Counter)
    directory: Counter[str] = field(default_factory=Counter)

    @property
    def key_ids(self) -> list[str]:
        """The current key, the older ones held, then any in use that are not held."""
        held = [self.current_key_id, *self.older_key_ids]
        in_use = sorted((self.database + self.directory).keys() - set(held))
        return held + in_use

    @property
    def not_current(self) -> int:
        everything = self.database + self.directory
        return sum(n for key_id, n in everything.items() if key_id != self.current_key_id)


def key_usage(db: Database, box: SecretBox, client: redis.Redis, prefix: str) -> KeyUsage:
    usage = KeyUsage(box.current_key_id, box.older_key_ids)
    for tenant_id in list_tenant_ids(db):
        with db.tenant(tenant_id) as conn:
            row = conn.execute(sql.SQL("SELECT {} FROM tenant_configs").format(_COLUMNS)).fetchone()
        if row is None:
            continue
        usage.tenants += 1
        for column in SEALED_COLUMNS:
            if row[column] is not None:
                usage.database[sealed_key_id(bytes(row[column]))] += 1
        entry = tenant_directory.sealed_secrets(client, prefix, tenant_id)
        if entry is not None:
            usage.directory[sealed_key_id(entry)] += 1
    return usage
