from dagster import DefaultScheduleStatus, ScheduleDefinition

from assets.retention.jobs import retention

retention_schedule = ScheduleDefinition(
    job=retention,
    cron_schedule="30 3 * * *",
    execution_timezone="UTC",
    default_status=DefaultScheduleStatus.RUNNING,
)
