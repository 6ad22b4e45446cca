"""Daily per-tenant rollups of enhancement_history, computed by DuckDB from the tenants'
month files: one query for every tenant and day of a run, not one per partition. Each
tenant's result is merged into that tenant's rollup file (see layout)."""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import date
from pathlib import Path
from typing import Any

import duckdb
import polars as pl

from warehouse.analytics.export import ENHANCEMENTS, Exported, write_partition
from warehouse.analytics.layout import (
    AGENT_ROLLUP,
    DAILY_ROLLUP,
    SOURCE_ROLLUP,
    covered_days,
    locked,
    month_of,
    partition_file,
    rollup_file,
)

DAILY = DAILY_ROLLUP
SOURCES = SOURCE_ROLLUP
AGENTS = AGENT_ROLLUP

DAILY_SCHEMA: dict[str, Any] = {
    "tenant_id": pl.String,
    "day": pl.Date,
    "enhancements": pl.Int64,
    "succeeded": pl.Int64,
    "stored": pl.Int64,
    "failed": pl.Int64,
    "skipped": pl.Int64,
    "processing": pl.Int64,
    "backfills": pl.Int64,
    "success_rate": pl.Float64,
    "p50_seconds": pl.Float64,
    "p95_seconds": pl.Float64,
    "prompt_tokens": pl.Int64,
    "completion_tokens": pl.Int64,
    "cost_usd": pl.Decimal(18, 6),
}

SOURCES_SCHEMA: dict[str, Any] = {
    "tenant_id": pl.String,
    "day": pl.Date,
    "source": pl.String,
    "ok": pl.Int64,
    "empty": pl.Int64,
    "failed": pl.Int64,
    "skipped": pl.Int64,
}

AGENTS_SCHEMA: dict[str, Any] = {
    "tenant_id": pl.String,
    "day": pl.Date,
    "agent_id": pl.String,
    "agent_version": pl.Int32,
    "enhancements": pl.Int64,
    "succeeded": pl.Int64,
    "failed": pl.Int64,
    "skipped": pl.Int64,
    "success_rate": pl.Float64,
    "p50_ms": pl.Float64,
    "p95_ms": pl.Float64,
    "prompt_tokens": pl.Int64,
    "completion_tokens": pl.Int64,
    "cost_usd": pl.Decimal(18, 6),
}

# Rollup files written at once.
WRITERS = 2

_KEYS = {DAILY: ["day"], SOURCES: ["day", "source"], AGENTS: ["day", "agent_id", "agent_version"]}
_SCHEMAS = {DAILY: DAILY_SCHEMA, SOURCES: SOURCES_SCHEMA, AGENTS: AGENTS_SCHEMA}

# Success rate counts finished enhancements only; "stored" means the note was produced and
# kept (no write-back configured); "skipped" is noise that got no note on purpose (neither
# success nor failure). Processing time is finish minus start of the last attempt, so rows
# still in progress, and skipped noise, are left out of the percentiles.
_DAILY_SQL = """
SELECT tenant_id, day, enhancements, succeeded, stored, failed, skipped, processing, backfills,
       success_rate, seconds[1] AS p50_seconds, seconds[2] AS p95_seconds, prompt_tokens,
       completion_tokens, cost_usd
FROM (
    SELECT
        tenant_id,
        day,
        count(*) AS enhancements,
        count(*) FILTER (WHERE status = 'succeeded') AS succeeded,
        count(*) FILTER (WHERE status = 'stored') AS stored,
        count(*) FILTER (WHERE status = 'failed') AS failed,
        count(*) FILTER (WHERE status = 'skipped') AS skipped,
        count(*) FILTER (WHERE status = 'processing') AS processing,
        count(*) FILTER (WHERE backfill) AS backfills,
        count(*) FILTER (WHERE status IN ('succeeded', 'stored'))::DOUBLE
            / nullif(count(*) FILTER (WHERE status IN ('succeeded', 'stored', 'failed')), 0)
            AS success_rate,
        -- Both percentiles from one sort of the day's values (nulls are left out).
        quantile_cont(
            CASE WHEN status NOT IN ('processing', 'skipped') THEN processing_seconds END,
            [0.5, 0.95]
        ) AS seconds,
        coalesce(sum(prompt_tokens), 0) AS prompt_tokens,
        coalesce(sum(completion_tokens), 0) AS completion_tokens,
        coalesce(sum(cost_usd), 0) AS cost_usd
    FROM read_parquet(?, hive_partitioning = false)
    WHERE day IN (SELECT unnest(?::DATE[]))
    GROUP BY tenant_id, day
)
"""

