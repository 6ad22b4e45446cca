"""Refreshes a tenant's index soon after its ticket history changes."""

from dagster import (
    DefaultSensorStatus,
    RunRequest,
    SensorEvaluationContext,
    SkipReason,
    define_asset_job,
    sensor,
)

from assets.partitions import TENANTS
from assets.resources import PostgresResource, WarehouseResource
from assets.ticket_index.assets import ticket_history_index
from warehouse.analytics.ticket_index import current_manifest
from warehouse.tickets import index_version

ticket_index_job = define_asset_job("ticket_index", selection=[ticket_history_index])


@sensor(
    job=ticket_index_job,
    minimum_interval_seconds=60,
    default_status=DefaultSensorStatus.RUNNING,
    description="Requests an index refresh for each tenant whose ticket_history changed.",
)
def ticket_index_freshness(
    context: SensorEvaluationContext, postgres: PostgresResource, warehouse: WarehouseResource
) -> list[RunRequest] | SkipReason:
    requests = []
    with postgres.open() as db:
        for tenant_id in sorted(context.instance.get_dynamic_partitions(TENANTS)):
            with db.tenant(tenant_id) as conn:
                rows, last = index_version(conn)
            manifest = current_manifest(warehouse.root, tenant_id)
            if manifest and (manifest.rows, manifest.watermark) == (rows, last):
                continue
            # One run per state of the table: a queued run is not requested again.
            requests.append(
                RunRequest(partition_key=tenant_id, run_key=f"{tenant_id}:{rows}:{last}")
            )
    return requests or SkipReason("every tenant's index is current")
