"""Daily per-tenant rollups of enhancement_history, computed by DuckDB from the tenants'
exported parts: one statement per rollup for every tenant and day of a run, not one per
partition. Every rollup of a run reads the same view of its days' parts, and one more
statement per rollup merges the run's rows into every tenant's rollup file (the other
days' rows kept as they were) and writes them all, one file per tenant (see layout)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import duckdb
import polars as pl

from warehouse.analytics.duck_types import duck_type
from warehouse.analytics.export import ENHANCEMENTS, PARQUET, WRITERS, Exported
from warehouse.analytics.layout import (
    AGENT_ROLLUP,
    DAILY_ROLLUP,
    SOURCE_ROLLUP,
    locked,
    month_dir,
    month_of,
    parquet_root,
    parts,
    replacing,
    rollup_file,
)

DAILY = DAILY_ROLLUP
SOURCES = SOURCE_ROLLUP
AGENTS = AGENT_ROLLUP
TABLES = (DAILY, SOURCES, AGENTS)

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

_KEYS = {DAILY: ["day"], SOURCES: ["day", "source"], AGENTS: ["day", "agent_id", "agent_version"]}
_SCHEMAS = {DAILY: DAILY_SCHEMA, SOURCES: SOURCES_SCHEMA, AGENTS: AGENTS_SCHEMA}

# Success rate counts finished enhancements only; "stored" means the note was produced and
# kept (no write-back configured); "skipped" is noise that got no note on purpose (neither
# success nor failure). Processing time is finish minus start of the last attempt, so rows
# still in progress, and skipped noise, are left out of the percentiles.
# Per row, cheaply: the rate is worked out from the counts, not from two more filtered
# counts, and tokens are summed as BIGINT (callgrind over 2,000,000 rows: the rate from the
# counts saves 15 % of the query's instructions; a BIGINT sum costs 0.6 of an INTEGER one).
_DAILY_SQL = """
SELECT tenant_id, day, enhancements, succeeded, stored, failed, skipped, processing, backfills,
       (succeeded + stored)::DOUBLE / nullif(succeeded + stored + failed, 0) AS success_rate,
       seconds[1] AS p50_seconds, seconds[2] AS p95_seconds, prompt_tokens, completion_tokens,
       cost_usd
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
        -- Both percentiles from one sort of the day's values (nulls are left out).
        quantile_cont(
            CASE WHEN status NOT IN ('processing', 'skipped') THEN processing_seconds END,
            [0.5, 0.95]
        ) AS seconds,
        coalesce(sum(prompt_tokens::BIGINT), 0) AS prompt_tokens,
        coalesce(sum(completion_tokens::BIGINT), 0) AS completion_tokens,
        coalesce(sum(cost_usd), 0) AS cost_usd
    FROM run_rows
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
    FROM run_rows
)
GROUP BY tenant_id, day, s.source
"""


# Per agent version and day, for charts over many days; p50/p95 are of the flow's own
# total time (total_ms). Rows made before agents existed have no agent and are left out.
_AGENTS_SQL = """
SELECT tenant_id, day, agent_id, agent_version, enhancements, succeeded, failed, skipped,
       succeeded::DOUBLE / nullif(succeeded + failed, 0) AS success_rate,
       ms[1] AS p50_ms, ms[2] AS p95_ms, prompt_tokens, completion_tokens, cost_usd
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
        quantile_cont(CASE WHEN status <> 'processing' THEN total_ms END, [0.5, 0.95]) AS ms,
        coalesce(sum(prompt_tokens::BIGINT), 0) AS prompt_tokens,
        coalesce(sum(completion_tokens::BIGINT), 0) AS completion_tokens,
        coalesce(sum(cost_usd), 0) AS cost_usd
    FROM run_rows
    WHERE agent_id IS NOT NULL AND agent_version IS NOT NULL
    GROUP BY tenant_id, day, agent_id, agent_version
)
"""


class MissingPartitionError(FileNotFoundError):
    pass


@dataclass(frozen=True)
class Written:
    """What a run wrote: its rows over all tenants, their enhancements (for the tables
    that count them) and, per tenant, its rollup file with the run's rows in it."""

    rows: int
    enhancements: int | None
    files: dict[str, Exported]


def day_ranges(days: Sequence[date]) -> list[tuple[date, date]]:
    """Sorted days as (first, last) runs of consecutive days."""
    runs: list[tuple[date, date]] = []
    for day in sorted(set(days)):
        if runs and day == runs[-1][1] + timedelta(days=1):
            runs[-1] = (runs[-1][0], day)
        else:
            runs.append((day, day))
    return runs


