"""The retention job. Run config `ops.retention_plan.config.dry_run: true` reports what
would go and removes nothing; every op records its counts as output metadata."""

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from dagster import (
    Config,
    DagsterRunStatus,
    MetadataValue,
    OpExecutionContext,
    Output,
    RunsFilter,
    job,
    op,
)
from pydantic import Field

from assets.resources import PostgresResource, RedisResource, WarehouseResource
from assets.retention import streams
from warehouse.analytics.export import ENHANCEMENTS, TICKETS
from warehouse.analytics.rollups import DAILY, SOURCES
from warehouse.budgets import SPEND_TABLE
from warehouse.retention import (
    DEFAULT_ENHANCEMENT_DAYS,
    NOTE_FEEDBACK,
    SANDBOX_JOBS,
    SANDBOX_RUNS,
    Policy,
    cutoff_day,
    drop_partitions,
    effective_policies,
    purge,
)

_FINISHED = [DagsterRunStatus.SUCCESS, DagsterRunStatus.FAILURE, DagsterRunStatus.CANCELED]
_RUN_PAGE = 100
# Partitions derived from enhancement_history expire with it.
_ENHANCEMENT_TABLES = (ENHANCEMENTS, DAILY, SOURCES)


class RetentionConfig(Config):
    dry_run: bool = Field(default=False, description="Count what would be removed; remove nothing.")
    enhancement_days: int = Field(
        default=DEFAULT_ENHANCEMENT_DAYS,
        gt=0,
        description="Days of enhancement history kept for tenants without a policy of their own.",
    )
    stream_days: int = Field(default=7, gt=0, description="Days of stream entries kept.")
    dagster_run_days: int = Field(
        default=DEFAULT_ENHANCEMENT_DAYS,
        gt=0,
        description="Days of Dagster runs (and their event logs) kept; as long as the data, so "
        "the UI still shows which partitions of it were materialized.",
    )
    batch_size: int = Field(default=1000, gt=0, description="Rows per delete transaction.")


@dataclass(frozen=True)
class Plan:
    today: date
    dry_run: bool
    batch_size: int
    policies: dict[str, Policy]
    stream_days: int
    dagster_run_days: int

    def keep_from(self, days: int) -> date:
        return cutoff_day(self.today, days)


def _verb(plan: Plan) -> str:
    return "would remove" if plan.dry_run else "removed"


@op
def retention_plan(
    context: OpExecutionContext, config: RetentionConfig, postgres: PostgresResource
) -> Output[Plan]:
    with postgres.open() as db:
        policies = effective_policies(db, config.enhancement_days)
    plan = Plan(
        today=datetime.now(UTC).date(),
        dry_run=config.dry_run,
        batch_size=config.batch_size,
        policies=policies,
        stream_days=config.stream_days,
        dagster_run_days=config.dagster_run_days,
    )
    context.log.info("retention for %d tenants, dry_run=%s", len(policies), plan.dry_run)
    return Output(
        plan,
        metadata={
            "dry_run": MetadataValue.bool(plan.dry_run),
            "policies": MetadataValue.json(
                {
                    t: {"enhancement_days": p.enhancement_days, "ticket_days": p.ticket_days}
                    for t, p in policies.items()
                }
            ),
        },
    )


