"""Removing a tenant: an operator action, in batches, recorded in tenancy.tenant_audit.

The application role can neither delete from `tenants` nor call these functions; the
database does the work in SECURITY DEFINER functions that only `aiops_operator` may call
(migration 0005_security2), each batch in a transaction of its own so that no lock is held
for long on a big tenant.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import redis

from aiops import tenant_directory
from warehouse.db import Database

DEFAULT_BATCH = 5_000


class UnknownTenantError(LookupError):
    pass


@dataclass(frozen=True)
class Removal:
    tenant_id: str
    audit_id: int
    removed: dict[str, int]

    @property
    def total(self) -> int:
        return sum(self.removed.values())


def remove_tenant(
    db: Database,
    client: redis.Redis,
    prefix: str,
    tenant_id: str,
    *,
    actor: str,
    batch_size: int = DEFAULT_BATCH,
    progress: Callable[[int], None] = lambda deleted: None,
) -> Removal:
    """Deletes every row of the tenant, then the tenant; `progress` gets each batch's count.

    Ingest stops accepting the tenant's webhooks first (its directory entry in Redis goes).
    An interrupted removal leaves its audit row unfinished; running it again finishes it.
    """
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    with db.operator() as conn:
        row = conn.execute(
            "SELECT id FROM tenancy.tenant_audit WHERE action = 'delete' AND tenant_id = %s "
            "AND finished_at IS NULL ORDER BY id LIMIT 1",
            (tenant_id,),
        ).fetchone()
        if row is None:
            row = conn.execute(
                "SELECT tenancy.begin_tenant_deletion(%s, %s) AS id", (tenant_id, actor)
            ).fetchone()
    if row is None or row["id"] is None:
        raise UnknownTenantError(f"there is no tenant {tenant_id!r}")
    audit_id = int(row["id"])
    tenant_directory.remove(client, prefix, tenant_id)
    while True:
        with db.operator() as conn:
            batch = conn.execute(
                "SELECT sum(deleted) AS n FROM tenancy.delete_tenant_batch(%s, %s)",
                (audit_id, batch_size),
            ).fetchone()
        deleted = int(batch["n"] or 0) if batch is not None else 0
        progress(deleted)
        if deleted == 0:
            break
    with db.operator() as conn:
        done = conn.execute(
            "SELECT tenancy.finish_tenant_deletion(%s) AS removed", (audit_id,)
        ).fetchone()
    assert done is not None
    removed = {table: int(n) for table, n in done["removed"].items() if int(n)}
    return Removal(tenant_id=tenant_id, audit_id=audit_id, removed=removed)
