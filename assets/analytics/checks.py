"""Whole-warehouse reconciliation: which exported partitions no longer match PostgreSQL,
and which past days have rows that were never exported."""

from datetime import UTC, datetime

from dagster import (
    AssetCheckExecutionContext,
    AssetCheckResult,
    AssetCheckSeverity,
    MetadataValue,
    asset_check,
)

from assets.analytics.assets import enhancement_history_parquet, ticket_history_parquet
from assets.partitions import FIRST_DAY
from assets.resources import PostgresResource, WarehouseResource
from warehouse.analytics.export import ENHANCEMENTS, TICKETS
from warehouse.analytics.layout import exported_tenants
from warehouse.analytics.reconcile import Drift, drift, parquet_days, postgres_days
from warehouse.tenants import list_tenant_ids

_LISTED = 50


def _drift(postgres: PostgresResource, warehouse: WarehouseResource, table: str) -> list[Drift]:
    today = datetime.now(UTC).date()
    found: list[Drift] = []
    with postgres.open() as db:
        tenants = sorted(set(list_tenant_ids(db)) | set(exported_tenants(warehouse.root)))
        for tenant_id in tenants:
            with db.tenant(tenant_id) as conn:
                in_postgres = postgres_days(conn, table, FIRST_DAY)
            in_parquet = parquet_days(warehouse.root, table, tenant_id)
            found.extend(drift(tenant_id, in_postgres, in_parquet, due_before=today))
    return found


def _result(found: list[Drift]) -> AssetCheckResult:
    stale = [d for d in found if d.parquet is not None]
    missing = [d for d in found if d.parquet is None]
    return AssetCheckResult(
        passed=not found,
        severity=AssetCheckSeverity.WARN,
        metadata={
            "stale_partitions": MetadataValue.int(len(stale)),
            "missing_partitions": MetadataValue.int(len(missing)),
            # Day partitions to re-run (each covers every tenant), then who drifted.
            "rerun_days": MetadataValue.json(sorted({d.day.isoformat() for d in found})[:_LISTED]),
            "drifted": MetadataValue.json(
                [f"{d.tenant_id} {d.day.isoformat()}" for d in found[:_LISTED]]
            ),
        },
    )


@asset_check(
    asset=enhancement_history_parquet,
    name="no_stale_partitions",
    description="Every exported day still matches PostgreSQL; no past day is left unexported.",
)
def enhancement_history_is_current(
    context: AssetCheckExecutionContext, postgres: PostgresResource, warehouse: WarehouseResource
) -> AssetCheckResult:
    return _result(_drift(postgres, warehouse, ENHANCEMENTS))


@asset_check(
    asset=ticket_history_parquet,
    name="no_stale_partitions",
    description="Every exported day still matches PostgreSQL; no past day is left unexported.",
)
def ticket_history_is_current(
    context: AssetCheckExecutionContext, postgres: PostgresResource, warehouse: WarehouseResource
) -> AssetCheckResult:
    return _result(_drift(postgres, warehouse, TICKETS))
