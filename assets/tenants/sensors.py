"""Keeps the dynamic `tenants` partitions equal to the tenants table."""

from dagster import DefaultSensorStatus, SensorEvaluationContext, SensorResult, SkipReason, sensor

from assets.partitions import TENANTS, tenants
from assets.resources import PostgresResource
from warehouse.tenants import list_tenant_ids


@sensor(
    name="tenant_partitions",
    minimum_interval_seconds=30,
    default_status=DefaultSensorStatus.RUNNING,
    description="Adds a partition for each new tenant and removes those of deleted tenants.",
)
def tenant_partitions(
    context: SensorEvaluationContext, postgres: PostgresResource
) -> SensorResult | SkipReason:
    with postgres.open() as db:
        wanted = set(list_tenant_ids(db))
    known = set(context.instance.get_dynamic_partitions(TENANTS))
    added, removed = sorted(wanted - known), sorted(known - wanted)
    if not added and not removed:
        return SkipReason(f"{len(known)} tenants, unchanged")
    context.log.info("tenant partitions: +%d -%d", len(added), len(removed))
    return SensorResult(
        dynamic_partitions_requests=[
            tenants.build_add_request(added),
            tenants.build_delete_request(removed),
        ]
    )
