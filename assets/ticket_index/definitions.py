from dagster import Definitions

from assets.ticket_index.assets import ticket_history_index
from assets.ticket_index.sensors import ticket_index_freshness, ticket_index_job

defs = Definitions(
    assets=[ticket_history_index], jobs=[ticket_index_job], sensors=[ticket_index_freshness]
)