_SOURCES_SQL = """
SELECT
    tenant_id,
    day,
    s.source,
    count(*) FILTER (WHERE s.outcome = 'ok') AS ok,
    count(*) FILTER (WHERE s.outcome = 'empty') AS empty,
    count(*) FILTER (WHERE s.outcome = 'failed') AS failed,
    count(*) FILTER (WHERE s.outcome = 'skipped') AS skipped
FROM (
    SELECT tenant_id, day, unnest(context_sources) AS s
    FROM read_parquet(?, hive_partitioning = false)
    WHERE day IN (SELECT unnest(?::DATE[]))
)
GROUP BY tenant_id, day, s.source
"""


# Per agent version and day, for charts over many days; p50/p95 are of the flow's own
# total time (total_ms). Rows made before agents existed have no agent and are left out.
_AGENTS_SQL = """
SELECT tenant_id, day, agent_id, agent_version, enhancements, succeeded, failed, skipped,
       success_rate, ms[1] AS p50_ms, ms[2] AS p95_ms, prompt_tokens, completion_tokens,
       cost_usd
FROM (
    SELECT
        tenant_id,
        day,
        agent_id,
        agent_version,
        count(*) AS enhancements,
        count(*) FILTER (WHERE status IN ('succeeded', 'stored')) AS succeeded,
        count(*) FILTER (WHERE status = 'failed') AS failed,
        count(*) FILTER (WHERE status = 'skipped') AS skipped,
        count(*) FILTER (WHERE status IN ('succeeded', 'stored'))::DOUBLE
            / nullif(count(*) FILTER (WHERE status IN ('succeeded', 'stored', 'failed')), 0)
            AS success_rate,
        quantile_cont(CASE WHEN status <> 'processing' THEN total_ms END, [0.5, 0.95]) AS ms,
        coalesce(sum(prompt_tokens), 0) AS prompt_tokens,
        coalesce(sum(completion_tokens), 0) AS completion_tokens,
        coalesce(sum(cost_usd), 0) AS cost_usd
    FROM read_parquet(?, hive_partitioning = false)
    WHERE day IN (SELECT unnest(?::DATE[]))
      AND agent_id IS NOT NULL AND agent_version IS NOT NULL
    GROUP BY tenant_id, day, agent_id, agent_version
)
"""


class MissingPartitionError(FileNotFoundError):
    pass


def _source_files(root: Path, tenant_ids: Sequence[str], days: Sequence[date]) -> list[str]:
    """The month files holding the tenants' `days`; each of those days must be exported."""
    files: list[str] = []
    missing: list[str] = []
    months = sorted({month_of(day) for day in days})
    for tenant_id in tenant_ids:
        for month in months:
            path = partition_file(root, ENHANCEMENTS, tenant_id, month)
            wanted = {day for day in days if month_of(day) == month}
            absent = wanted - covered_days(path)
            missing.extend(f"{tenant_id} {day.isoformat()}" for day in sorted(absent))
            if path.is_file():
                files.append(str(path))
    if missing:
        raise MissingPartitionError(
            f"{len(missing)} enhancement_history partitions were never exported "
            f"(first: {missing[0]}): export those days first"
        )
    return files


def _connect() -> duckdb.DuckDBPyConnection:
    # Insertion order means nothing to a GROUP BY; without it DuckDB's scans need no
    # order-preserving merge between threads.
    return duckdb.connect(config={"preserve_insertion_order": False})


def _query(
    sql: str, files: list[str], days: Sequence[date], schema: dict[str, Any]
) -> pl.DataFrame:
    # Rows, not Arrow: a run yields one row per tenant and day, and pyarrow is not needed.
    with _connect() as conn:
        rows = conn.execute(sql, [files, list(days)]).fetchall()
    return pl.DataFrame(rows, schema=schema, orient="row")


def daily_frames(root: Path, tenant_ids: Sequence[str], days: Sequence[date]) -> pl.DataFrame:
    """One row per tenant and day, even for a day without enhancements."""
    keys = pl.DataFrame(
        {
            "tenant_id": [t for t in tenant_ids for _ in days],
            "day": [d for _ in tenant_ids for d in days],
        },
        schema={"tenant_id": pl.String, "day": pl.Date},
    )
    if keys.height == 0:
        return pl.DataFrame(schema=DAILY_SCHEMA)
    found = _query(_DAILY_SQL, _source_files(root, tenant_ids, days), days, DAILY_SCHEMA)
    zero = [
        pl.col(name).fill_null(0)
        for name in DAILY_SCHEMA
        if name not in ("tenant_id", "day", "success_rate", "p50_seconds", "p95_seconds")
    ]
    return (
        keys.join(found, on=["tenant_id", "day"], how="left")
        .with_columns(zero)
        .select(list(DAILY_SCHEMA))
        .cast(DAILY_SCHEMA)  # type: ignore[arg-type]
    )


