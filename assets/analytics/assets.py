"""Per UTC day, for every tenant: PostgreSQL rows to Parquet, then rollups; and the DuckDB
file. A run covers any number of days (a backfill is one run) and all tenants, or those
its `aiops/tenants` tag names (assets.analytics.scope)."""

from collections.abc import Iterator, Sequence
from datetime import date

from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetExecutionContext,
    AssetKey,
    AssetSpec,
    BackfillPolicy,
    MaterializeResult,
    MetadataValue,
    asset,
    multi_asset,
)

from assets.analytics.progress import ProgressPace
from assets.analytics.scope import TENANTS_TAG, chosen_tenants
from assets.partitions import daily, days_of
from assets.resources import PostgresResource, WarehouseResource
from warehouse.analytics import duck, rollups
from warehouse.analytics.export import ENHANCEMENTS, TICKETS, TenantExport, export_days
from warehouse.analytics.reconcile import Drift, compare_days
from warehouse.db import Database
from warehouse.tenants import list_tenant_ids

GROUP = "analytics"
MATCHES_POSTGRES = "matches_postgres"
_LISTED = 50


def _run_tenants(context: AssetExecutionContext, db: Database) -> list[str]:
    return chosen_tenants(list_tenant_ids(db), context.run.tags.get(TENANTS_TAG))


def _export(
    context: AssetExecutionContext,
    postgres: PostgresResource,
    warehouse: WarehouseResource,
    table: str,
) -> MaterializeResult:
    days = days_of(context.partition_keys)
    with postgres.open() as db:
        # The platform listing of tenant ids; each tenant's rows are then read in a
        # transaction scoped to it, so row-level security decides what lands in its files.
        tenant_ids = _run_tenants(context, db)
        pace = ProgressPace(len(tenant_ids))
        rows_so_far = 0

        def progress(done: int, exported: TenantExport) -> None:
            nonlocal rows_so_far
            rows_so_far += exported.rows
            if pace.due(done):
                context.log.info(
                    "%s: %d/%d tenants, %d rows so far (latest: %s, %d rows in %d days)",
                    table,
                    done,
                    len(tenant_ids),
                    rows_so_far,
                    exported.tenant_id,
                    exported.rows,
                    len(exported.partitions),
                )

        exports = export_days(db, warehouse.root, table, tenant_ids, days, on_tenant=progress)
        # Counted again after the writes, in new transactions: anything the flow changed
        # meanwhile shows up as a mismatch, i.e. the partition is already stale.
        found = compare_days(db, warehouse.root, table, tenant_ids, days)
    rows = sum(e.rows for e in exports)
    return MaterializeResult(
        metadata=_run_metadata(tenant_ids, days, rows),
        check_results=[_check_result(found)],
    )


def _run_metadata(tenant_ids: Sequence[str], days: Sequence[date], rows: int) -> dict:
    return {
        "rows": MetadataValue.int(rows),
        "tenants": MetadataValue.int(len(tenant_ids)),
        "days": MetadataValue.int(len(days)),
    }


def _check_result(found: list[Drift]) -> AssetCheckResult:
    return AssetCheckResult(
        check_name=MATCHES_POSTGRES,
        passed=not found,
        severity=AssetCheckSeverity.WARN,
        metadata={
            "mismatched_partitions": MetadataValue.int(len(found)),
            "first": MetadataValue.json(
                [
                    {
                        "tenant": d.tenant_id,
                        "day": d.day.isoformat(),
                        "postgres": d.postgres.rows,
                        "parquet": d.parquet.rows if d.parquet else None,
                    }
                    for d in found[:_LISTED]
                ]
            ),
        },
    )


def _matches_postgres(asset_name: str) -> AssetCheckSpec:
    return AssetCheckSpec(
        MATCHES_POSTGRES,
        asset=asset_name,
        description="Rows and latest updated_at of every tenant's file of the run's days "
        "equal PostgreSQL's.",
    )


@asset(
    partitions_def=daily,
    backfill_policy=BackfillPolicy.single_run(),
    group_name=GROUP,
    kinds={"parquet", "polars", "postgres"},
    check_specs=[_matches_postgres("enhancement_history_parquet")],
)
def enhancement_history_parquet(
    context: AssetExecutionContext, postgres: PostgresResource, warehouse: WarehouseResource
) -> MaterializeResult:
    """Each tenant's enhancement_history rows created on the day (UTC), in the tenant's
    Parquet files of the month."""
    return _export(context, postgres, warehouse, ENHANCEMENTS)


@asset(
    partitions_def=daily,
    backfill_policy=BackfillPolicy.single_run(),
    group_name=GROUP,
    kinds={"parquet", "polars", "postgres"},
    check_specs=[_matches_postgres("ticket_history_parquet")],
)
def ticket_history_parquet(
    context: AssetExecutionContext, postgres: PostgresResource, warehouse: WarehouseResource
) -> MaterializeResult:
    """Each tenant's ticket_history rows whose ticket was created on the day (UTC)."""
    return _export(context, postgres, warehouse, TICKETS)


def _exported_tenants(context: AssetExecutionContext, postgres: PostgresResource) -> list[str]:
    with postgres.open() as db:
        return _run_tenants(context, db)


# Each rollup asset and the table it writes.
ROLLUPS = {
    "enhancement_daily_rollup": rollups.DAILY,
    "context_source_daily_rollup": rollups.SOURCES,
    "agent_version_daily_rollup": rollups.AGENTS,
}
_ROLLUP_DESCRIPTIONS = {
    "enhancement_daily_rollup": "Volume, success rate, p50/p95 processing time, tokens and "
    "cost per tenant and day.",
    "context_source_daily_rollup": "Per context source (similar tickets, KB, inventory, "
    "monitoring): how often it contributed, came back empty, or failed, per tenant and day.",
    "agent_version_daily_rollup": "Per agent version, tenant and day: volume, success rate, "
    "p50/p95 of the flow's total time, tokens and cost.",
}


@multi_asset(
    specs=[
        AssetSpec(
            name,
            deps=[enhancement_history_parquet],
            description=_ROLLUP_DESCRIPTIONS[name],
            group_name=GROUP,
            kinds={"duckdb", "parquet"},
        )
        for name in ROLLUPS
    ],
    partitions_def=daily,
    backfill_policy=BackfillPolicy.single_run(),
    can_subset=True,
)
def daily_rollups(
    context: AssetExecutionContext, postgres: PostgresResource, warehouse: WarehouseResource
) -> Iterator[MaterializeResult]:
    """The chosen rollups of the run's days for every tenant, in one step: per rollup one
    DuckDB query over the exported parts of every tenant and day of the run."""
    days = days_of(context.partition_keys)
    tenant_ids = _exported_tenants(context, postgres)
    chosen = [name for name in ROLLUPS if AssetKey(name) in context.selected_asset_keys]
    written = rollups.write_all(warehouse.root, [ROLLUPS[n] for n in chosen], tenant_ids, days)
    for name in chosen:
        table = written[ROLLUPS[name]]
        context.log.info("%s: %d tenant/day rows", name, table.rows)
        metadata = _run_metadata(tenant_ids, days, table.rows)
        if table.enhancements is not None:
            metadata["enhancements"] = MetadataValue.int(table.enhancements)
        yield MaterializeResult(asset_key=name, metadata=metadata)


@asset(
    group_name=GROUP,
    kinds={"duckdb"},
    deps=[
        enhancement_history_parquet,
        ticket_history_parquet,
        daily_rollups,
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
