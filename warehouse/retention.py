"""Retention in PostgreSQL: per-tenant policy, and deletes in short batches.

Each batch is its own transaction that deletes at most `batch_size` rows and skips rows
another transaction holds (the flow working on an event), so no lock is held for long
and nothing waits on the purge. Cut-offs fall on UTC midnight: whole days go, matching
the daily Parquet partitions that are dropped alongside.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

from warehouse.analytics import export, rollups
from warehouse.analytics.export import TICKET_DAY
from warehouse.analytics.layout import ROLLUP_TABLES, partition_days
from warehouse.db import Database, TenantConnection

DEFAULT_ENHANCEMENT_DAYS = 90
SANDBOX_RUNS = "sandbox_runs"
SANDBOX_JOBS = "sandbox_jobs"
NOTE_FEEDBACK = "note_feedback"

_EXPIRES_BY = {
    "enhancement_history": "created_at",
    "llm_spend": "spent_at",  # kept as long as the enhancements it paid for
    "ticket_history": TICKET_DAY,
    # Sandbox, test-case and shadow runs, and notes' ratings, are kept as long as the
    # enhancement history.
    SANDBOX_RUNS: "created_at",
    SANDBOX_JOBS: "created_at",  # the requests that made those runs
    NOTE_FEEDBACK: "created_at",
}
# The column that names one row, where it is not `id`.
_ROW_KEY = {SANDBOX_RUNS: "run_id", SANDBOX_JOBS: "job_id"}


@dataclass(frozen=True)
class Policy:
    """Days to keep; None keeps everything."""

    enhancement_days: int | None
    ticket_days: int | None


def get_policy(conn: TenantConnection) -> Policy:
    """The tenant's own settings (None where it follows the platform default)."""
    row = conn.execute(
        "SELECT enhancement_retention_days, ticket_retention_days FROM tenant_configs"
    ).fetchone()
    if row is None:
        return Policy(None, None)
    return Policy(row["enhancement_retention_days"], row["ticket_retention_days"])


def set_policy(conn: TenantConnection, policy: Policy) -> bool:
    """False if the connection's tenant does not exist."""
    updated = conn.execute(
        "UPDATE tenant_configs SET enhancement_retention_days = %s, ticket_retention_days = %s,"
        " updated_at = now()",
        (policy.enhancement_days, policy.ticket_days),
    )
    return updated.rowcount == 1


def effective_policies(db: Database, default_enhancement_days: int) -> dict[str, Policy]:
    """Every tenant's policy with the platform default filled in for enhancements."""
    with db.platform() as conn:
        tenants = [r["tenant_id"] for r in conn.execute("SELECT tenant_id FROM tenants")]
    policies = {}
    for tenant_id in sorted(tenants):
        with db.tenant(tenant_id) as conn:
            own = get_policy(conn)
        policies[tenant_id] = Policy(
            own.enhancement_days or default_enhancement_days, own.ticket_days
        )
    return policies


def cutoff_day(today: date, keep_days: int) -> date:
    """The oldest day kept."""
    return today - timedelta(days=keep_days)


def _midnight(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=UTC)


def purge(
    db: Database,
    tenant_id: str,
    table: str,
    before: date,
    *,
    batch_size: int,
    dry_run: bool,
) -> int:
    """Deletes (or, dry, counts) the tenant's rows of `table` from days before `before`."""
    expr = _EXPIRES_BY[table]
    key = _ROW_KEY.get(table, "id")
    limit = _midnight(before)
    if dry_run:
        with db.tenant(tenant_id) as conn:
            row = conn.execute(
                f"SELECT count(*) AS n FROM {table} WHERE {expr} < %s", (limit,)
            ).fetchone()
        assert row is not None
        return int(row["n"])
    removed = 0
    while True:
        with db.tenant(tenant_id) as conn:
            deleted = conn.execute(
                f"""
                WITH doomed AS (
                    SELECT {key} FROM {table} WHERE {expr} < %s
                    ORDER BY {expr} LIMIT %s FOR UPDATE SKIP LOCKED)
                DELETE FROM {table} AS t USING doomed WHERE t.{key} = doomed.{key}
                """,
                (limit, batch_size),
            ).rowcount
        removed += deleted
        if deleted < batch_size:
            return removed


def drop_partitions(
    root: Path, tenant_id: str, table: str, before: date, *, dry_run: bool
) -> list[date]:
    """Removes (or, dry, lists) the tenant's Parquet partitions of `table` before `before`."""
    expired = [day for day in partition_days(root, table, tenant_id) if day < before]
    if dry_run or not expired:
        return expired
    if table in ROLLUP_TABLES:
        # A tenant's rollup is one file of all its days: the expired rows go from it.
        rollups.drop_days(root, table, tenant_id, expired)
    else:
        export.drop_days(root, table, tenant_id, expired)
    return expired