def _day_filter(days: Sequence[date]) -> str:
    """A WHERE condition on `day` for `days`, as ranges: DuckDB tests a range per row
    far more cheaply than membership in a list. Date literals (from `date`s, so nothing
    to quote), because a view takes no parameters."""
    return "({})".format(
        " OR ".join(
            f"day BETWEEN DATE '{first.isoformat()}' AND DATE '{last.isoformat()}'"
            for first, last in day_ranges(days)
        )
    )


def _source_files(root: Path, tenant_ids: Sequence[str], days: Sequence[date]) -> list[str]:
    """The parts holding the tenants' `days`; each of those days must be exported."""
    files: list[str] = []
    missing: list[str] = []
    wanted = set(days)
    for tenant_id in tenant_ids:
        for month in sorted({month_of(day) for day in wanted}):
            in_month = {day for day in wanted if month_of(day) == month}
            covered: set[date] = set()
            for part in parts(month_dir(root, ENHANCEMENTS, tenant_id, month)):
                covered |= part.days
                if part.days & in_month:
                    files.append(str(part.path))
            missing.extend(f"{tenant_id} {day.isoformat()}" for day in sorted(in_month - covered))
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


def _typed(table: str, source: str, zero: frozenset[str] = frozenset()) -> str:
    """`source`'s rows with the table's columns, in its order and types (`zero`: null
    becomes 0)."""
    columns = ", ".join(
        f"CAST({f'coalesce({name}, 0)' if name in zero else name} AS {duck_type(dtype)}) AS {name}"
        for name, dtype in _SCHEMAS[table].items()
    )
    return f"SELECT {columns} FROM ({source})"


def _empty(table: str) -> str:
    columns = ", ".join(
        f"CAST(NULL AS {duck_type(dtype)}) AS {name}" for name, dtype in _SCHEMAS[table].items()
    )
    return f"SELECT {columns} WHERE false"


# A day without enhancements still gets its row in the daily rollup, with zero counts.
_DAILY_ZERO = frozenset(DAILY_SCHEMA) - {
    "tenant_id",
    "day",
    "success_rate",
    "p50_seconds",
    "p95_seconds",
}
_EVERY_TENANT_DAY = (
    "SELECT t.tenant_id, d.day FROM (SELECT unnest(?::VARCHAR[]) AS tenant_id) AS t, "
    "(SELECT unnest(?::DATE[]) AS day) AS d"
)


# What the rollups read of a part.
_RUN_COLUMNS = (
    "tenant_id, day, status, backfill, processing_seconds, prompt_tokens, "
    "completion_tokens, cost_usd, context_sources, agent_id, agent_version, total_ms"
)


def _define_run_rows(
    conn: duckdb.DuckDBPyConnection, root: Path, tenant_ids: Sequence[str], days: Sequence[date]
) -> None:
    """The run's rows of the tenants' parts, as the temporary view run_rows that every
    rollup of the run reads. A view, not a table: materializing ten million rows cost
    three times the aggregate itself."""
    parts_read = conn.read_parquet(_source_files(root, tenant_ids, days), hive_partitioning=False)
    parts_read.filter(_day_filter(days)).project(_RUN_COLUMNS).create_view("run_rows")


def _fresh(table: str, tenant_ids: Sequence[str], days: Sequence[date]) -> tuple[str, list[Any]]:
    """The statement computing the run's rows of `table` from run_rows, and its
    parameters."""
    aggregate = {DAILY: _DAILY_SQL, SOURCES: _SOURCES_SQL, AGENTS: _AGENTS_SQL}[table]
    if table != DAILY:
        return _typed(table, aggregate), []
    every = (
        f"SELECT * FROM ({_EVERY_TENANT_DAY}) AS every "
        f"LEFT JOIN ({aggregate}) AS found USING (tenant_id, day)"
    )
    return _typed(table, every, _DAILY_ZERO), [list(tenant_ids), sorted(set(days))]


def frames(root: Path, table: str, tenant_ids: Sequence[str], days: Sequence[date]) -> pl.DataFrame:
    """The run's rows of `table`, computed but not written."""
    schema = _SCHEMAS[table]
    if not tenant_ids or not days:
        return pl.DataFrame(schema=schema)
    with _connect() as conn:
        _define_run_rows(conn, root, tenant_ids, days)
        statement, parameters = _fresh(table, tenant_ids, days)
        frame = _polars(conn.sql(statement, params=parameters or None), schema)
    return frame.sort(_KEYS[table])


def _polars(relation: duckdb.DuckDBPyRelation, schema: dict[str, Any]) -> pl.DataFrame:
    """The relation's rows as a Polars frame of `schema`, handed over as Arrow through the
    C stream interface (no pyarrow needed). As Python tuples, a row at a time, merging
    the tenants' rollup history cost more each day than the day's own rows."""
    return pl.DataFrame(relation).cast(schema)  # type: ignore[arg-type]


