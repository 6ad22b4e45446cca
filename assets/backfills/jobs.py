"""The re-enhance job: pick a tenant and days in the launchpad or the backfill dialog."""

from dataclasses import asdict

from dagster import Config, MetadataValue, OpExecutionContext, Output, job, op
from pydantic import Field

from assets.backfills import requeue
from assets.partitions import split_tenant_day, tenant_day
from assets.resources import PostgresResource, RedisResource

# dagster.yaml limits concurrent runs with this tag: they put LLM calls in motion.
LLM_TAG = "aiops/llm"
_BACKFILL_ID_TAG = "dagster/backfill"


class ReenhanceConfig(Config):
    repost: bool = Field(
        default=False,
        description="Post a fresh note on each ticket; otherwise only its history row changes.",
    )


@op
def reenhance_day(
    context: OpExecutionContext,
    config: ReenhanceConfig,
    postgres: PostgresResource,
    redis: RedisResource,
) -> Output[dict[str, int]]:
    """Re-enqueues the tenant's tickets of the day into the backfill stream."""
    tenant_id, day = split_tenant_day(context.partition_key)
    run = context.run
    # Every run of one Dagster backfill, and every re-execution of a run, shares this key.
    backfill_key = run.tags.get(_BACKFILL_ID_TAG) or run.root_run_id or run.run_id
    with postgres.open() as db, db.tenant(tenant_id) as conn:
        recorded = requeue.recorded_events(conn, day)
    context.log.info("%s %s: %d tickets to re-enhance", tenant_id, day, len(recorded))

    def report(progress: requeue.Progress) -> None:
        context.log.info(
            "%d/%d: %d enqueued, %d already enqueued by this backfill, %d without a stored ticket",
            progress.enqueued + progress.already_enqueued + progress.without_ticket,
            progress.selected,
            progress.enqueued,
            progress.already_enqueued,
            progress.without_ticket,
        )

    with redis.client() as client:
        progress = requeue.enqueue(
            client,
            redis.stream_settings(),
            tenant_id,
            recorded,
            backfill_key=backfill_key,
            repost=config.repost,
            on_progress=report,
        )
    counts = asdict(progress)
    return Output(
        counts,
        metadata={
            **{name: MetadataValue.int(n) for name, n in counts.items()},
            "repost": MetadataValue.bool(config.repost),
            "backfill_key": MetadataValue.text(backfill_key),
        },
    )


@job(
    partitions_def=tenant_day,
    tags={LLM_TAG: "true"},
    description="Re-enhance a tenant's tickets of the chosen days: their events go back into "
    "the backfill stream (after live traffic); `repost` decides whether notes are posted again.",
)
def reenhance() -> None:
    reenhance_day()
