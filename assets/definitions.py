"""The one Dagster Definitions: each domain's definitions plus the shared resources."""

from dagster import Definitions

from assets.analytics.definitions import defs as analytics
from assets.backfills.definitions import defs as backfills
from assets.resources import deployed_resources
from assets.retention.definitions import defs as retention
from assets.tenants.definitions import defs as tenants
from assets.ticket_index.definitions import defs as ticket_index

defs = Definitions.merge(
    tenants,
    analytics,
    ticket_index,
    retention,
    backfills,
    Definitions(resources=deployed_resources()),
)
