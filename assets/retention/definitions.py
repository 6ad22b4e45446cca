from dagster import Definitions

from assets.retention.jobs import retention
from assets.retention.schedules import retention_schedule

defs = Definitions(jobs=[retention], schedules=[retention_schedule])
