from dagster import Definitions

from assets.backfills.jobs import reenhance

defs = Definitions(jobs=[reenhance])
