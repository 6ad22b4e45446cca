from dagster import Definitions

from assets.tenants.sensors import tenant_partitions

defs = Definitions(sensors=[tenant_partitions])
