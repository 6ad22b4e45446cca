"""Partitions shared by the domains: tenants (kept in step with the tenants table by
assets.tenants.sensors), UTC days, and their product.

The analytics warehouse is partitioned by day only: one day partition holds every tenant,
so the daily schedule is one run and a backfill of 100 days x 100 tenants is one run
(BackfillPolicy.single_run), not 10,000."""

from __future__ import annotations

from datetime import date

from dagster import (
    DailyPartitionsDefinition,
    DynamicPartitionsDefinition,
    MultiPartitionKey,
    MultiPartitionsDefinition,
)

FIRST_DAY = date(2025, 1, 1)

TENANTS = "tenants"
tenants = DynamicPartitionsDefinition(name=TENANTS)
# end_offset=1: today is a partition too, so an operator can export the day so far.
daily = DailyPartitionsDefinition(start_date=FIRST_DAY.isoformat(), end_offset=1)
tenant_day = MultiPartitionsDefinition({"tenant": tenants, "day": daily})


def tenant_day_key(tenant_id: str, day: date) -> MultiPartitionKey:
    return MultiPartitionKey({"tenant": tenant_id, "day": day.isoformat()})


def days_of(keys: list[str]) -> list[date]:
    """The days of daily partition keys, oldest first."""
    return sorted(date.fromisoformat(key) for key in keys)


def split_tenant_day(key: str) -> tuple[str, date]:
    dims = tenant_day.get_partition_key_from_str(key).keys_by_dimension
    return dims["tenant"], date.fromisoformat(dims["day"])
