"""Daily per-tenant rollups of enhancement_history, computed by DuckDB from the day's
Parquet partition and written back as Parquet partitions of their own."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import duckdb
import polars as pl

from warehouse.analytics.export import ENHANCEMENTS, Exported, write_partition
from warehouse.analytics.layout import partition_file

DAILY = "daily_rollup"
SOURCES = "daily_source_rollup"

DAILY_SCHEMA: dict[str, Any] = {
    "tenant_id": pl.String,
    "day": pl.Date,
    "enhancements": pl.Int64,
    "succeeded": pl.Int64,
    "stored": pl.Int64,
    "failed": pl.Int64,
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

# Success rate counts finished enhancements only; "stored" means the note was produced and
# kept (no write-back configured). Processing time is finish minus start of the last attempt,
# so rows still in progress are left out of the percentiles.
_DAILY_SQL = """
SELECT
    count(*),
    count(*) FILTER (WHERE status = 'succeeded'),
    count(*) FILTER (WHERE status = 'stored'),
    count(*) FILTER (WHERE status = 'failed'),
    count(*) FILTER (WHERE status = 'processing'),
    count(*) FILTER (WHERE backfill),
    count(*) FILTER (WHERE status IN ('succeeded', 'stored'))::DOUBLE
        / nullif(count(*) FILTER (WHERE status <> 'processing'), 0),
    quantile_cont(processing_seconds, 0.5) FILTER (WHERE status <> 'processing'),
    quantile_cont(processing_seconds, 0.95) FILTER (WHERE status <> 'processing'),
    coalesce(sum(prompt_tokens), 0),
    coalesce(sum(completion_tokens), 0),
    coalesce(sum(cost_usd), 0)
FROM read_parquet(?)
"""

_SOURCES_SQL = """
SELECT
    s.source,
    count(*) FILTER (WHERE s.outcome = 'ok'),
    count(*) FILTER (WHERE s.outcome = 'empty'),
    count(*) FILTER (WHERE s.outcome = 'failed'),
    count(*) FILTER (WHERE s.outcome = 'skipped')
FROM (SELECT unnest(context_sources) AS s FROM read_parquet(?))
GROUP BY s.source
ORDER BY s.source
"""


class MissingPartitionError(FileNotFoundError):
    pass


def _source_file(root: Path, tenant_id: str, day: date) -> str:
    path = partition_file(root, ENHANCEMENTS, tenant_id, day)
    if not path.is_file():
        raise MissingPartitionError(f"{path} does not exist: export the partition first")
    return str(path)


def daily_frame(root: Path, tenant_id: str, day: date) -> pl.DataFrame:
    """One row, even for a day without enhancements."""
    with duckdb.connect() as conn:
        row = conn.execute(_DAILY_SQL, [_source_file(root, tenant_id, day)]).fetchone()
    assert row is not None
    names = list(DAILY_SCHEMA)[2:]
    return pl.from_dicts(
        [{"tenant_id": tenant_id, "day": day, **dict(zip(names, row, strict=True))}],
        schema=DAILY_SCHEMA,
    )


def sources_frame(root: Path, tenant_id: str, day: date) -> pl.DataFrame:
    with duckdb.connect() as conn:
        rows = conn.execute(_SOURCES_SQL, [_source_file(root, tenant_id, day)]).fetchall()
    names = list(SOURCES_SCHEMA)[2:]
    return pl.from_dicts(
        [{"tenant_id": tenant_id, "day": day, **dict(zip(names, r, strict=True))} for r in rows],
        schema=SOURCES_SCHEMA,
    )


def write_daily(root: Path, tenant_id: str, day: date) -> tuple[Exported, dict[str, Any]]:
    """Writes the day's rollup partition; returns it and its one row."""
    frame = daily_frame(root, tenant_id, day)
    exported = write_partition(frame, partition_file(root, DAILY, tenant_id, day))
    return exported, frame.row(0, named=True)


def write_sources(root: Path, tenant_id: str, day: date) -> Exported:
    frame = sources_frame(root, tenant_id, day)
    return write_partition(frame, partition_file(root, SOURCES, tenant_id, day))
