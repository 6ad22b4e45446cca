"""Per tenant and UTC day: PostgreSQL rows to Parquet, then rollups; and the DuckDB file."""

from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetExecutionContext,
    MaterializeResult,
    MetadataValue,
    asset,
)

from assets.partitions import split_tenant_day, tenant_day
from assets.resources import PostgresResource, WarehouseResource
from warehouse.analytics import duck, rollups
from warehouse.analytics.export import ENHANCEMENTS, TICKETS, Exported, export_partition
from warehouse.analytics.reconcile import PartitionStats, parquet_day, postgres_day

GROUP = "analytics"
MATCHES_POSTGRES = "matches_postgres"


def _stats(stats: PartitionStats | None) -> str:
    if stats is None:
        return "no file"
    last = stats.last_updated.isoformat() if stats.last_updated else "-"
    return f"{stats.rows} rows, last updated {last}"


def _export(
    context: AssetExecutionContext,
    postgres: PostgresResource,
    warehouse: WarehouseResource,
    table: str,
) -> MaterializeResult:
    tenant_id, day = split_tenant_day(context.partition_key)
    with postgres.open() as db:
        with db.tenant(tenant_id) as conn:
            exported = export_partition(conn, warehouse.root, table, tenant_id, day)
        # Counted again after the write, in a new transaction: anything the flow changed
        # meanwhile shows up as a mismatch, i.e. the partition is already stale.
        with db.tenant(tenant_id) as conn:
            in_postgres = postgres_day(conn, table, day)
    in_parquet = parquet_day(warehouse.root, table, tenant_id, day)
    context.log.info("%s %s %s: %d rows", table, tenant_id, day, exported.rows)
    return MaterializeResult(
        metadata=_file_metadata(exported),
        check_results=[
            AssetCheckResult(
                check_name=MATCHES_POSTGRES,
                passed=in_parquet == in_postgres,
                severity=AssetCheckSeverity.WARN,
                metadata={"postgres": _stats(in_postgres), "parquet": _stats(in_parquet)},
            )
        ],
    )


def _file_metadata(exported: Exported) -> dict[str, MetadataValue]:
    return {
        "rows": MetadataValue.int(exported.rows),
        "path": MetadataValue.path(str(exported.path)),
    }


def _matches_postgres(asset_name: str) -> AssetCheckSpec:
    return AssetCheckSpec(
        MATCHES_POSTGRES,
        asset=asset_name,
        description="Rows and latest updated_at of the partition file equal PostgreSQL's.",
    )


@asset(
    partitions_def=tenant_day,
    group_name=GROUP,
    kinds={"parquet", "polars", "postgres"},
    check_specs=[_matches_postgres("enhancement_history_parquet")],
)
def enhancement_history_parquet(
    context: AssetExecutionContext, postgres: PostgresResource, warehouse: WarehouseResource
) -> MaterializeResult:
    """A tenant's enhancement_history rows created on the day (UTC), as one Parquet file."""
    return _export(context, postgres, warehouse, ENHANCEMENTS)


@asset(
    partitions_def=tenant_day,
    group_name=GROUP,
    kinds={"parquet", "polars", "postgres"},
    check_specs=[_matches_postgres("ticket_history_parquet")],
)
def ticket_history_parquet(
    context: AssetExecutionContext, postgres: PostgresResource, warehouse: WarehouseResource
) -> MaterializeResult:
    """A tenant's ticket_history rows whose ticket was created on the day (UTC)."""
    return _export(context, postgres, warehouse, TICKETS)


@asset(
    partitions_def=tenant_day,
    group_name=GROUP,
    kinds={"duckdb", "parquet"},
    deps=[enhancement_history_parquet],
)
def enhancement_daily_rollup(
    context: AssetExecutionContext, warehouse: WarehouseResource
) -> MaterializeResult:
    """Volume, success rate, p50/p95 processing time, tokens and cost for the tenant's day."""
    tenant_id, day = split_tenant_day(context.partition_key)
    exported, row = rollups.write_daily(warehouse.root, tenant_id, day)
    return MaterializeResult(
        metadata={
            **_file_metadata(exported),
            "enhancements": MetadataValue.int(row["enhancements"]),
            "success_rate": MetadataValue.float(row["success_rate"] or 0.0),
            "p95_seconds": MetadataValue.float(row["p95_seconds"] or 0.0),
            "cost_usd": MetadataValue.float(float(row["cost_usd"])),
        }
    )


@asset(
    partitions_def=tenant_day,
    group_name=GROUP,
    kinds={"duckdb", "parquet"},
    deps=[enhancement_history_parquet],
)
def context_source_daily_rollup(
    context: AssetExecutionContext, warehouse: WarehouseResource
) -> MaterializeResult:
    """Per context source (similar tickets, KB, inventory, monitoring): how often it
    contributed, came back empty, or failed on the tenant's day."""
    tenant_id, day = split_tenant_day(context.partition_key)
    exported = rollups.write_sources(warehouse.root, tenant_id, day)
    return MaterializeResult(metadata=_file_metadata(exported))


@asset(
    group_name=GROUP,
    kinds={"duckdb"},
    deps=[
        enhancement_history_parquet,
        ticket_history_parquet,
        enhancement_daily_rollup,
        context_source_daily_rollup,
    ],
)
def analytics_duckdb(warehouse: WarehouseResource) -> MaterializeResult:
    """analytics.duckdb: a view per table over every tenant's Parquet partitions."""
    path = duck.build_database(warehouse.root)
    counts = {
        table: duck.run_query(warehouse.root, f"SELECT count(*) FROM {table}").rows[0][0]
        for table in duck.TABLES
    }
    return MaterializeResult(
        metadata={
            "path": MetadataValue.path(str(path)),
            **{f"{table}_rows": MetadataValue.int(n) for table, n in counts.items()},
        }
    )