@op
def purge_postgres(
    context: OpExecutionContext, plan: Plan, postgres: PostgresResource
) -> Output[dict[str, dict[str, int]]]:
    removed: dict[str, dict[str, int]] = {}
    with postgres.open() as db:
        for tenant_id, policy in plan.policies.items():
            counts = {}
            for table, days in (
                (ENHANCEMENTS, policy.enhancement_days),
                (SPEND_TABLE, policy.enhancement_days),
                (SANDBOX_RUNS, policy.enhancement_days),
                (SANDBOX_JOBS, policy.enhancement_days),
                (NOTE_FEEDBACK, policy.enhancement_days),
                (TICKETS, policy.ticket_days),
            ):
                if days is None:
                    continue
                counts[table] = purge(
                    db,
                    tenant_id,
                    table,
                    plan.keep_from(days),
                    batch_size=plan.batch_size,
                    dry_run=plan.dry_run,
                )
                if counts[table]:
                    context.log.info(
                        "%s %s: %s %d rows", tenant_id, table, _verb(plan), counts[table]
                    )
            removed[tenant_id] = counts
    return Output(
        removed,
        metadata={
            "dry_run": MetadataValue.bool(plan.dry_run),
            f"{ENHANCEMENTS}_rows": MetadataValue.int(
                sum(c.get(ENHANCEMENTS, 0) for c in removed.values())
            ),
            f"{TICKETS}_rows": MetadataValue.int(sum(c.get(TICKETS, 0) for c in removed.values())),
            "by_tenant": MetadataValue.json(removed),
        },
    )


@op
def drop_parquet(
    context: OpExecutionContext, plan: Plan, warehouse: WarehouseResource
) -> Output[dict[str, list[str]]]:
    dropped: dict[str, list[str]] = {}
    for tenant_id, policy in plan.policies.items():
        for tables, days in (
            (_ENHANCEMENT_TABLES, policy.enhancement_days),
            ((TICKETS,), policy.ticket_days),
        ):
            if days is None:
                continue
            for table in tables:
                gone = drop_partitions(
                    warehouse.root, tenant_id, table, plan.keep_from(days), dry_run=plan.dry_run
                )
                if gone:
                    dropped[f"{tenant_id}/{table}"] = [d.isoformat() for d in gone]
    total = sum(len(days) for days in dropped.values())
    context.log.info("Parquet: %s %d partitions", _verb(plan), total)
    return Output(
        dropped,
        metadata={
            "dry_run": MetadataValue.bool(plan.dry_run),
            "partitions": MetadataValue.int(total),
            "by_table": MetadataValue.json(dropped),
        },
    )


@op
def trim_streams(
    context: OpExecutionContext, plan: Plan, redis: RedisResource
) -> Output[dict[str, int]]:
    cutoff = datetime.now(UTC) - timedelta(days=plan.stream_days)
    prefix = redis.stream_settings().stream_prefix
    with redis.client() as client:
        trimmed = {
            stream: streams.trim(client, stream, cutoff, dry_run=plan.dry_run)
            for stream in streams.stream_keys(client, prefix)
        }
    context.log.info("streams: %s %d entries", _verb(plan), sum(trimmed.values()))
    return Output(
        trimmed,
        metadata={
            "dry_run": MetadataValue.bool(plan.dry_run),
            "entries": MetadataValue.int(sum(trimmed.values())),
            "first_kept_id": MetadataValue.text(streams.min_id(cutoff)),
            "by_stream": MetadataValue.json(trimmed),
        },
    )


@op
def purge_dagster_runs(context: OpExecutionContext, plan: Plan) -> Output[int]:
    """Finished runs older than the window, with their event logs."""
    cutoff = datetime.now(UTC) - timedelta(days=plan.dagster_run_days)
    finished_before = RunsFilter(statuses=_FINISHED, created_before=cutoff)
    instance = context.instance
    if plan.dry_run:
        deleted = instance.get_runs_count(finished_before)
    else:
        deleted = 0
        while records := instance.get_run_records(finished_before, limit=_RUN_PAGE):
            for record in records:
                instance.delete_run(record.dagster_run.run_id)
            deleted += len(records)
    context.log.info("Dagster: %s %d runs", _verb(plan), deleted)
    return Output(
        deleted,
        metadata={"dry_run": MetadataValue.bool(plan.dry_run), "runs": MetadataValue.int(deleted)},
    )


@job(
    description="Deletes expired enhancement and ticket history (per-tenant policy), drops "
    "expired Parquet partitions, trims old stream entries, purges old Dagster runs."
)
def retention() -> None:
    plan = retention_plan()
    purge_postgres(plan)
    drop_parquet(plan)
    trim_streams(plan)
    purge_dagster_runs(plan)