def sources_frames(root: Path, tenant_ids: Sequence[str], days: Sequence[date]) -> pl.DataFrame:
    if not tenant_ids or not days:
        return pl.DataFrame(schema=SOURCES_SCHEMA)
    return _query(_SOURCES_SQL, _source_files(root, tenant_ids, days), days, SOURCES_SCHEMA)


def _with_columns_of(frame: pl.DataFrame, schema: dict[str, Any]) -> pl.DataFrame:
    """A rollup file written before a column existed (skipped: 0011_triage) gets it as null."""
    missing = [
        pl.lit(None, dtype=dtype).alias(n) for n, dtype in schema.items() if n not in frame.columns
    ]
    return frame.with_columns(missing).select(list(schema)) if missing else frame


def merge_days(
    root: Path, table: str, tenant_id: str, days: Sequence[date], rows: pl.DataFrame
) -> Exported:
    """Replaces the tenant's rows of `days` in its rollup file with `rows`; other days
    stay as they were."""
    target = rollup_file(root, table, tenant_id)
    schema = _SCHEMAS[table]
    with locked(target):
        kept = pl.DataFrame(schema=schema)
        if target.is_file():
            kept = _with_columns_of(
                pl.read_parquet(target).filter(~pl.col("day").is_in(list(days))), schema
            )
        merged = pl.concat([kept.cast(schema), rows.cast(schema)])  # type: ignore[arg-type]
        return write_partition(merged.sort(_KEYS[table]), target)


def drop_days(root: Path, table: str, tenant_id: str, days: Sequence[date]) -> None:
    """Removes the tenant's rollup rows of `days` (retention)."""
    merge_days(root, table, tenant_id, days, pl.DataFrame(schema=_SCHEMAS[table]))


def write(
    root: Path, table: str, frames: pl.DataFrame, tenant_ids: Sequence[str], days: Sequence[date]
) -> dict[str, Exported]:
    """Merges each tenant's rows of `days` from `frames` into its rollup file."""
    by_tenant = {
        key[0]: part for key, part in frames.partition_by("tenant_id", as_dict=True).items()
    }
    empty = frames.clear()

    def one(tenant_id: str) -> Exported:
        return merge_days(root, table, tenant_id, days, by_tenant.get(tenant_id, empty))

    # Polars reads and writes Parquet without the GIL: two tenants' files at a time.
    with ThreadPoolExecutor(max_workers=WRITERS, thread_name_prefix="rollup") as pool:
        return dict(zip(tenant_ids, pool.map(one, tenant_ids), strict=True))


def write_daily_many(
    root: Path, tenant_ids: Sequence[str], days: Sequence[date]
) -> tuple[pl.DataFrame, dict[str, Exported]]:
    """The rollup of every tenant's `days` in one query, merged into each tenant's file."""
    frames = daily_frames(root, tenant_ids, days)
    return frames, write(root, DAILY, frames, tenant_ids, days)


def agents_frames(root: Path, tenant_ids: Sequence[str], days: Sequence[date]) -> pl.DataFrame:
    if not tenant_ids or not days:
        return pl.DataFrame(schema=AGENTS_SCHEMA)
    return _query(_AGENTS_SQL, _source_files(root, tenant_ids, days), days, AGENTS_SCHEMA)


def write_agents_many(
    root: Path, tenant_ids: Sequence[str], days: Sequence[date]
) -> tuple[pl.DataFrame, dict[str, Exported]]:
    frames = agents_frames(root, tenant_ids, days)
    return frames, write(root, AGENTS, frames, tenant_ids, days)


def write_sources_many(
    root: Path, tenant_ids: Sequence[str], days: Sequence[date]
) -> tuple[pl.DataFrame, dict[str, Exported]]:
    frames = sources_frames(root, tenant_ids, days)
    return frames, write(root, SOURCES, frames, tenant_ids, days)


def daily_frame(root: Path, tenant_id: str, day: date) -> pl.DataFrame:
    """One row, even for a day without enhancements."""
    return daily_frames(root, [tenant_id], [day])


def sources_frame(root: Path, tenant_id: str, day: date) -> pl.DataFrame:
    return sources_frames(root, [tenant_id], [day]).sort("source")


def write_daily(root: Path, tenant_id: str, day: date) -> tuple[Exported, dict[str, Any]]:
    """Writes one tenant's day; returns its rollup file and the day's row."""
    frames, written = write_daily_many(root, [tenant_id], [day])
    return written[tenant_id], frames.row(0, named=True)


def write_sources(root: Path, tenant_id: str, day: date) -> Exported:
    return write_sources_many(root, [tenant_id], [day])[1][tenant_id]
