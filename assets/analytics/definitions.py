from dagster import Definitions

from assets.analytics.assets import (
    analytics_duckdb,
    daily_rollups,
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
        daily_rollups,
        analytics_duckdb,
    ],
    asset_checks=[enhancement_history_is_current, ticket_history_is_current],
    jobs=[warehouse_daily, warehouse_catalog],
    schedules=[warehouse_daily_schedule, warehouse_catalog_schedule],
)
