"""Yesterday's partitions for every tenant after midnight UTC; then the DuckDB catalogue
and the staleness checks, whose metadata lists the partitions to re-run."""

from datetime import timedelta

from dagster import (
    AssetSelection,
    DefaultScheduleStatus,
    RunRequest,
    ScheduleEvaluationContext,
    define_asset_job,
    schedule,
)

from assets.analytics.assets import (
    analytics_duckdb,
    daily_rollups,
    enhancement_history_parquet,
    ticket_history_parquet,
)
from assets.analytics.checks import enhancement_history_is_current, ticket_history_is_current
from assets.partitions import daily

warehouse_daily = define_asset_job(
    "warehouse_daily",
    selection=AssetSelection.assets(
        enhancement_history_parquet,
        ticket_history_parquet,
        daily_rollups,
    ),
    partitions_def=daily,
    description="Export and roll up the chosen days for every tenant, in one run.",
)

warehouse_catalog = define_asset_job(
    "warehouse_catalog",
    selection=AssetSelection.assets(analytics_duckdb)
    | AssetSelection.checks(enhancement_history_is_current, ticket_history_is_current),
    description="Rebuild analytics.duckdb and look for stale or missing partitions.",
)


@schedule(
    job=warehouse_daily,
    # An hour after midnight: the day's last tickets have finished by then.
    cron_schedule="0 1 * * *",
    execution_timezone="UTC",
    default_status=DefaultScheduleStatus.RUNNING,
)
def warehouse_daily_schedule(context: ScheduleEvaluationContext) -> RunRequest:
    """One run for yesterday across all tenants: its time grows with rows, not tenants."""
    yesterday = (context.scheduled_execution_time.date() - timedelta(days=1)).isoformat()
    return RunRequest(run_key=yesterday, partition_key=yesterday)


@schedule(
    job=warehouse_catalog,
    cron_schedule="0 2 * * *",
    execution_timezone="UTC",
    default_status=DefaultScheduleStatus.RUNNING,
)
def warehouse_catalog_schedule() -> RunRequest:
    return RunRequest()
