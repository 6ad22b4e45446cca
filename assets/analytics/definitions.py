from dagster import Definitions

from assets.analytics.assets import (
    agent_version_daily_rollup,
    analytics_duckdb,
    context_source_daily_rollup,
    enhancement_daily_rollup,
    enhancement_history_parquet,
    ticket_history_parquet,
)
from assets.analytics.checks import enhancement_history_is_current, ticket_history_is_current
from assets.analytics.schedules import (
    warehouse_catalog,
    warehouse_catalog_schedule,
    warehouse_daily,
    warehouse_daily_schedule,
)

defs = Definitions(
    assets=[
        enhancement_history_parquet,
        ticket_history_parquet,
        enhancement_daily_rollup,
        agent_version_daily_rollup,
        context_source_daily_rollup,
        analytics_duckdb,
    ],
    asset_checks=[enhancement_history_is_current, ticket_history_is_current],
    jobs=[warehouse_daily, warehouse_catalog],
    schedules=[warehouse_daily_schedule, warehouse_catalog_schedule],
)