def _replace(
    conn: duckdb.DuckDBPyConnection,
    root: Path,
    table: str,
    tenant_ids: Sequence[str],
    days: Sequence[date],
    fresh: tuple[str, list[Any]],
) -> Written:
    """Each tenant's rollup file with its rows of `days` replaced by `fresh`'s: one
    DuckDB statement merges every tenant's kept rows with the fresh ones, then each
    tenant's file is written beside its old one and renamed over it (a tenant left
    without rows loses its file). Polars writes the small files: DuckDB's partitioned
    COPY made a staging folder per tenant, and on this file system each folder made and
    removed cost more than writing the file."""
    condition = _day_filter(days)
    base = parquet_root(root)
    base.mkdir(parents=True, exist_ok=True)
    schema = _SCHEMAS[table]
    with locked(base / f".{table}.lock"):
        conn.execute(f"CREATE OR REPLACE TEMP TABLE fresh AS {fresh[0]}", fresh[1])
        kept = [str(rollup_file(root, table, t)) for t in tenant_ids]
        kept = [path for path in kept if os.path.isfile(path)]
        source, parameters = "SELECT * FROM fresh", []
        if kept:
            # A file written before a column existed (skipped: 0011_triage) gives null.
            source += (
                " UNION ALL BY NAME SELECT * FROM read_parquet(?, hive_partitioning = false, "
                f"union_by_name = true) WHERE NOT {condition}"
            )
            parameters = [kept]
        merged = conn.sql(
            f"{_typed(table, source)} ORDER BY tenant_id, {', '.join(_KEYS[table])}",
            params=parameters or None,
        )
        frame = _polars(merged, schema)
        totals = "sum(enhancements)" if "enhancements" in schema else "NULL"
        counted = conn.execute(
            f"SELECT tenant_id, count(*), {totals} FROM fresh GROUP BY tenant_id"
        ).fetchall()
        by_tenant = frame.partition_by("tenant_id", as_dict=True)
        empty = frame.clear()

        def publish(tenant_id: str) -> Path:
            target = rollup_file(root, table, tenant_id)
            rows = by_tenant.get((tenant_id,), empty)
            if rows.is_empty():
                target.unlink(missing_ok=True)
            else:
                with replacing(target) as path:
                    rows.write_parquet(path, **PARQUET)
            return target

        # Polars writes and the file system calls release the GIL.
        with ThreadPoolExecutor(max_workers=WRITERS, thread_name_prefix="rollup-write") as pool:
            files = dict(zip(tenant_ids, pool.map(publish, tenant_ids), strict=True))
    rows = {tenant_id: n for tenant_id, n, _ in counted}
    enhancements = None if totals == "NULL" else sum(int(e or 0) for _, _, e in counted)
    return Written(
        rows=sum(rows.values()),
        enhancements=enhancements,
        files={t: Exported(path, rows.get(t, 0)) for t, path in files.items()},
    )


def write_all(
    root: Path, tables: Sequence[str], tenant_ids: Sequence[str], days: Sequence[date]
) -> dict[str, Written]:
    """Computes the run's rows of each of `tables` for every tenant and day at once, over
    one view of the tenants' parts, and merges them into each tenant's rollup files."""
    if not tenant_ids or not days:
        return {table: Written(0, None, {}) for table in tables}
    with _connect() as conn:
        _define_run_rows(conn, root, tenant_ids, days)
        return {
            table: _replace(conn, root, table, tenant_ids, days, _fresh(table, tenant_ids, days))
            for table in tables
        }


def write(root: Path, table: str, tenant_ids: Sequence[str], days: Sequence[date]) -> Written:
    """write_all of one rollup."""
    return write_all(root, [table], tenant_ids, days)[table]


def drop_days(root: Path, table: str, tenant_id: str, days: Sequence[date]) -> None:
    """Removes the tenant's rollup rows of `days` (retention)."""
    if days and rollup_file(root, table, tenant_id).is_file():
        with _connect() as conn:
            _replace(conn, root, table, [tenant_id], days, (_empty(table), []))


def write_daily(root: Path, tenant_id: str, day: date) -> tuple[Exported, dict[str, Any]]:
    """Writes one tenant's day; returns its rollup file and the day's row as written."""
    written = write(root, DAILY, [tenant_id], [day]).files[tenant_id]
    row = pl.read_parquet(written.path).filter(pl.col("day") == day)
    return written, row.row(0, named=True)


def write_sources(root: Path, tenant_id: str, day: date) -> Exported:
    return write(root, SOURCES, [tenant_id], [day]).files[tenant_id]


def sources_frame(root: Path, tenant_id: str, day: date) -> pl.DataFrame:
    return frames(root, SOURCES, [tenant_id], [day])
